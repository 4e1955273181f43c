//! Profiles, stores and identities for the benchmarks, all deterministic
//! except the wall clock the profiles stamp messages with.

use anyhow::{Context, Result, ensure};
use kith_client::Profile;
use kith_client::sim::SimNetwork;
use kith_core::docs::segment::{self, NewMessage};
use kith_core::{ChatKind, Doc, Identity};
use kith_proto::{ChatId, DocId, Hlc, MessageId, Month};
use kith_store::{SqliteStore, Store};
use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use std::path::Path;
use std::sync::Arc;

/// An identity from seeded randomness.
pub fn identity(rng: &mut ChaCha20Rng) -> Identity {
    let mut seeds = [[0u8; 32]; 3];
    for seed in &mut seeds {
        rng.fill_bytes(seed);
    }
    Identity::create(seeds, kith_client::system_now_ms())
}

/// A file-backed store (WAL, `synchronous=FULL`) at `path`.
pub fn file_store(path: &Path) -> Result<Arc<dyn Store>> {
    let store = SqliteStore::open(path).with_context(|| format!("opening store {}", path.display()))?;
    Ok(Arc::new(store))
}

/// An in-memory SQLite store.
pub fn memory_store() -> Result<Arc<dyn Store>> {
    Ok(Arc::new(SqliteStore::open_in_memory()?))
}

/// A new profile over `store`.
pub fn profile(store: Arc<dyn Store>, name: &str, rng: &mut ChaCha20Rng) -> Result<Profile> {
    Ok(Profile::with_store(identity(rng), store, name)?)
}

/// Two accounts that know each other's device certificates and share one
/// group chat, created by `a` with `b` as a member and synced once so both
/// hold its head.
#[derive(Debug)]
pub struct Pair {
    /// The chat's creator.
    pub a: Profile,
    /// The other member.
    pub b: Profile,
    /// The shared chat.
    pub chat: ChatId,
}

impl Pair {
    /// Sets up the pair over the two stores.
    pub fn new(a_store: Arc<dyn Store>, b_store: Arc<dyn Store>, rng: &mut ChaCha20Rng, sim_seed: u64) -> Result<Pair> {
        let a = profile(a_store, "alice", rng)?;
        let b = profile(b_store, "bob", rng)?;
        a.docs().learn_certificate(b.identity().certificate())?;
        b.docs().learn_certificate(a.identity().certificate())?;
        let b_account = b.identity().account_id();
        let chat = a.chats().create("bench", &[b_account], ChatKind::Group)?;
        SimNetwork::new(sim_seed).run(&[&a, &b], &[(0, 1)])?;
        let head = b.store().chat(&chat)?.context(
            "the chat head did not reach the second device (does the creator's store record chat_members_ever?)",
        )?;
        ensure!(
            head.members.contains_key(&b_account),
            "the second device does not see itself as a member"
        );
        Ok(Pair { a, b, chat })
    }
}

/// Message texts of about `bytes` bytes each.
pub fn texts(vocab: &crate::corpus::Vocabulary, n: usize, bytes: usize, rng: &mut ChaCha20Rng) -> Vec<String> {
    (0..n).map(|_| vocab.text_of_about(bytes, rng)).collect()
}

/// Sum of the texts' lengths in bytes.
pub fn total_bytes(texts: &[String]) -> usize {
    texts.iter().map(String::len).sum()
}

/// How [`fill_segment`] wrote `n` messages, for the notes.
pub fn fill_note(n: usize) -> String {
    format!(
        "{} messages written directly as this month's segment document (kith_core segment ops, one change each; \
         stored as one snapshot plus the engine's read-model rows) and 1 Messages::send",
        n.saturating_sub(1)
    )
}

/// Writes `texts` as messages of `profile` in `chat`, as if sent one by one
/// earlier this month: all but the last are built directly as the segment
/// document (one change per message, this device's actor) and stored as one
/// snapshot chunk with the read-model rows the engine derives from it; the
/// last goes through `Messages::send`, which also loads the document into the
/// profile's cache as sending would have.
pub fn fill_segment(profile: &Profile, chat: &ChatId, texts: &[String]) -> Result<()> {
    let Some((last, earlier)) = texts.split_last() else {
        return Ok(());
    };
    let me = profile.identity().account_id();
    let device = profile.identity().device_id();
    // Timestamps just before now, 1000 per millisecond, so later sends sort after them.
    let per_ms = 1_000;
    let base = kith_client::system_now_ms().saturating_sub(earlier.len() as u64 / per_ms + 2);
    let ts = |i: usize| {
        Hlc::new(
            base + (i as u64) / per_ms,
            u16::try_from(i as u64 % per_ms).unwrap_or(0),
        )
    };
    let month = Month::of(ts(0));
    ensure!(
        Month::of(ts(earlier.len())) == month && Month::from_millis(kith_client::system_now_ms()) == month,
        "the messages would straddle a month boundary; run again"
    );
    let doc_id = DocId::Segment(*chat, month);
    let mut doc = Doc::new(doc_id, &device);
    for (i, text) in earlier.iter().enumerate() {
        let message = NewMessage {
            id: MessageId::new(ts(i), &device),
            author: me,
            device,
            text: text.clone(),
            reply_to: None,
            attachments: Vec::new(),
        };
        segment::send(&mut doc, &message)?;
        // Commit: one change per message, as sending would have made.
        doc.take_unpersisted();
    }
    if !earlier.is_empty() {
        let updates = kith_core::full_read_model(&mut doc);
        let snapshot = doc.save();
        let mut txn = profile.store().begin_write()?;
        txn.append_chunk(&doc_id, &snapshot)?;
        txn.apply(&updates)?;
        txn.commit()?;
    }
    profile.messages().send(chat, last, None)?;
    Ok(())
}
