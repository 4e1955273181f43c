-- Attachments: each message keeps its attachment descriptions (postcard
-- bytes, NULL when it has none or was deleted); which blobs live messages
-- refer to (kept in the same transaction as the message rows, so garbage
-- collection and peer-to-peer serving never consult stale references); and
-- the local blob index (the bytes are files under the profile's blobs/).
ALTER TABLE messages ADD COLUMN attachments BLOB;

CREATE TABLE message_blobs (
    hash       BLOB NOT NULL,
    chat_id    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (hash, chat_id, message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX message_blobs_by_message ON message_blobs (chat_id, message_id);

CREATE TABLE blobs (
    hash      BLOB    PRIMARY KEY,
    size      INTEGER NOT NULL,
    complete  INTEGER NOT NULL, -- the file is whole and its hash checked
    on_server INTEGER NOT NULL, -- every chunk is on the sync server
    added_ms  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
