//! The relay benchmarks, against a real `kith-server` process on 127.0.0.1:
//!
//! - `relay_send_shown_p50_ms`, `relay_send_shown_p99_ms`: a message sent on
//!   device A until device B shows it, through the server. Baseline: the round
//!   trip of a ~200-byte binary message through a plain tokio-tungstenite echo
//!   server on 127.0.0.1, interleaved with the rounds.
//! - `relay_converge_10k_s`, `relay_converge_bytes`: two devices that each
//!   wrote N messages offline converge through the server. Baselines: two
//!   plain automerge documents synced in memory (the local converge
//!   benchmark's), and the Automerge change bytes of both devices' segment
//!   documents.
//!
//! Both devices are file-backed profiles (WAL, `synchronous=FULL`) that
//! became contacts and share a group the way users do: an invite link, then
//! syncs through the server.

use anyhow::{Context, Result, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use kith_client::{ChatId, ChatKind, MessageId, Profile, RelayOptions, RelayReport};
use kith_net::RelayConnection;
use kith_proto::{DocId, Month};
use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use super::converge::{raw_doc, raw_sync};
use super::{TEXT_BYTES, rng};
use crate::corpus::Vocabulary;
use crate::fixtures;
use crate::progress::Progress;
use crate::report::{Budget, Metric, Subject, number};
use crate::samod::PeerFigures;
use crate::server::ServerProcess;
use crate::sizes::Sizes;
use crate::stats::Samples;
use crate::wire_meter::WireMeter;

/// Bytes of the echo baseline's message.
const ECHO_BYTES: usize = 200;
/// DESIGN.md §8 budgets for send -> shown via the server on loopback.
const SHOWN_P50_BUDGET_MS: f64 = 3.0;
const SHOWN_P99_BUDGET_MS: f64 = 10.0;
/// DESIGN.md §8 budget for two devices converging on loopback (as `converge_10k_s`).
const CONVERGE_BUDGET_S: f64 = 1.0;
/// B gives up waiting for the server's notification after this long.
const POKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Between two send -> shown rounds (the same on samod's side).
const ROUND_GAP: Duration = Duration::from_millis(3);
/// DESIGN.md §8 budget for a burst of 10k sends stored on the server.
const BURST_BUDGET_S: f64 = 2.0;
/// DESIGN.md §8 budget for a new device pulling a 10k-message history.
const HISTORY_BUDGET_MS: f64 = 200.0;
/// Linking a device gives up after this long.
const LINK_TIMEOUT: Duration = Duration::from_secs(60);
/// Sync runs before converging counts as stuck.
const MAX_CONVERGE_SYNCS: usize = 12;

/// Runs the relay benchmarks, each phase against its own server process,
/// then the same workload on samod (its own server per phase) for the peer column.
pub fn run(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress, server_bin: &Path) -> Result<Vec<Metric>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let mut server_peaks = Vec::new();
    let (mut metrics, peak) = runtime.block_on(send_shown(sizes, vocab, progress, server_bin))?;
    server_peaks.push(peak);
    let (burst, peak) = runtime.block_on(burst_and_history(sizes, vocab, progress, server_bin))?;
    metrics.extend(burst);
    server_peaks.push(peak);
    let (converged, peak) = runtime.block_on(converge(sizes, vocab, progress, server_bin))?;
    metrics.extend(converged);
    server_peaks.push(peak);
    drop(runtime);

    let peer = crate::samod::measure(sizes, progress)?;
    let server_peak = server_peaks.into_iter().flatten().reduce(f64::max);
    if let Some(server_peak) = server_peak {
        metrics.push(
            Metric::new("relay_server_peak_rss_mib", "MiB", server_peak, None, None)
                .note(format!(
                    "VmHWM of the server process, the largest of its three phases (send -> shown, burst + new device, converge; a fresh process each); samod: the same for its server (one process per phase too; its clients' process peaked at {} MiB)",
                    peer.clients_peak_rss_mib.map_or("?".to_owned(), number)
                )),
        );
    }
    Ok(metrics
        .into_iter()
        .map(|metric| match peer_figure(&peer, metric.key) {
            Some(None) if !peer.unfinished.is_empty() => {
                let unfinished = format!("samod did not finish ({})", peer.unfinished.join("; "));
                let note = metric
                    .note
                    .clone()
                    .map_or(unfinished.clone(), |note| format!("{note}. {unfinished}"));
                metric.note(note)
            }
            Some(figure) => metric.peer(figure),
            None => metric,
        })
        .collect())
}

/// samod's figure for this metric: `None` when samod has no such figure,
/// `Some(None)` when it has one but did not measure it.
fn peer_figure(peer: &PeerFigures, key: &str) -> Option<Option<f64>> {
    let bytes = |b: Option<u64>| b.map(|b| b as f64);
    Some(match key {
        "relay_send_shown_p50_ms" => peer.send_shown_p50_ms,
        "relay_send_shown_p99_ms" => peer.send_shown_p99_ms,
        "relay_burst_10k_s" => peer.burst_s,
        "relay_burst_wire_bytes" => bytes(peer.burst_wire_bytes),
        "relay_history_10k_ms" => peer.history_ms,
        "relay_history_wire_bytes" => bytes(peer.history_wire_bytes),
        "relay_converge_10k_s" => peer.converge_s,
        "relay_converge_wire_bytes" => bytes(peer.converge_wire_bytes),
        "relay_server_peak_rss_mib" => peer.server_peak_rss_mib,
        _ => return None,
    })
}

/// Two file-backed profiles in `dir`.
fn two_profiles(dir: &Path, rng: &mut ChaCha20Rng) -> Result<(Profile, Profile)> {
    let a = fixtures::profile(fixtures::file_store(&dir.join("a.db"))?, "alice", rng)?;
    let b = fixtures::profile(fixtures::file_store(&dir.join("b.db"))?, "bob", rng)?;
    Ok((a, b))
}

/// Connects to the server and syncs until nothing is left (compacting as
/// the CLI's `kith sync` does).
async fn sync_once(profile: &Profile, url: &str) -> Result<RelayReport> {
    let connection = profile.relay().connect(url).await?;
    Ok(profile.relay().sync(&connection, RelayOptions::default()).await?)
}

/// Makes A and B contacts through the server (B uses A's invite link), then
/// A creates a group with B and both sync, so B holds its key and head.
async fn befriend_and_share(a: &Profile, b: &Profile, url: &str) -> Result<ChatId> {
    b.contacts().add(&a.contacts().invite()?.link())?;
    for profile in [b, a, b] {
        sync_once(profile, url).await?;
    }
    for (name, profile) in [("A", a), ("B", b)] {
        let contacts = profile.contacts().list()?;
        ensure!(
            contacts.len() == 1 && contacts.iter().all(|c| c.state == "accepted"),
            "{name} does not have the other as an accepted contact after syncing: {contacts:?}"
        );
    }
    let chat = a
        .chats()
        .create("relay bench", &[b.identity().account_id()], ChatKind::Group)?;
    sync_once(a, url).await?;
    sync_once(b, url).await?;
    let head = b
        .store()
        .chat(&chat)?
        .context("the group did not reach B through the server (conversation key or head missing)")?;
    ensure!(
        head.members.contains_key(&b.identity().account_id()),
        "B does not see itself as a member of the group"
    );
    Ok(chat)
}

/// Opens an authenticated connection for `profile`.
async fn connect(profile: &Profile, url: &str) -> Result<RelayConnection> {
    Ok(RelayConnection::connect(url, profile.identity().device_keys()).await?)
}

/// A WebSocket server on 127.0.0.1 that sends every binary message back.
async fn echo_server() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_binary() && socket.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(addr)
}

type EchoSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One round trip through the echo server.
async fn echo_round_trip(socket: &mut EchoSocket, payload: &[u8]) -> Result<Duration> {
    let start = Instant::now();
    socket.send(Message::binary(payload.to_vec())).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(echoed))) => {
                let elapsed = start.elapsed();
                ensure!(echoed.len() == payload.len(), "the echo server changed the message");
                return Ok(elapsed);
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.into()),
            None => bail!("the echo server closed the connection"),
        }
    }
}

/// Waits for the server's notifications and syncs B until it shows `id`.
/// Returns the time since `start` and the syncs B ran.
/// Where one send -> shown round's time went, each measured from its start.
#[derive(Default)]
struct Phases {
    /// A's `Messages::send` returned (stored, durable).
    sent: Samples,
    /// A's relay sync returned (the server acknowledged the push).
    pushed: Samples,
    /// B's first `Appended` notification arrived.
    poked: Samples,
}

async fn until_shown(
    b: &Profile,
    connection: &mut RelayConnection,
    chat: &ChatId,
    id: &MessageId,
    start: Instant,
    poked: &mut Option<Duration>,
) -> Result<(Duration, usize)> {
    let mut syncs = 0;
    let mut logs = std::collections::BTreeSet::new();
    loop {
        match tokio::time::timeout(POKE_TIMEOUT, connection.next_appended()).await {
            Ok(Some((log, _))) => {
                poked.get_or_insert_with(|| start.elapsed());
                logs.insert(log);
            }
            Ok(None) => bail!("the server closed B's connection"),
            Err(_) => bail!(
                "B got no notification from the server within {} s of A's send",
                POKE_TIMEOUT.as_secs()
            ),
        }
        while let Some((log, _)) = connection.try_appended() {
            logs.insert(log);
        }
        // As `kith sync --watch` does: pull only what the server poked.
        b.relay()
            .sync_poked(connection, &logs, RelayOptions::WITHOUT_COMPACTION)
            .await?;
        logs.clear();
        syncs += 1;
        if b.messages().list(chat, 1, None)?.last().is_some_and(|m| m.id == *id) {
            return Ok((start.elapsed(), syncs));
        }
    }
}

