-- The hash of a log's manage key: the right to delete or compact the log,
-- apart from the capability that reads and appends it. NULL until the log's
-- manager registers it (the first registration wins).
ALTER TABLE logs ADD COLUMN manage_hash BLOB;

-- Bytes of ciphertext each device has stored in each log (entries and blob
-- chunks), so that compaction and deletion give them back to the device's
-- budget. Only totals: no entry is linked to its writer, and the rows go
-- with their log.
CREATE TABLE log_usage (
    log_id BLOB NOT NULL REFERENCES logs (log_id),
    device_id BLOB NOT NULL,
    stored_bytes INTEGER NOT NULL,
    PRIMARY KEY (log_id, device_id)
) STRICT, WITHOUT ROWID;

-- Totals from before this table could never be given back: start again.
UPDATE devices SET stored_bytes = 0;
