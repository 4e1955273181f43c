-- What the server keeps to let people find each other and to keep strangers
-- in their place. No name and no message text: a username is only the hash
-- of its canonical form (its record is sealed with a key derived from the
-- name), a request is an ordinary entry in its inbox log.

-- Claimed usernames. `suspended_ms` set: the operator took the name; it reads
-- as not found and nobody may claim it.
CREATE TABLE usernames (
    lookup BYTEA PRIMARY KEY NOT NULL,
    record BYTEA NOT NULL,
    manage_hash BYTEA NOT NULL,
    claimed_by BYTEA NOT NULL,
    claimed_ms BIGINT NOT NULL,
    suspended_ms BIGINT
);

-- Each device's request inbox: strangers append to the log without its
-- capability (rate-limited), only the device reads it.
CREATE TABLE inboxes (
    device_id BYTEA PRIMARY KEY NOT NULL,
    log_id BYTEA NOT NULL REFERENCES logs (log_id),
    opened_ms BIGINT NOT NULL
);

-- Abuse reports: who reported which device, and why (the reporter's words,
-- never message content). One row per pair: reporting again updates it.
CREATE TABLE reports (
    reported BYTEA NOT NULL,
    reporter BYTEA NOT NULL,
    reason TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (reported, reporter)
);

-- Devices the operator suspended: they cannot sign in.
CREATE TABLE suspended_devices (
    device_id BYTEA PRIMARY KEY NOT NULL,
    reason TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
