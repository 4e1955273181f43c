//! `search_p95_ms`: full-text search, first page of 50.
//!
//! A corpus of short messages over a small Zipf vocabulary, spread over
//! several chats, is written into a file-backed store as read-model rows in
//! batches. Baseline: a raw FTS5 table with the same texts and tokenizer,
//! queried with the same FTS5 expression (`kith_store::fts_query`),
//! `MATCH ? ORDER BY rank LIMIT 50`.

use anyhow::{Context, Result, ensure};
use kith_core::{ChatKind, ChatRow, MessageRow, ReadModelUpdate, Role};
use kith_proto::{AccountId, ChatId, DeviceId, Hlc, MessageId};
use kith_store::{SqliteStore, Store};
use rand::{Rng, RngCore};
use rand_chacha::ChaCha20Rng;
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tempfile::TempDir;

use super::rng;
use crate::corpus::{Query, QueryKind, Vocabulary};
use crate::progress::Progress;
use crate::raw;
use crate::report::{Budget, Metric, Subject};
use crate::sizes::{BULK_BATCH, Sizes};
use crate::stats::{Samples, timed};

/// People writing in the corpus besides its owner.
const OTHERS: usize = 4;
/// Messages per chat left unread by the owner.
const UNREAD_PER_CHAT: u64 = 10;

/// The stored corpus, kept for the cold-open benchmark.
pub struct Corpus {
    /// The figures.
    pub metrics: Vec<Metric>,
    /// The store's database file.
    pub db: PathBuf,
    /// The account whose chat list is opened.
    pub me: AccountId,
    /// Chats in the corpus.
    pub chats: usize,
    /// Keeps the files alive.
    pub _dir: TempDir,
}

