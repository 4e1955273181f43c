//! The HTTP router: health, metrics, the p2p identity and the WebSocket
//! upgrade, which hands each socket to [`connection`](crate::connection).

use crate::connection;
use crate::state::{AppState, WS_READ_LIMIT};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use axum::routing::get;

/// The server's routes: `GET /healthz`, `GET /metrics`, `GET /p2p` and `GET /v1/ws`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/p2p", get(p2p_info))
        .route("/metrics", get(metrics))
        .route("/v1/ws", get(websocket))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn p2p_info(State(state): State<AppState>) -> Response {
    use axum::response::IntoResponse;
    match &state.p2p {
        Some(info) => ([(axum::http::header::CONTENT_TYPE, "application/json")], info.to_json()).into_response(),
        None => (axum::http::StatusCode::NOT_FOUND, "this server runs no p2p side").into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> String {
    state.metrics.render()
}

async fn websocket(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let tasks = state.tasks.clone();
    upgrade
        .max_message_size(WS_READ_LIMIT)
        .max_frame_size(WS_READ_LIMIT)
        .on_upgrade(move |socket| tasks.track_future(connection::run(socket, state)))
}
