//! The SQLite store: WAL, `synchronous=FULL`, STRICT tables, FTS5.
//!
//! Several processes may open one profile: writes take SQLite's write lock with
//! `BEGIN IMMEDIATE` and wait up to the busy timeout; readers in other
//! processes never block. Within one process, one connection serves reads and
//! the write transaction, so reads wait while a write transaction is open.

use crate::change_signatures;
use crate::error::StoreError;
use crate::migrations;
use crate::relay_mail::{PendingMail, RelayGrant};
use crate::rows::{
    BlobRow, ChatListEntry, DeviceEntry, PeerRouteRow, RelayLogRow, ReplyCandidate, SearchHit, StoredChunk,
};
use crate::search_query::fts_query;
use crate::store::{QUARANTINE_BYTES_LIMIT, QUARANTINE_EXPIRY_MS, QUARANTINE_LIMIT_PER_DOC, Store, WriteTxn};
use kith_core::attachment::{decode_attachments, encode_attachments};
use kith_core::{
    ChangeSignature, ChatKind, ChatRow, ChatSettingsRow, DeviceCertificate, MessageRow, ReadModelUpdate, Role,
};
use kith_proto::{AccountId, ChatId, DeviceId, DocId, Hlc, LogId, MessageId};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Unread counts stop counting here (the UI shows "9999+"): counting a chat
/// nobody opened for a year must not slow the chat list down.
pub const UNREAD_CAP: i64 = 9_999;

/// Search ranks only this many of the newest matches, so a query for a word
/// in every other message still answers in milliseconds.
pub const SEARCH_WINDOW: i64 = 2_000;

/// How long a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite-backed store of one profile.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    /// The file is readable by its owner only (it holds plaintext messages
    /// and conversation keys); SQLite gives its journal files the same mode.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let display = path.display().to_string();
        make_private(path).map_err(|source| StoreError::File {
            path: display.clone(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|e| StoreError::from_sqlite(e, &display))?;
        Self::setup(conn, display)
    }

    /// An in-memory database (tests, simulations).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::setup(Connection::open_in_memory()?, ":memory:".into())
    }

    fn setup(mut conn: Connection, path: String) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let wrap = |e| StoreError::from_sqlite(e, &path);
        // Refuse a database from a newer Kith before touching it in any way
        // (switching the journal mode rewrites its header).
        migrations::check_version(&conn, &path)?;
        // Pages freed by compaction go back to the file system (takes effect
        // before the first table exists; a no-op on an existing database).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(wrap)?;
        // Deleted messages and keys are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", true).map_err(wrap)?;
        migrations::migrate(&mut conn, &path)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The write transaction; a `recoverable` one commits without syncing
    /// the WAL (NORMAL): the next FULL commit syncs it, this one included.
    /// The level is set outside the transaction and put back when it ends.
    fn begin(&self, recoverable: bool) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        let conn = self.conn();
        let begin = if recoverable {
            "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE"
        } else {
            "BEGIN IMMEDIATE"
        };
        conn.execute_batch(begin)
            .map_err(|e| StoreError::from_sqlite(e, &self.path))?;
        Ok(Box::new(SqliteTxn {
            conn,
            path: &self.path,
            done: false,
            recoverable,
        }))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (the
        // transaction rolls back), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `PRAGMA integrity_check` and returns its first line (`ok` when healthy).
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let conn = self.conn();
        conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(|e| StoreError::from_sqlite(e, &self.path))
    }

    /// The database path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Creates `path` empty with mode 0600 when it does not exist (SQLite then
/// starts a database in it) and narrows an existing file to 0600.
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            }
            Err(err) => Err(err),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| StoreError::InvalidRow(e.to_string()))
}

const MESSAGE_COLUMNS: &str =
    "chat_id, message_id, author, device, ts, text, reply_to, edited, deleted, reactions, attachments";
const MESSAGE_VALUES: &str = "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// A message row as SQL values, in [`MESSAGE_COLUMNS`] order.
fn message_values(row: &MessageRow) -> Result<[Value; 11], StoreError> {
    let reactions = serde_json::to_string(&row.reactions).map_err(|e| StoreError::InvalidRow(e.to_string()))?;
    let attachments = if row.attachments.is_empty() {
        Value::Null
    } else {
        Value::Blob(encode_attachments(&row.attachments).map_err(|e| StoreError::InvalidRow(e.to_string()))?)
    };
    Ok([
        Value::Text(row.chat.to_string()),
        Value::Text(row.id.to_string()),
        Value::Text(row.author.to_string()),
        Value::Text(row.device.to_string()),
        Value::Integer(row.ts.to_i64()),
        row.text.clone().map_or(Value::Null, Value::Text),
        row.reply_to.map_or(Value::Null, |r| Value::Text(r.to_string())),
        row.edited.map_or(Value::Null, |e| Value::Integer(e.to_i64())),
        Value::Integer(i64::from(row.deleted)),
        Value::Text(reactions),
        attachments,
    ])
}

struct RawMessage {
    chat: String,
    id: String,
    author: String,
    device: String,
    ts: i64,
    text: Option<String>,
    reply_to: Option<String>,
    edited: Option<i64>,
    deleted: i64,
    reactions: String,
    attachments: Option<Vec<u8>>,
}

fn raw_message(row: &Row<'_>) -> rusqlite::Result<RawMessage> {
    Ok(RawMessage {
        chat: row.get(0)?,
        id: row.get(1)?,
        author: row.get(2)?,
        device: row.get(3)?,
        ts: row.get(4)?,
        text: row.get(5)?,
        reply_to: row.get(6)?,
        edited: row.get(7)?,
        deleted: row.get(8)?,
        reactions: row.get(9)?,
        attachments: row.get(10)?,
    })
}

