//! What a frame handler works with: the authenticated connection ([`Conn`]),
//! its subscriptions, and running store calls off the async threads.

use crate::errors::{Closed, Refusal};
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::store::StoreError;
use axum::extract::ws::{Message, WebSocket};
use kith_proto::{Capability, DeviceId, ErrorCode, LogId, ManageKey, ServerFrame};
use std::collections::HashMap;

/// One WebSocket and the server state it serves.
pub(crate) struct Conn {
    pub(crate) socket: WebSocket,
    pub(crate) state: AppState,
    /// Where the connection comes from.
    pub(crate) peer: std::net::SocketAddr,
    /// Frames refused by the rate limit since the last one let through.
    pub(crate) limited_in_a_row: u32,
}

impl Conn {
    /// Sends `frame`; a frame too large to encode goes out as an `Internal` error.
    pub(crate) async fn send(&mut self, frame: &ServerFrame) -> Result<(), Closed> {
        let bytes = match frame.encode() {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, "cannot encode server frame");
                ServerFrame::error(ErrorCode::Internal, "response too large", true)
                    .encode()
                    .map_err(|_| Closed)?
            }
        };
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(|_| Closed)
    }

    /// Sends an `Error` frame and counts it.
    pub(crate) async fn error(
        &mut self,
        code: ErrorCode,
        message: impl Into<String>,
        retryable: bool,
    ) -> Result<(), Closed> {
        Metrics::inc(&self.state.metrics.errors);
        let message = message.into();
        tracing::debug!(?code, %message, "error frame");
        self.send(&ServerFrame::error(code, message, retryable)).await
    }

    /// Sends `refusal` as an `Error` frame.
    pub(crate) async fn refuse(&mut self, refusal: Refusal) -> Result<(), Closed> {
        self.error(refusal.code, refusal.message, refusal.retryable).await
    }

    /// Sends a close frame, ignoring a peer that already left.
    pub(crate) async fn close(mut self) {
        let _ = self.socket.send(Message::Close(None)).await;
    }
}

/// The connection's request context once authenticated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer {
    /// The authenticated device.
    pub(crate) device: DeviceId,
    /// A random id for this connection, so its own signals are not echoed back.
    pub(crate) connection: u64,
}

/// The logs one connection subscribed to: capability hash and whether that
/// capability has been checked against the log.
pub(crate) struct Subscriptions {
    logs: HashMap<LogId, ([u8; 32], bool)>,
    /// Told which logs this gateway has subscribers for (so a notifier
    /// spanning gateways listens only there).
    notifier: std::sync::Arc<dyn crate::notify::Notifier>,
}

impl Subscriptions {
    /// No subscriptions yet; `notifier` hears of each one.
    pub(crate) fn new(notifier: std::sync::Arc<dyn crate::notify::Notifier>) -> Self {
        Self {
            logs: HashMap::new(),
            notifier,
        }
    }

    /// How many logs are subscribed.
    pub(crate) fn len(&self) -> usize {
        self.logs.len()
    }

    /// Whether `log` is subscribed.
    pub(crate) fn contains(&self, log: &LogId) -> bool {
        self.logs.contains_key(log)
    }

    /// Subscribes to `log` with capability hash `hash`.
    pub(crate) fn insert(&mut self, log: LogId, hash: [u8; 32], verified: bool) {
        if self.logs.insert(log, (hash, verified)).is_none() {
            self.notifier.watch(log);
        }
    }

    /// Drops the subscription to `log`.
    pub(crate) fn remove(&mut self, log: &LogId) {
        if self.logs.remove(log).is_some() {
            self.notifier.unwatch(*log);
        }
    }

    /// Every subscribed log with its capability hash.
    pub(crate) fn logs(&self) -> Vec<(LogId, [u8; 32])> {
        self.logs.iter().map(|(log, (hash, _))| (*log, *hash)).collect()
    }

    /// Whether this connection subscribed to `log` with the right capability.
    /// A subscription made before the log existed is checked once against the
    /// capability the first push set, and dropped on a mismatch.
    pub(crate) async fn verified(&mut self, state: &AppState, log: LogId) -> bool {
        let Some(&(hash, verified)) = self.logs.get(&log) else {
            return false;
        };
        if verified {
            return true;
        }
        let store = state.store.clone();
        if blocking(move || store.last_seq(&log, &hash)).await.is_err() {
            self.remove(&log);
            return false;
        }
        self.logs.insert(log, (hash, true));
        true
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for log in self.logs.keys() {
            self.notifier.unwatch(*log);
        }
    }
}

/// The hash the store keeps for a capability.
pub(crate) fn capability_hash(capability: &Capability) -> [u8; 32] {
    *blake3::hash(&capability.0).as_bytes()
}

/// The hash the store keeps for a manage key.
pub(crate) fn manage_hash(manage: &ManageKey) -> [u8; 32] {
    *blake3::hash(&manage.0).as_bytes()
}

/// Charges `bytes` about to be served to `device` and its source address,
/// and waits until both are back within their rates (or the server shuts
/// down). Answers are delayed, never refused: a client catching up just
/// takes longer.
/// (Takes the state, not the connection, whose socket is not `Sync`.)
pub(crate) async fn pace(state: &AppState, from: std::net::SocketAddr, device: &DeviceId, bytes: usize) {
    let now = std::time::Instant::now();
    let amount = bytes as f64;
    let source = crate::listener::source_of(from.ip());
    let wait = state
        .served_by_device
        .charge(device, amount, now)
        .max(state.served_by_source.charge(&source, amount, now));
    if !wait.is_zero() {
        Metrics::inc(&state.metrics.paced);
        let shutdown = state.shutdown.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// Runs a blocking store call off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Refusal> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Refusal::from_store(&error)),
        Err(error) => {
            tracing::error!(%error, "store task failed");
            Err(Refusal::internal())
        }
    }
}
