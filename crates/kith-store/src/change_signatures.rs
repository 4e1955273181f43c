//! SQL for change signatures: the newest accepted one per (document, device)
//! and those waiting beside quarantined changes.

use crate::error::StoreError;
use crate::store::QUARANTINE_LIMIT_PER_DOC;
use kith_core::ChangeSignature;
use kith_proto::DocId;
use rusqlite::{Connection, Row, params};

fn from_row(row: &Row<'_>) -> rusqlite::Result<(String, i64, Vec<u8>, Vec<u8>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn decode((device, seq, change, signature): (String, i64, Vec<u8>, Vec<u8>)) -> Result<ChangeSignature, StoreError> {
    let bad = |what: &str| StoreError::InvalidRow(format!("change signature: bad {what}"));
    Ok(ChangeSignature {
        device: device.parse().map_err(|_| bad("device"))?,
        seq: u64::try_from(seq).map_err(|_| bad("sequence number"))?,
        change: change.try_into().map_err(|_| bad("hash"))?,
        signature: signature.try_into().map_err(|_| bad("signature"))?,
    })
}

/// Runs an insert whose parameters are (doc, device, seq, change, signature).
fn insert(stmt: &mut rusqlite::CachedStatement<'_>, doc: &DocId, s: &ChangeSignature) -> rusqlite::Result<usize> {
    stmt.execute(params![
        doc.to_string(),
        s.device.to_string(),
        i64::try_from(s.seq).unwrap_or(i64::MAX),
        s.change.as_slice(),
        s.signature.as_slice()
    ])
}

/// The newest accepted signature of each device that wrote to `doc`.
pub(crate) fn held(conn: &Connection, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT device, seq, change, signature FROM change_signatures WHERE doc_id = ?1 ORDER BY device",
    )?;
    let rows = stmt
        .query_map([doc.to_string()], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(decode).collect()
}

/// Keeps each signature that is newer than the one held for its device.
pub(crate) fn keep(conn: &Connection, doc: &DocId, signatures: &[ChangeSignature]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO change_signatures (doc_id, device, seq, change, signature) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (doc_id, device) DO UPDATE SET
             seq = excluded.seq, change = excluded.change, signature = excluded.signature
         WHERE excluded.seq > change_signatures.seq",
    )?;
    for s in signatures {
        insert(&mut stmt, doc, s)?;
    }
    Ok(())
}

/// Keeps signatures beside quarantined changes, within the quarantine's
/// per-document limit. Returns how many were kept.
pub(crate) fn quarantine(conn: &Connection, doc: &DocId, signatures: &[ChangeSignature]) -> Result<usize, StoreError> {
    let held: i64 = conn
        .prepare_cached("SELECT count(*) FROM quarantine_signatures WHERE doc_id = ?1")?
        .query_row([doc.to_string()], |row| row.get(0))?;
    let room = QUARANTINE_LIMIT_PER_DOC.saturating_sub(usize::try_from(held).unwrap_or(usize::MAX));
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO quarantine_signatures (doc_id, device, seq, change, signature)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut kept = 0;
    for s in signatures.iter().take(room) {
        kept += insert(&mut stmt, doc, s)?;
    }
    Ok(kept)
}

/// Takes the signatures waiting beside `doc`'s quarantined changes out.
pub(crate) fn take_quarantined(conn: &Connection, doc: &DocId) -> Result<Vec<ChangeSignature>, StoreError> {
    let rows = {
        let mut stmt = conn.prepare_cached(
            "SELECT device, seq, change, signature FROM quarantine_signatures WHERE doc_id = ?1
             ORDER BY device, seq",
        )?;
        stmt.query_map([doc.to_string()], from_row)?
            .collect::<Result<Vec<_>, _>>()?
    };
    conn.prepare_cached("DELETE FROM quarantine_signatures WHERE doc_id = ?1")?
        .execute([doc.to_string()])?;
    rows.into_iter().map(decode).collect()
}
