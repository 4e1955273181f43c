//! `send_p50_ms`, `send_p99_ms`: a local message made durable, in this
//! month's segment as a fresh chat fills it; `send_busy_p50_ms`,
//! `send_busy_p99_ms`: the same in a segment that already holds many messages.
//!
//! Engine: `Messages::send` on a file-backed store (WAL, `synchronous=FULL`).
//! Baseline, interleaved with the sends: raw rusqlite with the same pragmas,
//! one ~215-byte row (an incremental change's size) inserted and committed.

use anyhow::Result;
use kith_client::Profile;
use kith_core::ChatKind;
use kith_proto::ChatId;
use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use rusqlite::{Connection, TransactionBehavior};
use std::path::PathBuf;
use std::time::Instant;
use tempfile::TempDir;

use super::{TEXT_BYTES, rng};
use crate::corpus::Vocabulary;
use crate::fixtures;
use crate::progress::Progress;
use crate::raw;
use crate::report::{Budget, Metric, Subject};
use crate::sizes::Sizes;
use crate::stats::{Samples, timed};

/// Bytes of the baseline row: an incremental change of one short message.
const RAW_ROW_BYTES: usize = 215;
/// DESIGN.md §8 budgets for a send.
const P50_BUDGET_MS: f64 = 0.4;
const P99_BUDGET_MS: f64 = 1.0;

/// The send benchmark's results and the profile it filled (the disk benchmark measures it).
pub struct Sent {
    /// The figures.
    pub metrics: Vec<Metric>,
    /// The profile of the fresh-chat sends, still open.
    pub profile: Profile,
    /// Its database file.
    pub db: PathBuf,
    /// Messages it holds (warm-up included).
    pub messages: usize,
    /// Bytes of their texts.
    pub text_bytes: usize,
    /// Keeps the files alive.
    pub _dir: TempDir,
}

/// The raw baseline: one row per durable transaction.
struct RawCommits {
    conn: Connection,
    body: [u8; RAW_ROW_BYTES],
}

impl RawCommits {
    fn new(path: &std::path::Path) -> Result<RawCommits> {
        let conn = raw::open(path)?;
        conn.execute_batch("CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")?;
        Ok(RawCommits {
            conn,
            body: [0; RAW_ROW_BYTES],
        })
    }

    fn commit(&mut self, rng: &mut ChaCha20Rng) -> Result<()> {
        rng.fill_bytes(&mut self.body);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("INSERT INTO rows (body) VALUES (?1)")?
            .execute([self.body.as_slice()])?;
        tx.commit()?;
        Ok(())
    }
}

/// Sends `texts`, each followed by a raw commit; records both after `warmup`.
fn measure(
    profile: &Profile,
    chat: &ChatId,
    texts: &[String],
    warmup: usize,
    raw: &mut RawCommits,
    rng: &mut ChaCha20Rng,
) -> Result<(Samples, Samples)> {
    let mut engine = Samples::with_capacity(texts.len());
    let mut baseline = Samples::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let start = Instant::now();
        let sent = profile.messages().send(chat, text, None);
        let engine_time = start.elapsed();
        sent?;
        let (committed, raw_time) = timed(|| raw.commit(rng));
        committed?;
        if i >= warmup {
            engine.push(engine_time);
            baseline.push(raw_time);
        }
    }
    Ok((engine, baseline))
}

fn pair_of_metrics(keys: [&'static str; 2], engine: &mut Samples, baseline: &mut Samples, note: String) -> [Metric; 2] {
    [
        Metric::new(
            keys[0],
            "ms",
            engine.percentile(50.0),
            Some(baseline.percentile(50.0)),
            Some(Budget::Below(Subject::Value, P50_BUDGET_MS)),
        )
        .note(note),
        Metric::new(
            keys[1],
            "ms",
            engine.percentile(99.0),
            Some(baseline.percentile(99.0)),
            Some(Budget::Below(Subject::Value, P99_BUDGET_MS)),
        ),
    ]
}

/// Runs the benchmark.
pub fn run(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress) -> Result<Sent> {
    let mut rng = rng(1);
    let dir = tempfile::tempdir()?;
    let mut raw = RawCommits::new(&dir.path().join("raw-send.db"))?;

    // A fresh chat, filled by the sends themselves.
    let db = dir.path().join("send.db");
    let profile = fixtures::profile(fixtures::file_store(&db)?, "sender", &mut rng)?;
    let chat = profile.chats().create("send bench", &[], ChatKind::Group)?;
    let total = sizes.send_warmup + sizes.sends;
    let texts = fixtures::texts(vocab, total, TEXT_BYTES, &mut rng);
    progress.say(
        "send",
        &format!(
            "{} warm-up + {} timed sends, interleaved with raw commits",
            sizes.send_warmup, sizes.sends
        ),
    );
    let (mut engine, mut baseline) = measure(&profile, &chat, &texts, sizes.send_warmup, &mut raw, &mut rng)?;
    let text_bytes = fixtures::total_bytes(&texts);
    let note = format!(
        "{} Messages::send of {:.0}-byte texts into a new chat on a file-backed SqliteStore, after {} warm-up; \
         baseline: raw rusqlite, same pragmas, BEGIN IMMEDIATE + INSERT {RAW_ROW_BYTES}-byte blob + COMMIT, interleaved",
        engine.len(),
        text_bytes as f64 / total as f64,
        sizes.send_warmup,
    );
    let mut metrics = pair_of_metrics(["send_p50_ms", "send_p99_ms"], &mut engine, &mut baseline, note).to_vec();

    // A chat whose segment already holds many messages.
    let busy_profile = fixtures::profile(fixtures::file_store(&dir.path().join("busy.db"))?, "busy", &mut rng)?;
    let busy_chat = busy_profile.chats().create("busy bench", &[], ChatKind::Group)?;
    progress.say(
        "send",
        &format!("prefilling a segment with {} messages", sizes.busy_prefill),
    );
    let prefill = fixtures::texts(vocab, sizes.busy_prefill, TEXT_BYTES, &mut rng);
    fixtures::fill_segment(&busy_profile, &busy_chat, &prefill)?;
    let warmup = 5;
    let busy_texts = fixtures::texts(vocab, warmup + sizes.busy_sends, TEXT_BYTES, &mut rng);
    progress.say(
        "send",
        &format!("{} timed sends into it, interleaved with raw commits", sizes.busy_sends),
    );
    let (mut engine, mut baseline) = measure(&busy_profile, &busy_chat, &busy_texts, warmup, &mut raw, &mut rng)?;
    let note = format!(
        "{} Messages::send into a segment already holding {} messages ({}), after {warmup} warm-up; baseline as \
         above. Filling chats by sending is too slow at this size, so other benchmarks fill them the same way",
        engine.len(),
        sizes.busy_prefill,
        fixtures::fill_note(sizes.busy_prefill),
    );
    metrics.extend(pair_of_metrics(
        ["send_busy_p50_ms", "send_busy_p99_ms"],
        &mut engine,
        &mut baseline,
        note,
    ));
    drop(busy_profile);

    Ok(Sent {
        metrics,
        profile,
        db,
        messages: total,
        text_bytes,
        _dir: dir,
    })
}
