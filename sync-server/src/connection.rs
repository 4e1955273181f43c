//! One WebSocket connection: challenge, authentication, then requests.

use crate::app::AppState;
use crate::metrics::Metrics;
use crate::notify::{Appended, BusEvent, Signal};
use crate::store::{BlobChunk, Quotas, StoreError};
use axum::extract::ws::{Message, WebSocket};
use ed25519_dalek::{Signature, VerifyingKey};
use kith_proto::{
    AUTH_MAX_SKEW_MS, Capability, ClientFrame, DeviceId, Envelope, ErrorCode, LogId, MAX_ENVELOPE_BYTES,
    MAX_ENVELOPES_PER_PUSH, MAX_FRAME_BYTES, MAX_PULL, MAX_SIGNAL_BYTES, PROTOCOL_VERSION, ServerFrame, WireError,
    auth_message,
};
use rand::RngCore;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast::error::RecvError;

/// Most subscriptions one connection may hold.
const MAX_SUBSCRIPTIONS: usize = 10_000;
/// Most frames accepted before authentication.
const MAX_PREAUTH_FRAMES: usize = 16;
/// Room left in an `Entries` frame for everything but ciphertext.
const ENTRY_OVERHEAD: usize = 64;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn blake3_hash(capability: &Capability) -> [u8; 32] {
    *blake3::hash(&capability.0).as_bytes()
}

/// Why the connection ended early.
struct Closed;

struct Conn {
    socket: WebSocket,
    state: AppState,
}

