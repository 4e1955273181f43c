//! `kith-bench samod-server`: samod's own WebSocket sync server (the way its
//! tests and examples serve it: axum, `AcceptorHandle::accept_axum`, the
//! default share policy, which stores every document a client sends),
//! storing on disk in a temporary directory. It prints
//! `listening on ws://ADDR/` and serves until its stdin closes, so it never
//! outlives the benchmark that started it.

use anyhow::{Context, Result, anyhow};
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::routing::get;
use samod::storage::TokioFilesystemStorage;
use samod::{PeerId, Repo};
use std::io::Write;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Runs the server until stdin reaches its end.
pub fn serve() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let data = tempfile::tempdir()?;
        let repo = Repo::build_tokio()
            .with_peer_id(PeerId::from("samod-server"))
            .with_storage(TokioFilesystemStorage::new(data.path()))
            .load()
            .await;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = samod::Url::parse(&format!("ws://{}/", listener.local_addr()?))?;
        let acceptor = repo
            .make_acceptor(url.clone())
            .map_err(|stopped| anyhow!("samod: {stopped}"))?;
        let app = Router::new().route(
            "/",
            get(move |upgrade: WebSocketUpgrade| {
                let acceptor = acceptor.clone();
                async move {
                    upgrade.on_upgrade(move |socket| async move {
                        // Only fails once the repo has stopped, at shutdown.
                        let _ = acceptor.accept_axum(socket, None);
                    })
                }
            }),
        );
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "listening on {url}")?;
            stdout.flush()?;
        }
        tokio::select! {
            served = axum::serve(listener, app) => served.context("serving")?,
            () = stdin_closed() => {}
        }
        repo.stop().await;
        Ok(())
    })
}

/// Resolves when stdin reaches its end (the parent closed it or died).
async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buffer = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buffer).await {
        if n == 0 {
            break;
        }
    }
}
