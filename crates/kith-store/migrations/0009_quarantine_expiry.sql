-- When each quarantined change first arrived, kept across retries (a retry
-- takes a document's changes out and puts back those still waiting), so
-- that a change nobody can ever judge is dropped after a while
-- (QUARANTINE_EXPIRY_MS) instead of being kept, and retried, for ever.
-- Rows outlive the change by another period: a dropped change offered
-- again does not start a fresh wait.
CREATE TABLE quarantine_arrivals (
    hash     BLOB PRIMARY KEY,
    first_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX quarantine_arrivals_by_time ON quarantine_arrivals (first_ms);
-- What waits already starts its wait now.
INSERT INTO quarantine_arrivals (hash, first_ms)
    SELECT hash, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM quarantine;
