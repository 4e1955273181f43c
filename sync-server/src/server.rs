//! Running the server on a listener until a shutdown signal.

use crate::app::{PeerAddr, app};
use crate::errors::ServerError;
use crate::listener::Stream;
use crate::metrics::Metrics;
use crate::state::AppState;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How long open WebSockets get to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `state` over plain HTTP on `listener` until `shutdown` resolves,
/// then stops accepting, lets in-flight requests finish and closes
/// WebSockets.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_on(listener, None, state, shutdown).await
}

/// [`serve`] over TLS (`https://`, `wss://`) with `tls`'s certificate.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_on(listener, Some(TlsAcceptor::from(tls)), state, shutdown).await
}

/// The accept loop. Each connection runs in a task of its own: the TLS
/// handshake (with a deadline), then HTTP/1.1 with a header timeout and
/// upgrades; a connection over the caps is closed at once.
async fn serve_on(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let token = state.shutdown_token();
    let tasks = state.tasks();
    tokio::spawn(sweep_superseded(state.clone()));
    tokio::spawn(announce_gateway(state.clone()));
    if let Some(mail) = state.settings.mail.clone() {
        tokio::spawn(crate::mailer::run(state.clone(), mail));
    }
    let signal_token = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown => {}
            () = signal_token.cancelled() => {}
        }
        tracing::info!("shutting down");
        signal_token.cancel();
    });
    let router = app(state.clone());
    let limits = state.settings.connections;
    let header_timeout = state.settings.header_read_timeout;
    loop {
        let accepted = tokio::select! {
            () = token.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(%err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = state.open_connections.admit(&peer, &limits) else {
            Metrics::inc(&state.metrics.connections_refused);
            tracing::debug!(%peer, "connection over the caps closed");
            drop(tcp);
            continue;
        };
        let (tls, router, token) = (tls.clone(), router.clone(), token.clone());
        tasks.spawn(async move {
            let stream = match Stream::accept(tcp, admitted, tls.as_ref(), &limits).await {
                Ok(stream) => stream,
                Err(err) => {
                    tracing::debug!(%peer, %err, "TLS handshake failed");
                    return;
                }
            };
            serve_connection(stream, peer, router, header_timeout, token).await;
        });
    }
    tasks.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tasks.wait()).await.is_err() {
        tracing::warn!("some connections did not close in time");
    }
    tracing::info!("stopped");
    Ok(())
}

/// HTTP/1.1 on one connection, until it closes, is upgraded, or shutdown
/// asks it to finish.
async fn serve_connection(
    stream: Stream,
    peer: SocketAddr,
    router: axum::Router,
    header_timeout: Duration,
    token: tokio_util::sync::CancellationToken,
) {
    // Handlers that need the client's address (`/metrics`) find it here.
    let service = router.map_request(move |mut request: axum::http::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%peer, %err, "HTTP connection ended");
            }
        }
        () = token.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
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

/// Announces this gateway's libp2p side in the store every
/// [`crate::p2p::ANNOUNCE_EVERY`] until shutdown (when it has one), so that every
/// gateway on the database lists it.
async fn announce_gateway(state: AppState) {
    let Some(info) = state.p2p.clone() else {
        return;
    };
    let announcement = info.announcement();
    let token = state.shutdown_token();
    loop {
        let store = state.store.clone();
        let now = state.now_ms();
        let gateway = announcement.clone();
        match tokio::task::spawn_blocking(move || store.announce_gateway(&gateway, now)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "announcing this gateway failed"),
            Err(error) => tracing::warn!(%error, "announce task failed"),
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(crate::p2p::ANNOUNCE_EVERY) => {}
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
