//! The library's `serve` in-process: auth deadline and graceful shutdown.
#![warn(clippy::too_many_lines)]
#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, key};
use kith_proto::{ErrorCode, ServerFrame};
use kith_server::{AppState, Settings, SqliteStore, serve};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

async fn start(
    settings: Settings,
) -> (
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let state = AppState::new(Arc::new(store), settings);
    let handle = tokio::spawn(async move {
        serve(listener, state, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, stop, handle, dir)
}

#[tokio::test]
async fn silent_client_is_dropped_after_auth_deadline() {
    let (addr, _stop, _handle, _dir) = start(Settings {
        auth_timeout: Duration::from_millis(200),
        ..Settings::default()
    })
    .await;
    let mut client = Client::connect(&addr).await;
    match client.recv().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::Unauthenticated),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.try_recv().await, None);
}

#[tokio::test]
async fn graceful_shutdown_closes_websockets_and_returns() {
    let (addr, stop, handle, _dir) = start(Settings::default()).await;
    let mut client = Client::authed(&addr, &key(1)).await;
    client.ping(1).await;
    stop.send(()).unwrap();
    assert_eq!(client.try_recv().await, None);
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}
