//! Numbered SQL migrations, applied in order; `PRAGMA user_version` records the last.

use crate::error::StoreError;
use rusqlite::{Connection, Transaction, params};

/// Every migration, in order. Version N is the N-th entry.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_delivered_positions.sql"),
    include_str!("../migrations/0003_peers.sql"),
    include_str!("../migrations/0004_attachments.sql"),
    include_str!("../migrations/0005_chat_avatars.sql"),
    include_str!("../migrations/0006_relay_logs.sql"),
    include_str!("../migrations/0007_relay_mail.sql"),
    include_str!("../migrations/0008_change_signatures.sql"),
    include_str!("../migrations/0009_quarantine_expiry.sql"),
    include_str!("../migrations/0010_invite_refusals.sql"),
];

/// Records how far a relay log was pulled (`?1` log, `?2` sequence number).
pub(crate) const SET_RELAY_PULLED: &str = "INSERT INTO relay_logs (log, pulled) VALUES (?1, ?2)
     ON CONFLICT (log) DO UPDATE SET pulled = excluded.pulled";
/// Records where a relay log was last compacted (`?1` log, `?2` sequence number).
pub(crate) const SET_RELAY_COMPACTED: &str = "INSERT INTO relay_logs (log, compacted) VALUES (?1, ?2)
     ON CONFLICT (log) DO UPDATE SET compacted = excluded.compacted";
/// Records the heads of a document on a relay log (`?1` log, `?2` doc, `?3` heads).
pub(crate) const SET_RELAY_UPLOADED: &str = "INSERT INTO relay_uploaded (log, doc_id, heads) VALUES (?1, ?2, ?3)
     ON CONFLICT (log, doc_id) DO UPDATE SET heads = excluded.heads";

/// Records the hello sent to a contact (`?1` account, `?2` hash).
pub(crate) const SET_RELAY_HELLO: &str = "INSERT INTO relay_hellos (account, hello) VALUES (?1, ?2)
     ON CONFLICT (account) DO UPDATE SET hello = excluded.hello";
/// Records a conversation key sent (`?1` chat, `?2` epoch, `?3` key id, `?4` member).
pub(crate) const SET_RELAY_GRANTED: &str =
    "INSERT OR IGNORE INTO relay_grants (chat, epoch, key_id, member) VALUES (?1, ?2, ?3, ?4)";
/// Moves a chat's "on the server" mark up, never back (`?1` chat, `?2` packed HLC).
pub(crate) const SET_UPLOADED_THROUGH: &str = "INSERT INTO relay_uploaded_through (chat, hlc) VALUES (?1, ?2)
     ON CONFLICT (chat) DO UPDATE SET hlc = max(hlc, excluded.hlc)";
/// Queues mail (`?1` kind, `?2` target, `?3` payload).
pub(crate) const QUEUE_MAIL: &str = "INSERT INTO relay_pending_mail (kind, target, payload) VALUES (?1, ?2, ?3)
     ON CONFLICT (kind, target) DO UPDATE SET payload = excluded.payload";

/// The schema version this build writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Reads the schema version, refusing databases from the future.
pub fn check_version(conn: &Connection, path: &str) -> Result<i64, StoreError> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| StoreError::from_sqlite(e, path))?;
    if current > LATEST {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: LATEST,
        });
    }
    Ok(current)
}

/// Brings the database up to [`LATEST`], refusing databases from the future.
pub fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let current = check_version(conn, path)?;
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let tx = conn.transaction().map_err(|e| StoreError::from_sqlite(e, path))?;
        tx.execute_batch(sql).map_err(|e| StoreError::from_sqlite(e, path))?;
        let version = index as i64 + 1;
        after_sql(version, &tx).map_err(|e| StoreError::from_sqlite(e, path))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// The part of a migration SQL cannot do, run after its SQL in the same
/// transaction.
fn after_sql(version: i64, tx: &Transaction<'_>) -> rusqlite::Result<()> {
    match version {
        6 => relay_state_from_meta(tx),
        7 => relay_mail_from_meta(tx),
        _ => Ok(()),
    }
}

