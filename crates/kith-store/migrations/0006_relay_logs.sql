-- Relay state in tables instead of meta strings (`relay/cursor/HEX`,
-- `relay/compacted/HEX`, `relay/uploaded/HEX/DOC`). migrations.rs moves the
-- existing meta rows into them in the same transaction.

-- Per server log: how far this device pulled (NULL: never pulled) and the
-- sequence number at which it last compacted the log.
CREATE TABLE relay_logs (
    log       BLOB PRIMARY KEY CHECK (length(log) = 32),
    pulled    INTEGER CHECK (pulled >= 0),
    compacted INTEGER NOT NULL DEFAULT 0 CHECK (compacted >= 0)
) STRICT;

-- Per server log and document: the heads known to be on the log (32-byte
-- change hashes, concatenated); everything not below them is uploaded.
CREATE TABLE relay_uploaded (
    log    BLOB NOT NULL CHECK (length(log) = 32),
    doc_id TEXT NOT NULL,
    heads  BLOB NOT NULL CHECK (length(heads) % 32 = 0),
    PRIMARY KEY (log, doc_id)
) STRICT, WITHOUT ROWID;