impl RawMessage {
    fn into_row(self) -> Result<MessageRow, StoreError> {
        let reactions: BTreeMap<String, BTreeSet<AccountId>> =
            serde_json::from_str(&self.reactions).map_err(|e| StoreError::InvalidRow(e.to_string()))?;
        Ok(MessageRow {
            chat: parse(&self.chat)?,
            id: parse(&self.id)?,
            author: parse(&self.author)?,
            device: parse(&self.device)?,
            ts: Hlc::from_i64(self.ts),
            text: self.text,
            reply_to: self.reply_to.as_deref().map(parse).transpose()?,
            edited: self.edited.map(Hlc::from_i64),
            deleted: self.deleted != 0,
            reactions,
            attachments: match self.attachments {
                Some(bytes) => decode_attachments(&bytes).map_err(|e| StoreError::InvalidRow(e.to_string()))?,
                None => Vec::new(),
            },
        })
    }
}

fn query_messages(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<MessageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let raws = stmt.query_map(params, raw_message)?.collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(RawMessage::into_row).collect()
}

/// What a chunk's checksum covers: the document it belongs to and its bytes.
fn chunk_checksum(doc: &str, bytes: &[u8]) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(doc.as_bytes());
    hasher.update(&[0]);
    hasher.update(bytes);
    hasher.finalize().as_bytes().to_vec()
}

fn doc_chunks(conn: &Connection, doc: &DocId, after_seq: i64) -> Result<Vec<StoredChunk>, StoreError> {
    let doc_text = doc.to_string();
    let mut stmt =
        conn.prepare_cached("SELECT seq, bytes, checksum FROM doc_chunks WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq")?;
    let rows = stmt
        .query_map(params![doc_text, after_seq], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, Vec<u8>>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(seq, bytes, checksum)| {
            if chunk_checksum(&doc_text, &bytes) != checksum {
                return Err(StoreError::Corrupt {
                    path: conn.path().unwrap_or("(profile database)").to_owned(),
                    reason: format!("stored chunk {seq} of document {doc_text} is damaged (checksum mismatch)"),
                });
            }
            Ok(StoredChunk { seq, bytes })
        })
        .collect()
}

fn insert_chunk(conn: &Connection, doc: &DocId, kind: i64, bytes: &[u8]) -> Result<i64, StoreError> {
    let doc_text = doc.to_string();
    let checksum = chunk_checksum(&doc_text, bytes);
    conn.prepare_cached("INSERT INTO doc_chunks (doc_id, kind, bytes, checksum) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![doc_text, kind, bytes, checksum])?;
    Ok(conn.last_insert_rowid())
}

fn device_account(conn: &Connection, device: &DeviceId) -> Result<Option<AccountId>, StoreError> {
    let account: Option<String> = conn
        .prepare_cached("SELECT account_id FROM devices WHERE device_id = ?1")?
        .query_row([device.to_string()], |row| row.get(0))
        .optional()?;
    account.as_deref().map(parse).transpose()
}

fn was_member(conn: &Connection, chat: &ChatId, account: &AccountId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM chat_members_ever WHERE chat_id = ?1 AND account_id = ?2")?
        .exists([chat.to_string(), account.to_string()])?)
}

fn sync_state(conn: &Connection, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT state FROM sync_states WHERE peer = ?1 AND doc_id = ?2")?
        .query_row(params![peer, doc.to_string()], |row| row.get(0))
        .optional()?)
}

fn relay_log(conn: &Connection, log: &LogId) -> Result<Option<RelayLogRow>, StoreError> {
    let row: Option<(Option<i64>, i64)> = conn
        .prepare_cached("SELECT pulled, compacted FROM relay_logs WHERE log = ?1")?
        .query_row([log.0.as_slice()], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(row.map(|(pulled, compacted)| RelayLogRow {
        pulled: pulled.map(|p| u64::try_from(p).unwrap_or(0)),
        compacted: u64::try_from(compacted).unwrap_or(0),
    }))
}

fn relay_uploaded(conn: &Connection, log: &LogId, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT heads FROM relay_uploaded WHERE log = ?1 AND doc_id = ?2")?
        .query_row(params![log.0.as_slice(), doc.to_string()], |row| row.get(0))
        .optional()?)
}

fn relay_hello(conn: &Connection, account: &AccountId) -> Result<Option<[u8; 32]>, StoreError> {
    let hello: Option<Vec<u8>> = conn
        .prepare_cached("SELECT hello FROM relay_hellos WHERE account = ?1")?
        .query_row([account.to_string()], |row| row.get(0))
        .optional()?;
    Ok(hello.and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok()))
}

fn relay_granted(conn: &Connection, grant: &RelayGrant) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM relay_grants WHERE chat = ?1 AND epoch = ?2 AND key_id = ?3 AND member = ?4")?
        .query_row(
            params![
                grant.chat.to_string(),
                grant.epoch,
                grant.key_id,
                grant.member.to_string()
            ],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn uploaded_through(conn: &Connection, chat: &ChatId) -> Result<Option<Hlc>, StoreError> {
    let packed: Option<i64> = conn
        .prepare_cached("SELECT hlc FROM relay_uploaded_through WHERE chat = ?1")?
        .query_row([chat.to_string()], |row| row.get(0))
        .optional()?;
    Ok(packed.map(|p| Hlc::from_packed(u64::try_from(p).unwrap_or(0))))
}

/// Mail still to send; rows no build writes are skipped.
fn pending_mail(conn: &Connection) -> Result<Vec<(PendingMail, Vec<u8>)>, StoreError> {
    let rows: Vec<(String, String, Vec<u8>)> = conn
        .prepare_cached("SELECT kind, target, payload FROM relay_pending_mail")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut mail: Vec<(PendingMail, Vec<u8>)> = rows
        .into_iter()
        .filter_map(|(kind, target, payload)| PendingMail::from_columns(&kind, &target).map(|m| (m, payload)))
        .collect();
    mail.sort();
    Ok(mail)
}

fn pending_mail_payload(conn: &Connection, mail: &PendingMail) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT payload FROM relay_pending_mail WHERE kind = ?1 AND target = ?2")?
        .query_row(params![mail.kind(), mail.target()], |row| row.get(0))
        .optional()?)
}

