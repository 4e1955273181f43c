//! The abuse mix that runs beside the honest load (`load.rs`), every part
//! from its own 127.0.9.x source address so the per-address caps apply to
//! it as they would to a stranger: slowloris sockets (request headers one
//! byte at a time), oversize frames, sign-ins with forged signatures, one
//! device flooding pings, and devices pulling a log of maximum-size
//! entries over and over. Each part only counts what the server did to
//! it; the honest clients' figures are the result.

use super::wire;
use crate::sizes::Sizes;
use anyhow::Result;
use kith_proto::{
    Capability, ClientFrame, Envelope, EnvelopeId, LogId, MAX_ENVELOPE_BYTES, MAX_FRAME_BYTES, ServerFrame,
};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// The log of maximum-size entries the pullers read.
const BIG_LOG: LogId = LogId([0xb1; 32]);
const BIG_CAP: Capability = Capability([0xb2; 32]);
/// Entries of [`MAX_ENVELOPE_BYTES`] in it.
const BIG_ENTRIES: usize = 60;
/// Devices pulling it at once.
const PULLERS: usize = 4;
/// Tasks signing in with forged signatures, one after another each.
const FORGERS: usize = 4;
/// Pings the flooding device sends before reading the answers.
const FLOOD_BATCH: usize = 200;

/// What the server did to the abusers.
#[derive(Debug, Default)]
pub(super) struct AbuseCounts {
    /// Slowloris sockets the server closed.
    pub slowloris_closed: AtomicU64,
    /// Oversize frames refused (`TooLarge`, or the connection closed).
    pub oversize_refused: AtomicU64,
    /// Forged sign-ins refused, and upgrades turned away (429) once the
    /// address had failed too often.
    pub forgeries_refused: AtomicU64,
    pub forgers_turned_away: AtomicU64,
    /// The flooding device's frames answered, and those rate-limited.
    pub flood_answered: AtomicU64,
    pub flood_limited: AtomicU64,
    /// Bytes of ciphertext the pullers read.
    pub pulled_bytes: AtomicU64,
}

impl fmt::Display for AbuseCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        write!(
            f,
            "{} slowloris sockets closed by the server, {} oversize frames refused, {} forged sign-ins refused and {} upgrades turned away after them, a ping flood from one device ({} answered, {} rate-limited), {PULLERS} devices pulling a log of {BIG_ENTRIES} maximum-size entries ({} MiB read)",
            get(&self.slowloris_closed),
            get(&self.oversize_refused),
            get(&self.forgeries_refused),
            get(&self.forgers_turned_away),
            get(&self.flood_answered),
            get(&self.flood_limited),
            get(&self.pulled_bytes) / (1024 * 1024),
        )
    }
}

/// The running mix.
pub(super) struct Abuse {
    counts: Arc<AbuseCounts>,
    tasks: Vec<JoinHandle<()>>,
}

impl Abuse {
    /// Fills the big log, then starts every part.
    pub(super) async fn start(addr: SocketAddr, sizes: &Sizes) -> Result<Abuse> {
        fill_big_log(addr).await?;
        let counts = Arc::new(AbuseCounts::default());
        let mut tasks = Vec::new();
        for n in 0..sizes.abuse_slowloris {
            tasks.push(tokio::spawn(slowloris(addr, n, counts.clone())));
        }
        for n in 0..FORGERS {
            tasks.push(tokio::spawn(forger(addr, n, counts.clone())));
        }
        tasks.push(tokio::spawn(oversize(addr, counts.clone())));
        tasks.push(tokio::spawn(flood(addr, counts.clone())));
        for n in 0..PULLERS {
            tasks.push(tokio::spawn(puller(addr, n, counts.clone())));
        }
        Ok(Abuse { counts, tasks })
    }

    /// Stops every part; returns the counts.
    pub(super) fn stop(self) -> Arc<AbuseCounts> {
        for task in &self.tasks {
            task.abort();
        }
        self.counts
    }
}

fn source(part: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 9, part)
}

/// A device of the abuse mix.
fn abuser(n: u64) -> kith_core::identity::DeviceKeys {
    wire::device(0xab, n)
}