/// `relay_send_shown_*`, and the server's peak RSS.
async fn send_shown(
    sizes: &Sizes,
    vocab: &Vocabulary,
    progress: &Progress,
    server_bin: &Path,
) -> Result<(Vec<Metric>, Option<f64>)> {
    let mut rng = rng(7);
    let server = ServerProcess::start(server_bin)?;
    let url = server.url.clone();
    progress.say(
        "relay",
        &format!("kith-server at {url}; A and B become contacts and share a group"),
    );
    let dir = tempfile::tempdir()?;
    let (a, b) = two_profiles(dir.path(), &mut rng)?;
    let chat = befriend_and_share(&a, &b, &url).await?;

    let conn_a = connect(&a, &url).await?;
    let mut conn_b = connect(&b, &url).await?;
    let followed = b.relay().subscribe(&conn_b).await?.len();
    let echo_addr = echo_server().await?;
    let (mut echo, _) = tokio_tungstenite::connect_async(format!("ws://{echo_addr}"))
        .await
        .context("connecting to the echo server")?;
    let mut payload = [0u8; ECHO_BYTES];
    rng.fill_bytes(&mut payload);

    let total = sizes.relay_warmup + sizes.relay_rounds;
    let texts = fixtures::texts(vocab, total, TEXT_BYTES, &mut rng);
    progress.say(
        "relay",
        &format!(
            "{} warm-up + {} timed send -> shown rounds, interleaved with echo round trips",
            sizes.relay_warmup, sizes.relay_rounds
        ),
    );
    let mut shown = Samples::with_capacity(sizes.relay_rounds);
    let mut baseline = Samples::with_capacity(sizes.relay_rounds);
    let mut phases = Phases::default();
    let mut b_syncs = 0;
    let mut uploaded = 0;
    for (i, text) in texts.iter().enumerate() {
        // Notifications left over from the previous round.
        while conn_b.try_appended().is_some() {}
        let start = Instant::now();
        let id = a.messages().send(&chat, text, None)?;
        let sent = start.elapsed();
        let mut poked = None;
        let (pushed, seen) = tokio::join!(
            async {
                let report = a.relay().sync(&conn_a, RelayOptions::WITHOUT_COMPACTION).await;
                (report, start.elapsed())
            },
            until_shown(&b, &mut conn_b, &chat, &id, start, &mut poked)
        );
        let (pushed, pushed_at) = pushed;
        let pushed: RelayReport = pushed?;
        let (elapsed, syncs) = seen?;
        let echo_time = echo_round_trip(&mut echo, &payload).await?;
        tokio::time::sleep(ROUND_GAP).await;
        if i >= sizes.relay_warmup {
            phases.sent.push(sent);
            phases.pushed.push(pushed_at);
            phases.poked.push(poked.unwrap_or(elapsed));
            shown.push(elapsed);
            baseline.push(echo_time);
            b_syncs += syncs;
            uploaded += pushed.uploaded;
        }
    }
    let rounds = shown.len();
    let b_count = b.store().messages(&chat, None, total + 1)?.len();
    ensure!(b_count == total, "B holds {b_count} of the {total} messages A sent");
    drop((conn_a, conn_b));
    let server_peak = crate::machine::peak_rss_mib_of(server.pid());
    drop(server);

    let note = format!(
        "{rounds} rounds after {} warm-up: A's Messages::send of a ~{TEXT_BYTES}-byte text into a group with B, then, \
         concurrently, A's relay().sync on its open connection (envelopes uploaded per round: {}) and B waiting for \
         the server's Appended notification (relay().subscribe, {followed} logs) and running relay().sync_poked (the poked logs only, as `kith sync --watch` does) on its own \
         open connection until Messages::list shows the message (B's syncs per round: {}); t0 before the send, \
         t1 when B shows it. A and B: file-backed profiles that became contacts through an invite link; a real \
         kith-server process on 127.0.0.1 (own data dir). Baseline: round trip of a {ECHO_BYTES}-byte binary \
         message through an in-process tokio-tungstenite echo server on 127.0.0.1, one after each round, then \
         3 ms apart. samod: the same rounds (A appends a message to a list in one Automerge transaction, B waits on \
         its handle's change stream until the list ends with it) through samod's own server",
        sizes.relay_warmup,
        number(uploaded as f64 / rounds.max(1) as f64),
        number(b_syncs as f64 / rounds.max(1) as f64),
    );
    let note = format!(
        "{note}. Medians from t0: A's send returned at {:.2} ms, B was poked at {:.2} ms, A's sync returned at {:.2} ms, B showed it at {:.2} ms",
        phases.sent.percentile(50.0),
        phases.poked.percentile(50.0),
        phases.pushed.percentile(50.0),
        shown.percentile(50.0),
    );
    let metrics = vec![
        Metric::new(
            "relay_send_shown_p50_ms",
            "ms",
            shown.percentile(50.0),
            Some(baseline.percentile(50.0)),
            Some(Budget::Below(Subject::Value, SHOWN_P50_BUDGET_MS)),
        )
        .note(note),
        Metric::new(
            "relay_send_shown_p99_ms",
            "ms",
            shown.percentile(99.0),
            Some(baseline.percentile(99.0)),
            Some(Budget::Below(Subject::Value, SHOWN_P99_BUDGET_MS)),
        ),
    ];
    Ok((metrics, server_peak))
}