impl Conn {
    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Closed> {
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

    async fn error(&mut self, code: ErrorCode, message: impl Into<String>, retryable: bool) -> Result<(), Closed> {
        Metrics::inc(&self.state.metrics.errors);
        let message = message.into();
        tracing::debug!(?code, %message, "error frame");
        self.send(&ServerFrame::error(code, message, retryable)).await
    }

    async fn close(mut self) {
        let _ = self.socket.send(Message::Close(None)).await;
    }
}

/// Reads the next binary frame; `None` when the peer went away. Answers text
/// frames and undecodable bytes with error frames and keeps reading.
async fn next_frame(conn: &mut Conn, device: Option<&DeviceId>) -> Result<Option<ClientFrame>, Closed> {
    loop {
        let message = match conn.socket.recv().await {
            None => return Ok(None),
            Some(Err(error)) => {
                tracing::debug!(%error, "websocket read failed");
                return Ok(None);
            }
            Some(Ok(message)) => message,
        };
        if matches!(message, Message::Binary(_) | Message::Text(_)) {
            Metrics::inc(&conn.state.metrics.frames);
        }
        let data = match message {
            Message::Binary(data) => data,
            Message::Text(_) => {
                if rate_limited(conn, device).await? {
                    continue;
                }
                conn.error(ErrorCode::Malformed, "text frames are not part of the protocol", false)
                    .await?;
                continue;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return Ok(None),
        };
        if rate_limited(conn, device).await? {
            continue;
        }
        match ClientFrame::decode(&data) {
            Ok(frame) => return Ok(Some(frame)),
            Err(WireError::TooLarge { size, limit }) => {
                conn.error(
                    ErrorCode::TooLarge,
                    format!("frame of {size} bytes exceeds {limit} bytes"),
                    false,
                )
                .await?;
            }
            Err(error) => conn.error(ErrorCode::Malformed, error.to_string(), false).await?,
        }
    }
}

/// Takes a token for `device`; sends `RateLimited` and returns true when empty.
async fn rate_limited(conn: &mut Conn, device: Option<&DeviceId>) -> Result<bool, Closed> {
    let Some(device) = device else {
        return Ok(false);
    };
    if conn.state.limiter.check(device, Instant::now()) {
        return Ok(false);
    }
    Metrics::inc(&conn.state.metrics.rate_limited);
    conn.error(ErrorCode::RateLimited, "too many frames; slow down", true)
        .await?;
    Ok(true)
}

/// Serves one upgraded WebSocket until the peer leaves or the server stops.
pub(crate) async fn run(socket: WebSocket, state: AppState) {
    let metrics = state.metrics.clone();
    Metrics::inc(&metrics.connections);
    metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    run_connection(socket, state).await;
    metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
}

async fn run_connection(socket: WebSocket, state: AppState) {
    let mut conn = Conn { socket, state };
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let challenge = ServerFrame::Challenge {
        version: PROTOCOL_VERSION,
        nonce,
        server_time_ms: now_ms(),
        audience: conn.state.settings.audience.clone(),
    };
    if conn.send(&challenge).await.is_err() {
        return;
    }
    let timeout = conn.state.settings.auth_timeout;
    let device = match tokio::time::timeout(timeout, authenticate(&mut conn, &nonce)).await {
        Ok(Ok(Some(device))) => device,
        Ok(Ok(None)) | Ok(Err(Closed)) => {
            conn.close().await;
            return;
        }
        Err(_) => {
            let _ = conn
                .error(
                    ErrorCode::Unauthenticated,
                    "no authentication within the time limit",
                    false,
                )
                .await;
            conn.close().await;
            return;
        }
    };
    tracing::info!(%device, "device authenticated");
    Metrics::inc(&conn.state.metrics.authenticated);
    if serve(&mut conn, device).await.is_ok() {
        conn.close().await;
    }
    tracing::debug!(%device, "connection closed");
}

/// Waits for a valid `Auth`; `None` when the connection should close.
async fn authenticate(conn: &mut Conn, nonce: &[u8; 32]) -> Result<Option<DeviceId>, Closed> {
    for _ in 0..MAX_PREAUTH_FRAMES {
        let Some(frame) = next_frame(conn, None).await? else {
            return Ok(None);
        };
        match frame {
            ClientFrame::Hello { version } => {
                if version != PROTOCOL_VERSION {
                    conn.error(
                        ErrorCode::UnsupportedVersion,
                        format!("server speaks version {PROTOCOL_VERSION}, not {version}"),
                        false,
                    )
                    .await?;
                    return Ok(None);
                }
            }
            ClientFrame::Ping { id } => conn.send(&ServerFrame::Pong { id }).await?,
            ClientFrame::Auth {
                device,
                timestamp_ms,
                nonce: echoed,
                signature,
            } => {
                return match verify(
                    &conn.state.settings.audience,
                    nonce,
                    device,
                    timestamp_ms,
                    &echoed,
                    &signature,
                ) {
                    Ok(()) => {
                        let store = conn.state.store.clone();
                        let now = now_ms();
                        match tokio::task::spawn_blocking(move || store.record_device(&device, now)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => tracing::warn!(%error, "cannot record device"),
                            Err(error) => tracing::warn!(%error, "cannot record device"),
                        }
                        conn.send(&ServerFrame::Authenticated).await?;
                        Ok(Some(device))
                    }
                    Err(reason) => {
                        tracing::info!(%device, reason, "authentication refused");
                        conn.error(ErrorCode::Unauthenticated, reason, false).await?;
                        Ok(None)
                    }
                };
            }
            ClientFrame::Push { .. }
            | ClientFrame::Pull { .. }
            | ClientFrame::Subscribe { .. }
            | ClientFrame::Signal { .. }
            | ClientFrame::Delete { .. }
            | ClientFrame::Compact { .. }
            | ClientFrame::BlobPut { .. }
            | ClientFrame::BlobStat { .. }
            | ClientFrame::BlobGet { .. } => {
                conn.error(ErrorCode::Unauthenticated, "authenticate first", false)
                    .await?;
            }
        }
    }
    conn.error(
        ErrorCode::Unauthenticated,
        "too many frames before authentication",
        false,
    )
    .await?;
    Ok(None)
}

fn verify(
    audience: &str,
    nonce: &[u8; 32],
    device: DeviceId,
    timestamp_ms: u64,
    echoed: &[u8; 32],
    signature: &[u8],
) -> Result<(), &'static str> {
    if echoed != nonce {
        return Err("nonce does not match this connection's challenge");
    }
    if now_ms().abs_diff(timestamp_ms) > AUTH_MAX_SKEW_MS {
        return Err("timestamp is more than 5 minutes from server time");
    }
    let key = VerifyingKey::from_bytes(device.as_bytes()).map_err(|_| "device id is not an Ed25519 key")?;
    let signature = <[u8; 64]>::try_from(signature).map_err(|_| "signature must be 64 bytes")?;
    let signature = Signature::from_bytes(&signature);
    key.verify_strict(&auth_message(audience, nonce, timestamp_ms), &signature)
        .map_err(|_| "bad signature")
}

fn store_error(error: &StoreError) -> (ErrorCode, String, bool) {
    match error {
        StoreError::Forbidden | StoreError::BlobInOtherLog => (ErrorCode::Forbidden, error.to_string(), false),
        StoreError::InvalidRequest(_) => (ErrorCode::Malformed, error.to_string(), false),
        StoreError::NotFound | StoreError::BlobNotFound => (ErrorCode::NotFound, error.to_string(), false),
        // The upload is under way: asking again later may succeed.
        StoreError::BlobIncomplete { .. } => (ErrorCode::NotFound, error.to_string(), true),
        StoreError::BlobTooLarge { .. } => (ErrorCode::TooLarge, error.to_string(), false),
        StoreError::QuotaExceeded { .. } | StoreError::DeviceQuotaExceeded { .. } => {
            (ErrorCode::QuotaExceeded, error.to_string(), false)
        }
        other => {
            tracing::error!(error = %other, "store failed");
            (ErrorCode::Internal, "storage failure".to_owned(), true)
        }
    }
}

/// Runs a blocking store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, (ErrorCode, String, bool)> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(store_error(&error)),
        Err(error) => {
            tracing::error!(%error, "store task failed");
            Err((ErrorCode::Internal, "storage failure".to_owned(), true))
        }
    }
}