fn meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

fn meta_with_prefix(conn: &Connection, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    // Prefix match without LIKE, whose wildcards and case rules do not fit keys.
    let mut stmt = conn.prepare_cached("SELECT key, value FROM meta WHERE substr(key, 1, ?2) = ?1 ORDER BY key")?;
    let rows = stmt.query_map(params![prefix, prefix.chars().count() as i64], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn apply_update(conn: &Connection, update: &ReadModelUpdate) -> Result<(), StoreError> {
    match update {
        ReadModelUpdate::Message(row) => {
            // UPDATE, then INSERT if there was nothing to update: an UPSERT
            // would make FTS5 flush its pending index at every statement.
            let values = message_values(row)?;
            let updated = conn
                .prepare_cached(
                    "UPDATE messages SET text = ?6, reply_to = ?7, edited = ?8, deleted = ?9, reactions = ?10,
                       attachments = ?11
                     WHERE chat_id = ?1 AND message_id = ?2",
                )?
                .execute(params_from_iter(values.iter()))?;
            if updated == 0 {
                conn.prepare_cached(&format!(
                    "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES {MESSAGE_VALUES}"
                ))?
                .execute(params_from_iter(values.iter()))?;
            }
            record_message_blobs(conn, row)?;
        }
        ReadModelUpdate::ReadPosition { chat, account, ts } => {
            conn.prepare_cached(
                "INSERT INTO read_positions (chat_id, account_id, ts) VALUES (?1, ?2, ?3)
                 ON CONFLICT (chat_id, account_id) DO UPDATE SET ts = max(ts, excluded.ts)",
            )?
            .execute(params![chat.to_string(), account.to_string(), ts.to_i64()])?;
        }
        ReadModelUpdate::DeliveredPosition { chat, account, ts } => {
            conn.prepare_cached(
                "INSERT INTO delivered_positions (chat_id, account_id, ts) VALUES (?1, ?2, ?3)
                 ON CONFLICT (chat_id, account_id) DO UPDATE SET ts = max(ts, excluded.ts)",
            )?
            .execute(params![chat.to_string(), account.to_string(), ts.to_i64()])?;
        }
        ReadModelUpdate::Chat(row) => {
            conn.prepare_cached(
                "INSERT INTO chats (chat_id, kind, name, description) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (chat_id) DO UPDATE SET kind = excluded.kind, name = excluded.name, description = excluded.description",
            )?
            .execute(params![row.chat.to_string(), row.kind.as_str(), row.name, row.description])?;
            conn.prepare_cached("DELETE FROM chat_members WHERE chat_id = ?1")?
                .execute([row.chat.to_string()])?;
            let mut insert =
                conn.prepare_cached("INSERT INTO chat_members (chat_id, account_id, role) VALUES (?1, ?2, ?3)")?;
            for (account, role) in &row.members {
                insert.execute(params![row.chat.to_string(), account.to_string(), role.as_str()])?;
            }
        }
        ReadModelUpdate::ChatAvatar { chat, has_avatar } => {
            // No row yet means no head yet: nothing to mark (the flag comes
            // again with the head's next update).
            conn.prepare_cached("UPDATE chats SET has_avatar = ?2 WHERE chat_id = ?1")?
                .execute(params![chat.to_string(), i64::from(*has_avatar)])?;
        }
        ReadModelUpdate::ChatSettings { chat, settings } => {
            conn.prepare_cached(
                "INSERT INTO chat_settings (chat_id, pinned, muted, archived, draft) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (chat_id) DO UPDATE SET pinned = excluded.pinned, muted = excluded.muted,
                   archived = excluded.archived, draft = excluded.draft",
            )?
            .execute(params![
                chat.to_string(),
                i64::from(settings.pinned),
                i64::from(settings.muted),
                i64::from(settings.archived),
                settings.draft
            ])?;
        }
        ReadModelUpdate::Profile { account, name } => {
            conn.prepare_cached(
                "INSERT INTO profiles (account_id, name) VALUES (?1, ?2)
                 ON CONFLICT (account_id) DO UPDATE SET name = excluded.name",
            )?
            .execute(params![account.to_string(), name])?;
        }
        ReadModelUpdate::Device(cert) => {
            conn.prepare_cached("INSERT OR IGNORE INTO devices (device_id, account_id, cert) VALUES (?1, ?2, ?3)")?
                .execute(params![
                    cert.device.to_string(),
                    cert.account.to_string(),
                    cert.to_bytes()
                ])?;
        }
        ReadModelUpdate::DeviceRevoked { device, at_ms } => {
            conn.prepare_cached("UPDATE devices SET revoked_at = ?2 WHERE device_id = ?1")?
                .execute(params![device.to_string(), at_ms])?;
        }
        ReadModelUpdate::MemberEver { chat, account } => {
            conn.prepare_cached("INSERT OR IGNORE INTO chat_members_ever (chat_id, account_id) VALUES (?1, ?2)")?
                .execute(params![chat.to_string(), account.to_string()])?;
        }
    }
    Ok(())
}

/// Writes many message rows with two statements that touch the full-text
/// index. Once FTS5 is written in a transaction, every later statement's
/// savepoint makes it flush its pending terms to a new segment: row-by-row
/// writes would create one index segment per message.
fn upsert_messages(conn: &Connection, rows: &[&MessageRow]) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS staged_messages (
             chat_id TEXT NOT NULL, message_id TEXT NOT NULL, author TEXT NOT NULL, device TEXT NOT NULL,
             ts INTEGER NOT NULL, text TEXT, reply_to TEXT, edited INTEGER, deleted INTEGER NOT NULL,
             reactions TEXT NOT NULL, attachments BLOB, PRIMARY KEY (chat_id, message_id)) STRICT;
         DELETE FROM temp.staged_messages;",
    )?;
    {
        let mut stage = conn.prepare_cached(&format!(
            "INSERT OR REPLACE INTO temp.staged_messages ({MESSAGE_COLUMNS}) VALUES {MESSAGE_VALUES}"
        ))?;
        for row in rows {
            stage.execute(params_from_iter(message_values(row)?.iter()))?;
        }
    }
    conn.prepare_cached(
        "UPDATE messages SET text = s.text, reply_to = s.reply_to, edited = s.edited, deleted = s.deleted,
           reactions = s.reactions, attachments = s.attachments
         FROM temp.staged_messages AS s
         WHERE messages.chat_id = s.chat_id AND messages.message_id = s.message_id",
    )?
    .execute([])?;
    conn.prepare_cached(
        "INSERT INTO messages (chat_id, message_id, author, device, ts, text, reply_to, edited, deleted, reactions,
           attachments)
         SELECT s.chat_id, s.message_id, s.author, s.device, s.ts, s.text, s.reply_to, s.edited, s.deleted, s.reactions,
           s.attachments
         FROM temp.staged_messages AS s
         WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = s.chat_id AND m.message_id = s.message_id)
         ORDER BY s.chat_id, s.message_id",
    )?
    .execute([])?;
    conn.execute_batch("DELETE FROM temp.staged_messages")?;
    for row in rows {
        record_message_blobs(conn, row)?;
    }
    Ok(())
}