async fn fill_big_log(addr: SocketAddr) -> Result<()> {
    let mut ws = wire::signed_in(addr, source(5), &abuser(1000)).await?;
    let per_push = MAX_FRAME_BYTES / (MAX_ENVELOPE_BYTES + 1024);
    let mut n = 0u64;
    while (n as usize) < BIG_ENTRIES {
        let envelopes = (0..per_push)
            .map(|_| {
                n += 1;
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&n.to_le_bytes());
                Envelope {
                    id: EnvelopeId(id),
                    epoch: 0,
                    ciphertext: vec![0xee; MAX_ENVELOPE_BYTES],
                }
            })
            .collect();
        let push = ClientFrame::Push {
            log: BIG_LOG,
            capability: BIG_CAP,
            envelopes,
        };
        wire::send(&mut ws, &push).await?;
        match wire::recv(&mut ws).await? {
            Some(ServerFrame::Pushed { .. }) => {}
            other => anyhow::bail!("filling the big log: {other:?}"),
        }
    }
    Ok(())
}

/// Opens a socket, sends the start of a request and then one header byte
/// every 500 ms until the server closes it; again.
async fn slowloris(addr: SocketAddr, n: usize, counts: Arc<AbuseCounts>) {
    let host = u8::try_from(1 + n / 200).unwrap_or(u8::MAX);
    loop {
        let Ok(mut tcp) = wire::tcp_from(addr, Ipv4Addr::new(127, 0, 8, host)).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if tcp
            .write_all(b"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .is_err()
        {
            continue;
        }
        let mut byte = [0u8; 1];
        loop {
            tokio::select! {
                read = tcp.read(&mut byte) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        break;
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    if tcp.write_all(b"a").await.is_err() {
                        break;
                    }
                }
            }
        }
        counts.slowloris_closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Signs in with a forged signature, over and over.
async fn forger(addr: SocketAddr, n: usize, counts: Arc<AbuseCounts>) {
    let device = abuser(100 + n as u64);
    loop {
        let Ok(mut ws) = wire::websocket(addr, source(1)).await else {
            counts.forgers_turned_away.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if let Ok(ServerFrame::Error { .. }) = wire::sign_in_with(&mut ws, &device, Some(vec![0; 64])).await {
            counts.forgeries_refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends frames larger than the protocol allows on a signed-in connection.
async fn oversize(addr: SocketAddr, counts: Arc<AbuseCounts>) {
    use futures_util::SinkExt;
    let device = abuser(200);
    let huge = vec![0x42u8; 2 * MAX_FRAME_BYTES];
    loop {
        let Ok(mut ws) = wire::signed_in(addr, source(2), &device).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        loop {
            if ws.send(Message::Binary(huge.clone().into())).await.is_err() {
                break;
            }
            match wire::recv(&mut ws).await {
                Ok(Some(ServerFrame::Error { .. })) => {
                    counts.oversize_refused.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    counts.oversize_refused.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

/// One device sending pings as fast as it can.
async fn flood(addr: SocketAddr, counts: Arc<AbuseCounts>) {
    let device = abuser(300);
    loop {
        let Ok(mut ws) = wire::signed_in(addr, source(3), &device).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        'connection: loop {
            for id in 0..FLOOD_BATCH as u64 {
                if wire::send(&mut ws, &ClientFrame::Ping { id }).await.is_err() {
                    break 'connection;
                }
            }
            for _ in 0..FLOOD_BATCH {
                match wire::recv(&mut ws).await {
                    Ok(Some(ServerFrame::Pong { .. })) => counts.flood_answered.fetch_add(1, Ordering::Relaxed),
                    Ok(Some(ServerFrame::Error { .. })) => counts.flood_limited.fetch_add(1, Ordering::Relaxed),
                    _ => break 'connection,
                };
            }
        }
    }
}

/// Pulls the big log from the start, over and over.
async fn puller(addr: SocketAddr, n: usize, counts: Arc<AbuseCounts>) {
    let device = abuser(400 + n as u64);
    loop {
        let Ok(mut ws) = wire::signed_in(addr, source(4), &device).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut after = 0;
        loop {
            let pull = ClientFrame::Pull {
                log: BIG_LOG,
                capability: BIG_CAP,
                after_seq: after,
                limit: 1000,
            };
            if wire::send(&mut ws, &pull).await.is_err() {
                break;
            }
            match wire::recv(&mut ws).await {
                Ok(Some(ServerFrame::Entries { entries, more, .. })) => {
                    let bytes: usize = entries.iter().map(|(_, e)| e.ciphertext.len()).sum();
                    counts.pulled_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                    after = if more {
                        entries.last().map_or(0, |(seq, _)| *seq)
                    } else {
                        0
                    };
                }
                Ok(Some(ServerFrame::Error { .. })) => tokio::time::sleep(Duration::from_millis(10)).await,
                _ => break,
            }
        }
    }
}