/// The authenticated request loop.
async fn serve(conn: &mut Conn, device: DeviceId) -> Result<(), Closed> {
    let mut pokes = conn.state.notifier.subscribe();
    let shutdown = conn.state.shutdown.clone();
    let mut subscriptions: HashMap<LogId, ([u8; 32], bool)> = HashMap::new();
    let connection = rand::rngs::OsRng.next_u64();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            frame = next_frame(conn, Some(&device)) => {
                let Some(frame) = frame? else { return Err(Closed) };
                handle(conn, frame, &mut subscriptions, connection, device).await?;
            }
            poke = pokes.recv() => match poke {
                Ok(BusEvent::Appended(Appended { log, seq })) => {
                    if verified_subscription(conn, &mut subscriptions, log).await {
                        conn.send(&ServerFrame::Appended { log, seq }).await?;
                    }
                }
                Ok(BusEvent::Signal(Signal { log, payload, from_connection })) => {
                    if from_connection != connection && verified_subscription(conn, &mut subscriptions, log).await {
                        conn.send(&ServerFrame::Signal { log, payload: payload.to_vec() }).await?;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "subscriber lagged; re-announcing subscribed logs");
                    let logs: Vec<(LogId, [u8; 32])> = subscriptions.iter().map(|(l, (h, _))| (*l, *h)).collect();
                    for (log, hash) in logs {
                        let store = conn.state.store.clone();
                        if let Ok(seq) = blocking(move || store.last_seq(&log, &hash)).await {
                            conn.send(&ServerFrame::Appended { log, seq }).await?;
                        }
                    }
                }
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}

/// Whether this connection subscribed to `log` with the right capability.
/// A subscription made before the log existed is checked once against the
/// capability the first push set, and dropped on a mismatch.
async fn verified_subscription(
    conn: &mut Conn,
    subscriptions: &mut HashMap<LogId, ([u8; 32], bool)>,
    log: LogId,
) -> bool {
    let Some(&(hash, verified)) = subscriptions.get(&log) else {
        return false;
    };
    if verified {
        return true;
    }
    let store = conn.state.store.clone();
    if blocking(move || store.last_seq(&log, &hash)).await.is_err() {
        subscriptions.remove(&log);
        return false;
    }
    subscriptions.insert(log, (hash, true));
    true
}

fn check_push(envelopes: &[Envelope]) -> Result<(), String> {
    if envelopes.len() > MAX_ENVELOPES_PER_PUSH {
        return Err(format!(
            "{} envelopes in one push; the limit is {MAX_ENVELOPES_PER_PUSH}",
            envelopes.len()
        ));
    }
    if let Some(envelope) = envelopes.iter().find(|e| e.ciphertext.len() > MAX_ENVELOPE_BYTES) {
        return Err(format!(
            "envelope of {} bytes exceeds {MAX_ENVELOPE_BYTES} bytes",
            envelope.ciphertext.len()
        ));
    }
    Ok(())
}

async fn handle(
    conn: &mut Conn,
    frame: ClientFrame,
    subscriptions: &mut HashMap<LogId, ([u8; 32], bool)>,
    connection: u64,
    device: DeviceId,
) -> Result<(), Closed> {
    match frame {
        ClientFrame::Ping { id } => conn.send(&ServerFrame::Pong { id }).await,
        ClientFrame::Hello { version } if version == PROTOCOL_VERSION => Ok(()),
        ClientFrame::Hello { version } => {
            conn.error(
                ErrorCode::UnsupportedVersion,
                format!("server speaks version {PROTOCOL_VERSION}, not {version}"),
                false,
            )
            .await
        }
        ClientFrame::Auth { .. } => conn.error(ErrorCode::Malformed, "already authenticated", false).await,
        ClientFrame::Push {
            log,
            capability,
            envelopes,
        } => {
            if let Err(message) = check_push(&envelopes) {
                return conn.error(ErrorCode::TooLarge, message, false).await;
            }
            let hash = blake3_hash(&capability);
            let store = conn.state.store.clone();
            let quotas = Quotas {
                per_log: conn.state.settings.quota_bytes,
                per_device: conn.state.settings.device_quota_bytes,
            };
            let now = now_ms();
            match blocking(move || store.append(&log, &hash, &envelopes, &device, quotas, now)).await {
                Ok(outcome) => {
                    let metrics = &conn.state.metrics;
                    metrics.bytes_stored.fetch_add(outcome.new_bytes, Ordering::Relaxed);
                    metrics
                        .envelopes_stored
                        .fetch_add(outcome.new_envelopes, Ordering::Relaxed);
                    if outcome.appended {
                        conn.state.notifier.publish(BusEvent::Appended(Appended {
                            log,
                            seq: outcome.last_seq,
                        }));
                    }
                    conn.send(&ServerFrame::Pushed {
                        log,
                        results: outcome.results,
                    })
                    .await
                }
                Err((code, message, retryable)) => conn.error(code, message, retryable).await,
            }
        }
        ClientFrame::Pull {
            log,
            capability,
            after_seq,
            limit,
        } => {
            let hash = blake3_hash(&capability);
            let store = conn.state.store.clone();
            let limit = limit.min(MAX_PULL);
            match blocking(move || store.pull(&log, &hash, after_seq, limit)).await {
                Ok(mut outcome) => {
                    Metrics::inc(&conn.state.metrics.pulls);
                    // Keep the answer within one frame; the client pulls again for the rest.
                    let mut budget = MAX_FRAME_BYTES - 1024;
                    let mut keep = 0;
                    for (_, envelope) in &outcome.entries {
                        let size = envelope.ciphertext.len() + ENTRY_OVERHEAD;
                        if size > budget {
                            break;
                        }
                        budget -= size;
                        keep += 1;
                    }
                    if keep < outcome.entries.len() {
                        outcome.entries.truncate(keep);
                        outcome.more = true;
                    }
                    conn.send(&ServerFrame::Entries {
                        log,
                        entries: outcome.entries,
                        more: outcome.more,
                    })
                    .await
                }
                Err((code, message, retryable)) => conn.error(code, message, retryable).await,
            }
        }
        ClientFrame::Signal {
            log,
            capability,
            payload,
        } => {
            if payload.len() > MAX_SIGNAL_BYTES {
                return conn
                    .error(
                        ErrorCode::TooLarge,
                        format!("signal of {} bytes exceeds {MAX_SIGNAL_BYTES} bytes", payload.len()),
                        false,
                    )
                    .await;
            }
            let hash = blake3_hash(&capability);
            let store = conn.state.store.clone();
            match blocking(move || store.last_seq(&log, &hash)).await {
                Ok(_) => {
                    Metrics::inc(&conn.state.metrics.signals);
                    // Fanned out in memory only: signals never reach the disk.
                    conn.state.notifier.publish(BusEvent::Signal(Signal {
                        log,
                        payload: Arc::new(payload),
                        from_connection: connection,
                    }));
                    conn.send(&ServerFrame::SignalSent { log }).await
                }
                Err((code, message, retryable)) => conn.error(code, message, retryable).await,
            }
        }
        ClientFrame::Compact {
            log,
            capability,
            through_seq,
        } => {
            let hash = blake3_hash(&capability);
            let store = conn.state.store.clone();
            let grace = conn.state.settings.compaction_grace;
            let now = now_ms();
            let result = blocking(move || {
                store.mark_superseded(&log, &hash, through_seq, now)?;
                // With no grace period the entries go at once.
                if grace.is_zero() {
                    store.sweep_superseded(now)?;
                }
                Ok(())
            })
            .await;
            match result {
                Ok(()) => conn.send(&ServerFrame::Compacted { log, through_seq }).await,
                Err((code, message, retryable)) => conn.error(code, message, retryable).await,
            }
        }
        ClientFrame::Delete { log, capability } => {
            let hash = blake3_hash(&capability);
            let store = conn.state.store.clone();
            match blocking(move || store.delete_log(&log, &hash)).await {
                Ok(()) => {
                    tracing::info!("log deleted");
                    Metrics::inc(&conn.state.metrics.logs_deleted);
                    subscriptions.remove(&log);
                    conn.send(&ServerFrame::Deleted { log }).await
                }
                Err((code, message, retryable)) => conn.error(code, message, retryable).await,
            }
        }
        ClientFrame::BlobPut {
            log,
            capability,
            blob,
            total_bytes,
            index,
            bytes,
        } => {
            let hash = blake3_hash(&capability);
            let store = conn.state.store.clone();
            let quotas = Quotas {
                per_log: conn.state.settings.quota_bytes,
                per_device: conn.state.settings.device_quota_bytes,
            };
            let now = now_ms();
            let result = blocking(move || {
                let chunk = BlobChunk {
                    blob,
                    total_bytes,
                    index,
                    bytes: &bytes,
                };
                store.blob_put_chunk(&log, &hash, chunk, &device, quotas, now)
            })
            .await;
            match result {
                Ok(outcome) => {
                    let metrics = &conn.state.metrics;
                    if outcome.new_chunk {
                        metrics
                            .blob_bytes_stored
                            .fetch_add(outcome.new_bytes, Ordering::Relaxed);
                        Metrics::inc(&metrics.blob_chunks_stored);
                    }
                    conn.send(&ServerFrame::BlobStored {
                        blob,
                        index,
                        complete: outcome.complete,
                    })
                    .await
                }
                Err((code, message, retryable)) => conn.error(code, message, retryable).await,
            }
        }
        ClientFrame::BlobStat { log, capability, blob } => {
            let hash = blake3_hash(&capability);
            let store = conn.state.store.clone();
            match blocking(move || store.blob_stat(&log, &hash, &blob)).await {
                Ok(info) => {
                    conn.send(&ServerFrame::BlobState {
                        blob,
                        total_bytes: info.total_bytes,
                        have: info.have,
                    })
                    .await
                }
                Err((code, message, retryable)) => conn.error(code, message, retryable).await,
            }
        }
        ClientFrame::BlobGet {
            log,
            capability,
            blob,
            index,
        } => {
            let hash = blake3_hash(&capability);
            let store = conn.state.store.clone();
            match blocking(move || store.blob_get_chunk(&log, &hash, &blob, index)).await {
                Ok(bytes) => {
                    Metrics::inc(&conn.state.metrics.blob_chunks_served);
                    conn.send(&ServerFrame::BlobChunk { blob, index, bytes }).await
                }
                Err((code, message, retryable)) => conn.error(code, message, retryable).await,
            }
        }
        ClientFrame::Subscribe { log, capability } => {
            if subscriptions.len() >= MAX_SUBSCRIPTIONS && !subscriptions.contains_key(&log) {
                return conn
                    .error(
                        ErrorCode::TooLarge,
                        format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
                        false,
                    )
                    .await;
            }
            let hash = blake3_hash(&capability);
            let store = conn.state.store.clone();
            match blocking(move || store.last_seq(&log, &hash)).await {
                Ok(last_seq) => {
                    subscriptions.insert(log, (hash, true));
                    conn.send(&ServerFrame::Subscribed { log, last_seq }).await
                }
                // A log nobody has written yet (an invite waiting for its
                // first answer): watch it; the capability is checked once it exists.
                Err((ErrorCode::NotFound, _, _)) => {
                    subscriptions.insert(log, (hash, false));
                    conn.send(&ServerFrame::Subscribed { log, last_seq: 0 }).await
                }
                Err((code, message, retryable)) => conn.error(code, message, retryable).await,
            }
        }
    }
}
