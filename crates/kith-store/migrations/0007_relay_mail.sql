-- The relay's mail state in tables instead of meta strings
-- (`relay/hello/ACCOUNT`, `relay/grant/CHAT/EPOCH/KEYID/MEMBER`,
-- `relay/uploaded-through/CHAT`, `relay/connect/ACCOUNT`,
-- `relay/account-grant/EPOCH/KEYID`, `relay/revoked-notice/DEVICE`).
-- migrations.rs moves the existing meta rows in the same transaction.

-- The hello last sent to each contact (BLAKE3 of the hello item); a new
-- one goes out when the name or picture changes it.
CREATE TABLE relay_hellos (
    account TEXT PRIMARY KEY,
    hello   BLOB NOT NULL CHECK (length(hello) = 32)
) STRICT;

-- Conversation keys sent to members.
CREATE TABLE relay_grants (
    chat   TEXT NOT NULL,
    epoch  INTEGER NOT NULL CHECK (epoch >= 0),
    key_id TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (chat, epoch, key_id, member)
) STRICT, WITHOUT ROWID;

-- Per chat: every own message up to this HLC (packed) is on the server.
CREATE TABLE relay_uploaded_through (
    chat TEXT PRIMARY KEY,
    hlc  INTEGER NOT NULL CHECK (hlc >= 0)
) STRICT;

-- Mail still to send: connect requests (target: the account whose invite
-- was used; payload: the invite), new account keys (target: EPOCH/KEYID)
-- and revocation notices (target: the device).
CREATE TABLE relay_pending_mail (
    kind    TEXT NOT NULL CHECK (kind IN ('connect', 'account-key', 'revoked')),
    target  TEXT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (kind, target)
) STRICT, WITHOUT ROWID;