fn random_id<const N: usize>(rng: &mut ChaCha20Rng) -> [u8; N] {
    let mut bytes = [0u8; N];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// Writes the corpus into the store: chat heads, messages in batches, read positions.
fn fill_store(store: &SqliteStore, texts: &[String], chats: usize, rng: &mut ChaCha20Rng) -> Result<AccountId> {
    let people: Vec<(AccountId, DeviceId)> = (0..=OTHERS)
        .map(|_| {
            (
                AccountId::from_bytes(random_id(rng)),
                DeviceId::from_bytes(random_id(rng)),
            )
        })
        .collect();
    let me = people[0].0;
    let chat_ids: Vec<ChatId> = (0..chats).map(|_| ChatId::from_bytes(random_id(rng))).collect();
    let heads: Vec<ReadModelUpdate> = chat_ids
        .iter()
        .enumerate()
        .map(|(i, chat)| {
            let members: BTreeMap<AccountId, Role> = people
                .iter()
                .enumerate()
                .map(|(p, (account, _))| (*account, if p == 0 { Role::Owner } else { Role::Member }))
                .collect();
            ReadModelUpdate::Chat(ChatRow {
                chat: *chat,
                kind: ChatKind::Group,
                name: format!("chat {i}"),
                description: String::new(),
                members,
            })
        })
        .collect();
    let mut txn = store.begin_write()?;
    txn.apply(&heads)?;
    txn.commit()?;

    let n = texts.len() as u64;
    let start = kith_client::system_now_ms().saturating_sub(n * 1_000);
    let ts_of = |i: u64| Hlc::new(start + i * 1_000, 0);
    let mut batch = Vec::with_capacity(BULK_BATCH);
    for (i, text) in texts.iter().enumerate() {
        let (author, device) = people[if rng.gen_bool(0.3) {
            0
        } else {
            rng.gen_range(1..=OTHERS)
        }];
        let ts = ts_of(i as u64);
        batch.push(ReadModelUpdate::Message(MessageRow {
            chat: chat_ids[i % chats],
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
        }));
        if batch.len() == BULK_BATCH || i + 1 == texts.len() {
            let mut txn = store.begin_write()?;
            txn.apply(&batch)?;
            txn.commit()?;
            batch.clear();
        }
    }
    // The owner has read all but the last few messages of every chat.
    let read_up_to = ts_of(n.saturating_sub(UNREAD_PER_CHAT * chats as u64));
    let positions: Vec<ReadModelUpdate> = chat_ids
        .iter()
        .map(|chat| ReadModelUpdate::ReadPosition {
            chat: *chat,
            account: me,
            ts: read_up_to,
        })
        .collect();
    let mut txn = store.begin_write()?;
    txn.apply(&positions)?;
    txn.commit()?;
    Ok(me)
}

fn fill_raw(conn: &mut Connection, texts: &[String]) -> Result<()> {
    raw::create_fts_table(conn)?;
    for batch in texts.chunks(BULK_BATCH) {
        raw::insert_texts(conn, batch.iter().map(String::as_str))?;
    }
    Ok(())
}

fn raw_search(conn: &Connection, fts: &str) -> Result<Vec<(i64, String)>> {
    let mut stmt =
        conn.prepare_cached("SELECT rowid, text FROM msgs_fts WHERE msgs_fts MATCH ?1 ORDER BY rank LIMIT 50")?;
    let rows = stmt
        .query_map([fts], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Runs the benchmark and keeps the corpus for the cold-open benchmark.
pub fn run(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress) -> Result<Corpus> {
    let mut rng = rng(5);
    let n = sizes.search_messages;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("search.db");
    let texts: Vec<String> = (0..n)
        .map(|_| {
            let words = rng.gen_range(3..=12);
            vocab.sentence(words, &mut rng)
        })
        .collect();
    let mean = texts.iter().map(String::len).sum::<usize>() as f64 / n as f64;

    progress.say(
        "search",
        &format!("writing {n} messages ({mean:.0} B mean) into the store in batches of {BULK_BATCH}"),
    );
    let store = SqliteStore::open(&db)?;
    let (me, fill_time) = timed(|| fill_store(&store, &texts, sizes.search_chats, &mut rng));
    let me = me?;
    progress.say(
        "search",
        &format!(
            "store filled in {:.1} s; raw FTS5 baseline table",
            fill_time.as_secs_f64()
        ),
    );
    let mut conn = raw::open(&dir.path().join("search-raw.db"))?;
    let ((), raw_fill_time) = {
        let (filled, time) = timed(|| fill_raw(&mut conn, &texts));
        (filled?, time)
    };
    drop(texts);

    let queries = vocab.queries(&mut rng);
    progress.say(
        "search",
        &format!(
            "{} rounds of {} queries, interleaved with the raw FTS5 query",
            sizes.search_rounds,
            queries.len()
        ),
    );
    let mut engine = Samples::with_capacity(queries.len() * sizes.search_rounds);
    let mut baseline = Samples::with_capacity(queries.len() * sizes.search_rounds);
    let mut by_kind: BTreeMap<QueryKind, Samples> = BTreeMap::new();
    let mut empty = 0;
    for _ in 0..sizes.search_rounds {
        for Query { kind, text: query } in &queries {
            let fts = kith_store::fts_query(query).with_context(|| format!("query {query:?} has no words"))?;
            let (hits, time) = timed(|| store.search(query, 50));
            let hits = hits?;
            engine.push(time);
            by_kind.entry(*kind).or_default().push(time);
            let (raw_hits, time) = timed(|| raw_search(&conn, &fts));
            let raw_hits = raw_hits?;
            baseline.push(time);
            ensure!(
                hits.len() == raw_hits.len(),
                "query {query:?}: the store found {} hits, raw FTS5 {}",
                hits.len(),
                raw_hits.len()
            );
            empty += usize::from(hits.is_empty());
        }
    }
    drop(store);
    let kinds: Vec<String> = by_kind
        .iter_mut()
        .map(|(kind, samples)| format!("{} {:.1}", kind.name(), samples.percentile(95.0)))
        .collect();

    let metrics = vec![
        Metric::new(
            "search_p95_ms",
            "ms",
            engine.percentile(95.0),
            Some(baseline.percentile(95.0)),
            Some(Budget::Below(Subject::Value, 50.0)),
        )
        .note(format!(
            "{n} messages of 3-12 words over {} Zipf-distributed words in {} chats, written via WriteTxn::apply \
             ({:.1} s; raw table {:.1} s); {} queries (common, rare, 2-3 letter prefixes, two words; {empty} empty), \
             Store::search(q, 50); baseline: raw FTS5 MATCH of the same fts_query expression ORDER BY rank LIMIT 50 \
             (p50 {:.2} vs {:.2} ms, max {:.1} vs {:.1} ms); engine p95 by kind (ms): {}",
            vocab.len(),
            sizes.search_chats,
            fill_time.as_secs_f64(),
            raw_fill_time.as_secs_f64(),
            engine.len(),
            engine.percentile(50.0),
            baseline.percentile(50.0),
            engine.percentile(100.0),
            baseline.percentile(100.0),
            kinds.join(", "),
        )),
    ];
    Ok(Corpus {
        metrics,
        db,
        me,
        chats: sizes.search_chats,
        _dir: dir,
    })
}
