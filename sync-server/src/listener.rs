//! Accepting TCP connections: caps on open connections (in all and per
//! source address), the TLS handshake in a task of its own with a
//! deadline, and TCP_NODELAY. What comes out is a [`Stream`] that counts
//! against the caps until it is dropped (after a WebSocket upgrade too).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// How many connections may be open at once.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// In all.
    pub total: usize,
    /// From one source address (an IPv6 source counts by its /64).
    pub per_address: usize,
    /// How long a client gets to finish its TLS handshake.
    pub handshake_timeout: Duration,
}

/// Default cap on open connections: room for the 50,000 idle clients the
/// server is sized for.
pub const DEFAULT_MAX_CONNECTIONS: usize = 60_000;
/// Default cap per source address (a household or an office behind NAT).
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 256;
/// Default deadline for a TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            total: DEFAULT_MAX_CONNECTIONS,
            per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// The connections open now, in all and by source.
#[derive(Clone, Debug, Default)]
pub(crate) struct OpenConnections(Arc<Mutex<Counts>>);

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// An IPv6 client controls its whole /64: count it as one source.
pub(crate) fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

impl OpenConnections {
    /// Counts a connection from `peer` if the caps allow it.
    pub(crate) fn admit(&self, peer: &SocketAddr, limits: &ConnectionLimits) -> Option<Admitted> {
        let source = source_of(peer.ip());
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let from_source = counts.by_source.get(&source).copied().unwrap_or(0);
        if counts.total >= limits.total || from_source >= limits.per_address {
            return None;
        }
        counts.total += 1;
        counts.by_source.insert(source, from_source + 1);
        Some(Admitted {
            open: self.clone(),
            source,
        })
    }

    /// How many are open.
    pub(crate) fn total(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).total
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Admitted {
    open: OpenConnections,
    source: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self.open.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_source.remove(&self.source);
            }
        }
    }
}

/// A plain or TLS connection.
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An accepted connection that holds its place under the caps until dropped.
pub(crate) struct Stream {
    io: Io,
    _admitted: Admitted,
}

impl Stream {
    /// Sets TCP_NODELAY (small frames must not wait for Nagle's algorithm to
    /// meet the peer's delayed ACK: that alone cost ~40 ms per poke) and
    /// runs the TLS handshake when `tls` is given.
    pub(crate) async fn accept(
        tcp: TcpStream,
        admitted: Admitted,
        tls: Option<&tokio_rustls::TlsAcceptor>,
        limits: &ConnectionLimits,
    ) -> io::Result<Stream> {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY");
        }
        let io = match tls {
            None => Io::Plain(tcp),
            Some(acceptor) => match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => Io::Tls(Box::new(tls)),
                Ok(Err(err)) => return Err(err),
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
            },
        };
        Ok(Stream {
            io,
            _admitted: admitted,
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_address: usize) -> ConnectionLimits {
        ConnectionLimits {
            total,
            per_address,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    #[test]
    fn caps_count_per_source_and_in_all_and_free_on_drop() {
        let open = OpenConnections::default();
        let limits = limits(3, 2);
        let a: SocketAddr = "192.0.2.1:1000".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:1000".parse().unwrap();
        let first = open.admit(&a, &limits).unwrap();
        let _second = open.admit(&a, &limits).unwrap();
        assert!(open.admit(&a, &limits).is_none(), "two per address");
        let _third = open.admit(&b, &limits).unwrap();
        assert!(open.admit(&b, &limits).is_none(), "three in all");
        drop(first);
        assert_eq!(open.total(), 2);
        assert!(open.admit(&a, &limits).is_some());
    }

    #[test]
    fn an_ipv6_client_counts_by_its_slash_64() {
        let open = OpenConnections::default();
        let limits = limits(100, 1);
        let one: SocketAddr = "[2001:db8:1:2::1]:1".parse().unwrap();
        let same_64: SocketAddr = "[2001:db8:1:2:ffff::9]:1".parse().unwrap();
        let other_64: SocketAddr = "[2001:db8:1:3::1]:1".parse().unwrap();
        let _held = open.admit(&one, &limits).unwrap();
        assert!(open.admit(&same_64, &limits).is_none());
        assert!(open.admit(&other_64, &limits).is_some());
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:1".parse().unwrap();
        let v4: SocketAddr = "192.0.2.1:2".parse().unwrap();
        let _mapped = open.admit(&mapped, &limits).unwrap();
        assert!(
            open.admit(&v4, &limits).is_none(),
            "a mapped address is its IPv4 address"
        );
    }
}
