//! `suggest_p95_ms` and `suggest_top3_pct`: suggested replies over a long
//! history.
//!
//! A store holds the committed example conversations
//! (`kith-testkit/data/reply-examples.txt`: a friend asks, the owner
//! answers) and, around them, a long synthetic history over the Zipf
//! vocabulary in which the owner answers about a third of what others write.
//! Latency: `kith_client::suggest_replies` for the held-out questions and for
//! synthetic incoming messages; baseline: the raw part it is made of, an FTS5
//! `MATCH` of the same OR-of-words expression over a plain table of the same
//! texts, its newest 2000 matches ranked by bm25 (the store's window), 100 rows. Quality: for each held-out question, is
//! the reply the owner actually sent among the three suggestions?

use anyhow::Result;
use kith_core::{ChatKind, ChatRow, MessageRow, ReadModelUpdate, Role};
use kith_proto::{AccountId, ChatId, DeviceId, Hlc, MessageId};
use kith_store::{SqliteStore, Store};
use rand::{Rng, RngCore};
use rand_chacha::ChaCha20Rng;
use rusqlite::Connection;
use std::collections::BTreeMap;

use super::rng;
use crate::corpus::Vocabulary;
use crate::progress::Progress;
use crate::raw;
use crate::report::{Budget, Metric, Subject};
use crate::sizes::{BULK_BATCH, Sizes};
use crate::stats::{Samples, timed};

/// Conversations the history is spread over.
const CHATS: usize = 10;
/// Synthetic incoming messages timed besides the held-out questions.
const SYNTHETIC_QUERIES: usize = 200;

