//! `ingest_msgs_per_s`: incoming messages validated, applied, persisted and indexed.
//!
//! A (in-memory store) holds N messages it wrote; one simulated sync run delivers them
//! to B (file-backed store, so persistence is real). Baseline: the same texts
//! inserted in one raw transaction into a table with an FTS5 index.

use anyhow::{Result, ensure};
use kith_client::sim::SimNetwork;
use std::time::Instant;

use super::{TEXT_BYTES, rng};
use crate::corpus::Vocabulary;
use crate::fixtures::{self, Pair};
use crate::progress::Progress;
use crate::raw;
use crate::report::{Budget, Metric, Subject};
use crate::sizes::Sizes;
use crate::stats::timed;

/// Runs the benchmark.
pub fn run(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress) -> Result<Vec<Metric>> {
    let mut rng = rng(2);
    let n = sizes.ingest_messages;
    let dir = tempfile::tempdir()?;
    progress.say("ingest", "setting up A and B (certificates, chat, first sync)");
    let pair = Pair::new(
        fixtures::memory_store()?,
        fixtures::file_store(&dir.path().join("ingest-b.db"))?,
        &mut rng,
        2,
    )?;
    let texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    progress.say("ingest", &format!("A writes {n} messages (untimed)"));
    fixtures::fill_segment(&pair.a, &pair.chat, &texts)?;

    progress.say("ingest", "one sync run delivers them to B");
    let start = Instant::now();
    let stats = SimNetwork::new(3).run(&[&pair.a, &pair.b], &[(0, 1)]);
    let elapsed = start.elapsed();
    let stats = stats?;
    let received = pair.b.store().messages(&pair.chat, None, n + 1)?.len();
    ensure!(received == n, "B holds {received} of {n} messages after the sync run");

    progress.say(
        "ingest",
        "raw baseline: same texts into a table with FTS5, one transaction",
    );
    let mut conn = raw::open(&dir.path().join("ingest-raw.db"))?;
    raw::create_fts_table(&conn)?;
    let (inserted, raw_elapsed) = timed(|| raw::insert_texts(&mut conn, texts.iter().map(String::as_str)));
    inserted?;

    let rate = n as f64 / elapsed.as_secs_f64();
    let raw_rate = n as f64 / raw_elapsed.as_secs_f64();
    let note = format!(
        "{n} messages from A (in-memory store) to B (file-backed) in one SimNetwork run: {:.0} ms, {} sync messages, \
         {} bytes; A's messages: {}; baseline: raw INSERT of the same texts into a table with an FTS5 index, one \
         transaction (rows/s)",
        elapsed.as_secs_f64() * 1_000.0,
        stats.delivered,
        stats.bytes,
        fixtures::fill_note(n),
    );
    Ok(vec![
        Metric::new(
            "ingest_msgs_per_s",
            "msgs/s",
            rate,
            Some(raw_rate),
            Some(Budget::Above(Subject::Value, 20_000.0)),
        )
        .note(note),
    ])
}
