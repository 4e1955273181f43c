-- Change signatures (see kith-core's signature module): the newest accepted
-- signature of each device per document, passed on with the document's
-- changes; and signatures received for changes still in quarantine.
CREATE TABLE change_signatures (
    doc_id    TEXT NOT NULL,
    device    TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    change    BLOB NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (doc_id, device)
) STRICT, WITHOUT ROWID;

CREATE TABLE quarantine_signatures (
    doc_id    TEXT NOT NULL,
    device    TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    change    BLOB NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (doc_id, device, change)
) STRICT, WITHOUT ROWID;

-- The bytes held in quarantine, kept by triggers, so that a bound on the
-- whole quarantine (not only per document) costs one row read per insert.
CREATE TABLE quarantine_totals (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    bytes INTEGER NOT NULL
) STRICT;
INSERT INTO quarantine_totals (id, bytes) SELECT 1, coalesce(sum(length(change)), 0) FROM quarantine;
CREATE TRIGGER quarantine_bytes_in AFTER INSERT ON quarantine BEGIN
    UPDATE quarantine_totals SET bytes = bytes + length(NEW.change) WHERE id = 1;
END;
CREATE TRIGGER quarantine_bytes_out AFTER DELETE ON quarantine BEGIN
    UPDATE quarantine_totals SET bytes = bytes - length(OLD.change) WHERE id = 1;
END;