/// Sends `bytes` through the echo server in 64 KiB binary messages and
/// reads them back (sending and reading at once, so neither side's buffers
/// stall the other).
async fn echo_transfer(socket: EchoSocket, bytes: u64) -> Result<Duration> {
    const CHUNK: usize = 64 * 1024;
    let (mut sink, mut stream) = socket.split();
    let start = Instant::now();
    let send = async move {
        let chunk = vec![0u8; CHUNK];
        let mut left = bytes;
        while left > 0 {
            let len = usize::try_from(left.min(CHUNK as u64))?;
            sink.send(Message::binary(chunk[..len].to_vec())).await?;
            left -= len as u64;
        }
        anyhow::Ok(())
    };
    let receive = async move {
        let mut received = 0u64;
        while received < bytes {
            match stream.next().await {
                Some(Ok(Message::Binary(echoed))) => received += echoed.len() as u64,
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.into()),
                None => bail!("the echo server closed the connection"),
            }
        }
        anyhow::Ok(())
    };
    tokio::try_join!(send, receive)?;
    Ok(start.elapsed())
}

/// `relay_burst_10k_s`, `relay_burst_wire_bytes`, `relay_history_10k_ms`,
/// `relay_history_wire_bytes`, and the server's peak RSS.
async fn burst_and_history(
    sizes: &Sizes,
    vocab: &Vocabulary,
    progress: &Progress,
    server_bin: &Path,
) -> Result<(Vec<Metric>, Option<f64>)> {
    let mut rng = rng(9);
    let n = sizes.relay_burst_sends;
    let server = ServerProcess::start(server_bin)?;
    let meter = WireMeter::start(server.addr()?).await?;
    let url = format!("http://{}", meter.addr);
    progress.say(
        "relay burst",
        &format!(
            "kith-server at {} (through a wire meter); A and B become contacts and share a group",
            server.url
        ),
    );
    let dir = tempfile::tempdir()?;
    let (a, b) = two_profiles(dir.path(), &mut rng)?;
    let chat = befriend_and_share(&a, &b, &url).await?;
    let texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    let (entries_before, _) = server.stored()?;

    progress.say(
        "relay burst",
        &format!("A sends {n} messages, then syncs until the server has them all"),
    );
    // Open before the burst, as a running app's is.
    let connection = a.relay().connect(&url).await?;
    let wire_before = meter.bytes();
    let start = Instant::now();
    for text in &texts {
        a.messages().send(&chat, text, None)?;
    }
    let pushed = a.relay().sync(&connection, RelayOptions::WITHOUT_COMPACTION).await?;
    let burst = start.elapsed();
    let burst_wire = meter.bytes().since(wire_before);
    drop(connection);
    let (entries_after, _) = server.stored()?;
    ensure!(
        entries_after >= entries_before + pushed.uploaded as u64 && pushed.uploaded > 0,
        "the server holds {entries_after} envelopes after A uploaded {} (it held {entries_before})",
        pushed.uploaded
    );

    progress.say("relay burst", "raw baseline: the same texts as bare SQLite commits");
    let raw_dir = tempfile::tempdir()?;
    let raw = crate::raw::open(&raw_dir.path().join("raw.db"))?;
    raw.execute_batch("CREATE TABLE msgs (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")?;
    let start = Instant::now();
    for text in &texts {
        // Autocommit: one durable commit per message, as each send is.
        raw.execute("INSERT INTO msgs (text) VALUES (?1)", [text])?;
    }
    let raw_burst = start.elapsed();
    drop(raw);

    progress.say(
        "relay burst",
        &format!("B links a new device, which pulls the {n} messages"),
    );
    let code = kith_client::PairingCode::generate()?;
    let new_dir = dir.path().join("b-new-device");
    std::fs::create_dir_all(&new_dir)?;
    let wire_before = meter.bytes();
    let start = Instant::now();
    let (linked, joined) = tokio::join!(
        b.devices().link(&url, &code, LINK_TIMEOUT),
        Profile::join(&new_dir, &url, &code, LINK_TIMEOUT)
    );
    linked.context("B linking its new device")?;
    let fresh = joined.context("the new device joining")?;
    let mut syncs = 0;
    while held(&fresh, &chat)? < n {
        ensure!(
            syncs < MAX_CONVERGE_SYNCS,
            "B's new device holds {} of {n} messages after {syncs} syncs",
            held(&fresh, &chat)?
        );
        sync_once(&fresh, &url).await?;
        syncs += 1;
    }
    let history = start.elapsed();
    let history_wire = meter.bytes().since(wire_before);
    let server_peak = crate::machine::peak_rss_mib_of(server.pid());
    drop(server);

    let echo_addr = echo_server().await?;
    let (echo, _) = tokio_tungstenite::connect_async(format!("ws://{echo_addr}"))
        .await
        .context("connecting to the echo server")?;
    let raw_history = echo_transfer(echo, history_wire.down).await?;

    let metrics = vec![
        Metric::new(
            "relay_burst_10k_s",
            "s",
            burst.as_secs_f64(),
            Some(raw_burst.as_secs_f64()),
            Some(Budget::Below(Subject::Value, BURST_BUDGET_S)),
        )
        .note(format!(
            "{n} Messages::send (each durable) by A into a group with B, then relay().sync on A's open connection \
             until the server acknowledged every envelope ({} uploaded); file-backed profile, real kith-server on \
             127.0.0.1; baseline: the same {n} texts as bare SQLite commits (WAL, synchronous=FULL, one row each). \
             samod: {n} one-message transactions on A's handle while connected, until its server's sync state has \
             A's heads (they_have_our_changes)",
            pushed.uploaded
        )),
        Metric::new("relay_burst_wire_bytes", "B", burst_wire.total() as f64, None, None).note(format!(
            "bytes through the wire meter during the burst ({} up, {} down)",
            burst_wire.up, burst_wire.down
        )),
        Metric::new(
            "relay_history_10k_ms",
            "ms",
            history.as_secs_f64() * 1e3,
            Some(raw_history.as_secs_f64() * 1e3),
            Some(Budget::Below(Subject::Value, HISTORY_BUDGET_MS)),
        )
        .note(format!(
            "B links a new device through the server (pairing code; Devices::link beside Profile::join on an empty \
             directory, which syncs) until it holds the {n} messages (further syncs: {syncs}); timed from the start \
             of the pairing; baseline: the {} bytes the new device downloaded, sent through a raw tokio-tungstenite \
             echo on 127.0.0.1 and read back (64 KiB messages). samod: a repo with empty storage connects, finds \
             the document and waits until it holds them all",
            history_wire.down
        )),
        Metric::new("relay_history_wire_bytes", "B", history_wire.total() as f64, None, None).note(format!(
            "bytes through the wire meter while the new device pulled ({} up, {} down)",
            history_wire.up, history_wire.down
        )),
    ];
    Ok((metrics, server_peak))
}

