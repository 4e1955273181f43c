//! `cold_open_ms`: open the search benchmark's database and read the chat
//! list, loading no document. Baseline: a raw open and one query.
//!
//! `cold_open_all_unread_ms`: the same after forgetting the owner's read
//! positions, so every chat's unread count covers its whole history (a
//! device that never read those chats).

use anyhow::{Result, ensure};
use kith_store::{SqliteStore, Store};
use rusqlite::Connection;
use std::time::Duration;

use super::search::Corpus;
use crate::progress::Progress;
use crate::raw;
use crate::report::{Budget, Metric, Subject};
use crate::sizes::Sizes;
use crate::stats::{Samples, ms, timed};

/// DESIGN.md §8: cold start to the chat list.
const BUDGET_MS: f64 = 400.0;

struct Opens {
    engine: Samples,
    baseline: Samples,
    first: Duration,
}

/// Opens the store and lists chats `runs` times, each followed by a raw open.
fn measure(corpus: &Corpus, runs: usize) -> Result<Opens> {
    let mut engine = Samples::with_capacity(runs);
    let mut baseline = Samples::with_capacity(runs);
    let mut first = None;
    for _ in 0..runs {
        let (listed, time) = timed(|| -> Result<(SqliteStore, usize)> {
            let store = SqliteStore::open(&corpus.db)?;
            let chats = store.chat_list(&corpus.me)?.len();
            Ok((store, chats))
        });
        // Closing (and its checkpoint) is not part of opening.
        let (store, chats) = listed?;
        drop(store);
        ensure!(
            chats == corpus.chats,
            "the chat list shows {chats} of {} chats",
            corpus.chats
        );
        first.get_or_insert(time);
        engine.push(time);

        let (counted, time) = timed(|| -> Result<(Connection, i64)> {
            let conn = Connection::open(&corpus.db)?;
            let count = conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
            Ok((conn, count))
        });
        let (conn, _) = counted?;
        drop(conn);
        baseline.push(time);
    }
    Ok(Opens {
        engine,
        baseline,
        first: first.unwrap_or_default(),
    })
}

fn metric(key: &'static str, mut opens: Opens, note: String) -> Metric {
    Metric::new(
        key,
        "ms",
        opens.engine.percentile(50.0),
        Some(opens.baseline.percentile(50.0)),
        Some(Budget::Below(Subject::Value, BUDGET_MS)),
    )
    .note(format!(
        "p50 of {} SqliteStore::open + chat_list over the search database ({note}; first run {:.1} ms; OS page \
         cache warm); baseline: raw Connection::open + SELECT count(*) FROM sqlite_master",
        opens.engine.len(),
        ms(opens.first),
    ))
}

/// Runs the benchmark.
pub fn run(sizes: &Sizes, corpus: &Corpus, progress: &Progress) -> Result<Vec<Metric>> {
    progress.say(
        "cold open",
        &format!("{} opens + chat_list, interleaved with raw opens", sizes.cold_open_runs),
    );
    let read = measure(corpus, sizes.cold_open_runs)?;

    progress.say("cold open", "again with no read positions (everything unread)");
    let conn = raw::open(&corpus.db)?;
    let forgotten = conn.execute("DELETE FROM read_positions", [])?;
    drop(conn);
    ensure!(
        forgotten == corpus.chats,
        "expected one read position per chat, found {forgotten}"
    );
    let unread = measure(corpus, sizes.cold_open_runs)?;

    Ok(vec![
        metric(
            "cold_open_ms",
            read,
            format!(
                "{} chats, the owner has read all but ~10 messages per chat",
                corpus.chats
            ),
        ),
        metric(
            "cold_open_all_unread_ms",
            unread,
            format!(
                "{} chats, the owner's read positions deleted: unread counts cover every message",
                corpus.chats
            ),
        ),
    ])
}
