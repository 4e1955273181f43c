//! Live chat load against a real `kith-server` on 127.0.0.1: pairs of
//! signed-in devices, one sending into a log every few milliseconds, the
//! other subscribed to it and pulling after each poke; the time from the
//! push leaving the sender to the entry reaching the receiver is one
//! delivery. It runs twice: alone, and with the abuse mix (`abuse.rs`)
//! going on at the same time. The baseline is the same pairs' messages
//! bounced off a bare WebSocket echo server (`kith-bench echo-idle`): a
//! round trip with nothing stored.

use super::abuse::{Abuse, AbuseCounts};
use super::idle::{EchoProcess, raise_open_files};
use super::wire::{self, Socket};
use crate::progress::Progress;
use crate::report::{Budget, Metric, Subject};
use crate::server::ServerProcess;
use crate::sizes::Sizes;
use crate::stats::Samples;
use anyhow::{Context, Result};
use kith_proto::{Capability, ClientFrame, LogId, ServerFrame};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Time between one sender's messages.
const INTERVAL: Duration = Duration::from_millis(10);
/// Ciphertext bytes of one message (a short text, sealed).
const MESSAGE_BYTES: usize = 200;
/// Devices per source address (the server lets 60 new keys in per address
/// and hour; its defaults stay on).
const DEVICES_PER_SOURCE: usize = 50;
/// How long a receiver waits for the last message after the senders end.
const GRACE: Duration = Duration::from_secs(20);
/// The server's header deadline in this benchmark (its default is 10 s).
const SLOWLORIS_DEADLINE: Duration = Duration::from_secs(1);
/// Budgets of DESIGN.md §8 for send -> shown through the server.
const P50_BUDGET_MS: f64 = 3.0;
const P99_BUDGET_MS: f64 = 10.0;

/// What one run of the pairs measured.
pub(super) struct Outcome {
    /// Push sent -> entry received, per message.
    pub(super) deliveries: Samples,
    /// Frames the honest clients sent.
    frames: u64,
    /// Errors the honest clients got, and messages that never arrived.
    pub(super) errors: u64,
    elapsed: Duration,
}

