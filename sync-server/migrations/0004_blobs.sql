-- Encrypted blobs (attachments), kept with the log whose capability guards
-- them. The server sees an opaque id, the ciphertext size and the chunks; the
-- client encrypts each chunk. The first chunk stored fixes `log_id` and
-- `total_bytes`; `stored_chunks` counts the rows in `blob_chunks` and the
-- blob can be read once it equals `chunk_count`. `created_ms` lets a sweep
-- find uploads that were never finished.
CREATE TABLE blobs (
    blob_id BLOB PRIMARY KEY NOT NULL,
    log_id BLOB NOT NULL REFERENCES logs (log_id),
    total_bytes INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    stored_chunks INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX blobs_by_log ON blobs (log_id);

-- One row per stored chunk (`idx` from 0). A rowid table, not WITHOUT ROWID:
-- the rows are up to 256 KiB, far past what WITHOUT ROWID suits.
CREATE TABLE blob_chunks (
    blob_id BLOB NOT NULL REFERENCES blobs (blob_id),
    idx INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (blob_id, idx)
) STRICT;