/// Keeps `message_blobs` in step with a message row: attachments are only
/// ever written with the message and removed when it is deleted.
fn record_message_blobs(conn: &Connection, row: &MessageRow) -> Result<(), StoreError> {
    if row.deleted {
        conn.prepare_cached("DELETE FROM message_blobs WHERE chat_id = ?1 AND message_id = ?2")?
            .execute(params![row.chat.to_string(), row.id.to_string()])?;
        return Ok(());
    }
    for attachment in &row.attachments {
        conn.prepare_cached("INSERT OR IGNORE INTO message_blobs (hash, chat_id, message_id) VALUES (?1, ?2, ?3)")?
            .execute(params![&attachment.hash[..], row.chat.to_string(), row.id.to_string()])?;
        // A blob a message refers to is wanted until it is here.
        conn.prepare_cached(
            "INSERT OR IGNORE INTO blobs (hash, size, complete, on_server, added_ms) VALUES (?1, ?2, 0, 0, 0)",
        )?
        .execute(params![
            &attachment.hash[..],
            i64::try_from(attachment.size).unwrap_or(i64::MAX)
        ])?;
    }
    Ok(())
}

fn blob_row(row: &Row<'_>) -> rusqlite::Result<BlobRow> {
    let hash: Vec<u8> = row.get(0)?;
    let size: i64 = row.get(1)?;
    Ok(BlobRow {
        hash: <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, "a blob hash is 32 bytes".into())
        })?,
        size: u64::try_from(size).unwrap_or(0),
        complete: row.get::<_, i64>(2)? != 0,
        on_server: row.get::<_, i64>(3)? != 0,
        added_ms: row.get(4)?,
    })
}

