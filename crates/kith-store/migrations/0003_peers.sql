-- Peer-to-peer: where peers were reached (dialed again at the next start),
-- how each peer is connected now (written by the running sync process, read
-- by `kith peers`), and the route that first delivered each message.
CREATE TABLE peer_addresses (
    peer_id TEXT    NOT NULL,
    address TEXT    NOT NULL,
    seen_ms INTEGER NOT NULL,
    PRIMARY KEY (peer_id, address)
) STRICT, WITHOUT ROWID;

CREATE TABLE peer_routes (
    peer_id    TEXT    PRIMARY KEY,
    route      TEXT    NOT NULL,
    address    TEXT,
    updated_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE message_routes (
    chat_id    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    route      TEXT NOT NULL,
    PRIMARY KEY (chat_id, message_id)
) STRICT, WITHOUT ROWID;
