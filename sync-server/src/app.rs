//! The HTTP router: health, metrics, the p2p identity and the WebSocket
//! upgrade, which hands each socket to [`connection`](crate::connection).

use crate::connection;
use crate::state::{AppState, WS_READ_LIMIT};
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;

/// The address a request came from (the accept loop puts it into every
/// request as `ConnectInfo`).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Bytes read from a WebSocket at once.
const WS_READ_BUFFER: usize = 8 * 1024;

/// The server's routes: `GET /healthz`, `GET /metrics`, `GET /p2p` and `GET /v1/ws`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/p2p", get(p2p_info))
        .route("/metrics", get(metrics))
        .route("/v1/ws", get(websocket))
        .route("/unsubscribe", get(unsubscribe))
        .with_state(state)
}

/// `GET /unsubscribe?token=HEX`: the one-click link in an email nudge.
async fn unsubscribe(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let page = |status: StatusCode, text: &str| {
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            format!("<!doctype html><title>Kith</title><p>{text}</p>"),
        )
            .into_response()
    };
    let Some(token) = query.get("token").and_then(|t| crate::mailer::unhex16(t)) else {
        return page(StatusCode::BAD_REQUEST, "This link is not complete.");
    };
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.unsubscribe(&token)).await {
        Ok(Ok(true)) => page(
            StatusCode::OK,
            "Done: you will get no more emails from this Kith server.",
        ),
        Ok(Ok(false)) => page(
            StatusCode::OK,
            "You get no emails from this Kith server (already unsubscribed).",
        ),
        _ => page(StatusCode::SERVICE_UNAVAILABLE, "Please try again in a moment."),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn p2p_info(State(state): State<AppState>) -> Response {
    let Some(info) = state.p2p.clone() else {
        return (StatusCode::NOT_FOUND, "this server runs no p2p side").into_response();
    };
    let store = state.store.clone();
    let since = state.now_ms().saturating_sub(crate::p2p::GATEWAY_STALE_MS);
    // Without the store's answer, this gateway alone is still right.
    let others = tokio::task::spawn_blocking(move || store.gateways(since))
        .await
        .map_err(|error| error.to_string())
        .and_then(|read| read.map_err(|error| error.to_string()))
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the other gateways");
            Vec::new()
        });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        info.to_json(&others),
    )
        .into_response()
}

/// The counters, for the operator only: a bearer token when one is set,
/// else loopback clients only.
async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    if metrics_allowed(state.settings.metrics_token.as_deref(), &peer, authorization) {
        let mut text = state.metrics.render();
        text.push_str(&format!(
            "# HELP kith_tcp_connections_open connections holding a place under the caps\n# TYPE kith_tcp_connections_open gauge\nkith_tcp_connections_open {}\n",
            state.open_connections.total()
        ));
        text.into_response()
    } else {
        (
            StatusCode::FORBIDDEN,
            "metrics are for loopback clients, or with the server's --metrics-token as a bearer token",
        )
            .into_response()
    }
}

/// Whether a request from `peer` with this `Authorization` header may read
/// the metrics.
fn metrics_allowed(token: Option<&str>, peer: &SocketAddr, authorization: Option<&str>) -> bool {
    match token {
        // Hashes compare in constant time.
        Some(token) => authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|given| blake3::hash(given.as_bytes()) == blake3::hash(token.as_bytes())),
        None => peer.ip().is_loopback(),
    }
}

// The upgrade is extracted first, so a request that is no upgrade gets a
// 4xx whatever else it lacks.
async fn websocket(
    State(state): State<AppState>,
    upgrade: WebSocketUpgrade,
    ConnectInfo(PeerAddr(socket_peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
) -> Response {
    let peer = client_address(socket_peer, &headers, &state.settings.trusted_proxies);
    let source = crate::listener::source_of(peer.ip());
    if state.failed_sign_ins.in_debt(&source, std::time::Instant::now()) {
        // An address that keeps failing to sign in waits before it may try
        // again: no WebSocket, no challenge, no signature to check.
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too many failed sign-ins from this address; try again later",
        )
            .into_response();
    }
    let tasks = state.tasks.clone();
    // Most connections sit idle: tungstenite's default 128 KiB read and
    // write buffers per socket would be most of their memory. Reads grow a
    // message as it arrives; writes go out at once (every send flushes
    // anyway), and a peer that stops reading cannot queue more than a few
    // frames.
    upgrade
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(4 * kith_proto::MAX_FRAME_BYTES)
        .max_message_size(WS_READ_LIMIT)
        .max_frame_size(WS_READ_LIMIT)
        .on_upgrade(move |socket| tasks.track_future(connection::run(socket, state, peer)))
}

/// The client behind `peer`: the last `X-Forwarded-For` hop when `peer` is
/// a trusted proxy (the one the proxy itself added), else `peer`.
fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted: &[std::net::IpAddr]) -> SocketAddr {
    if !trusted.contains(&peer.ip()) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .next_back()
        .and_then(|hop| hop.trim().parse::<std::net::IpAddr>().ok())
        .map_or(peer, |ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::{client_address, metrics_allowed};
    use axum::http::HeaderMap;

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxy = "127.0.0.1:5000".parse().unwrap();
        let stranger = "198.51.100.9:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.1, 192.0.2.44".parse().unwrap());
        let trusted = ["127.0.0.1".parse().unwrap()];
        // The proxy appends the address it saw: the last hop, not the first
        // (which the client wrote itself).
        assert_eq!(
            client_address(proxy, &headers, &trusted),
            "192.0.2.44:0".parse().unwrap()
        );
        assert_eq!(client_address(stranger, &headers, &trusted), stranger);
        assert_eq!(client_address(proxy, &headers, &[]), proxy);
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(client_address(proxy, &headers, &trusted), proxy);
    }

    #[test]
    fn metrics_are_for_loopback_or_the_token_holder() {
        let (near, far) = ("127.0.0.1:9".parse().unwrap(), "192.0.2.7:9".parse().unwrap());
        assert!(metrics_allowed(None, &near, None));
        assert!(!metrics_allowed(None, &far, None));
        assert!(!metrics_allowed(None, &far, Some("Bearer anything")));
        assert!(metrics_allowed(Some("t"), &far, Some("Bearer t")));
        assert!(!metrics_allowed(Some("t"), &near, None), "a token is asked of everyone");
        assert!(!metrics_allowed(Some("t"), &near, Some("Bearer u")));
        assert!(!metrics_allowed(Some("t"), &near, Some("t")));
    }
}
