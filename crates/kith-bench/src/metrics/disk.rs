//! `disk_bytes_per_msg` (after compaction) and `disk_bytes_per_msg_uncompacted`:
//! the send benchmark's database per message, against the raw text per message.

use anyhow::Result;
use rusqlite::Connection;
use std::time::Instant;

use super::send::Sent;
use crate::progress::Progress;
use crate::raw;
use crate::report::{Budget, Metric, Subject};
use crate::stats::ms;

/// Bytes per table and index, when SQLite was built with the `dbstat` table.
fn breakdown(conn: &Connection) -> Option<String> {
    let mut stmt = conn
        .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY sum(pgsize) DESC LIMIT 6")
        .ok()?;
    let rows = stmt
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))
        .ok()?
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(
        rows.iter()
            .map(|(name, bytes)| format!("{name} {}K", bytes / 1024))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn chunk_bytes(conn: &Connection) -> Result<i64> {
    Ok(
        conn.query_row("SELECT coalesce(sum(length(bytes)), 0) FROM doc_chunks", [], |row| {
            row.get(0)
        })?,
    )
}

/// Measures the database before and after `Profile::compact(0)`.
pub fn run(sent: Sent, progress: &Progress) -> Result<Vec<Metric>> {
    let Sent {
        profile,
        db,
        messages,
        text_bytes,
        _dir,
        ..
    } = sent;
    progress.say("disk", "checkpoint, measure, compact, checkpoint, measure");
    let conn = raw::open(&db)?;
    raw::checkpoint_truncate(&conn)?;
    let before = raw::db_file_bytes(&db)?;
    let chunks_before = chunk_bytes(&conn)?;
    let breakdown_before = breakdown(&conn);

    let start = Instant::now();
    let compacted = profile.compact(0);
    let compact_time = start.elapsed();
    let compacted = compacted?;
    drop(profile);
    raw::checkpoint_truncate(&conn)?;
    let after = raw::db_file_bytes(&db)?;
    let live = raw::live_bytes(&conn)?;
    let chunks_after = chunk_bytes(&conn)?;
    let breakdown_after = breakdown(&conn);

    let n = messages as f64;
    let text = text_bytes as f64 / n;
    let per_msg = |bytes: u64| bytes as f64 / n;
    let mut note = format!(
        "db+wal file bytes after wal_checkpoint(TRUNCATE) over {messages} messages; baseline: mean text bytes. \
         compact(0) rewrote {compacted} docs in {:.1} ms; change chunks {:.0} -> {:.0} B/msg",
        ms(compact_time),
        chunks_before as f64 / n,
        chunks_after as f64 / n,
    );
    if let Some(b) = breakdown_after {
        note.push_str(&format!("; largest after: {b}"));
    }
    let mut note_before = "same file before compact(0)".to_owned();
    if let Some(b) = breakdown_before {
        note_before.push_str(&format!("; largest: {b}"));
    }
    Ok(vec![
        Metric::new(
            "disk_bytes_per_msg",
            "B",
            per_msg(after),
            Some(text),
            Some(Budget::Below(Subject::Ratio, 2.5)),
        )
        .note(note),
        Metric::new("disk_bytes_per_msg_uncompacted", "B", per_msg(before), Some(text), None).note(note_before),
        Metric::new("disk_bytes_per_msg_live", "B", per_msg(live), Some(text), None)
            .note("pages in use after compaction (file minus SQLite's free list): what VACUUM would leave"),
    ])
}
