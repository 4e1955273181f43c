-- Relay logs: one per conversation document, identified by opaque client-chosen bytes.
CREATE TABLE logs (
    log_id BLOB PRIMARY KEY NOT NULL,
    capability_hash BLOB NOT NULL,
    last_seq INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) STRICT;

-- Envelopes, opaque to the server; seq is per log, gapless, starting at 1.
CREATE TABLE entries (
    log_id BLOB NOT NULL REFERENCES logs (log_id),
    seq INTEGER NOT NULL,
    envelope_id BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (log_id, seq),
    UNIQUE (log_id, envelope_id)
) STRICT;

-- Devices that have authenticated (public keys only).
CREATE TABLE devices (
    device_id BLOB PRIMARY KEY NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
) STRICT;
