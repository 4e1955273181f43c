//! The peer-to-peer benchmarks: two devices in one process, each running the
//! real libp2p sync loop (`kith_client::p2p::run_p2p`) over TCP on 127.0.0.1.
//!
//! - `p2p_send_shown_p50_ms`, `p2p_send_shown_p99_ms`: a message sent on A
//!   until B's sync loop reports it. Baseline: the round trip of a 200-byte
//!   message through a plain tokio TCP echo server on 127.0.0.1,
//!   interleaved with the rounds.
//! - `p2p_converge_10k_s`, `p2p_converge_bytes`, `p2p_converge_round_trips`:
//!   two devices that each wrote N messages offline meet and converge.
//!   Baselines: plain automerge documents synced in memory (time, messages)
//!   and the raw Automerge change bytes of both sides.

use anyhow::{Context, Result, ensure};
use kith_client::p2p::{P2pEvent, P2pOptions, P2pReport, run_p2p};
use kith_client::{ChatId, ChatKind, ConsumerFailed, MessageChange, Profile, WatchEvent};
use kith_net::p2p::{Multiaddr, Protocol, peer_id_of_device};
use kith_proto::{DocId, Month};
use rand::RngCore;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::converge::{raw_doc, raw_sync};
use super::relay::change_bytes;
use super::{TEXT_BYTES, rng};
use crate::corpus::Vocabulary;
use crate::fixtures;
use crate::progress::Progress;
use crate::report::{Budget, Metric, Subject};
use crate::sizes::Sizes;
use crate::stats::Samples;

/// Bytes of the echo baseline's message.
const ECHO_BYTES: usize = 200;
/// DESIGN.md §8: send -> shown over a LAN peer-to-peer connection.
const SHOWN_P50_BUDGET_MS: f64 = 2.0;
const SHOWN_P99_BUDGET_MS: f64 = 10.0;
/// DESIGN.md §8: 10k+10k diverged messages converge on loopback.
const CONVERGE_BUDGET_S: f64 = 1.0;
const ROUND_TRIPS_BUDGET: f64 = 3.0;
/// B waits this long for one message before the run counts as broken.
const SHOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs both peer-to-peer benchmarks.
pub fn run(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress) -> Result<Vec<Metric>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let mut metrics = runtime.block_on(send_shown(sizes, vocab, progress))?;
    metrics.extend(runtime.block_on(converge(sizes, vocab, progress))?);
    Ok(metrics)
}

fn options() -> Result<P2pOptions> {
    Ok(P2pOptions {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
        mdns: false,
        ..P2pOptions::default()
    })
}

/// Two file-backed profiles in `dir` that became contacts (B used A's
/// invite on a direct connection) and share a group A created.
async fn two_peers(dir: &Path, seed: u64) -> Result<(Profile, Profile, ChatId)> {
    let mut rng = rng(seed);
    let a = fixtures::profile(fixtures::file_store(&dir.join("a.db"))?, "alice", &mut rng)?;
    let b = fixtures::profile(fixtures::file_store(&dir.join("b.db"))?, "bob", &mut rng)?;
    b.contacts().add(&a.contacts().invite()?.link())?;
    let chat = a
        .chats()
        .create("p2p bench", &[b.identity().account_id()], ChatKind::Group)?;
    let has_chat = || b.store().chat(&chat).ok().flatten().is_some();
    pair(&a, &b, &has_chat, &mut |_| Ok(()), &mut |_| Ok(())).await?;
    ensure!(has_chat(), "the group did not reach B over the direct connection");
    Ok((a, b, chat))
}

type Consumer<'a> = dyn FnMut(P2pEvent) -> Result<(), ConsumerFailed> + Send + 'a;