/// Automerge change bytes (as the relay uploads them) of one document, and how many changes.
pub(super) fn change_bytes(profile: &Profile, doc: DocId) -> Result<(usize, usize)> {
    let (changes, _heads) = profile.docs().changes_since(doc, &[])?;
    let count = changes.len();
    let bytes = changes.into_iter().map(|mut change| change.bytes().len()).sum();
    Ok((bytes, count))
}

/// Messages `profile` holds in `chat`.
fn held(profile: &Profile, chat: &ChatId) -> Result<usize> {
    Ok(profile.store().message_count(chat)?)
}

/// `relay_converge_10k_s`, `relay_converge_bytes`, `relay_converge_wire_bytes`, and the server's peak RSS.
async fn converge(
    sizes: &Sizes,
    vocab: &Vocabulary,
    progress: &Progress,
    server_bin: &Path,
) -> Result<(Vec<Metric>, Option<f64>)> {
    let mut rng = rng(8);
    let n = sizes.relay_converge_per_side;
    let server = ServerProcess::start(server_bin)?;
    let meter = WireMeter::start(server.addr()?).await?;
    let url = format!("http://{}", meter.addr);
    progress.say(
        "relay converge",
        &format!("kith-server at {url}; A and B become contacts and share a group"),
    );
    let dir = tempfile::tempdir()?;
    let (a, b) = two_profiles(dir.path(), &mut rng)?;
    let chat = befriend_and_share(&a, &b, &url).await?;
    let (setup_entries, setup_bytes) = server.stored()?;

    let a_texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    let b_texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    progress.say(
        "relay converge",
        &format!("A and B each write {n} messages offline (untimed)"),
    );
    fixtures::fill_segment(&a, &chat, &a_texts)?;
    fixtures::fill_segment(&b, &chat, &b_texts)?;
    let segment = DocId::Segment(chat, Month::from_millis(kith_client::system_now_ms()));
    let (a_bytes, a_changes) = change_bytes(&a, segment)?;
    let (b_bytes, b_changes) = change_bytes(&b, segment)?;
    let raw_change_bytes = a_bytes + b_bytes;

    progress.say(
        "relay converge",
        "connect + relay().sync A, B, A, ... until both hold everything",
    );
    let want = 2 * n;
    let wire_before = meter.bytes();
    let mut elapsed = Duration::ZERO;
    let mut report = RelayReport::default();
    let mut syncs = 0;
    let mut order = Vec::new();
    let peak_before = crate::machine::peak_rss_mib();
    loop {
        let (name, profile) = if syncs % 2 == 0 { ("A", &a) } else { ("B", &b) };
        let start = Instant::now();
        let pass = sync_once(profile, &url).await?;
        elapsed += start.elapsed();
        syncs += 1;
        order.push(name);
        report.uploaded += pass.uploaded;
        report.applied += pass.applied;
        report.passes += pass.passes;
        report.refused += pass.refused;
        // Counting is not timed.
        let (in_a, in_b) = (held(&a, &chat)?, held(&b, &chat)?);
        if in_a == want && in_b == want {
            break;
        }
        ensure!(
            syncs < MAX_CONVERGE_SYNCS,
            "A holds {in_a} and B {in_b} of {want} messages after {syncs} syncs through the server"
        );
    }
    ensure!(report.refused == 0, "{} envelopes were refused", report.refused);
    let wire = meter.bytes().since(wire_before);
    let memory = match (peak_before, crate::machine::peak_rss_mib()) {
        (Some(before), Some(after)) => {
            format!("; process peak RSS {before:.0} -> {after:.0} MiB across the syncs (both profiles are in it)")
        }
        _ => String::new(),
    };
    let (entries, server_bytes) = server.stored()?;
    let server_peak = crate::machine::peak_rss_mib_of(server.pid());
    drop(server);

    progress.say(
        "relay converge",
        "raw baseline: plain automerge documents, automerge sync in memory",
    );
    let mut raw_a = raw_doc(&a_texts, &mut rng)?;
    let mut raw_b = raw_doc(&b_texts, &mut rng)?;
    let raw = raw_sync(&mut raw_a, &mut raw_b)?;

    let metrics = vec![
        Metric::new(
            "relay_converge_10k_s",
            "s",
            elapsed.as_secs_f64(),
            Some(raw.elapsed.as_secs_f64()),
            Some(Budget::Below(Subject::Value, CONVERGE_BUDGET_S)),
        )
        .note(format!(
            "{n}+{n} diverged messages (each side: {}) in a group of A and B, file-backed profiles that became \
             contacts through an invite link and synced the group once before writing; timed: {syncs} \
             relay().connect + relay().sync ({}; each connects, authenticates, uploads and pulls until a pass finds \
             nothing: {} passes in all, {} envelopes uploaded, {} changes applied) against a real kith-server \
             process on 127.0.0.1, until both hold {want} messages (counting them between syncs is not timed); \
             baseline: two plain automerge docs with the same messages synced in memory ({} messages, {} bytes)\
             {memory}. samod: A and B share one chat document through samod's server, disconnect, append {n} \
             messages each (one transaction each), reconnect; until both hold all",
            fixtures::fill_note(n),
            order.join(", "),
            report.passes,
            report.uploaded,
            report.applied,
            raw.messages,
            raw.bytes,
        )),
        Metric::new(
            "relay_converge_bytes",
            "B",
            server_bytes as f64,
            Some(raw_change_bytes as f64),
            None,
        )
        .note(format!(
            "SUM(LENGTH(ciphertext)) of the server's entries after converging ({entries} envelopes; {setup_entries} \
             envelopes and {setup_bytes} B of them from the contact and group setup before the messages); \
             baseline: Automerge change bytes (Change::bytes, as uploaded) of A's and B's segment documents \
             before syncing ({a_changes} + {b_changes} changes)"
        )),
        Metric::new(
            "relay_converge_wire_bytes",
            "B",
            wire.total() as f64,
            Some(raw_change_bytes as f64),
            None,
        )
        .note(format!(
            "bytes through a counting TCP relay between the devices and the server while converging ({} up, {} \
             down; WebSocket frames, TLS off on both sides); baseline: the Automerge change bytes of both sides; \
             samod: the same relay in front of its server",
            wire.up, wire.down
        )),
    ];
    Ok((metrics, server_peak))
}
