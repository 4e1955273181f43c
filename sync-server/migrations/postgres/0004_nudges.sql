-- Email nudges (opt-in): where to tell a device's owner that something is
-- waiting, after how long away, and which logs count. No name and no
-- content: the email says only that something is waiting.
CREATE TABLE nudges (
    device_id BYTEA PRIMARY KEY NOT NULL,
    address TEXT NOT NULL,
    -- The secret in the unsubscribe link.
    token BYTEA NOT NULL UNIQUE,
    after_ms BIGINT NOT NULL,
    -- When the last email went; none again until the device was back.
    nudged_ms BIGINT,
    set_ms BIGINT NOT NULL
);

-- The logs whose new entries count as "waiting" for a device.
CREATE TABLE nudge_logs (
    device_id BYTEA NOT NULL,
    log_id BYTEA NOT NULL,
    PRIMARY KEY (device_id, log_id)
);