impl Outcome {
    fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the live load, alone and under the abuse mix.
pub fn run(sizes: &Sizes, progress: &Progress, server_bin: &Path) -> Result<Vec<Metric>> {
    let (pairs, messages) = (sizes.load_pairs, sizes.load_messages);
    raise_open_files(8192);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;

    progress.say(
        "load",
        &format!("{pairs} pairs bouncing messages off the echo baseline"),
    );
    let echo = EchoProcess::start()?;
    let baseline = runtime.block_on(echo_pairs(echo.addr, pairs, messages))?;
    drop(echo);

    // Every limit at its default but the header deadline, so that slowloris
    // sockets are cut (and come back) within the run.
    let header_timeout = SLOWLORIS_DEADLINE.as_secs().to_string();
    let server = ServerProcess::start_with(server_bin, &["--no-p2p", "--header-timeout-secs", &header_timeout])?;
    let addr: SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .context("the server's address")?;
    progress.say(
        "load",
        &format!("{pairs} pairs chatting through kith-server, {messages} messages each"),
    );
    let alone = runtime.block_on(chat_pairs(addr, 1, pairs, messages))?;
    progress.say("load", "the same load with the abuse mix running");
    let (under_abuse, counts) = runtime.block_on(async {
        let abuse = Abuse::start(addr, sizes).await?;
        let outcome = chat_pairs(addr, 2, pairs, messages).await;
        let counts = abuse.stop();
        Ok::<_, anyhow::Error>((outcome?, counts))
    })?;
    drop(server);
    Ok(metrics(pairs, messages, baseline, alone, under_abuse, &counts))
}

fn metrics(
    pairs: usize,
    messages: usize,
    mut baseline: Outcome,
    mut alone: Outcome,
    mut abused: Outcome,
    counts: &AbuseCounts,
) -> Vec<Metric> {
    let load = format!(
        "{pairs} pairs of signed-in devices on 127.0.0.1, each sender pushing a {MESSAGE_BYTES}-byte envelope every {} ms ({messages} each) into its log, the receiver subscribed and pulling after every poke; delivery = push sent -> entry received; baseline: the same pairs' messages bounced off a bare tokio-tungstenite echo server",
        INTERVAL.as_millis()
    );
    let abuse = format!(
        "the same load while the abuse mix runs (header deadline {} s): {counts}; without it p50 {:.2} ms, p99 {:.2} ms",
        SLOWLORIS_DEADLINE.as_secs(),
        alone.deliveries.percentile(50.0),
        alone.deliveries.percentile(99.0)
    );
    let (b50, b99) = (
        baseline.deliveries.percentile(50.0),
        baseline.deliveries.percentile(99.0),
    );
    vec![
        Metric::new(
            "server_load_p50_ms",
            "ms",
            alone.deliveries.percentile(50.0),
            Some(b50),
            Some(Budget::Below(Subject::Value, P50_BUDGET_MS)),
        )
        .note(load.clone()),
        Metric::new(
            "server_load_p99_ms",
            "ms",
            alone.deliveries.percentile(99.0),
            Some(b99),
            Some(Budget::Below(Subject::Value, P99_BUDGET_MS)),
        )
        .note(load.clone()),
        Metric::new(
            "server_load_frames_per_s",
            "frames/s",
            alone.frames_per_s(),
            Some(baseline.frames_per_s()),
            None,
        )
        .note(load),
        Metric::new(
            "server_load_errors",
            "count",
            alone.errors as f64,
            Some(baseline.errors as f64),
            Some(Budget::Below(Subject::Value, 0.5)),
        ),
        Metric::new(
            "server_abuse_p50_ms",
            "ms",
            abused.deliveries.percentile(50.0),
            Some(b50),
            Some(Budget::Below(Subject::Value, P50_BUDGET_MS)),
        )
        .note(abuse.clone()),
        Metric::new(
            "server_abuse_p99_ms",
            "ms",
            abused.deliveries.percentile(99.0),
            Some(b99),
            Some(Budget::Below(Subject::Value, P99_BUDGET_MS)),
        )
        .note(abuse.clone()),
        Metric::new(
            "server_abuse_honest_errors",
            "count",
            abused.errors as f64,
            Some(baseline.errors as f64),
            Some(Budget::Below(Subject::Value, 0.5)),
        )
        .note(abuse),
    ]
}

/// When the process's clock started, for the send times carried in the
/// messages.
fn since_start() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A message: its send time, then filler.
fn stamped() -> Vec<u8> {
    let mut body = since_start().to_be_bytes().to_vec();
    body.resize(MESSAGE_BYTES, 0x5a);
    body
}

/// How long ago the message was sent.
fn age_of(body: &[u8]) -> Option<Duration> {
    let sent = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
    Some(Duration::from_nanos(since_start().saturating_sub(sent)))
}

/// The log and capability of pair `pair` in run `phase`.
fn log_of(phase: u8, pair: usize) -> (LogId, Capability) {
    let mut id = [phase; 32];
    id[..8].copy_from_slice(&(pair as u64).to_le_bytes());
    let mut capability = id;
    capability[31] = 0xca;
    (LogId(id), Capability(capability))
}

/// Device `n` of the load's devices and the source address it connects from.
fn honest(n: usize) -> (kith_core::identity::DeviceKeys, Ipv4Addr) {
    let host = u8::try_from(1 + n / DEVICES_PER_SOURCE).unwrap_or(u8::MAX);
    (wire::device(0x10, n as u64), Ipv4Addr::new(127, 0, 3, host))
}

/// Runs `pairs` sender/receiver pairs through the server.
async fn chat_pairs(addr: SocketAddr, phase: u8, pairs: usize, messages: usize) -> Result<Outcome> {
    chat_pairs_between(&[addr], &[addr], phase, pairs, messages).await
}

/// Runs `pairs` pairs; pair `n`'s sender uses `send_to[n % len]` and its
/// receiver `receive_from[n % len]` (gateways of one service, or the same
/// server for both).
pub(super) async fn chat_pairs_between(
    send_to: &[SocketAddr],
    receive_from: &[SocketAddr],
    phase: u8,
    pairs: usize,
    messages: usize,
) -> Result<Outcome> {
    let mut receivers = Vec::with_capacity(pairs);
    for pair in 0..pairs {
        let (device, source) = honest(2 * pair + 1);
        let at = *receive_from
            .get(pair % receive_from.len().max(1))
            .context("no server to receive from")?;
        let mut ws = wire::signed_in(at, source, &device).await?;
        let (log, capability) = log_of(phase, pair);
        wire::send(&mut ws, &ClientFrame::Subscribe { log, capability }).await?;
        match wire::recv(&mut ws).await? {
            Some(ServerFrame::Subscribed { .. }) => {}
            other => anyhow::bail!("subscribing: {other:?}"),
        }
        receivers.push((ws, log, capability));
    }
    let mut sending = Vec::with_capacity(pairs);
    for pair in 0..pairs {
        let (device, source) = honest(2 * pair);
        let at = *send_to
            .get(pair % send_to.len().max(1))
            .context("no server to send to")?;
        sending.push(wire::signed_in(at, source, &device).await?);
    }
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + INTERVAL * messages as u32 + GRACE;
    let receiving: Vec<_> = receivers
        .into_iter()
        .map(|(ws, log, capability)| tokio::spawn(receive(ws, log, capability, messages, deadline)))
        .collect();
    let sending: Vec<_> = sending
        .into_iter()
        .enumerate()
        .map(|(pair, ws)| tokio::spawn(send_messages(ws, log_of(phase, pair), messages)))
        .collect();
    let mut outcome = Outcome {
        deliveries: Samples::with_capacity(pairs * messages),
        frames: 0,
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for task in sending {
        let (frames, errors) = task.await?;
        outcome.frames += frames;
        outcome.errors += errors;
    }
    for task in receiving {
        let (deliveries, frames, errors) = task.await?;
        outcome.frames += frames;
        outcome.errors += errors;
        for delivery in deliveries {
            outcome.deliveries.push(delivery);
        }
    }
    outcome.elapsed = start.elapsed();
    Ok(outcome)
}

/// One sender: a push every [`INTERVAL`], each awaited. Returns frames
/// sent and errors.
async fn send_messages(mut ws: Socket, (log, capability): (LogId, Capability), messages: usize) -> (u64, u64) {
    let mut ticks = tokio::time::interval(INTERVAL);
    let (mut frames, mut errors) = (0, 0);
    for n in 0..messages {
        ticks.tick().await;
        let push = wire::push_of(log, capability, n, stamped());
        frames += 1;
        if wire::send(&mut ws, &push).await.is_err() {
            return (frames, errors + (messages - n) as u64);
        }
        match wire::recv(&mut ws).await {
            Ok(Some(ServerFrame::Pushed { .. })) => {}
            _ => errors += 1,
        }
    }
    (frames, errors)
}

/// One receiver: pulls after every poke until it has every message or the
/// deadline passes. Returns the deliveries, frames sent and errors (an
/// error frame, or a message that never came).
async fn receive(
    mut ws: Socket,
    log: LogId,
    capability: Capability,
    messages: usize,
    deadline: tokio::time::Instant,
) -> (Vec<Duration>, u64, u64) {
    let mut deliveries = Vec::with_capacity(messages);
    let (mut frames, mut errors) = (0u64, 0u64);
    let (mut cursor, mut newest, mut pulling) = (0u64, 0u64, false);
    while deliveries.len() < messages {
        let Ok(next) = tokio::time::timeout_at(deadline, wire::recv(&mut ws)).await else {
            break;
        };
        match next {
            Ok(Some(ServerFrame::Appended { seq, .. })) => newest = newest.max(seq),
            Ok(Some(ServerFrame::Entries { entries, more, .. })) => {
                pulling = false;
                for (seq, envelope) in entries {
                    cursor = cursor.max(seq);
                    if let Some(age) = age_of(&envelope.ciphertext) {
                        deliveries.push(age);
                    }
                }
                if more {
                    newest = newest.max(cursor + 1);
                }
            }
            Ok(Some(_)) => errors += 1,
            Ok(None) | Err(_) => break,
        }
        if !pulling && newest > cursor {
            let pull = ClientFrame::Pull {
                log,
                capability,
                after_seq: cursor,
                limit: 1000,
            };
            if wire::send(&mut ws, &pull).await.is_err() {
                break;
            }
            frames += 1;
            pulling = true;
        }
    }
    errors += messages.saturating_sub(deliveries.len()) as u64;
    (deliveries, frames, errors)
}

/// The baseline: each pair's sender bounces its messages off the echo
/// server on one connection; delivery = the round trip.
async fn echo_pairs(addr: SocketAddr, pairs: usize, messages: usize) -> Result<Outcome> {
    let mut sockets = Vec::with_capacity(pairs);
    for pair in 0..pairs {
        let (_, source) = honest(2 * pair);
        sockets.push(wire::websocket(addr, source).await?);
    }
    let start = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                use futures_util::{SinkExt, StreamExt};
                let mut ticks = tokio::time::interval(INTERVAL);
                let mut out = (Vec::with_capacity(messages), 0u64, 0u64);
                for _ in 0..messages {
                    ticks.tick().await;
                    out.1 += 1;
                    if ws.send(Message::Binary(stamped().into())).await.is_err() {
                        out.2 += 1;
                        continue;
                    }
                    match ws.next().await {
                        Some(Ok(Message::Binary(body))) => out.0.extend(age_of(&body)),
                        _ => out.2 += 1,
                    }
                }
                out
            })
        })
        .collect();
    let mut outcome = Outcome {
        deliveries: Samples::with_capacity(pairs * messages),
        frames: 0,
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let (deliveries, frames, errors) = task.await?;
        outcome.frames += frames;
        outcome.errors += errors;
        for delivery in deliveries {
            outcome.deliveries.push(delivery);
        }
    }
    outcome.elapsed = start.elapsed();
    Ok(outcome)
}
