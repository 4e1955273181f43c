-- Kith store schema, migration 1.
-- Document chunks are the source of truth; every other table is a read model
-- derived from documents and written in the same transaction as the chunks.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE doc_chunks (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT    NOT NULL,
    kind     INTEGER NOT NULL CHECK (kind IN (0, 1)), -- 0 incremental changes, 1 compacted snapshot
    bytes    BLOB    NOT NULL,
    checksum BLOB    NOT NULL -- BLAKE3 of doc_id and bytes: damaged chunks are errors, not silent gaps
) STRICT;
CREATE INDEX doc_chunks_by_doc ON doc_chunks (doc_id, seq);

CREATE TABLE chats (
    chat_id     TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    name        TEXT NOT NULL,
    description TEXT NOT NULL
) STRICT;

CREATE TABLE chat_members (
    chat_id    TEXT NOT NULL,
    account_id TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('member', 'admin', 'owner')),
    PRIMARY KEY (chat_id, account_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE chat_members_ever (
    chat_id    TEXT NOT NULL,
    account_id TEXT NOT NULL,
    PRIMARY KEY (chat_id, account_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE chat_settings (
    chat_id  TEXT PRIMARY KEY,
    pinned   INTEGER NOT NULL,
    muted    INTEGER NOT NULL,
    archived INTEGER NOT NULL,
    draft    TEXT    NOT NULL
) STRICT;

CREATE TABLE messages (
    id         INTEGER PRIMARY KEY,
    chat_id    TEXT    NOT NULL,
    message_id TEXT    NOT NULL, -- base32hex of (HLC, device prefix): sorts by time
    author     TEXT    NOT NULL,
    device     TEXT    NOT NULL,
    ts         INTEGER NOT NULL, -- packed HLC
    text       TEXT,             -- NULL once deleted for everyone
    reply_to   TEXT,
    edited     INTEGER,
    deleted    INTEGER NOT NULL,
    reactions  TEXT    NOT NULL, -- JSON {emoji: [account, ...]}
    UNIQUE (chat_id, message_id)
) STRICT;
-- Covers the unread count (messages by others after a read position).
CREATE INDEX messages_by_chat_ts ON messages (chat_id, ts, author, deleted);

CREATE VIRTUAL TABLE messages_fts USING fts5(
    text,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages WHEN old.text IS NOT new.text BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TABLE read_positions (
    chat_id    TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    PRIMARY KEY (chat_id, account_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE profiles (
    account_id TEXT PRIMARY KEY,
    name       TEXT NOT NULL
) STRICT;

CREATE TABLE devices (
    device_id  TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    cert       BLOB NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE TABLE quarantine (
    hash   BLOB PRIMARY KEY,
    doc_id TEXT NOT NULL,
    change BLOB NOT NULL
) STRICT;
CREATE INDEX quarantine_by_doc ON quarantine (doc_id);

CREATE TABLE sync_states (
    peer   TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    state  BLOB NOT NULL,
    PRIMARY KEY (peer, doc_id)
) STRICT, WITHOUT ROWID;
