//! Memory of idle connections: N authenticated WebSocket clients held open
//! against a real `kith-server` on 127.0.0.1, beside the same N WebSockets
//! held open against a minimal tokio-tungstenite server with the same
//! buffer sizes (`kith-bench echo-idle`, a child process too): the resident
//! memory each server process gains per connection, read from /proc.
//!
//! Each connection needs a file descriptor in this process and one in the
//! server, so the open-file limit is raised first (as root also the hard
//! limit); N is capped by what the limit allows. Connections come from
//! 127.0.R.1, 127.0.R.2, ... (20,000 each, R different for each server, so
//! the first run's closed sockets waiting in TIME_WAIT take no ports from
//! the second) so that no source address runs out of ephemeral ports.

use super::wire::{self, Socket};
use crate::machine::rss_kib_of;
use crate::progress::Progress;
use crate::report::{Budget, Metric, Subject};
use crate::server::ServerProcess;
use crate::sizes::Sizes;
use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Budget: 50,000 idle clients in under 1 GiB, about 20 KiB each.
const KIB_PER_CONNECTION_BUDGET: f64 = 20.0;
/// Connections opened at once.
const AT_ONCE: usize = 200;
/// Connections from one source address.
const PER_SOURCE: usize = 20_000;
/// What the small-buffer servers read at once (kith-server's value).
const READ_BUFFER: usize = 8 * 1024;

/// Runs the idle-connection benchmark.
pub fn run(sizes: &Sizes, progress: &Progress, server_bin: &Path) -> Result<Vec<Metric>> {
    let wanted = sizes.idle_connections;
    let files = raise_open_files(wanted as u64 + 4096);
    let n = wanted.min(usize::try_from(files.saturating_sub(1024)).unwrap_or(0));
    if n == 0 {
        bail!("the open-file limit ({files}) leaves no room for idle connections");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;

    progress.say(
        "idle",
        &format!("{n} idle WebSockets against the small-buffer baseline server"),
    );
    let mut echo = EchoProcess::start()?;
    let baseline = runtime.block_on(per_connection(echo.pid(), echo.addr, n, 1, false))?;
    echo.stop();

    progress.say("idle", &format!("{n} idle authenticated clients against kith-server"));
    let n_text = n.to_string();
    let server = ServerProcess::start_with(
        server_bin,
        &[
            "--no-p2p",
            "--max-connections",
            &n_text,
            "--max-connections-per-address",
            &n_text,
            "--new-devices-per-address-per-hour",
            "1000000000",
        ],
    )?;
    let addr: SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .context("the server's address")?;
    let kith = runtime.block_on(per_connection(server.pid(), addr, n, 2, true))?;
    drop(server);

    let note = format!(
        "{n} connections held open (limit {wanted}, open files {files}); resident memory the server process gained per connection, after 2 s idle; baseline: a tokio-tungstenite server with the same 8 KiB read buffer holding {n} plain WebSockets"
    );
    Ok(vec![
        Metric::new(
            "server_idle_kib_per_connection",
            "KiB",
            kith.per_connection_kib,
            Some(baseline.per_connection_kib),
            Some(Budget::Below(Subject::Value, KIB_PER_CONNECTION_BUDGET)),
        )
        .note(note.clone()),
        Metric::new(
            "server_idle_rss_mib",
            "MiB",
            kith.total_kib as f64 / 1024.0,
            Some(baseline.total_kib as f64 / 1024.0),
            None,
        )
        .note(note),
    ])
}

/// What one server process held with the connections open.
struct Held {
    per_connection_kib: f64,
    total_kib: u64,
}

/// Opens `n` connections to `addr` from 127.0.`range`.*, measures, closes.
async fn per_connection(pid: u32, addr: SocketAddr, n: usize, range: u8, authenticate: bool) -> Result<Held> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib_of(pid).context("reading the server's memory")?;
    let mut held: Vec<Socket> = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        let batch: Vec<usize> = (next..(next + AT_ONCE).min(n)).collect();
        next += batch.len();
        let opened =
            futures_util::future::join_all(batch.into_iter().map(|i| open(addr, range, i, authenticate))).await;
        for socket in opened {
            held.push(socket?);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib_of(pid).context("reading the server's memory")?;
    drop(held);
    let gained = after.saturating_sub(before);
    Ok(Held {
        per_connection_kib: gained as f64 / n as f64,
        total_kib: after,
    })
}

/// Connection `i`, from its source address; signs in as device `i` when
/// `authenticate`.
async fn open(addr: SocketAddr, range: u8, i: usize, authenticate: bool) -> Result<Socket> {
    let host = u8::try_from(1 + i / PER_SOURCE).unwrap_or(u8::MAX);
    let source = Ipv4Addr::new(127, 0, range, host);
    if authenticate {
        wire::signed_in(addr, source, &wire::device(7, i as u64))
            .await
            .with_context(|| format!("sign-in {i}"))
    } else {
        wire::websocket(addr, source).await
    }
}

/// Raises this process's open-file limit towards `wanted` (children inherit
/// it); returns the soft limit it got.
pub(super) fn raise_open_files(wanted: u64) -> u64 {
    use rlimit::Resource;
    let (soft, hard) = Resource::NOFILE.get().unwrap_or((1024, 1024));
    if wanted > hard && Resource::NOFILE.set(wanted, wanted).is_ok() {
        return wanted;
    }
    let target = wanted.min(hard).max(soft);
    match Resource::NOFILE.set(target, hard) {
        Ok(()) => target,
        Err(_) => soft,
    }
}

/// The baseline server, run as `kith-bench echo-idle` in a child process.
pub(super) struct EchoProcess {
    child: Child,
    /// Where it listens.
    pub(super) addr: SocketAddr,
}

impl EchoProcess {
    /// Starts `kith-bench echo-idle` and waits for its address.
    pub(super) fn start() -> Result<EchoProcess> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("echo-idle")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the baseline server")?;
        let stdout = child.stdout.take().context("the baseline server's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .with_context(|| format!("the baseline server said {line:?}"))?
            .parse()?;
        Ok(EchoProcess { child, addr })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kith-bench echo-idle`: accepts WebSockets with small buffers on
/// 127.0.0.1 and echoes what they send, until killed.
pub fn echo_idle_server() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?);
        use std::io::Write;
        std::io::stdout().flush()?;
        loop {
            let (tcp, _) = listener.accept().await?;
            tokio::spawn(async move {
                let config = wire::small_buffers().read_buffer_size(READ_BUFFER);
                let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_binary() && ws.send(message).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
