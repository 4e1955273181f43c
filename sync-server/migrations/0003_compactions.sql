-- Compaction: a client uploaded a snapshot of a log's documents (as new
-- entries) and marked everything up to `through_seq` superseded. Superseded
-- entries are deleted once `superseded_ms` is older than the grace period.
CREATE TABLE compactions (
    log_id BLOB NOT NULL REFERENCES logs (log_id),
    through_seq INTEGER NOT NULL,
    superseded_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX compactions_by_time ON compactions (superseded_ms);
