//! `kith-bench samod-peer`: the relay workload of Kith's benchmark, run on
//! samod clients against [`super::server`] (in another process): one chat
//! document holding a list of messages, one Automerge transaction per
//! message, every repo storing on disk (samod's `TokioFilesystemStorage`,
//! which does not fsync; Kith's profiles and server do).
//!
//! Phases, each against a fresh server:
//! - `send`: A appends a message, B waits on its document's change stream
//!   until it holds it; p50 and p99 over the timed rounds.
//! - `burst`: A appends N messages, then waits until the server has them
//!   all (`they_have_our_changes` on A's connection: the server's sync
//!   state acknowledges A's heads); then a new repo with empty storage finds
//!   the document and waits until it holds all N (the new device).
//! - `converge`: A and B share the document, disconnect, each append N
//!   messages, reconnect; until both hold all 2N.

use anyhow::{Context, Result, anyhow, bail, ensure};
use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use futures_util::StreamExt;
use samod::storage::TokioFilesystemStorage;
use samod::{BackoffConfig, ConnectionId, DialerHandle, DocHandle, DocumentId, PeerId, Repo};
use std::future::Future;
use std::time::{Duration, Instant};
use tempfile::TempDir;

use super::{PeerFigures, Phase};
use crate::corpus::Vocabulary;
use crate::fixtures;
use crate::metrics::{TEXT_BYTES, rng};
use crate::sizes::Sizes;
use crate::stats::Samples;
use crate::wire_meter::WireMeter;

/// The list of messages in the chat document.
const MESSAGES: &str = "messages";
/// Any single wait longer than this is a hang.
const STEP_LIMIT: Duration = Duration::from_secs(240);
/// Between two send -> shown rounds, as in Kith's.
const ROUND_GAP: Duration = Duration::from_millis(3);

/// Runs one phase against the server at `url` and returns its figures.
pub fn run(url: &str, phase: Phase, sizes: &Sizes) -> Result<PeerFigures> {
    let url = samod::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let vocab = crate::metrics::vocabulary();
    let mut figures = runtime.block_on(async {
        match phase {
            Phase::Send => send_shown(&url, sizes, &vocab).await,
            Phase::Burst => burst_and_history(&url, sizes, &vocab).await,
            Phase::Converge => converge(&url, sizes, &vocab).await,
        }
    })?;
    figures.clients_peak_rss_mib = crate::machine::peak_rss_mib();
    Ok(figures)
}

/// One samod repo with its own storage directory and its connection to the server.
struct Client {
    repo: Repo,
    dialer: DialerHandle,
    _storage: TempDir,
}

impl Client {
    async fn start(name: &str, url: &samod::Url) -> Result<Client> {
        let storage = tempfile::tempdir()?;
        let repo = Repo::build_tokio()
            .with_peer_id(PeerId::from(name))
            .with_storage(TokioFilesystemStorage::new(storage.path()))
            .load()
            .await;
        let dialer = dial(&repo, url).await?;
        Ok(Client {
            repo,
            dialer,
            _storage: storage,
        })
    }

    fn connection(&self) -> Result<ConnectionId> {
        self.dialer
            .connection_id()
            .context("the samod client has no connection to the server")
    }

