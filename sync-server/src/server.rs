//! Running the server on a listener until a shutdown signal.

use crate::app::app;
use crate::errors::ServerError;
use crate::state::AppState;
use crate::tls::TlsListener;
use axum::serve::{Listener, ListenerExt};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long open WebSockets get to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `state` on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish and closes WebSockets.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    // Small frames (pokes, acks) must not wait for Nagle's algorithm to meet
    // the peer's delayed ACK: that alone cost ~40 ms per notification.
    let listener = listener.tap_io(|stream| {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY");
        }
    });
    serve_on(listener, state, shutdown).await
}

/// [`serve`] over TLS (`https://`, `wss://`) with `tls`'s certificate.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_on(TlsListener::new(listener, tls)?, state, shutdown).await
}

async fn serve_on<L>(
    listener: L,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError>
where
    L: Listener,
    L::Addr: std::fmt::Debug,
{
    let token = state.shutdown_token();
    let tasks = state.tasks();
    let signal_token = token.clone();
    tokio::spawn(sweep_superseded(state.clone()));
    let result = axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            tokio::select! {
                () = shutdown => {}
                () = signal_token.cancelled() => {}
            }
            tracing::info!("shutting down");
            signal_token.cancel();
        })
        .await;
    token.cancel();
    tasks.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tasks.wait()).await.is_err() {
        tracing::warn!("some connections did not close in time");
    }
    tracing::info!("stopped");
    Ok(result?)
}

/// Deletes superseded entries whose grace period has passed, every minute
/// (or every grace period, if shorter), until shutdown.
async fn sweep_superseded(state: AppState) {
    let grace = state.settings.compaction_grace;
    let every = grace.clamp(Duration::from_millis(100), Duration::from_secs(60));
    let token = state.shutdown_token();
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let cutoff = state
            .now_ms()
            .saturating_sub(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX));
        let store = state.store.clone();
        match tokio::task::spawn_blocking(move || store.sweep_superseded(cutoff)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(deleted)) => tracing::info!(deleted, "superseded entries deleted after the grace period"),
            Ok(Err(error)) => tracing::warn!(%error, "sweeping superseded entries failed"),
            Err(error) => tracing::warn!(%error, "sweep task failed"),
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
