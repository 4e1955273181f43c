-- What the server keeps to let people find each other and to keep strangers
-- in their place. No name and no message text: a username is only the hash
-- of its canonical form (its record is sealed with a key derived from the
-- name), a request is an ordinary entry in its inbox log.

-- Claimed usernames. `suspended_ms` set: the operator took the name; it reads
-- as not found and nobody may claim it.
CREATE TABLE usernames (
    lookup BLOB PRIMARY KEY NOT NULL,
    record BLOB NOT NULL,
    manage_hash BLOB NOT NULL,
    claimed_by BLOB NOT NULL,
    claimed_ms INTEGER NOT NULL,
    suspended_ms INTEGER
) STRICT;

-- Each device's request inbox: strangers append to the log without its
-- capability (rate-limited), only the device reads it.
CREATE TABLE inboxes (
    device_id BLOB PRIMARY KEY NOT NULL,
    log_id BLOB NOT NULL REFERENCES logs (log_id),
    opened_ms INTEGER NOT NULL
) STRICT;

-- Abuse reports: who reported which device, and why (the reporter's words,
-- never message content). One row per pair: reporting again updates it.
CREATE TABLE reports (
    reported BLOB NOT NULL,
    reporter BLOB NOT NULL,
    reason TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (reported, reporter)
) STRICT;

-- Devices the operator suspended: they cannot sign in.
CREATE TABLE suspended_devices (
    device_id BLOB PRIMARY KEY NOT NULL,
    reason TEXT NOT NULL,
    at_ms INTEGER NOT NULL
) STRICT;