    /// Finds `id` through the server, retrying while the server does not have it yet.
    async fn find(&self, id: &DocumentId) -> Result<DocHandle> {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            if let Some(handle) = self.repo.find(id.clone()).await.map_err(stopped)? {
                return Ok(handle);
            }
            ensure!(Instant::now() < deadline, "samod never found the document");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the repo (which closes its connections).
    async fn stop(self) {
        self.repo.stop().await;
    }
}

async fn dial(repo: &Repo, url: &samod::Url) -> Result<DialerHandle> {
    // A few quick retries: a dial is not part of any timed figure but the
    // history's, where the new device dials a server that is long up.
    let backoff = BackoffConfig {
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        max_retries: Some(5),
    };
    let dialer = repo.dial_websocket(url.clone(), backoff).map_err(stopped)?;
    within("connecting to samod's server", dialer.established())
        .await?
        .map_err(|failed| anyhow!("connecting to samod's server: {failed}"))?;
    Ok(dialer)
}

fn stopped(stopped: samod::Stopped) -> anyhow::Error {
    anyhow!("samod: {stopped}")
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> Result<T> {
    tokio::time::timeout(STEP_LIMIT, future)
        .await
        .map_err(|_| anyhow!("{what}: nothing after {} s", STEP_LIMIT.as_secs()))
}

/// A fresh chat document (an empty message list) created on `client`.
async fn new_chat(client: &Client) -> Result<DocHandle> {
    let mut doc = Automerge::new();
    doc.transact::<_, _, AutomergeError>(|tx| {
        tx.put_object(ROOT, MESSAGES, ObjType::List)?;
        Ok(())
    })
    .map_err(|failure| failure.error)?;
    client.repo.create(doc).await.map_err(stopped)
}

fn messages(doc: &Automerge) -> Result<ObjId> {
    match doc.get(ROOT, MESSAGES)? {
        Some((Value::Object(ObjType::List), id)) => Ok(id),
        _ => bail!("the chat document has no message list"),
    }
}

/// Appends one message (one transaction, as one send).
fn append(handle: &DocHandle, id: &str, author: &str, text: &str) -> Result<()> {
    handle.with_document(|doc| {
        let list = messages(doc)?;
        let sent_at = i64::try_from(kith_client::system_now_ms())?;
        doc.transact::<_, _, AutomergeError>(|tx| {
            let message = tx.insert_object(&list, tx.length(&list), ObjType::Map)?;
            tx.put(&message, "id", id)?;
            tx.put(&message, "author", author)?;
            tx.put(&message, "text", text)?;
            tx.put(&message, "sent_at", sent_at)?;
            Ok(())
        })
        .map_err(|failure| failure.error)?;
        Ok(())
    })
}

fn count(handle: &DocHandle) -> Result<usize> {
    handle.with_document(|doc| Ok(doc.length(&messages(doc)?)))
}

/// The id of the newest message, if any.
fn last_id(handle: &DocHandle) -> Result<Option<String>> {
    handle.with_document(|doc| {
        let list = messages(doc)?;
        let Some(index) = doc.length(&list).checked_sub(1) else {
            return Ok(None);
        };
        let Some((Value::Object(ObjType::Map), message)) = doc.get(&list, index)? else {
            return Ok(None);
        };
        Ok(match doc.get(&message, "id")? {
            Some((Value::Scalar(scalar), _)) => match scalar.as_ref() {
                ScalarValue::Str(id) => Some(id.to_string()),
                _ => None,
            },
            _ => None,
        })
    })
}

/// Waits on `handle`'s change stream until it holds `want` messages.
async fn until_count(handle: &DocHandle, want: usize) -> Result<()> {
    let mut changes = handle.changes();
    within("waiting for messages", async {
        while count(handle)? < want {
            if changes.next().await.is_none() {
                bail!("samod's document handle closed");
            }
        }
        Ok(())
    })
    .await?
}

/// A and B connected to the server at `url`, and a chat A created that the
/// server holds and B has found.
async fn two_sharing_a_chat(url: &samod::Url) -> Result<(Client, Client, DocHandle, DocHandle)> {
    let a = Client::start("alice", url).await?;
    let b = Client::start("bob", url).await?;
    let chat_a = new_chat(&a).await?;
    within(
        "the server taking A's chat",
        chat_a.they_have_our_changes(a.connection()?),
    )
    .await?;
    let chat_b = b.find(chat_a.document_id()).await?;
    Ok((a, b, chat_a, chat_b))
}

/// `send`: A appends, B shows it.
async fn send_shown(url: &samod::Url, sizes: &Sizes, vocab: &Vocabulary) -> Result<PeerFigures> {
    let (a, b, chat_a, chat_b) = two_sharing_a_chat(url).await?;
    let mut changes = chat_b.changes();

    let total = sizes.relay_warmup + sizes.relay_rounds;
    let texts = fixtures::texts(vocab, total, TEXT_BYTES, &mut rng(7));
    let mut shown = Samples::with_capacity(sizes.relay_rounds);
    for (i, text) in texts.iter().enumerate() {
        let id = format!("m{i:08}");
        let start = Instant::now();
        append(&chat_a, &id, "alice", text)?;
        within("B showing A's message", async {
            while last_id(&chat_b)?.as_deref() != Some(id.as_str()) {
                if changes.next().await.is_none() {
                    bail!("samod's document handle closed");
                }
            }
            Ok(())
        })
        .await??;
        if i >= sizes.relay_warmup {
            shown.push(start.elapsed());
        }
        tokio::time::sleep(ROUND_GAP).await;
    }
    ensure!(
        count(&chat_b)? == total,
        "B holds a different number of messages than A sent"
    );
    a.stop().await;
    b.stop().await;
    Ok(PeerFigures {
        send_shown_p50_ms: Some(shown.percentile(50.0)),
        send_shown_p99_ms: Some(shown.percentile(99.0)),
        ..PeerFigures::default()
    })
}

/// `burst`: A appends N until the server has them; then a new repo pulls them.
async fn burst_and_history(url: &samod::Url, sizes: &Sizes, vocab: &Vocabulary) -> Result<PeerFigures> {
    let (meter, metered) = metered(url).await?;
    let n = sizes.relay_burst_sends;
    let a = Client::start("alice", &metered).await?;
    let chat_a = new_chat(&a).await?;
    let connection = a.connection()?;
    within("the server taking A's chat", chat_a.they_have_our_changes(connection)).await?;
    let texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng(9));

    let before = meter.bytes();
    let start = Instant::now();
    for (i, text) in texts.iter().enumerate() {
        append(&chat_a, &format!("m{i:08}"), "alice", text)?;
    }
    within("the server taking A's burst", chat_a.they_have_our_changes(connection)).await?;
    let burst = start.elapsed();
    let burst_bytes = meter.bytes().since(before);

    let before = meter.bytes();
    let start = Instant::now();
    let fresh = Client::start("alice-new-device", &metered).await?;
    let chat_fresh = fresh.find(chat_a.document_id()).await?;
    until_count(&chat_fresh, n).await?;
    let history = start.elapsed();
    let history_bytes = meter.bytes().since(before);
    a.stop().await;
    fresh.stop().await;
    Ok(PeerFigures {
        burst_s: Some(burst.as_secs_f64()),
        burst_wire_bytes: Some(burst_bytes.total()),
        history_ms: Some(history.as_secs_f64() * 1e3),
        history_wire_bytes: Some(history_bytes.total()),
        ..PeerFigures::default()
    })
}

/// `converge`: A and B diverge offline by N messages each, then sync.
async fn converge(url: &samod::Url, sizes: &Sizes, vocab: &Vocabulary) -> Result<PeerFigures> {
    let (meter, metered) = metered(url).await?;
    let n = sizes.relay_converge_per_side;
    let (a, b, chat_a, chat_b) = two_sharing_a_chat(&metered).await?;
    within("B taking the chat", chat_b.we_have_their_changes(b.connection()?)).await?;
    offline(&a).await?;
    offline(&b).await?;

    let mut rng = rng(8);
    let a_texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    let b_texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    for (i, text) in a_texts.iter().enumerate() {
        append(&chat_a, &format!("a{i:08}"), "alice", text)?;
    }
    for (i, text) in b_texts.iter().enumerate() {
        append(&chat_b, &format!("b{i:08}"), "bob", text)?;
    }

    let before = meter.bytes();
    let start = Instant::now();
    let (dialer_a, dialer_b) = tokio::try_join!(dial(&a.repo, &metered), dial(&b.repo, &metered))?;
    tokio::try_join!(until_count(&chat_a, 2 * n), until_count(&chat_b, 2 * n))?;
    let elapsed = start.elapsed();
    let bytes = meter.bytes().since(before);
    dialer_a.close();
    dialer_b.close();
    a.stop().await;
    b.stop().await;
    Ok(PeerFigures {
        converge_s: Some(elapsed.as_secs_f64()),
        converge_wire_bytes: Some(bytes.total()),
        ..PeerFigures::default()
    })
}

/// Closes `client`'s dialer and waits until the repo has no connection left.
async fn offline(client: &Client) -> Result<()> {
    client.dialer.close();
    let (now, mut updates) = client.repo.connected_peers();
    if now.is_empty() {
        return Ok(());
    }
    within("disconnecting", async {
        while let Some(connections) = updates.next().await {
            if connections.is_empty() {
                return Ok(());
            }
        }
        bail!("samod's connection list ended")
    })
    .await?
}

/// A wire meter in front of the server at `url`, and the URL to dial through it.
async fn metered(url: &samod::Url) -> Result<(WireMeter, samod::Url)> {
    let meter = WireMeter::start(server_addr(url)?).await?;
    let through = samod::Url::parse(&format!("ws://{}/", meter.addr))?;
    Ok((meter, through))
}

/// The server's address in `ws://ADDR/`.
fn server_addr(url: &samod::Url) -> Result<std::net::SocketAddr> {
    url.socket_addrs(|| None)?
        .into_iter()
        .next()
        .with_context(|| format!("{url} has no address"))
}
