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
