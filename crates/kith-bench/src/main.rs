//! `kith-bench`: Kith's benchmark harness (DESIGN.md §8).
//!
//! Every figure is printed beside a baseline measured in the same run on the
//! same machine (raw SQLite, raw FTS5, a raw WebSocket round trip), so the
//! ratios survive a noisy machine. Only temporary directories are used; the
//! only network is loopback (the relay benchmarks start a real `kith-server`
//! on 127.0.0.1).
//!
//! `kith-bench local [--quick] [--json] [--only GROUPS]`
//! `kith-bench relay [--quick] [--json]`
//! `kith-bench p2p [--quick] [--json]`
//! `kith-bench desktop [--quick] [--json] [--app PATH]` (needs a display)

mod corpus;
mod fixtures;
mod machine;
mod metrics;
mod progress;
mod raw;
mod report;
mod samod;
mod server;
mod sizes;
mod stats;
mod wire_meter;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::sizes::Sizes;

/// Kith's benchmark harness: engine figures beside raw baselines measured in the same run.
#[derive(Debug, Parser)]
#[command(name = "kith-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Local benchmarks: send, ingest, converge, open, search, disk, cold open.
    Local {
        /// A smaller version of every benchmark (CI).
        #[arg(long)]
        quick: bool,
        /// Print one JSON object (one key per metric) instead of the table.
        #[arg(long)]
        json: bool,
        /// Run only these groups (comma-separated; default: all).
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<metrics::Group>,
    },
    /// Relay benchmarks against a real kith-server on 127.0.0.1 (built beside
    /// this binary): send -> shown on another device, converge.
    Relay {
        /// A smaller version of every benchmark (CI).
        #[arg(long)]
        quick: bool,
        /// Print one JSON object (one key per metric) instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Server benchmarks against a real kith-server on 127.0.0.1: memory per
    /// idle authenticated connection (raises the open-file limit).
    Server {
        /// A smaller version of every benchmark (CI).
        #[arg(long)]
        quick: bool,
        /// Print one JSON object (one key per metric) instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Scale-out against real kith-server gateways on a throwaway PostgreSQL
    /// and NATS: two and three gateways beside one SQLite process (live
    /// send -> shown across gateways, a burst of sends stored).
    Scale {
        /// A smaller version of every benchmark (CI).
        #[arg(long)]
        quick: bool,
        /// Print one JSON object (one key per metric) instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// The small-buffer WebSocket server the server benchmark compares with
    /// (run by it as a child process).
    #[command(hide = true)]
    EchoIdle,
    /// samod's sync server, the peer of the relay comparison (run by it as a
    /// child process; serves until stdin closes).
    #[command(hide = true)]
    SamodServer,
    /// samod's clients running one phase of the relay workload against
    /// `--url` (run by the relay benchmark as a child process); prints its
    /// figures as JSON.
    #[command(hide = true)]
    SamodPeer {
        /// samod's server, `ws://ADDR/`.
        #[arg(long)]
        url: String,
        /// Which phase.
        #[arg(long, value_enum)]
        phase: samod::Phase,
        /// The quick sizes.
        #[arg(long)]
        quick: bool,
    },
    /// Peer-to-peer benchmarks: two devices syncing over libp2p on 127.0.0.1:
    /// send -> shown, converge.
    P2p {
        /// A smaller version of every benchmark (CI).
        #[arg(long)]
        quick: bool,
        /// Print one JSON object (one key per metric) instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// The desktop app: cold start to the chat list painted and idle memory of
    /// the whole app (shell and WebKit processes), with many stored messages
    /// beside an empty profile. Needs a display (Xvfb will do).
    Desktop {
        /// A smaller version (CI).
        #[arg(long)]
        quick: bool,
        /// Print one JSON object (one key per metric) instead of the table.
        #[arg(long)]
        json: bool,
        /// The `kith-desktop` binary (default: beside this one).
        #[arg(long)]
        app: Option<std::path::PathBuf>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // Logs of the engine (KITH_LOG=info,...) go to stderr.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("KITH_LOG") {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init();
    }
    match &cli.command {
        Command::EchoIdle => return metrics::echo_idle_server(),
        Command::SamodServer => return samod::serve(),
        Command::SamodPeer { url, phase, quick } => {
            let sizes = if *quick { Sizes::quick() } else { Sizes::full() };
            let figures = samod::run_workload(url, *phase, &sizes)?;
            println!("{}", serde_json::to_string(&figures)?);
            return Ok(());
        }
        _ => {}
    }
    let (quick, json) = match &cli.command {
        Command::Local { quick, json, .. }
        | Command::Relay { quick, json }
        | Command::P2p { quick, json }
        | Command::Server { quick, json }
        | Command::Scale { quick, json }
        | Command::Desktop { quick, json, .. } => (*quick, *json),
        Command::EchoIdle | Command::SamodServer | Command::SamodPeer { .. } => (false, false),
    };
    let sizes = if quick { Sizes::quick() } else { Sizes::full() };
    let facts = machine::Facts::gather();
    // Progress always goes to stderr, and in JSON mode the facts too, so stdout stays one object.
    if json {
        eprintln!("{facts}");
    } else {
        println!("{facts}");
        println!("mode: {}\n", sizes.name);
    }
    let report = match cli.command {
        Command::Local { only, .. } => metrics::run_local(&sizes, &only)?,
        Command::Relay { .. } => metrics::run_relay(&sizes)?,
        Command::P2p { .. } => metrics::run_p2p(&sizes)?,
        Command::Server { .. } => metrics::run_server(&sizes)?,
        Command::Scale { .. } => metrics::run_scale(&sizes)?,
        Command::EchoIdle | Command::SamodServer | Command::SamodPeer { .. } => unreachable!("handled above"),
        Command::Desktop { app, .. } => {
            let app = match app {
                Some(app) => app,
                None => {
                    std::env::current_exe()?.with_file_name(format!("kith-desktop{}", std::env::consts::EXE_SUFFIX))
                }
            };
            metrics::run_desktop(&sizes, &app)?
        }
    };
    let peak = machine::peak_rss_mib().map(|mib| format!("peak RSS of this run: {mib:.0} MiB"));
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
        if let Some(peak) = peak {
            eprintln!("{peak}");
        }
    } else {
        println!("{}", report.table());
        if let Some(peak) = peak {
            println!("\n{peak}");
        }
    }
    Ok(())
}