fn chat_row(conn: &Connection, chat: &ChatId) -> Result<Option<ChatRow>, StoreError> {
    let head: Option<(String, String, String)> = conn
        .prepare_cached("SELECT kind, name, description FROM chats WHERE chat_id = ?1")?
        .query_row([chat.to_string()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    let Some((kind, name, description)) = head else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached("SELECT account_id, role FROM chat_members WHERE chat_id = ?1")?;
    let members = stmt
        .query_map([chat.to_string()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut member_map = BTreeMap::new();
    for (account, role) in members {
        member_map.insert(parse::<AccountId>(&account)?, parse::<Role>(&role)?);
    }
    Ok(Some(ChatRow {
        chat: *chat,
        kind: ChatKind::parse(&kind).ok_or_else(|| StoreError::InvalidRow(format!("chat kind {kind:?}")))?,
        name,
        description,
        members: member_map,
    }))
}

fn chat_settings(conn: &Connection, chat: &ChatId) -> Result<ChatSettingsRow, StoreError> {
    let row = conn
        .prepare_cached("SELECT pinned, muted, archived, draft FROM chat_settings WHERE chat_id = ?1")?
        .query_row([chat.to_string()], |row| {
            Ok(ChatSettingsRow {
                pinned: row.get::<_, i64>(0)? != 0,
                muted: row.get::<_, i64>(1)? != 0,
                archived: row.get::<_, i64>(2)? != 0,
                draft: row.get(3)?,
            })
        })
        .optional()?;
    Ok(row.unwrap_or_default())
}

fn read_position(conn: &Connection, chat: &ChatId, account: &AccountId) -> Result<Option<Hlc>, StoreError> {
    let ts: Option<i64> = conn
        .prepare_cached("SELECT ts FROM read_positions WHERE chat_id = ?1 AND account_id = ?2")?
        .query_row([chat.to_string(), account.to_string()], |row| row.get(0))
        .optional()?;
    Ok(ts.map(Hlc::from_i64))
}

fn delivered_position(conn: &Connection, chat: &ChatId, account: &AccountId) -> Result<Option<Hlc>, StoreError> {
    let ts: Option<i64> = conn
        .prepare_cached("SELECT ts FROM delivered_positions WHERE chat_id = ?1 AND account_id = ?2")?
        .query_row([chat.to_string(), account.to_string()], |row| row.get(0))
        .optional()?;
    Ok(ts.map(Hlc::from_i64))
}

/// The oldest of the newest [`SEARCH_WINDOW`] matches of `fts`: searches
/// rank (bm25) only matches from there on, because FTS5 walks its document
/// lists newest-first cheaply, but ranking every match of a common word
/// scores hundreds of thousands of rows.
fn oldest_ranked(conn: &Connection, fts: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT min(rowid) FROM (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1
             ORDER BY rowid DESC LIMIT ?2)",
        )?
        .query_row(params![fts, SEARCH_WINDOW], |row| row.get(0))?)
}

impl Store for SqliteStore {
    fn begin_write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        self.begin(false)
    }

    fn begin_recoverable_write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        self.begin(true)
    }

    fn doc_chunks(&self, doc: &DocId, after_seq: i64) -> Result<Vec<StoredChunk>, StoreError> {
        doc_chunks(&self.conn(), doc, after_seq)
    }

    fn doc_ids(&self) -> Result<Vec<DocId>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT DISTINCT doc_id FROM doc_chunks ORDER BY doc_id")?;
        let ids = stmt
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        ids.iter().map(|id| parse(id)).collect()
    }

    fn doc_size(&self, doc: &DocId) -> Result<(u64, u64), StoreError> {
        let (count, bytes): (i64, i64) = self.conn().query_row(
            "SELECT count(*), coalesce(sum(length(bytes)), 0) FROM doc_chunks WHERE doc_id = ?1",
            [doc.to_string()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok((u64::try_from(count).unwrap_or(0), u64::try_from(bytes).unwrap_or(0)))
    }

    fn chat_list(&self, me: &AccountId) -> Result<Vec<ChatListEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT chat_id, has_avatar FROM chats")?;
        let chats = stmt
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut entries = Vec::with_capacity(chats.len());
        for (chat, has_avatar) in chats {
            let chat: ChatId = parse(&chat)?;
            let Some(row) = chat_row(&conn, &chat)? else { continue };
            let last = query_messages(
                &conn,
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 ORDER BY message_id DESC LIMIT 1"),
                [chat.to_string()],
            )?
            .pop();
            let read = read_position(&conn, &chat, me)?.unwrap_or(Hlc::ZERO);
            let unread: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM (SELECT 1 FROM messages
                     WHERE chat_id = ?1 AND ts > ?2 AND author != ?3 AND deleted = 0 LIMIT ?4)",
                )?
                .query_row(
                    params![chat.to_string(), read.to_i64(), me.to_string(), UNREAD_CAP],
                    |row| row.get(0),
                )?;
            entries.push(ChatListEntry {
                chat: row,
                has_avatar: has_avatar != 0,
                settings: chat_settings(&conn, &chat)?,
                last_message: last,
                unread: u64::try_from(unread).unwrap_or(0),
            });
        }
        crate::rows::sort_chat_list(&mut entries);
        Ok(entries)
    }

    fn chat(&self, chat: &ChatId) -> Result<Option<ChatRow>, StoreError> {
        chat_row(&self.conn(), chat)
    }

    fn chat_settings(&self, chat: &ChatId) -> Result<ChatSettingsRow, StoreError> {
        chat_settings(&self.conn(), chat)
    }

    fn messages(&self, chat: &ChatId, before: Option<&MessageId>, limit: usize) -> Result<Vec<MessageRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.conn();
        match before {
            Some(before) => query_messages(
                &conn,
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 AND message_id < ?2 ORDER BY message_id DESC LIMIT ?3"
                ),
                params![chat.to_string(), before.to_string(), limit],
            ),
            None => query_messages(
                &conn,
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 ORDER BY message_id DESC LIMIT ?2"),
                params![chat.to_string(), limit],
            ),
        }
    }

    fn message_count(&self, chat: &ChatId) -> Result<usize, StoreError> {
        let count: i64 = self
            .conn()
            .prepare_cached("SELECT COUNT(*) FROM messages WHERE chat_id = ?1")?
            .query_row([chat.to_string()], |row| row.get(0))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    fn message(&self, chat: &ChatId, id: &MessageId) -> Result<Option<MessageRow>, StoreError> {
        Ok(query_messages(
            &self.conn(),
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 AND message_id = ?2"),
            [chat.to_string(), id.to_string()],
        )?
        .pop())
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let conn = self.conn();
        let Some(oldest) = oldest_ranked(&conn, &fts)? else {
            return Ok(Vec::new());
        };
        let mut stmt = conn.prepare_cached(
            "SELECT m.chat_id, m.message_id, m.text, snippet(messages_fts, 0, '[', ']', '…', 12)
             FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
             WHERE messages_fts MATCH ?1 AND messages_fts.rowid >= ?3 ORDER BY rank LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![fts, i64::try_from(limit).unwrap_or(i64::MAX), oldest], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(chat, message, text, snippet)| {
                Ok(SearchHit {
                    chat: parse(&chat)?,
                    message: parse(&message)?,
                    text: text.unwrap_or_default(),
                    snippet,
                })
            })
            .collect()
    }

    fn last_written_by_author(&self, chat: &ChatId) -> Result<std::collections::BTreeMap<AccountId, Hlc>, StoreError> {
        // Served by messages_by_chat_ts (chat_id, ts, author, ...).
        let conn = self.conn();
        let mut statement =
            conn.prepare_cached("SELECT author, max(ts) FROM messages WHERE chat_id = ?1 GROUP BY author")?;
        let rows = statement.query_map([chat.to_string()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (author, ts) = row?;
            out.insert(parse(&author)?, Hlc::from_i64(ts));
        }
        Ok(out)
    }

    fn reply_candidates(
        &self,
        terms: &[String],
        me: &AccountId,
        limit: usize,
    ) -> Result<Vec<ReplyCandidate>, StoreError> {
        let Some(query) = crate::fts_any_query(terms) else {
            return Ok(Vec::new());
        };
        let conn = self.conn();
        let Some(oldest) = oldest_ranked(&conn, &query)? else {
            return Ok(Vec::new());
        };
        // Each prompt's next message in its chat, kept when `me` wrote it.
        let mut stmt = conn.prepare_cached(
            "SELECT h.chat_id, h.text, h.score, n.text FROM (
                 SELECT m.chat_id, m.ts, m.text, -bm25(messages_fts) AS score
                 FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
                 WHERE messages_fts MATCH ?1 AND messages_fts.rowid >= ?4 AND m.author != ?2
                   AND m.text IS NOT NULL
                 ORDER BY rank LIMIT ?3) h
             JOIN messages n ON n.id = (SELECT r.id FROM messages r
                 WHERE r.chat_id = h.chat_id AND r.ts > h.ts ORDER BY r.ts LIMIT 1)
             WHERE n.author = ?2 AND n.text IS NOT NULL AND n.deleted = 0
             ORDER BY h.score DESC",
        )?;
        let rows = stmt
            .query_map(
                params![query, me.to_string(), i64::try_from(limit).unwrap_or(i64::MAX), oldest],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, f64>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(chat, prompt, score, reply)| {
                Ok(ReplyCandidate {
                    chat: parse(&chat)?,
                    prompt,
                    reply,
                    score,
                })
            })
            .collect()
    }

    fn profile_name(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT name FROM profiles WHERE account_id = ?1")?
            .query_row([account.to_string()], |row| row.get(0))
            .optional()?)
    }

    fn device_account(&self, device: &DeviceId) -> Result<Option<AccountId>, StoreError> {
        device_account(&self.conn(), device)
    }

    fn devices(&self, account: &AccountId) -> Result<Vec<DeviceEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT cert, revoked_at FROM devices WHERE account_id = ?1 ORDER BY device_id")?;
        let rows = stmt
            .query_map([account.to_string()], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Option<i64>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(cert, revoked_at)| {
                Ok(DeviceEntry {
                    cert: DeviceCertificate::from_bytes(&cert).map_err(|e| StoreError::InvalidRow(e.to_string()))?,
                    revoked_at,
                })
            })
            .collect()
    }

    fn was_member(&self, chat: &ChatId, account: &AccountId) -> Result<bool, StoreError> {
        was_member(&self.conn(), chat, account)
    }

    fn read_position(&self, chat: &ChatId, account: &AccountId) -> Result<Option<Hlc>, StoreError> {
        read_position(&self.conn(), chat, account)
    }

    fn delivered_position(&self, chat: &ChatId, account: &AccountId) -> Result<Option<Hlc>, StoreError> {
        delivered_position(&self.conn(), chat, account)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        meta(&self.conn(), key)
    }

    fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        meta_with_prefix(&self.conn(), prefix)
    }

    fn quarantined(&self, doc: &DocId) -> Result<Vec<Vec<u8>>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT change FROM quarantine WHERE doc_id = ?1 ORDER BY hash")?;
        let rows = stmt
            .query_map([doc.to_string()], |row| row.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn change_signatures(&self, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError> {
        change_signatures::held(&self.conn(), doc)
    }

    fn sync_state(&self, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        sync_state(&self.conn(), peer, doc)
    }

    fn relay_log(&self, log: &LogId) -> Result<Option<RelayLogRow>, StoreError> {
        relay_log(&self.conn(), log)
    }

    fn relay_uploaded(&self, log: &LogId, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        relay_uploaded(&self.conn(), log, doc)
    }

    fn relay_hello(&self, account: &AccountId) -> Result<Option<[u8; 32]>, StoreError> {
        relay_hello(&self.conn(), account)
    }

    fn relay_granted(&self, grant: &RelayGrant) -> Result<bool, StoreError> {
        relay_granted(&self.conn(), grant)
    }

    fn uploaded_through(&self, chat: &ChatId) -> Result<Option<Hlc>, StoreError> {
        uploaded_through(&self.conn(), chat)
    }

    fn pending_mail(&self) -> Result<Vec<(PendingMail, Vec<u8>)>, StoreError> {
        pending_mail(&self.conn())
    }

    fn pending_mail_payload(&self, mail: &PendingMail) -> Result<Option<Vec<u8>>, StoreError> {
        pending_mail_payload(&self.conn(), mail)
    }

    fn peer_addresses(&self, peer: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT address FROM peer_addresses WHERE peer_id = ?1 ORDER BY seen_ms DESC, address LIMIT 16",
        )?;
        let rows = stmt.query_map([peer], |row| row.get(0))?;
        Ok(rows.collect::<Result<Vec<String>, _>>()?)
    }

    fn peer_routes(&self) -> Result<Vec<PeerRouteRow>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT peer_id, route, address, updated_ms FROM peer_routes ORDER BY peer_id")?;
        let rows = stmt.query_map([], |row| {
            Ok(PeerRouteRow {
                peer_id: row.get(0)?,
                route: row.get(1)?,
                address: row.get(2)?,
                updated_ms: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn message_route(&self, chat: &ChatId, id: &MessageId) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT route FROM message_routes WHERE chat_id = ?1 AND message_id = ?2")?
            .query_row(params![chat.to_string(), id.to_string()], |row| row.get(0))
            .optional()?)
    }

    fn attachment_messages(&self, chat: &ChatId) -> Result<Vec<MessageRow>, StoreError> {
        query_messages(
            &self.conn(),
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 AND attachments IS NOT NULL
                 AND deleted = 0 ORDER BY message_id"
            ),
            [chat.to_string()],
        )
    }

    fn blob_chats(&self, hash: &[u8; 32]) -> Result<Vec<ChatId>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT DISTINCT chat_id FROM message_blobs WHERE hash = ?1 ORDER BY 1")?;
        let chats = stmt
            .query_map([&hash[..]], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        chats.iter().map(|c| parse(c)).collect()
    }

    fn blob(&self, hash: &[u8; 32]) -> Result<Option<BlobRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT hash, size, complete, on_server, added_ms FROM blobs WHERE hash = ?1")?
            .query_row([&hash[..]], blob_row)
            .optional()?)
    }

    fn blobs(&self) -> Result<Vec<BlobRow>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT hash, size, complete, on_server, added_ms FROM blobs ORDER BY hash")?;
        Ok(stmt.query_map([], blob_row)?.collect::<Result<Vec<_>, _>>()?)
    }

    fn change_marker(&self) -> Result<u64, StoreError> {
        // Every commit, by any process, bumps this counter inside its transaction.
        commit_counter(&self.conn())
    }
}