fn random_id<const N: usize>(rng: &mut ChaCha20Rng) -> [u8; N] {
    let mut bytes = [0u8; N];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// The history as (chat index, author is the owner, text), oldest first.
fn history(sizes: &Sizes, vocab: &Vocabulary, rng: &mut ChaCha20Rng) -> Vec<(usize, bool, String)> {
    let mut out = Vec::with_capacity(sizes.suggest_messages);
    for (asked, answered) in kith_testkit::reply_examples().history {
        out.push((0, false, asked));
        out.push((0, true, answered));
    }
    while out.len() < sizes.suggest_messages {
        let chat = rng.gen_range(0..CHATS);
        let words = rng.gen_range(3..=12);
        out.push((chat, false, vocab.sentence(words, rng)));
        if rng.gen_bool(0.33) {
            let words = rng.gen_range(1..=6);
            out.push((chat, true, vocab.sentence(words, rng)));
        }
    }
    out
}

fn fill_store(
    store: &SqliteStore,
    history: &[(usize, bool, String)],
    rng: &mut ChaCha20Rng,
) -> Result<(AccountId, ChatId)> {
    let me = (
        AccountId::from_bytes(random_id(rng)),
        DeviceId::from_bytes(random_id(rng)),
    );
    let friend = (
        AccountId::from_bytes(random_id(rng)),
        DeviceId::from_bytes(random_id(rng)),
    );
    let chats: Vec<ChatId> = (0..CHATS).map(|_| ChatId::from_bytes(random_id(rng))).collect();
    let heads: Vec<ReadModelUpdate> = chats
        .iter()
        .enumerate()
        .map(|(i, chat)| {
            ReadModelUpdate::Chat(ChatRow {
                chat: *chat,
                kind: ChatKind::Direct,
                name: format!("chat {i}"),
                description: String::new(),
                members: BTreeMap::from([(me.0, Role::Owner), (friend.0, Role::Owner)]),
            })
        })
        .collect();
    let mut txn = store.begin_write()?;
    txn.apply(&heads)?;
    txn.commit()?;
    let start = kith_client::system_now_ms().saturating_sub(history.len() as u64 * 1_000);
    for (n, batch) in history.chunks(BULK_BATCH).enumerate() {
        let rows: Vec<ReadModelUpdate> = batch
            .iter()
            .enumerate()
            .map(|(i, (chat, own, text))| {
                let (author, device) = if *own { me } else { friend };
                let ts = Hlc::new(start + ((n * BULK_BATCH + i) as u64) * 1_000, 0);
                ReadModelUpdate::Message(MessageRow {
                    chat: chats[*chat],
                    id: MessageId::new(ts, &device),
                    author,
                    device,
                    ts,
                    text: Some(text.clone()),
                    reply_to: None,
                    edited: None,
                    deleted: false,
                    reactions: BTreeMap::new(),
                    attachments: Vec::new(),
                })
            })
            .collect();
        let mut txn = store.begin_write()?;
        txn.apply(&rows)?;
        txn.commit()?;
    }
    Ok((me.0, chats[0]))
}

fn raw_match(conn: &Connection, terms: &[String]) -> Result<usize> {
    let Some(query) = kith_store::fts_any_query(terms) else {
        return Ok(0);
    };
    // The store's windowing: rank only the newest SEARCH_WINDOW matches.
    let oldest: Option<i64> = conn
        .prepare_cached(
            "SELECT min(rowid) FROM (SELECT rowid FROM msgs_fts WHERE msgs_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2)",
        )?
        .query_row(rusqlite::params![query, kith_store::SEARCH_WINDOW], |row| row.get(0))?;
    let Some(oldest) = oldest else { return Ok(0) };
    let mut stmt = conn
        .prepare_cached("SELECT rowid FROM msgs_fts WHERE msgs_fts MATCH ?1 AND rowid >= ?2 ORDER BY rank LIMIT 100")?;
    Ok(stmt
        .query_map(rusqlite::params![query, oldest], |row| row.get::<_, i64>(0))?
        .count())
}

fn same_reply(a: &str, b: &str) -> bool {
    let key = |s: &str| s.trim().trim_end_matches(['.', '!', '?']).to_lowercase();
    key(a) == key(b)
}

/// Runs the benchmark.
pub fn run(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress) -> Result<Vec<Metric>> {
    let mut rng = rng(11);
    let dir = tempfile::tempdir()?;
    let history = history(sizes, vocab, &mut rng);
    progress.say(
        "suggest",
        &format!("writing a history of {} messages into the store", history.len()),
    );
    let store = SqliteStore::open(&dir.path().join("suggest.db"))?;
    let (me, examples_chat) = fill_store(&store, &history, &mut rng)?;
    let mut conn = raw::open(&dir.path().join("suggest-raw.db"))?;
    raw::create_fts_table(&conn)?;
    for batch in history.chunks(BULK_BATCH) {
        raw::insert_texts(&mut conn, batch.iter().map(|(_, _, text)| text.as_str()))?;
    }
    drop(history);

    let examples = kith_testkit::reply_examples();
    let mut incoming: Vec<String> = examples.held_out.iter().map(|(asked, _)| asked.clone()).collect();
    for _ in 0..SYNTHETIC_QUERIES {
        let words = rng.gen_range(3..=12);
        incoming.push(vocab.sentence(words, &mut rng));
    }
    progress.say(
        "suggest",
        &format!("{} incoming messages, each beside the raw FTS5 query", incoming.len()),
    );
    let mut engine = Samples::with_capacity(incoming.len());
    let mut baseline = Samples::with_capacity(incoming.len());
    let mut offered: Vec<Vec<String>> = Vec::new();
    for text in &incoming {
        let (suggestions, time) =
            timed(|| kith_client::suggest_replies(&store, &me, &examples_chat, text).map_err(anyhow::Error::from));
        engine.push(time);
        offered.push(suggestions?.into_iter().map(|s| s.text).collect());
        let terms = kith_client::reply_terms(text);
        let (matched, time) = timed(|| raw_match(&conn, &terms));
        matched?;
        baseline.push(time);
    }
    let hits = examples
        .held_out
        .iter()
        .zip(&offered)
        .filter(|((_, sent), offered)| offered.iter().any(|o| same_reply(o, sent)))
        .count();
    let first = examples
        .held_out
        .iter()
        .zip(&offered)
        .filter(|((_, sent), offered)| offered.first().is_some_and(|o| same_reply(o, sent)))
        .count();
    let total = examples.held_out.len().max(1);
    let quality = 100.0 * hits as f64 / total as f64;
    Ok(vec![
        Metric::new(
            "suggest_p95_ms",
            "ms",
            engine.percentile(95.0),
            Some(baseline.percentile(95.0)),
            Some(Budget::Below(Subject::Value, 50.0)),
        )
        .note(format!(
            "{} messages in {CHATS} chats (the committed example conversations plus Zipf sentences, the owner \
             answering a third); kith_client::suggest_replies for {} held-out questions and {SYNTHETIC_QUERIES} \
             synthetic messages (p50 {:.2} ms, max {:.1} ms); baseline: FTS5 MATCH of the same OR-of-words over a \
             plain table of the same texts, its newest 2000 matches ranked by bm25 as the store does, 100 rows (p50 {:.2} ms)",
            sizes.suggest_messages,
            examples.held_out.len(),
            engine.percentile(50.0),
            engine.percentile(100.0),
            baseline.percentile(50.0),
        )),
        Metric::new(
            "suggest_top3_pct",
            "%",
            quality,
            None,
            Some(Budget::Above(Subject::Value, 75.0)),
        )
        .note(format!(
            "of {} held-out questions in kith-testkit/data/reply-examples.txt, the reply actually sent was among \
             the three suggestions for {hits} (first for {first}); one of them has no earlier answer to learn from",
            examples.held_out.len()
        )),
    ])
}
