//! `open_last50_ms`: opening a conversation shows its last 50 messages.
//!
//! The chat's messages are this month's segment document, built and stored
//! with its read-model rows (see `fixtures::fill_segment`). Baseline: the
//! same rows in a plain table, `SELECT ... ORDER BY id DESC LIMIT 50`.

use anyhow::{Result, ensure};
use kith_core::{ChatKind, MessageRow};
use rusqlite::Connection;
use std::time::Instant;

use super::{TEXT_BYTES, rng};
use crate::corpus::Vocabulary;
use crate::fixtures;
use crate::progress::Progress;
use crate::raw;
use crate::report::{Budget, Metric, Subject};
use crate::sizes::Sizes;
use crate::stats::{Samples, timed};

fn raw_table(conn: &mut Connection, rows: &[MessageRow]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE plain (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, author TEXT NOT NULL, ts INTEGER NOT NULL, text TEXT)",
    )?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO plain (message_id, author, ts, text) VALUES (?1, ?2, ?3, ?4)")?;
        for row in rows {
            insert.execute((row.id.to_string(), row.author.to_string(), row.ts.to_i64(), &row.text))?;
        }
    }
    tx.commit()?;
    Ok(())
}

type PlainRow = (i64, String, String, i64, Option<String>);

fn raw_last50(conn: &Connection) -> Result<Vec<PlainRow>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, message_id, author, ts, text FROM plain ORDER BY id DESC LIMIT 50")?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Runs the benchmark.
pub fn run(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress) -> Result<Vec<Metric>> {
    let mut rng = rng(4);
    let n = sizes.open_messages;
    let dir = tempfile::tempdir()?;
    let profile = fixtures::profile(fixtures::file_store(&dir.path().join("open.db"))?, "reader", &mut rng)?;
    let chat = profile.chats().create("open bench", &[], ChatKind::Group)?;
    let texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    progress.say("open", &format!("writing {n} messages into one chat"));
    let ((), fill_time) = {
        let (filled, time) = timed(|| fixtures::fill_segment(&profile, &chat, &texts));
        (filled?, time)
    };
    drop(texts);
    let mut rows = profile.store().messages(&chat, None, n + 1)?;
    ensure!(rows.len() == n, "the chat holds {} of {n} messages", rows.len());
    rows.reverse();

    let mut conn = raw::open(&dir.path().join("open-raw.db"))?;
    raw_table(&mut conn, &rows)?;
    drop(rows);

    progress.say(
        "open",
        &format!(
            "{} opens of the last 50, interleaved with the raw query",
            sizes.open_runs
        ),
    );
    let mut engine = Samples::with_capacity(sizes.open_runs);
    let mut baseline = Samples::with_capacity(sizes.open_runs);
    for _ in 0..sizes.open_runs {
        let start = Instant::now();
        let shown = profile.messages().list(&chat, 50, None);
        let time = start.elapsed();
        ensure!(shown?.len() == 50, "opening the chat did not show 50 messages");
        engine.push(time);
        let (plain, time) = timed(|| raw_last50(&conn));
        ensure!(plain?.len() == 50, "the raw query did not return 50 rows");
        baseline.push(time);
    }
    Ok(vec![
        Metric::new(
            "open_last50_ms",
            "ms",
            engine.percentile(50.0),
            Some(baseline.percentile(50.0)),
            Some(Budget::Below(Subject::Value, 50.0)),
        )
        .note(format!(
            "p50 of {} Messages::list(chat, 50) over a file-backed store; chat: {} ({:.1} s); baseline: raw \
             SELECT ... ORDER BY id DESC LIMIT 50 on a plain table of the same rows (p99 {:.3} vs {:.3} ms)",
            engine.len(),
            fixtures::fill_note(n),
            fill_time.as_secs_f64(),
            engine.percentile(99.0),
            baseline.percentile(99.0),
        )),
    ])
}