fn commit_counter(conn: &Connection) -> Result<u64, StoreError> {
    Ok(meta(conn, COMMIT_COUNTER)?
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

/// Meta key of the store-wide commit counter.
const COMMIT_COUNTER: &str = "commit_counter";

/// A write transaction on the SQLite store.
struct SqliteTxn<'a> {
    conn: MutexGuard<'a, Connection>,
    path: &'a str,
    done: bool,
    /// Begun by [`Store::begin_recoverable_write`]: `synchronous` goes back
    /// to FULL when it ends.
    recoverable: bool,
}

impl WriteTxn for SqliteTxn<'_> {
    fn doc_chunks(&mut self, doc: &DocId, after_seq: i64) -> Result<Vec<StoredChunk>, StoreError> {
        doc_chunks(&self.conn, doc, after_seq)
    }

    fn append_chunk(&mut self, doc: &DocId, bytes: &[u8]) -> Result<i64, StoreError> {
        insert_chunk(&self.conn, doc, 0, bytes)
    }

    fn replace_with_snapshot(&mut self, doc: &DocId, upto_seq: i64, snapshot: &[u8]) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached("DELETE FROM doc_chunks WHERE doc_id = ?1 AND seq <= ?2")?
            .execute(params![doc.to_string(), upto_seq])?;
        let seq = insert_chunk(&self.conn, doc, 1, snapshot)?;
        self.conn.execute_batch("PRAGMA incremental_vacuum")?;
        Ok(seq)
    }

    fn apply(&mut self, updates: &[ReadModelUpdate]) -> Result<(), StoreError> {
        let mut messages = Vec::new();
        for update in updates {
            match update {
                ReadModelUpdate::Message(row) => messages.push(row),
                other => apply_update(&self.conn, other)?,
            }
        }
        match messages.as_slice() {
            [] => Ok(()),
            [one] => apply_update(&self.conn, &ReadModelUpdate::Message((*one).clone())),
            many => upsert_messages(&self.conn, many),
        }
    }

    fn device_account(&mut self, device: &DeviceId) -> Result<Option<AccountId>, StoreError> {
        device_account(&self.conn, device)
    }

    fn was_member(&mut self, chat: &ChatId, account: &AccountId) -> Result<bool, StoreError> {
        was_member(&self.conn, chat, account)
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        meta(&self.conn, key)
    }

    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        Ok(())
    }

    fn delete_meta(&mut self, key: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM meta WHERE key = ?1")?
            .execute([key])?;
        Ok(())
    }

    fn quarantine(&mut self, doc: &DocId, hash: &[u8], change: &[u8], now_ms: i64) -> Result<bool, StoreError> {
        let already = self
            .conn
            .prepare_cached("SELECT 1 FROM quarantine WHERE hash = ?1")?
            .exists([hash])?;
        if already {
            return Ok(true);
        }
        let held: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM quarantine WHERE doc_id = ?1")?
            .query_row([doc.to_string()], |row| row.get(0))?;
        if usize::try_from(held).unwrap_or(usize::MAX) >= QUARANTINE_LIMIT_PER_DOC {
            return Ok(false);
        }
        let total: i64 = self
            .conn
            .prepare_cached("SELECT bytes FROM quarantine_totals WHERE id = 1")?
            .query_row([], |row| row.get(0))?;
        if usize::try_from(total)
            .unwrap_or(usize::MAX)
            .saturating_add(change.len())
            > QUARANTINE_BYTES_LIMIT
        {
            return Ok(false);
        }
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO quarantine (hash, doc_id, change) VALUES (?1, ?2, ?3)")?
            .execute(params![hash, doc.to_string(), change])?;
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO quarantine_arrivals (hash, first_ms) VALUES (?1, ?2)")?
            .execute(params![hash, now_ms])?;
        Ok(true)
    }

    fn expire_quarantine(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        let cutoff = now_ms.saturating_sub(QUARANTINE_EXPIRY_MS);
        let dropped = self
            .conn
            .prepare_cached(
                "DELETE FROM quarantine WHERE hash IN \
                 (SELECT hash FROM quarantine_arrivals WHERE first_ms < ?1)",
            )?
            .execute([cutoff])?;
        self.conn
            .prepare_cached("DELETE FROM quarantine_arrivals WHERE first_ms < ?1")?
            .execute([cutoff.saturating_sub(QUARANTINE_EXPIRY_MS)])?;
        if dropped > 0 {
            self.conn
                .prepare_cached(
                    "DELETE FROM quarantine_signatures WHERE doc_id NOT IN (SELECT doc_id FROM quarantine)",
                )?
                .execute([])?;
        }
        Ok(dropped)
    }

    fn quarantined_docs(&mut self) -> Result<Vec<DocId>, StoreError> {
        let ids = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT DISTINCT doc_id FROM quarantine ORDER BY doc_id")?;
            stmt.query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?
        };
        ids.iter().map(|id| parse(id)).collect()
    }

    fn take_quarantined(&mut self, doc: &DocId) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT change FROM quarantine WHERE doc_id = ?1 ORDER BY hash")?;
            stmt.query_map([doc.to_string()], |row| row.get(0))?
                .collect::<Result<Vec<_>, _>>()?
        };
        self.conn
            .prepare_cached("DELETE FROM quarantine WHERE doc_id = ?1")?
            .execute([doc.to_string()])?;
        Ok(rows)
    }

    fn change_signatures(&mut self, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError> {
        change_signatures::held(&self.conn, doc)
    }

    fn keep_change_signatures(&mut self, doc: &DocId, signatures: &[ChangeSignature]) -> Result<(), StoreError> {
        change_signatures::keep(&self.conn, doc, signatures)
    }

    fn quarantine_signatures(&mut self, doc: &DocId, signatures: &[ChangeSignature]) -> Result<usize, StoreError> {
        change_signatures::quarantine(&self.conn, doc, signatures)
    }

    fn take_quarantined_signatures(&mut self, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError> {
        change_signatures::take_quarantined(&self.conn, doc)
    }

    fn sync_state(&mut self, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        sync_state(&self.conn, peer, doc)
    }

    fn set_sync_state(&mut self, peer: &str, doc: &DocId, state: &[u8]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO sync_states (peer, doc_id, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (peer, doc_id) DO UPDATE SET state = excluded.state",
            )?
            .execute(params![peer, doc.to_string(), state])?;
        Ok(())
    }

    fn set_relay_pulled(&mut self, log: &LogId, seq: u64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(migrations::SET_RELAY_PULLED)?
            .execute(params![log.0.as_slice(), i64::try_from(seq).unwrap_or(i64::MAX)])?;
        Ok(())
    }

    fn set_relay_compacted(&mut self, log: &LogId, seq: u64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(migrations::SET_RELAY_COMPACTED)?
            .execute(params![log.0.as_slice(), i64::try_from(seq).unwrap_or(i64::MAX)])?;
        Ok(())
    }

    fn set_relay_uploaded(&mut self, log: &LogId, doc: &DocId, heads: &[u8]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(migrations::SET_RELAY_UPLOADED)?
            .execute(params![log.0.as_slice(), doc.to_string(), heads])?;
        Ok(())
    }

    fn set_relay_hello(&mut self, account: &AccountId, hello: &[u8; 32]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(migrations::SET_RELAY_HELLO)?
            .execute(params![account.to_string(), hello.as_slice()])?;
        Ok(())
    }

    fn set_relay_granted(&mut self, grant: &RelayGrant) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(migrations::SET_RELAY_GRANTED)?
            .execute(params![
                grant.chat.to_string(),
                grant.epoch,
                grant.key_id,
                grant.member.to_string()
            ])?;
        Ok(())
    }

    fn set_uploaded_through(&mut self, chat: &ChatId, through: Hlc) -> Result<(), StoreError> {
        let packed = i64::try_from(through.to_packed())
            .map_err(|_| StoreError::InvalidRow(format!("an HLC out of range: {through:?}")))?;
        self.conn
            .prepare_cached(migrations::SET_UPLOADED_THROUGH)?
            .execute(params![chat.to_string(), packed])?;
        Ok(())
    }

    fn queue_mail(&mut self, mail: &PendingMail, payload: &[u8]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(migrations::QUEUE_MAIL)?
            .execute(params![mail.kind(), mail.target(), payload])?;
        Ok(())
    }

    fn clear_mail(&mut self, mail: &PendingMail) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM relay_pending_mail WHERE kind = ?1 AND target = ?2")?
            .execute(params![mail.kind(), mail.target()])?;
        Ok(())
    }

    fn remember_peer_address(&mut self, peer: &str, address: &str, seen_ms: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO peer_addresses (peer_id, address, seen_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (peer_id, address) DO UPDATE SET seen_ms = excluded.seen_ms",
            )?
            .execute(params![peer, address, seen_ms])?;
        Ok(())
    }

    fn set_peer_route(&mut self, row: &PeerRouteRow) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO peer_routes (peer_id, route, address, updated_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (peer_id) DO UPDATE SET route = excluded.route, address = excluded.address,
                 updated_ms = excluded.updated_ms",
            )?
            .execute(params![row.peer_id, row.route, row.address, row.updated_ms])?;
        Ok(())
    }

    fn record_message_route(&mut self, chat: &ChatId, id: &MessageId, route: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO message_routes (chat_id, message_id, route) VALUES (?1, ?2, ?3)")?
            .execute(params![chat.to_string(), id.to_string(), route])?;
        Ok(())
    }

    fn put_blob(&mut self, row: &BlobRow) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO blobs (hash, size, complete, on_server, added_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (hash) DO UPDATE SET size = excluded.size, complete = excluded.complete,
                 on_server = excluded.on_server",
            )?
            .execute(params![
                &row.hash[..],
                i64::try_from(row.size).unwrap_or(i64::MAX),
                i64::from(row.complete),
                i64::from(row.on_server),
                row.added_ms
            ])?;
        Ok(())
    }

    fn delete_blob(&mut self, hash: &[u8; 32]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM blobs WHERE hash = ?1")?
            .execute([&hash[..]])?;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let next = commit_counter(&self.conn)?.wrapping_add(1);
        self.set_meta(COMMIT_COUNTER, &next.to_be_bytes())?;
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| StoreError::from_sqlite(e, self.path))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for SqliteTxn<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Nothing to report to: the caller already has the error that made it drop us.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        if self.recoverable {
            // Every other write stays durable before it returns. A failure
            // here leaves the connection unusable anyway (the next statement
            // reports it).
            let _ = self.conn.execute_batch("PRAGMA synchronous = FULL");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn synchronous(store: &SqliteStore) -> i64 {
        store
            .conn()
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .unwrap()
    }

    /// A recoverable write commits without syncing, and every write after
    /// it, committed or rolled back, is durable again (FULL = 2); what it
    /// committed is there when the profile is opened again.
    #[test]
    fn a_recoverable_write_is_kept_and_leaves_later_writes_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kith.db");
        let log = LogId([7; 32]);
        {
            let store = SqliteStore::open(&path).unwrap();
            assert_eq!(synchronous(&store), 2);
            let mut txn = store.begin_recoverable_write().unwrap();
            txn.set_relay_pulled(&log, 42).unwrap();
            txn.commit().unwrap();
            assert_eq!(synchronous(&store), 2);
            let mut txn = store.begin_recoverable_write().unwrap();
            txn.set_relay_pulled(&log, 99).unwrap();
            drop(txn);
            assert_eq!(synchronous(&store), 2, "back to FULL after a rollback too");
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.relay_log(&log).unwrap().and_then(|state| state.pulled), Some(42));
    }
}
