//! A counting TCP relay on 127.0.0.1: clients connect to it instead of the
//! server, and it forwards bytes both ways while counting them. The same
//! meter sits in front of kith-server and samod's server, so "bytes on the
//! wire" means the same thing for both (WebSocket framing included, TCP/IP
//! headers not).

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Bytes counted so far, by direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireBytes {
    /// Client -> server.
    pub up: u64,
    /// Server -> client.
    pub down: u64,
}

impl WireBytes {
    /// Both directions.
    pub fn total(self) -> u64 {
        self.up + self.down
    }

    /// What was counted since `earlier`.
    pub fn since(self, earlier: WireBytes) -> WireBytes {
        WireBytes {
            up: self.up.saturating_sub(earlier.up),
            down: self.down.saturating_sub(earlier.down),
        }
    }
}

#[derive(Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
}

/// A running meter; its accept loop runs on the current tokio runtime.
pub struct WireMeter {
    /// Where clients connect.
    pub addr: SocketAddr,
    counters: Arc<Counters>,
}

impl WireMeter {
    /// Listens on 127.0.0.1 (OS-chosen port) and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<WireMeter> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the wire meter")?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                // As the clients and servers themselves do: no Nagle delay on the extra hop.
                if client.set_nodelay(true).is_err() || server.set_nodelay(true).is_err() {
                    continue;
                }
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, shared.clone(), Direction::Up));
                tokio::spawn(pump(server_read, client_write, shared.clone(), Direction::Down));
            }
        });
        Ok(WireMeter { addr, counters })
    }

    /// The bytes forwarded so far.
    pub fn bytes(&self) -> WireBytes {
        WireBytes {
            up: self.counters.up.load(Ordering::Relaxed),
            down: self.counters.down.load(Ordering::Relaxed),
        }
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// Copies `from` to `to` until either side closes, counting what passed.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, counters: Arc<Counters>, direction: Direction) {
    let counter = match direction {
        Direction::Up => &counters.up,
        Direction::Down => &counters.down,
    };
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                counter.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
