//! The WebSocket client of `kith-server`.
//!
//! The server answers every request frame with exactly one frame, in order
//! (`docs/protocol.md`), so answers are matched to requests first-in,
//! first-out; `Appended` notifications arrive on a separate channel.

use futures_util::{SinkExt, StreamExt};
use kith_core::identity::DeviceKeys;
use kith_proto::{
    BlobId, Capability, ClientFrame, Envelope, EnvelopeId, ErrorCode, LogId, ManageKey, PROTOCOL_VERSION, ServerFrame,
    auth_message,
};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use crate::tls::{ServerTrust, audience_matches, host_and_port, require_tls_off_loopback};

/// How long one request may wait for its answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a rate-limited request is tried again before giving up.
const RATE_LIMIT_RETRIES: usize = 8;

/// Why a relay request failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The URL is not an `http(s)://` or `ws(s)://` URL.
    #[error("unsupported server URL {0:?} (expected https://HOST[:PORT], or http://127.0.0.1:PORT for a local server)")]
    BadUrl(String),
    /// A plain `ws://` URL to another machine: capabilities would travel in
    /// the clear.
    #[error(
        "refusing the unencrypted server URL {0:?}: only a server on this machine may be reached without TLS; use https:// (wss://)"
    )]
    Insecure(String),
    /// TLS to the server failed (an untrusted or mismatched certificate, say).
    #[error("TLS with the sync server failed: {0}")]
    Tls(String),
    /// The server's challenge names another server than the one dialed: it
    /// may be passing our sign-in on.
    #[error(
        "the server at {dialed} says it is {audience:?}; refusing to sign in (a server behind a proxy or under another name needs `kith-server --audience NAME`)"
    )]
    WrongAudience {
        /// The host and port the client dialed.
        dialed: String,
        /// What the server's challenge said.
        audience: String,
    },
    /// Connecting or the WebSocket itself failed.
    #[error("connection to the sync server failed: {0}")]
    Connection(String),
    /// The server refused a request.
    #[error("server refused the request ({code:?}): {message}")]
    Server {
        /// What went wrong.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
        /// Whether the same request may succeed later.
        retryable: bool,
    },
    /// The server sent something the protocol does not allow here.
    #[error("protocol violation by the server: {0}")]
    Protocol(String),
    /// The connection closed or the answer did not come in time.
    #[error("the connection to the sync server closed")]
    Closed,
}

impl NetError {
    /// Whether trying again later may succeed (network trouble, rate limits).
    pub fn is_transient(&self) -> bool {
        match self {
            NetError::Connection(_) | NetError::Closed => true,
            NetError::Server { retryable, .. } => *retryable,
            NetError::BadUrl(_)
            | NetError::Insecure(_)
            | NetError::Tls(_)
            | NetError::WrongAudience { .. }
            | NetError::Protocol(_) => false,
        }
    }
}

/// The WebSocket URL for a server given as `http://HOST:PORT` (what
/// `kith-server` prints) or as a `ws://` URL.
pub fn ws_url(server: &str) -> Result<String, NetError> {
    let trimmed = server.trim_end_matches('/');
    let base = if let Some(rest) = trimmed.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = trimmed.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if trimmed.starts_with("ws://") || trimmed.starts_with("wss://") {
        trimmed.to_owned()
    } else {
        return Err(NetError::BadUrl(server.to_owned()));
    };
    if base.ends_with("/v1/ws") {
        Ok(base)
    } else {
        Ok(format!("{base}/v1/ws"))
    }
}

/// Something the server sent without being asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A subscribed log grew.
    Appended {
        /// The log.
        log: LogId,
        /// Its new last sequence number.
        seq: u64,
    },
    /// An ephemeral signal on a subscribed log.
    Signal {
        /// The log.
        log: LogId,
        /// The opaque payload.
        payload: Vec<u8>,
    },
}

struct Request {
    frame: ClientFrame,
    answer: oneshot::Sender<Result<ServerFrame, NetError>>,
}

/// One authenticated connection to the sync server.
#[derive(Debug)]
pub struct RelayConnection {
    requests: mpsc::Sender<Request>,
    appended: mpsc::UnboundedReceiver<(LogId, u64)>,
    signals: mpsc::Receiver<(LogId, Vec<u8>)>,
}

