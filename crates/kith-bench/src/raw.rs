//! Raw rusqlite: the baselines' connections and file-size helpers.

use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// Opens a raw connection with the store's durability pragmas
/// (`journal_mode=WAL`, `synchronous=FULL`).
pub fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Creates a plain message table with an external-content FTS5 index kept by
/// a trigger, like the store's, but with nothing else.
pub fn create_fts_table(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE msgs (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
         CREATE VIRTUAL TABLE msgs_fts USING fts5(
             text, content = 'msgs', content_rowid = 'id',
             tokenize = 'unicode61 remove_diacritics 2');
         CREATE TRIGGER msgs_fts_insert AFTER INSERT ON msgs BEGIN
             INSERT INTO msgs_fts (rowid, text) VALUES (new.id, new.text);
         END;",
    )?;
    Ok(())
}

/// Inserts texts into [`create_fts_table`]'s table in one transaction.
pub fn insert_texts<'a>(conn: &mut Connection, texts: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached("INSERT INTO msgs (text) VALUES (?1)")?;
        for text in texts {
            insert.execute([text])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`, failing if another connection kept it from finishing.
pub fn checkpoint_truncate(conn: &Connection) -> Result<()> {
    let (busy, _log, _done): (i64, i64, i64) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })?;
    if busy != 0 {
        bail!("wal_checkpoint(TRUNCATE) was blocked by another connection");
    }
    Ok(())
}

/// Bytes of the database file and its write-ahead log.
pub fn db_file_bytes(path: &Path) -> Result<u64> {
    let mut total = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let wal = with_suffix(path, "-wal");
    if let Ok(meta) = std::fs::metadata(&wal) {
        total += meta.len();
    }
    Ok(total)
}

/// Bytes of pages in use (the file minus its free list): what `VACUUM` would leave.
pub fn live_bytes(conn: &Connection) -> Result<u64> {
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
    Ok(u64::try_from((pages - free) * page_size).unwrap_or(0))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
