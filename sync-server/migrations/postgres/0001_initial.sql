-- The PostgreSQL schema of the log store: the same tables, rules and
-- meanings as the SQLite migrations 0001-0006 (see those for why each
-- exists), in one step, since there is no older PostgreSQL store to move.

CREATE TABLE logs (
    log_id BYTEA PRIMARY KEY,
    capability_hash BYTEA NOT NULL,
    -- Sequence numbers are allocated from here inside the appending
    -- transaction, which holds this row's lock: gapless and committed in
    -- order, so a reader never skips a late commit.
    last_seq BIGINT NOT NULL,
    stored_bytes BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    manage_hash BYTEA
);

CREATE TABLE entries (
    log_id BYTEA NOT NULL REFERENCES logs (log_id),
    seq BIGINT NOT NULL,
    envelope_id BYTEA NOT NULL,
    epoch BIGINT NOT NULL,
    ciphertext BYTEA NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (log_id, seq),
    UNIQUE (log_id, envelope_id)
);

CREATE TABLE devices (
    device_id BYTEA PRIMARY KEY,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    stored_bytes BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE log_usage (
    log_id BYTEA NOT NULL REFERENCES logs (log_id),
    device_id BYTEA NOT NULL,
    stored_bytes BIGINT NOT NULL,
    PRIMARY KEY (log_id, device_id)
);

CREATE TABLE compactions (
    log_id BYTEA NOT NULL REFERENCES logs (log_id),
    through_seq BIGINT NOT NULL,
    superseded_ms BIGINT NOT NULL
);
CREATE INDEX compactions_by_time ON compactions (superseded_ms);

CREATE TABLE blobs (
    blob_id BYTEA PRIMARY KEY,
    log_id BYTEA NOT NULL REFERENCES logs (log_id),
    total_bytes BIGINT NOT NULL,
    chunk_count BIGINT NOT NULL,
    stored_chunks BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX blobs_by_log ON blobs (log_id);

CREATE TABLE blob_chunks (
    blob_id BYTEA NOT NULL REFERENCES blobs (blob_id),
    idx BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (blob_id, idx)
);

CREATE TABLE deleted_logs (
    log_id BYTEA PRIMARY KEY,
    deleted_ms BIGINT NOT NULL
);
