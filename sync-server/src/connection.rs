//! One WebSocket connection: the socket loop (challenge, authentication,
//! then requests and pokes until the peer leaves or the server stops) and
//! the dispatch of each frame to its handler in [`handlers`](crate::handlers).

use crate::errors::Closed;
use crate::handlers::auth::{self, Preauth};
use crate::handlers::blobs::{self, Upload};
use crate::handlers::{directory, logs, manage, nudges, signals};
use crate::metrics::Metrics;
use crate::notify::BusEvent;
use crate::session::{Conn, Peer, Subscriptions};
use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket};
use kith_proto::{ClientFrame, DeviceId, ErrorCode, ServerFrame, WireError};
use rand::RngCore;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

/// Most frames accepted before authentication.
const MAX_PREAUTH_FRAMES: usize = 16;

/// Serves one upgraded WebSocket until the peer leaves or the server stops.
pub(crate) async fn run(socket: WebSocket, state: AppState, peer: std::net::SocketAddr) {
    let metrics = state.metrics.clone();
    Metrics::inc(&metrics.connections);
    metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    run_connection(socket, state, peer).await;
    metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
}

async fn run_connection(socket: WebSocket, state: AppState, peer: std::net::SocketAddr) {
    let mut conn = Conn {
        socket,
        state,
        peer,
        limited_in_a_row: 0,
    };
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let challenge = auth::Challenge::new(&conn.state, nonce);
    if conn.send(&challenge.frame(&conn.state)).await.is_err() {
        return;
    }
    let timeout = conn.state.settings.auth_timeout;
    let device = match tokio::time::timeout(timeout, authenticate(&mut conn, &challenge)).await {
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
    conn.state.device_online(device);
    let served = serve(&mut conn, device).await;
    conn.state.device_offline(device);
    // Away from now on: an email nudge counts from here.
    let (store, now) = (conn.state.store.clone(), conn.state.now_ms());
    if let Err(error) = tokio::task::spawn_blocking(move || store.touch_devices(&[device], now)).await {
        tracing::warn!(%error, "could not record when a device left");
    }
    if served.is_ok() {
        conn.close().await;
    }
    tracing::debug!(%device, "connection closed");
}

/// Waits for a valid `Auth`; `None` when the connection should close.
async fn authenticate(conn: &mut Conn, challenge: &auth::Challenge) -> Result<Option<DeviceId>, Closed> {
    for _ in 0..MAX_PREAUTH_FRAMES {
        let Some(frame) = next_frame(conn, None).await? else {
            return Ok(None);
        };
        match auth::preauth_frame(conn, frame, challenge).await? {
            Preauth::Continue => {}
            Preauth::Close => return Ok(None),
            Preauth::Authenticated(device) => return Ok(Some(device)),
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

/// Frames a connection may send into an empty rate limit, one after the
/// other, before it is closed: a client that ignores `RateLimited` would
/// otherwise keep the server busy answering it.
const MAX_LIMITED_IN_A_ROW: u32 = 100;
/// Seconds of its rate a device owes after it was closed for ignoring the
/// limit: it cannot sign in again until they are paid off.
const PENALTY_SECS: f64 = 10.0;

/// Takes a token for `device`; sends `RateLimited` and returns true when
/// empty, and closes a connection that keeps going regardless.
async fn rate_limited(conn: &mut Conn, device: Option<&DeviceId>) -> Result<bool, Closed> {
    let Some(device) = device else {
        return Ok(false);
    };
    if conn.state.limiter.check(device, Instant::now()) {
        conn.limited_in_a_row = 0;
        return Ok(false);
    }
    Metrics::inc(&conn.state.metrics.rate_limited);
    conn.limited_in_a_row += 1;
    if conn.limited_in_a_row >= MAX_LIMITED_IN_A_ROW {
        tracing::info!(%device, "closing a connection that ignores the rate limit");
        let penalty = PENALTY_SECS * conn.state.settings.rate.per_second;
        conn.state.limiter.charge(device, penalty, Instant::now());
        return Err(Closed);
    }
    conn.error(ErrorCode::RateLimited, "too many frames; slow down", true)
        .await?;
    Ok(true)
}

/// The authenticated request loop: frames from the device, pokes and
/// signals from the bus.
async fn serve(conn: &mut Conn, device: DeviceId) -> Result<(), Closed> {
    let mut pokes = conn.state.notifier.subscribe();
    let shutdown = conn.state.shutdown.clone();
    let mut subscriptions = Subscriptions::new(conn.state.notifier.clone());
    let peer = Peer {
        device,
        connection: rand::rngs::OsRng.next_u64(),
    };
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            frame = next_frame(conn, Some(&device)) => {
                let Some(frame) = frame? else { return Err(Closed) };
                dispatch(conn, peer, &mut subscriptions, frame).await?;
            }
            poke = pokes.recv() => match poke {
                Ok(BusEvent::Appended(appended)) => logs::appended(conn, &mut subscriptions, appended).await?,
                Ok(BusEvent::Signal(signal)) => signals::deliver(conn, peer, &mut subscriptions, signal).await?,
                Ok(BusEvent::Resync) => logs::reannounce(conn, &subscriptions, None).await?,
                Ok(BusEvent::Check(log)) => logs::reannounce(conn, &subscriptions, Some(log)).await?,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "subscriber lagged; re-announcing subscribed logs");
                    logs::reannounce(conn, &subscriptions, None).await?;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}

/// Hands one authenticated frame to its family's handler.
async fn dispatch(
    conn: &mut Conn,
    peer: Peer,
    subscriptions: &mut Subscriptions,
    frame: ClientFrame,
) -> Result<(), Closed> {
    match frame {
        ClientFrame::Ping { id } => conn.send(&ServerFrame::Pong { id }).await,
        ClientFrame::Hello { version } => auth::hello(conn, version).await.map(drop),
        ClientFrame::Auth { .. } => auth::already_authenticated(conn).await,
        ClientFrame::Push {
            log,
            capability,
            envelopes,
        } => logs::push(conn, peer, log, &capability, envelopes).await,
        ClientFrame::Pull {
            log,
            capability,
            after_seq,
            limit,
        } => logs::pull(conn, peer, log, &capability, after_seq, limit).await,
        ClientFrame::Subscribe { log, capability } => logs::subscribe(conn, subscriptions, log, &capability).await,
        ClientFrame::Signal {
            log,
            capability,
            payload,
        } => signals::send(conn, peer, log, &capability, payload).await,
        ClientFrame::Register {
            log,
            capability,
            manager,
        } => manage::register(conn, log, &capability, manager).await,
        ClientFrame::Compact {
            log,
            manage,
            through_seq,
        } => manage::compact(conn, log, &manage, through_seq).await,
        ClientFrame::Delete { log, manage } => manage::delete(conn, subscriptions, log, &manage).await,
        ClientFrame::BlobPut {
            log,
            capability,
            blob,
            total_bytes,
            index,
            bytes,
        } => {
            let upload = Upload {
                blob,
                total_bytes,
                index,
                bytes,
            };
            blobs::put(conn, peer, log, &capability, upload).await
        }
        ClientFrame::BlobStat { log, capability, blob } => blobs::stat(conn, log, &capability, blob).await,
        ClientFrame::BlobGet {
            log,
            capability,
            blob,
            index,
        } => blobs::get(conn, peer, log, &capability, blob, index).await,
        ClientFrame::ClaimName {
            lookup,
            record,
            manager,
        } => directory::claim_name(conn, peer, lookup, record, manager).await,
        ClientFrame::FindName { lookup } => directory::find_name(conn, peer, lookup).await,
        ClientFrame::ReleaseName { lookup, manage } => directory::release_name(conn, lookup, &manage).await,
        ClientFrame::OpenInbox { log, capability } => directory::open_inbox(conn, peer, log, &capability).await,
        ClientFrame::Request { device, envelope } => directory::request(conn, peer, device, envelope).await,
        ClientFrame::Report { device, reason } => directory::report(conn, peer, device, reason).await,
        ClientFrame::NudgeByEmail {
            address,
            after_secs,
            logs,
            renew,
        } => nudges::set(conn, peer, address, after_secs, logs, renew).await,
        ClientFrame::StopNudges => nudges::stop(conn, peer).await,
    }
}
