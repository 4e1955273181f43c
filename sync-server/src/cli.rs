//! Command line of the `kith-server` binary.

use crate::errors::ServerError;
use crate::rate::RateConfig;
use crate::server::{serve, serve_tls, shutdown_signal};
use crate::state::{
    AUTH_TIMEOUT, AppState, DEFAULT_COMPACTION_GRACE, DEFAULT_DEVICE_QUOTA_BYTES, DEFAULT_QUOTA_BYTES, Settings,
};
use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Kith sync server: stores and forwards encrypted envelopes.
#[derive(Debug, Parser)]
#[command(name = "kith-server", version)]
pub struct Args {
    /// Directory for the database (created if missing).
    #[arg(long, env = "KITH_SERVER_DATA")]
    pub data: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// The name clients must find in the challenge they sign: the host (or
    /// host:port) they dial, e.g. `kith.example.org`, so a server cannot
    /// pass a client's sign-in on to another (default: the address it
    /// listens on).
    #[arg(long)]
    pub audience: Option<String>,
    /// Frames per second each device may send, sustained.
    #[arg(long, default_value_t = 200.0)]
    pub rate_per_sec: f64,
    /// Largest burst of frames per device.
    #[arg(long, default_value_t = 400.0)]
    pub rate_burst: f64,
    /// Per-log storage quota in bytes of ciphertext.
    #[arg(long, default_value_t = DEFAULT_QUOTA_BYTES)]
    pub quota_bytes: u64,
    /// Per-device write budget in bytes of ciphertext (the server knows
    /// devices, not accounts).
    #[arg(long, default_value_t = DEFAULT_DEVICE_QUOTA_BYTES)]
    pub device_quota_bytes: u64,
    /// Seconds superseded entries are kept after a compaction (0: delete at once).
    #[arg(long, default_value_t = DEFAULT_COMPACTION_GRACE.as_secs())]
    pub compaction_grace_secs: u64,
    /// Where the libp2p side (rendezvous, circuit relay, AutoNAT) listens
    /// (default: the HTTP address's IP, TCP, any port).
    #[arg(long)]
    pub p2p_listen: Option<String>,
    /// The bearer token `GET /metrics` asks for (`Authorization: Bearer
    /// TOKEN`); without one, metrics are served to loopback clients only.
    #[arg(long, env = "KITH_METRICS_TOKEN")]
    pub metrics_token: Option<String>,
    /// Most connections open at once.
    #[arg(long, default_value_t = crate::listener::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Most connections open at once from one source address (an IPv6
    /// client counts by its /64).
    #[arg(long, default_value_t = crate::listener::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)]
    pub max_connections_per_address: usize,
    /// Seconds a client gets to send a request's headers, or to finish its
    /// TLS handshake.
    #[arg(long, default_value_t = crate::state::HEADER_READ_TIMEOUT.as_secs())]
    pub header_timeout_secs: u64,
    /// Seconds a new WebSocket gets to authenticate.
    #[arg(long, default_value_t = AUTH_TIMEOUT.as_secs())]
    pub auth_timeout_secs: u64,
    /// New device keys one source address may sign in with per hour.
    #[arg(long, default_value_t = crate::state::DEFAULT_NEW_DEVICES_PER_ADDRESS_PER_HOUR)]
    pub new_devices_per_address_per_hour: f64,
    /// Bytes of stored data served to one device per second on average
    /// (pulls and blob chunks; twice that per source address). Past it,
    /// answers are delayed, not refused.
    #[arg(long, default_value_t = crate::state::DEFAULT_SERVE_BYTES_PER_SEC)]
    pub serve_bytes_per_sec: f64,
    /// Username lookups (and claims) one device may make per hour; four
    /// times as many per source address.
    #[arg(long, default_value_t = crate::state::DEFAULT_LOOKUPS_PER_HOUR)]
    pub lookups_per_hour: f64,
    /// Message requests and abuse reports one device may send per hour;
    /// four times as many per source address.
    #[arg(long, default_value_t = crate::state::DEFAULT_REQUESTS_PER_HOUR)]
    pub requests_per_hour: f64,
    /// Send email nudges through this SMTP server (`HOST:PORT`, plain
    /// SMTP: a relay on this machine or network). Without it, no email.
    #[arg(long, value_name = "HOST:PORT", requires = "smtp_from")]
    pub smtp: Option<String>,
    /// The sender address of email nudges.
    #[arg(long, value_name = "ADDRESS")]
    pub smtp_from: Option<String>,
    /// The URL people reach this server at, for the unsubscribe link in
    /// nudges (default: the address it listens on).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Seconds between looks for devices to nudge.
    #[arg(long, default_value_t = 30)]
    pub nudge_check_secs: u64,
    /// The shortest absence a device may ask to be nudged after, in seconds.
    #[arg(long, default_value_t = 600)]
    pub min_nudge_after_secs: u64,
    /// Keep the logs in this PostgreSQL database
    /// (`postgres://USER@HOST:PORT/DB`) instead of SQLite in --data, so
    /// several gateways can share them.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// Carry pokes and ephemeral signals between gateways over this NATS
    /// server (`nats://HOST:PORT`), one subject per log.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// A reverse proxy in front of this server (repeatable): for WebSockets
    /// it forwards, the client's address is the last one in its
    /// `X-Forwarded-For` header, so per-address limits apply per client,
    /// not to the proxy as a whole. Requests from other addresses are
    /// judged by their own address whatever their headers say.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Run no libp2p side.
    #[arg(long, conflicts_with = "p2p_listen")]
    pub no_p2p: bool,
    /// Serve https:// and wss:// with this PEM certificate chain (with
    /// --tls-key). Without it the server speaks plain HTTP, for loopback or
    /// behind a TLS-terminating reverse proxy.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Instead of serving: an operator's command on this server's data.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `kith-server` does besides serving.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Operator tools on the server's database (--data or --database); safe
    /// while the server runs.
    #[command(subcommand)]
    Admin(crate::admin::AdminCommand),
}

