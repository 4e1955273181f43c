-- Email nudges (opt-in): where to tell a device's owner that something is
-- waiting, after how long away, and which logs count. No name and no
-- content: the email says only that something is waiting.
CREATE TABLE nudges (
    device_id BLOB PRIMARY KEY NOT NULL,
    address TEXT NOT NULL,
    -- The secret in the unsubscribe link.
    token BLOB NOT NULL UNIQUE,
    after_ms INTEGER NOT NULL,
    -- When the last email went; none again until the device was back.
    nudged_ms INTEGER,
    set_ms INTEGER NOT NULL
) STRICT;

-- The logs whose new entries count as "waiting" for a device.
CREATE TABLE nudge_logs (
    device_id BLOB NOT NULL,
    log_id BLOB NOT NULL,
    PRIMARY KEY (device_id, log_id)
) STRICT;