/// Version 6: moves the relay cursors, compaction marks and uploaded heads
/// from meta strings into `relay_logs` and `relay_uploaded`. A key that does
/// not parse stays in meta (it is only ever ignored there).
fn relay_state_from_meta(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let rows: Vec<(String, Vec<u8>)> = tx
        .prepare("SELECT key, value FROM meta WHERE substr(key, 1, 6) = 'relay/' ORDER BY key")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (key, value) in rows {
        let moved = if let Some(log) = key.strip_prefix("relay/cursor/").and_then(log_from_hex) {
            let pulled = u64_from_be(&value);
            tx.execute(
                SET_RELAY_PULLED,
                params![log.as_slice(), i64::try_from(pulled).unwrap_or(i64::MAX)],
            )?;
            true
        } else if let Some(log) = key.strip_prefix("relay/compacted/").and_then(log_from_hex) {
            let compacted = u64_from_be(&value);
            tx.execute(
                SET_RELAY_COMPACTED,
                params![log.as_slice(), i64::try_from(compacted).unwrap_or(i64::MAX)],
            )?;
            true
        } else if let Some((log, doc)) = key
            .strip_prefix("relay/uploaded/")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(log, doc)| log_from_hex(log).map(|log| (log, doc)))
            && value.len().is_multiple_of(32)
        {
            tx.execute(SET_RELAY_UPLOADED, params![log.as_slice(), doc, value])?;
            true
        } else {
            false
        };
        if moved {
            tx.execute("DELETE FROM meta WHERE key = ?1", [&key])?;
        }
    }
    Ok(())
}

/// Version 7: moves the relay's mail marks and queued mail from meta
/// strings into their tables. A key that does not parse stays in meta (it is
/// only ever ignored there).
fn relay_mail_from_meta(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    use crate::relay_mail::PendingMail;
    let rows: Vec<(String, Vec<u8>)> = tx
        .prepare("SELECT key, value FROM meta WHERE substr(key, 1, 6) = 'relay/' ORDER BY key")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (key, value) in rows {
        let queued = |mail: Option<PendingMail>| -> rusqlite::Result<bool> {
            let Some(mail) = mail else { return Ok(false) };
            tx.execute(QUEUE_MAIL, params![mail.kind(), mail.target(), value])?;
            Ok(true)
        };
        let moved = if let Some(account) = key.strip_prefix("relay/hello/") {
            account.parse::<kith_proto::AccountId>().is_ok()
                && value.len() == 32
                && tx.execute(SET_RELAY_HELLO, params![account, value])? == 1
        } else if let Some(rest) = key.strip_prefix("relay/grant/") {
            match rest.split('/').collect::<Vec<_>>().as_slice() {
                [chat, epoch, key_id, member] => match epoch.parse::<u32>() {
                    Ok(epoch) => {
                        tx.execute(SET_RELAY_GRANTED, params![chat, epoch, key_id, member])?;
                        true
                    }
                    Err(_) => false,
                },
                _ => false,
            }
        } else if let Some(chat) = key.strip_prefix("relay/uploaded-through/") {
            match <[u8; 8]>::try_from(value.as_slice()) {
                Ok(bytes) => {
                    let packed = i64::try_from(u64::from_be_bytes(bytes)).unwrap_or(i64::MAX);
                    tx.execute(SET_UPLOADED_THROUGH, params![chat, packed])?;
                    true
                }
                Err(_) => false,
            }
        } else if let Some(account) = key.strip_prefix("relay/connect/") {
            queued(PendingMail::from_columns("connect", account))?
        } else if let Some(target) = key.strip_prefix("relay/account-grant/") {
            queued(PendingMail::from_columns("account-key", target))?
        } else if let Some(device) = key.strip_prefix("relay/revoked-notice/") {
            queued(PendingMail::from_columns("revoked", device))?
        } else {
            false
        };
        if moved {
            tx.execute("DELETE FROM meta WHERE key = ?1", [&key])?;
        }
    }
    Ok(())
}

/// A log id written as 64 lower-case hex digits.
fn log_from_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// An 8-byte big-endian counter as the relay kept it (0 when damaged).
fn u64_from_be(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map(u64::from_be_bytes).unwrap_or(0)
}