/// Parses the command line, runs the server, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Admin(command)) = &args.command {
        return crate::admin::main(args.database.as_deref(), &args.data, command);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kith-server: cannot start runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kith-server: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The email settings `--smtp` and its friends give, if any.
fn mail_settings(args: &Args, addr: SocketAddr, tls: bool) -> Result<Option<crate::state::MailSettings>, ServerError> {
    let (Some(smtp), Some(from)) = (&args.smtp, &args.smtp_from) else {
        return Ok(None);
    };
    let bad = |why: String| ServerError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
    let (host, port) = smtp
        .rsplit_once(':')
        .ok_or_else(|| bad(format!("--smtp {smtp:?}: expected HOST:PORT")))?;
    let port = port
        .parse()
        .map_err(|_| bad(format!("--smtp {smtp:?}: {port:?} is not a port")))?;
    if !crate::mailer::valid_address(from) {
        return Err(bad(format!("--smtp-from {from:?} is not an email address")));
    }
    let scheme = if tls { "https" } else { "http" };
    Ok(Some(crate::state::MailSettings {
        smtp_host: host.to_owned(),
        smtp_port: port,
        from: from.clone(),
        public_url: args.public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}")),
        check_every: std::time::Duration::from_secs(args.nudge_check_secs.max(1)),
        min_after: std::time::Duration::from_secs(args.min_nudge_after_secs),
    }))
}

/// Opens the store, binds, prints `listening on http://ADDR` and serves until SIGTERM/SIGINT.
pub async fn run(args: Args) -> Result<(), ServerError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
        _ => None,
    };
    let store = {
        let (database, data) = (args.database.clone(), args.data.clone());
        // The store blocks while it connects; not on an async thread.
        tokio::task::spawn_blocking(move || crate::backend::open_store(database.as_deref(), &data))
            .await
            .map_err(|error| ServerError::Io(std::io::Error::other(error)))??
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    if args.audience.is_none() && addr.ip().is_unspecified() {
        tracing::warn!(%addr, "listening on every interface without --audience: clients dialing this server by name will refuse to sign in; pass --audience NAME");
    }
    let mail = mail_settings(&args, addr, tls.is_some())?;
    let settings = Settings {
        audience: args.audience.unwrap_or_else(|| addr.to_string()),
        rate: RateConfig {
            per_second: args.rate_per_sec,
            burst: args.rate_burst,
        },
        quota_bytes: args.quota_bytes,
        device_quota_bytes: args.device_quota_bytes,
        compaction_grace: std::time::Duration::from_secs(args.compaction_grace_secs),
        auth_timeout: std::time::Duration::from_secs(args.auth_timeout_secs),
        metrics_token: args.metrics_token,
        connections: crate::listener::ConnectionLimits {
            total: args.max_connections,
            per_address: args.max_connections_per_address,
            handshake_timeout: std::time::Duration::from_secs(args.header_timeout_secs),
        },
        header_read_timeout: std::time::Duration::from_secs(args.header_timeout_secs),
        new_devices_per_address_per_hour: args.new_devices_per_address_per_hour,
        serve_bytes_per_sec: args.serve_bytes_per_sec,
        trusted_proxies: args.trusted_proxies,
        lookups_per_hour: args.lookups_per_hour,
        requests_per_hour: args.requests_per_hour,
        mail,
    };
    let mut state = match &args.nats {
        Some(url) => {
            let notifier = crate::nats::NatsNotifier::connect(url).await?;
            AppState::with_notifier(store, Arc::new(notifier), settings)
        }
        None => AppState::new(store, settings),
    };
    let mut p2p_line = None;
    if !args.no_p2p {
        let listen = match &args.p2p_listen {
            Some(listen) => listen.clone(),
            None => match addr.ip() {
                std::net::IpAddr::V4(ip) => format!("/ip4/{ip}/tcp/0"),
                std::net::IpAddr::V6(ip) => format!("/ip6/{ip}/tcp/0"),
            },
        };
        let listen = listen
            .parse()
            .map_err(|err| ServerError::P2p(format!("{listen:?} is not a multiaddr: {err}")))?;
        let info = crate::p2p::start(&args.data, listen).await?;
        p2p_line = Some(
            info.addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        );
        state = state.with_p2p(info);
    }
    tracing::info!(%addr, data = %args.data.display(), "kith-server started");
    // One write: whoever reads the first line may close the pipe after it.
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut banner = format!("listening on {scheme}://{addr}\n");
    if let Some(line) = p2p_line {
        banner.push_str(&format!("p2p on {line}\n"));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(banner.as_bytes())?;
    stdout.flush()?;
    drop(stdout);
    match tls {
        Some(tls) => serve_tls(listener, tls, state, shutdown_signal()).await,
        None => serve(listener, state, shutdown_signal()).await,
    }
}
