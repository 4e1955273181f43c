-- Mail may also be an answer to someone who used a link that no longer
-- works (kind 'invite-refused'; target: their account; payload: the
-- channel secret their request named and the reason's byte). SQLite cannot
-- change a CHECK constraint in place: the table is copied.
CREATE TABLE relay_pending_mail_new (
    kind    TEXT NOT NULL CHECK (kind IN ('connect', 'account-key', 'revoked', 'invite-refused')),
    target  TEXT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (kind, target)
) STRICT, WITHOUT ROWID;
INSERT INTO relay_pending_mail_new (kind, target, payload)
    SELECT kind, target, payload FROM relay_pending_mail;
DROP TABLE relay_pending_mail;
ALTER TABLE relay_pending_mail_new RENAME TO relay_pending_mail;