impl RelayConnection {
    /// Connects and authenticates as `device`, trusting only the
    /// platform's root certificates.
    pub async fn connect(server: &str, device: &DeviceKeys) -> Result<RelayConnection, NetError> {
        Self::connect_with(server, &ServerTrust::platform(), device).await
    }

    /// Connects and authenticates as `device`; a `wss://` server's
    /// certificate must chain to the platform's roots or to `trust`'s
    /// pinned certificates, and the server must name itself as the host
    /// dialed (so it cannot pass our sign-in on to another server). The
    /// device signs the server's challenge time, so its own clock does not
    /// matter.
    pub async fn connect_with(
        server: &str,
        trust: &ServerTrust,
        device: &DeviceKeys,
    ) -> Result<RelayConnection, NetError> {
        let url = ws_url(server)?;
        require_tls_off_loopback(&url)?;
        let (host, port) = host_and_port(&url).ok_or_else(|| NetError::BadUrl(server.to_owned()))?;
        let connector = if url.starts_with("wss://") {
            Some(tokio_tungstenite::Connector::Rustls(trust.client_config()?))
        } else {
            None
        };
        // TCP_NODELAY: requests are small frames that must not wait for Nagle.
        let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(url.as_str(), None, true, connector)
            .await
            .map_err(|err| match err {
                tokio_tungstenite::tungstenite::Error::Tls(err) => trust.explain(&err.to_string()),
                // tokio-rustls reports a refused handshake as an I/O error.
                tokio_tungstenite::tungstenite::Error::Io(io)
                    if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) =>
                {
                    trust.explain(&io.to_string())
                }
                other => NetError::Connection(other.to_string()),
            })?;
        let challenge = read_frame(&mut socket).await?;
        let ServerFrame::Challenge {
            version,
            nonce,
            audience,
            server_time_ms,
        } = challenge
        else {
            return Err(NetError::Protocol(format!("expected a challenge, got {challenge:?}")));
        };
        if version != PROTOCOL_VERSION {
            return Err(NetError::Protocol(format!(
                "server speaks protocol {version}, this client {PROTOCOL_VERSION}"
            )));
        }
        if !audience_matches(&host, port, &audience) {
            return Err(NetError::WrongAudience {
                dialed: format!("{host}:{port}"),
                audience,
            });
        }
        let signature = device.sign(&auth_message(&audience, &nonce, server_time_ms)).to_vec();
        let auth = ClientFrame::Auth {
            device: device.id(),
            timestamp_ms: server_time_ms,
            nonce,
            signature,
        };
        send_frame(&mut socket, &auth).await?;
        match read_frame(&mut socket).await? {
            ServerFrame::Authenticated => {}
            ServerFrame::Error {
                code,
                message,
                retryable,
            } => {
                return Err(NetError::Server {
                    code,
                    message,
                    retryable,
                });
            }
            other => return Err(NetError::Protocol(format!("expected authentication, got {other:?}"))),
        }
        let (requests, request_rx) = mpsc::channel(64);
        let (appended_tx, appended) = mpsc::unbounded_channel();
        // Signals are ephemeral: when nobody reads them, newer ones are dropped.
        let (signals_tx, signals) = mpsc::channel(256);
        tokio::spawn(drive(socket, request_rx, appended_tx, signals_tx));
        Ok(RelayConnection {
            requests,
            appended,
            signals,
        })
    }

    /// Sends one request and waits for its answer. A `RateLimited` answer is
    /// retried after a growing pause (the server's token bucket refills).
    async fn request(&self, frame: ClientFrame) -> Result<ServerFrame, NetError> {
        let mut pause = Duration::from_millis(50);
        for _ in 0..RATE_LIMIT_RETRIES {
            let answer = self.request_once(frame.clone()).await?;
            if let ServerFrame::Error {
                code: ErrorCode::RateLimited,
                ..
            } = answer
            {
                tracing::debug!(?pause, "rate limited by the sync server");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
            return Ok(answer);
        }
        self.request_once(frame).await
    }

    async fn request_once(&self, frame: ClientFrame) -> Result<ServerFrame, NetError> {
        let (answer, wait) = oneshot::channel();
        self.requests
            .send(Request { frame, answer })
            .await
            .map_err(|_| NetError::Closed)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, wait).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => Err(NetError::Closed),
        }
    }

    /// Appends envelopes to a log; returns each envelope's sequence number.
    pub async fn push(
        &self,
        log: LogId,
        capability: Capability,
        envelopes: Vec<Envelope>,
    ) -> Result<Vec<(EnvelopeId, u64)>, NetError> {
        match self
            .request(ClientFrame::Push {
                log,
                capability,
                envelopes,
            })
            .await?
        {
            ServerFrame::Pushed { results, .. } => Ok(results),
            other => Err(unexpected(other)),
        }
    }

    /// Entries after `after_seq`, and whether more follow. A log nobody has
    /// written yet reads as empty.
    pub async fn pull(
        &self,
        log: LogId,
        capability: Capability,
        after_seq: u64,
        limit: u32,
    ) -> Result<(Vec<(u64, Envelope)>, bool), NetError> {
        let answer = self
            .request(ClientFrame::Pull {
                log,
                capability,
                after_seq,
                limit,
            })
            .await?;
        match answer {
            ServerFrame::Entries { entries, more, .. } => Ok((entries, more)),
            ServerFrame::Error {
                code: ErrorCode::NotFound,
                ..
            } => Ok((Vec::new(), false)),
            other => Err(unexpected(other)),
        }
    }

    /// Asks for `Appended` notifications of a log; returns its last sequence
    /// number (0 for a log nobody has written yet).
    pub async fn subscribe(&self, log: LogId, capability: Capability) -> Result<u64, NetError> {
        match self.request(ClientFrame::Subscribe { log, capability }).await? {
            ServerFrame::Subscribed { last_seq, .. } => Ok(last_seq),
            other => Err(unexpected(other)),
        }
    }

    /// Registers `manager` (the hash of the log's manage key) for a log,
    /// creating it if it does not exist. Returns whether it is ours: `false`
    /// when another manager registered first.
    pub async fn register(&self, log: LogId, capability: Capability, manager: [u8; 32]) -> Result<bool, NetError> {
        match self
            .request(ClientFrame::Register {
                log,
                capability,
                manager,
            })
            .await?
        {
            ServerFrame::Registered { .. } => Ok(true),
            ServerFrame::Error {
                code: ErrorCode::Forbidden,
                ..
            } => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// Claims a username by its lookup (see [`kith_proto::Username`]) with
    /// a sealed record; `Taken` and `Suspended` come back as
    /// [`NetError::Server`].
    pub async fn claim_name(&self, lookup: [u8; 32], record: Vec<u8>, manager: [u8; 32]) -> Result<(), NetError> {
        match self
            .request(ClientFrame::ClaimName {
                lookup,
                record,
                manager,
            })
            .await?
        {
            ServerFrame::NameClaimed { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The sealed record of a username, or `None` when nobody holds it.
    pub async fn find_name(&self, lookup: [u8; 32]) -> Result<Option<Vec<u8>>, NetError> {
        match self.request(ClientFrame::FindName { lookup }).await? {
            ServerFrame::NameFound { record, .. } => Ok(Some(record)),
            ServerFrame::Error {
                code: ErrorCode::NotFound,
                ..
            } => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Gives a username up with its manage key.
    pub async fn release_name(&self, lookup: [u8; 32], manage: ManageKey) -> Result<(), NetError> {
        match self.request(ClientFrame::ReleaseName { lookup, manage }).await? {
            ServerFrame::NameReleased { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Makes `log` this device's request inbox.
    pub async fn open_inbox(&self, log: LogId, capability: Capability) -> Result<(), NetError> {
        match self.request(ClientFrame::OpenInbox { log, capability }).await? {
            ServerFrame::InboxOpened { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Leaves a sealed message request in `device`'s inbox.
    pub async fn post_request(&self, device: kith_proto::DeviceId, envelope: Envelope) -> Result<(), NetError> {
        match self.request(ClientFrame::Request { device, envelope }).await? {
            ServerFrame::RequestPosted { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Reports `device` to the server's operator, with a reason.
    pub async fn report(&self, device: kith_proto::DeviceId, reason: String) -> Result<(), NetError> {
        match self.request(ClientFrame::Report { device, reason }).await? {
            ServerFrame::Reported => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Asks for an email nudge to `address` after `after_secs` away, for new
    /// entries in `logs`; returns the absence the server will apply, or
    /// `None` when `renew` found no registration (it was unsubscribed).
    pub async fn nudge_by_email(
        &self,
        address: String,
        after_secs: u64,
        logs: Vec<LogId>,
        renew: bool,
    ) -> Result<Option<u64>, NetError> {
        match self
            .request(ClientFrame::NudgeByEmail {
                address,
                after_secs,
                logs,
                renew,
            })
            .await?
        {
            ServerFrame::NudgeSet { after_secs } => Ok(Some(after_secs)),
            ServerFrame::NudgesStopped { .. } => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// No more email nudges for this device; returns whether one was set.
    pub async fn stop_nudges(&self) -> Result<bool, NetError> {
        match self.request(ClientFrame::StopNudges).await? {
            ServerFrame::NudgesStopped { was_set } => Ok(was_set),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes a log and everything in it, with its manage key. A log that
    /// does not exist counts as deleted.
    pub async fn delete(&self, log: LogId, manage: ManageKey) -> Result<(), NetError> {
        match self.request(ClientFrame::Delete { log, manage }).await? {
            ServerFrame::Deleted { .. }
            | ServerFrame::Error {
                code: ErrorCode::NotFound,
                ..
            } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Marks every entry up to `through_seq` superseded (after pushing a
    /// snapshot that covers them), with the log's manage key.
    pub async fn compact(&self, log: LogId, manage: ManageKey, through_seq: u64) -> Result<(), NetError> {
        match self
            .request(ClientFrame::Compact {
                log,
                manage,
                through_seq,
            })
            .await?
        {
            ServerFrame::Compacted { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Sends an ephemeral signal to the log's other subscribers (never stored).
    pub async fn signal(&self, log: LogId, capability: Capability, payload: Vec<u8>) -> Result<(), NetError> {
        match self
            .request(ClientFrame::Signal {
                log,
                capability,
                payload,
            })
            .await?
        {
            ServerFrame::SignalSent { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Uploads chunk `index` of an encrypted blob kept with `log` (which must
    /// exist; its capability guards the blob). `bytes` is the chunk's
    /// ciphertext, exactly [`kith_proto::blob_chunk_len`]`(total_bytes, index)`
    /// long; `total_bytes` is the whole blob's ciphertext size, at most
    /// [`kith_proto::MAX_BLOB_BYTES`]. Chunks may be sent in any order, and a
    /// chunk the server already holds is accepted again without being stored
    /// twice, so an interrupted upload resumes with the chunks
    /// [`RelayConnection::blob_stat`] does not list. Returns whether every
    /// chunk of the blob is now stored.
    pub async fn blob_put(
        &self,
        log: LogId,
        capability: Capability,
        blob: BlobId,
        total_bytes: u64,
        index: u32,
        bytes: Vec<u8>,
    ) -> Result<bool, NetError> {
        match self
            .request(ClientFrame::BlobPut {
                log,
                capability,
                blob,
                total_bytes,
                index,
                bytes,
            })
            .await?
        {
            ServerFrame::BlobStored {
                blob: stored,
                index: stored_index,
                complete,
            } if stored == blob && stored_index == index => Ok(complete),
            other => Err(unexpected(other)),
        }
    }

    /// The blob's whole ciphertext size and the indices of the chunks the
    /// server holds, ascending; `None` when `log` holds no such blob (or the
    /// log does not exist). The blob can be downloaded once every chunk is
    /// listed.
    pub async fn blob_stat(
        &self,
        log: LogId,
        capability: Capability,
        blob: BlobId,
    ) -> Result<Option<(u64, Vec<u32>)>, NetError> {
        match self.request(ClientFrame::BlobStat { log, capability, blob }).await? {
            ServerFrame::BlobState {
                blob: stated,
                total_bytes,
                have,
            } if stated == blob => Ok(Some((total_bytes, have))),
            ServerFrame::Error {
                code: ErrorCode::NotFound,
                ..
            } => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// The ciphertext of chunk `index` of a complete blob. While chunks are
    /// still missing the server refuses with a retryable `NotFound`
    /// ([`NetError::is_transient`]).
    pub async fn blob_get(
        &self,
        log: LogId,
        capability: Capability,
        blob: BlobId,
        index: u32,
    ) -> Result<Vec<u8>, NetError> {
        match self
            .request(ClientFrame::BlobGet {
                log,
                capability,
                blob,
                index,
            })
            .await?
        {
            ServerFrame::BlobChunk {
                blob: sent,
                index: sent_index,
                bytes,
            } if sent == blob && sent_index == index => Ok(bytes),
            other => Err(unexpected(other)),
        }
    }

    /// The next ephemeral signal from another connection; `None` once closed.
    pub async fn next_signal(&mut self) -> Option<(LogId, Vec<u8>)> {
        self.signals.recv().await
    }

    /// The next poke or signal, whichever comes first; `None` once closed.
    pub async fn next_notification(&mut self) -> Option<Notification> {
        tokio::select! {
            poke = self.appended.recv() => poke.map(|(log, seq)| Notification::Appended { log, seq }),
            signal = self.signals.recv() => signal.map(|(log, payload)| Notification::Signal { log, payload }),
        }
    }

    /// Round trip to the server.
    pub async fn ping(&self, id: u64) -> Result<(), NetError> {
        match self.request(ClientFrame::Ping { id }).await? {
            ServerFrame::Pong { id: echoed } if echoed == id => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The next `Appended` notification; `None` once the connection closed.
    pub async fn next_appended(&mut self) -> Option<(LogId, u64)> {
        self.appended.recv().await
    }

    /// An `Appended` notification if one is waiting.
    pub fn try_appended(&mut self) -> Option<(LogId, u64)> {
        self.appended.try_recv().ok()
    }
}

fn unexpected(frame: ServerFrame) -> NetError {
    match frame {
        ServerFrame::Error {
            code,
            message,
            retryable,
        } => NetError::Server {
            code,
            message,
            retryable,
        },
        other => NetError::Protocol(format!("unexpected answer {other:?}")),
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send_frame(socket: &mut Socket, frame: &ClientFrame) -> Result<(), NetError> {
    let bytes = frame.encode().map_err(|err| NetError::Protocol(err.to_string()))?;
    socket
        .send(Message::Binary(bytes.into()))
        .await
        .map_err(|err| NetError::Connection(err.to_string()))
}

async fn read_frame(socket: &mut Socket) -> Result<ServerFrame, NetError> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                return ServerFrame::decode(&bytes).map_err(|err| NetError::Protocol(err.to_string()));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Text(_))) => return Err(NetError::Protocol("text frame from the server".into())),
            Some(Ok(Message::Close(_))) | None => return Err(NetError::Closed),
            Some(Err(err)) => return Err(NetError::Connection(err.to_string())),
        }
    }
}

/// Owns the socket: sends requests, routes answers and notifications.
async fn drive(
    mut socket: Socket,
    mut requests: mpsc::Receiver<Request>,
    appended: mpsc::UnboundedSender<(LogId, u64)>,
    signals: mpsc::Sender<(LogId, Vec<u8>)>,
) {
    let mut waiting: VecDeque<oneshot::Sender<Result<ServerFrame, NetError>>> = VecDeque::new();
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { break };
                match send_frame(&mut socket, &request.frame).await {
                    Ok(()) => waiting.push_back(request.answer),
                    Err(err) => {
                        let _ = request.answer.send(Err(err));
                        break;
                    }
                }
            }
            frame = read_frame(&mut socket) => {
                match frame {
                    Ok(ServerFrame::Appended { log, seq }) => {
                        let _ = appended.send((log, seq));
                    }
                    Ok(ServerFrame::Signal { log, payload }) => {
                        let _ = signals.try_send((log, payload));
                    }
                    Ok(frame) => match waiting.pop_front() {
                        Some(answer) => {
                            let _ = answer.send(Ok(frame));
                        }
                        None => tracing::warn!(?frame, "unsolicited frame from the sync server"),
                    },
                    Err(err) => {
                        tracing::debug!(%err, "relay connection ended");
                        break;
                    }
                }
            }
        }
    }
    for answer in waiting {
        let _ = answer.send(Err(NetError::Closed));
    }
    let _ = socket.close(None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_become_websocket_urls() {
        assert_eq!(
            ws_url("http://127.0.0.1:9").ok().as_deref(),
            Some("ws://127.0.0.1:9/v1/ws")
        );
        assert_eq!(ws_url("ws://h:1/").ok().as_deref(), Some("ws://h:1/v1/ws"));
        assert_eq!(ws_url("https://h").ok().as_deref(), Some("wss://h/v1/ws"));
        assert!(matches!(ws_url("ftp://h"), Err(NetError::BadUrl(_))));
    }
}