/// Runs A (listening) and B (dialing A) until `done`.
async fn pair(
    a: &Profile,
    b: &Profile,
    done: &(dyn Fn() -> bool + Sync),
    on_a: &mut Consumer<'_>,
    on_b: &mut Consumer<'_>,
) -> Result<(P2pReport, P2pReport)> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let stop = || done() || Instant::now() > deadline;
    let slot: Mutex<Option<Multiaddr>> = Mutex::new(None);
    let a_peer = peer_id_of_device(&a.identity().device_id())?;
    let mut on_a_first = |event: P2pEvent| {
        if let P2pEvent::Listening(addresses) = &event
            && let Some(Ok(mut address)) = addresses.first().map(|a| a.parse::<Multiaddr>())
        {
            address.push(Protocol::P2p(a_peer));
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(address);
            }
        }
        on_a(event)
    };
    let b_run = async {
        let address = loop {
            if let Some(address) = slot.lock().ok().and_then(|s| s.clone()) {
                break address;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let mut options = options()?;
        options.peers = vec![address];
        Ok::<_, anyhow::Error>(run_p2p(b, options, &stop, on_b).await?)
    };
    let (a_report, b_report) = tokio::join!(run_p2p(a, options()?, &stop, &mut on_a_first), b_run);
    Ok((a_report?, b_report?))
}

/// A TCP server on 127.0.0.1 that sends every byte back.
async fn echo_server() -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = [0u8; ECHO_BYTES];
                while stream.read_exact(&mut buf).await.is_ok() {
                    if stream.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// `p2p_send_shown_*`.
async fn send_shown(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress) -> Result<Vec<Metric>> {
    progress.say(
        "p2p",
        "A and B become contacts on a direct connection and share a group",
    );
    let dir = tempfile::tempdir()?;
    let (a, b, chat) = two_peers(dir.path(), 17).await?;
    let mut rng = rng(18);
    let total = sizes.relay_warmup + sizes.relay_rounds;
    let texts = fixtures::texts(vocab, total, TEXT_BYTES, &mut rng);
    let echo_addr = echo_server().await?;
    let mut echo = TcpStream::connect(echo_addr).await?;
    echo.set_nodelay(true)?;
    let mut payload = [0u8; ECHO_BYTES];
    rng.fill_bytes(&mut payload);

    progress.say(
        "p2p",
        &format!(
            "{} warm-up + {} timed send -> shown rounds over the direct connection, interleaved with TCP echo round trips",
            sizes.relay_warmup, sizes.relay_rounds
        ),
    );
    let (shown_tx, mut shown_rx) = mpsc::unbounded_channel();
    let mut on_b = |event: P2pEvent| {
        if let P2pEvent::Watch(WatchEvent::Message {
            change: MessageChange::Message,
            message,
        }) = event
        {
            let _ = shown_tx.send((message.id, Instant::now()));
        }
        Ok(())
    };
    let finished = AtomicBool::new(false);
    let done = || finished.load(Ordering::SeqCst);
    let rounds = async {
        // Let the two meet before the first round.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut shown = Samples::with_capacity(sizes.relay_rounds);
        let mut baseline = Samples::with_capacity(sizes.relay_rounds);
        let result: Result<()> = async {
            for (i, text) in texts.iter().enumerate() {
                let start = Instant::now();
                let id = a.messages().send(&chat, text, None)?;
                let at = loop {
                    let (seen, at) = tokio::time::timeout(SHOWN_TIMEOUT, shown_rx.recv())
                        .await
                        .context("B did not show A's message within 10 s")?
                        .context("B's sync loop ended")?;
                    if seen == id {
                        break at;
                    }
                };
                let echo_start = Instant::now();
                echo.write_all(&payload).await?;
                let mut back = [0u8; ECHO_BYTES];
                echo.read_exact(&mut back).await?;
                let echo_time = echo_start.elapsed();
                if i >= sizes.relay_warmup {
                    shown.push(at - start);
                    baseline.push(echo_time);
                }
            }
            Ok(())
        }
        .await;
        finished.store(true, Ordering::SeqCst);
        result.map(|()| (shown, baseline))
    };
    let mut on_a = |_| Ok(());
    let (ran, measured) = tokio::join!(pair(&a, &b, &done, &mut on_a, &mut on_b), rounds);
    ran?;
    let (mut shown, mut baseline) = measured?;
    let held = b.store().messages(&chat, None, total + 1)?.len();
    ensure!(held == total, "B holds {held} of the {total} messages A sent");
    let note = format!(
        "{} rounds after {} warm-up: A's Messages::send of a ~{TEXT_BYTES}-byte text into a group with B while both \
         run kith_client::p2p::run_p2p (one authenticated libp2p stream over TCP+Noise+Yamux on 127.0.0.1); t0 \
         before the send, t1 when B's loop reports the new message (stored and indexed). A and B: file-backed \
         profiles that became contacts through an invite presented on the direct connection. Baseline: a \
         {ECHO_BYTES}-byte TCP echo round trip on 127.0.0.1 (nodelay), one after each round",
        shown.len(),
        sizes.relay_warmup
    );
    Ok(vec![
        Metric::new(
            "p2p_send_shown_p50_ms",
            "ms",
            shown.percentile(50.0),
            Some(baseline.percentile(50.0)),
            Some(Budget::Below(Subject::Value, SHOWN_P50_BUDGET_MS)),
        )
        .note(note),
        Metric::new(
            "p2p_send_shown_p99_ms",
            "ms",
            shown.percentile(99.0),
            Some(baseline.percentile(99.0)),
            Some(Budget::Below(Subject::Value, SHOWN_P99_BUDGET_MS)),
        ),
    ])
}

/// `p2p_converge_*`.
async fn converge(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress) -> Result<Vec<Metric>> {
    let n = sizes.relay_converge_per_side;
    progress.say("p2p converge", "A and B become contacts and share a group");
    let dir = tempfile::tempdir()?;
    let (a, b, chat) = two_peers(dir.path(), 27).await?;
    let mut rng = rng(28);
    let a_texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    let b_texts = fixtures::texts(vocab, n, TEXT_BYTES, &mut rng);
    progress.say(
        "p2p converge",
        &format!("A and B each write {n} messages offline (untimed)"),
    );
    fixtures::fill_segment(&a, &chat, &a_texts)?;
    fixtures::fill_segment(&b, &chat, &b_texts)?;
    let segment = DocId::Segment(chat, Month::from_millis(kith_client::system_now_ms()));
    let raw_change_bytes = change_bytes(&a, segment)?.0 + change_bytes(&b, segment)?.0;

    progress.say(
        "p2p converge",
        "both start their sync loops; timed until both hold everything",
    );
    let want = n * 2;
    // A COUNT over the messages index: checked after every event of both
    // loops, so it must stay cheap next to the sync (loading the rows here
    // once starved the loops for minutes).
    let held = |p: &Profile| p.store().message_count(&chat).unwrap_or(0);
    let converged = || held(&a) == want && held(&b) == want;
    let start = Instant::now();
    let (a_report, b_report) = pair(&a, &b, &converged, &mut |_| Ok(()), &mut |_| Ok(())).await?;
    let elapsed = start.elapsed();
    ensure!(
        converged(),
        "A holds {} and B {} of {want} messages",
        held(&a),
        held(&b)
    );

    progress.say(
        "p2p converge",
        "raw baseline: plain automerge documents, automerge sync in memory",
    );
    let mut raw_a = raw_doc(&a_texts, &mut rng)?;
    let mut raw_b = raw_doc(&b_texts, &mut rng)?;
    let raw = raw_sync(&mut raw_a, &mut raw_b)?;
    let sync_frames = a_report.frames_sent + b_report.frames_sent;
    // A round trip is one frame each way.
    let round_trips = sync_frames as f64 / 2.0;
    let bytes = a_report.bytes_sent + b_report.bytes_sent;
    Ok(vec![
        Metric::new(
            "p2p_converge_10k_s",
            "s",
            elapsed.as_secs_f64(),
            Some(raw.elapsed.as_secs_f64()),
            Some(Budget::Below(Subject::Value, CONVERGE_BUDGET_S)),
        )
        .note(format!(
            "{n}+{n} diverged messages (each side: {}) in a group of A and B, file-backed profiles that synced the \
             group once before writing; timed from starting both run_p2p loops (listen, dial, Noise, Yamux, \
             kith/auth/1, heads, Automerge sync, apply, store, index) until both hold {want} messages (checked \
             between frames and on the loops' 100 ms tick); baseline: two plain automerge docs with the same \
             messages synced in memory ({} messages, {} bytes)",
            fixtures::fill_note(n),
            raw.messages,
            raw.bytes,
        )),
        Metric::new(
            "p2p_converge_round_trips",
            "",
            round_trips,
            Some(raw.messages as f64 / 2.0),
            Some(Budget::Below(Subject::Value, ROUND_TRIPS_BUDGET + 4.0)),
        )
        .note(format!(
            "frames both ways / 2: A sent {} frames, B {} (hello, welcome and heads included: 3 each); baseline: \
             the in-memory automerge exchange's messages / 2; budget: DESIGN.md's 3 round trips of sync plus the \
             authentication and heads exchange",
            a_report.frames_sent, b_report.frames_sent
        )),
        Metric::new(
            "p2p_converge_bytes",
            "B",
            bytes as f64,
            Some(raw_change_bytes as f64),
            None,
        )
        .note(
            "frame payload bytes both ways; baseline: Automerge change bytes (Change::bytes) of A's and B's segment \
             documents before the exchange",
        ),
    ])
}
