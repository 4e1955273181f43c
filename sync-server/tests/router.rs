//! The router answers without a socket.

#![warn(clippy::too_many_lines)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kith_server::{AppState, Settings, SqliteStore, app};
use std::sync::Arc;
use tower::ServiceExt;

#[tokio::test]
async fn healthz_via_oneshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let router = app(AppState::new(Arc::new(store), Settings::default()));
    let response = router
        .oneshot(Request::builder().uri("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"ok");
}

#[tokio::test]
async fn websocket_route_requires_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let router = app(AppState::new(Arc::new(store), Settings::default()));
    let response = router
        .oneshot(Request::builder().uri("/v1/ws").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(response.status().is_client_error());
}
