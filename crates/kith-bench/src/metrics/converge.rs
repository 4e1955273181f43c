//! `converge_10k_s`, `converge_messages`, `converge_bytes`: two devices that
//! each wrote N messages offline meet and sync.
//!
//! Both stores are file-backed (as on real devices). Baseline for the time:
//! two plain automerge documents holding the same messages (one change each)
//! synced with automerge's own sync protocol in memory, with no validation and
//! no persistence. Baseline for the bytes: the raw texts.

use anyhow::{Context, Result, ensure};
use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT};
use kith_client::sim::SimNetwork;
use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use std::time::{Duration, Instant};

use super::{TEXT_BYTES, rng};
use crate::corpus::Vocabulary;
use crate::fixtures::{self, Pair};
use crate::progress::Progress;
use crate::report::{Budget, Metric, Subject};
use crate::sizes::Sizes;

/// What the raw automerge sync did.
pub(super) struct RawSync {
    /// Time to quiescence.
    pub(super) elapsed: Duration,
    /// Sync messages exchanged.
    pub(super) messages: usize,
    /// Their bytes.
    pub(super) bytes: usize,
}

/// A plain automerge document holding `texts` as messages, one change each.
pub(super) fn raw_doc(texts: &[String], rng: &mut ChaCha20Rng) -> Result<AutoCommit> {
    let mut actor = [0u8; 32];
    rng.fill_bytes(&mut actor);
    let mut author = [0u8; 32];
    rng.fill_bytes(&mut author);
    let author = kith_proto::encode_id(&author);
    let mut doc = AutoCommit::new().with_actor(ActorId::from(actor.as_slice()));
    for (i, text) in texts.iter().enumerate() {
        let obj = doc.put_object(ROOT, format!("m/{:016x}{}", i, &author[..8]), ObjType::Map)?;
        doc.put(&obj, "author", author.as_str())?;
        doc.put(&obj, "device", author.as_str())?;
        doc.put(&obj, "text", text.as_str())?;
        doc.commit();
    }
    Ok(doc)
}

/// Syncs two plain documents to quiescence, delivering both directions in lockstep.
pub(super) fn raw_sync(a: &mut AutoCommit, b: &mut AutoCommit) -> Result<RawSync> {
    let (mut sa, mut sb) = (State::new(), State::new());
    let (mut messages, mut bytes) = (0, 0);
    let ((), elapsed) = {
        let start = std::time::Instant::now();
        loop {
            let to_b = a.sync().generate_sync_message(&mut sa).map(Message::encode);
            let to_a = b.sync().generate_sync_message(&mut sb).map(Message::encode);
            if to_b.is_none() && to_a.is_none() {
                break;
            }
            for (encoded, doc, state) in [(to_b, &mut *b, &mut sb), (to_a, &mut *a, &mut sa)] {
                if let Some(encoded) = encoded {
                    messages += 1;
                    bytes += encoded.len();
                    let message = Message::decode(&encoded).context("decoding a sync message")?;
                    doc.sync().receive_sync_message(state, message)?;
                }
            }
            ensure!(messages < 10_000, "raw automerge sync did not settle");
        }
        ((), start.elapsed())
    };
    ensure!(
        a.get_heads() == b.get_heads(),
        "raw automerge documents did not converge"
    );
    Ok(RawSync {
        elapsed,
        messages,
        bytes,
    })
}

/// Runs the benchmark.
pub fn run(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress) -> Result<Vec<Metric>> {
    let mut rng = rng(3);
    let n = sizes.converge_per_side;
    let dir = tempfile::tempdir()?;
    progress.say("converge", "setting up A and B (certificates, chat, first sync)");
    let pair = Pair::new(
        fixtures::file_store(&dir.path().join("converge-a.db"))?,
        fixtures::file_store(&dir.path().join("converge-b.db"))?,
        &mut rng,
        4,
    )?;
    let a_texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    let b_texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    progress.say(
        "converge",
        &format!("A and B each write {n} messages offline (untimed)"),
    );
    fixtures::fill_segment(&pair.a, &pair.chat, &a_texts)?;
    fixtures::fill_segment(&pair.b, &pair.chat, &b_texts)?;
    let shared_docs = pair.a.docs().shared_with(&pair.b.identity().account_id())?.len();

    progress.say("converge", "one sync run");
    let peak_before = crate::machine::peak_rss_mib();
    let start = Instant::now();
    let stats = SimNetwork::new(5).run(&[&pair.a, &pair.b], &[(0, 1)]);
    let elapsed = start.elapsed();
    let stats = stats?;
    let memory = match (peak_before, crate::machine::peak_rss_mib()) {
        (Some(before), Some(after)) => format!("; process peak RSS {before:.0} -> {after:.0} MiB across the run"),
        _ => String::new(),
    };
    for (name, profile) in [("A", &pair.a), ("B", &pair.b)] {
        let held = profile.store().messages(&pair.chat, None, 2 * n + 1)?.len();
        ensure!(
            held == 2 * n,
            "{name} holds {held} of {} messages after converging",
            2 * n
        );
    }

    progress.say(
        "converge",
        "raw baseline: plain automerge documents, automerge sync in memory",
    );
    let mut raw_a = raw_doc(&a_texts, &mut rng)?;
    let mut raw_b = raw_doc(&b_texts, &mut rng)?;
    let raw = raw_sync(&mut raw_a, &mut raw_b)?;

    let text_bytes = fixtures::total_bytes(&a_texts) + fixtures::total_bytes(&b_texts);
    Ok(vec![
        Metric::new(
            "converge_10k_s",
            "s",
            elapsed.as_secs_f64(),
            Some(raw.elapsed.as_secs_f64()),
            Some(Budget::Below(Subject::Value, 1.0)),
        )
        .note(format!(
            "{n}+{n} diverged messages, A and B file-backed, one SimNetwork run over {shared_docs} shared docs; \
             baseline: two plain automerge docs with the same messages synced in memory ({} messages, {} bytes); \
             each side: {}{memory}",
            raw.messages,
            raw.bytes,
            fixtures::fill_note(n),
        )),
        Metric::new("converge_messages", "msgs", stats.delivered as f64, None, None).note(format!(
            "sync messages delivered in that run, all docs and both directions (DESIGN wants <= 3 round trips); \
             raw automerge needed {} in lockstep",
            raw.messages
        )),
        Metric::new("converge_bytes", "B", stats.bytes as f64, Some(text_bytes as f64), None)
            .note("sync message bytes in that run; baseline: sum of the raw texts"),
    ])
}
