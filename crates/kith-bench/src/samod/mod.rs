//! The peer system in the relay comparison: samod (crates.io `samod`, the
//! Rust implementation of automerge-repo) on the same chat workload, in the
//! same run. Its server and its clients run as two child processes of this
//! binary (`samod-server`, `samod-peer`), one fresh server per phase as for
//! kith-server, so each side's memory is its own and both run on the same
//! loopback and disk.

mod server;
mod workload;

pub use server::serve;
pub use workload::run as run_workload;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::progress::Progress;
use crate::sizes::Sizes;

/// One phase of the samod workload (each on its own server).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// Send -> shown, one message at a time.
    Send,
    /// A burst of sends until the server has them, then a new device pulls them.
    Burst,
    /// Two devices diverged offline converge.
    Converge,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Send => "send",
            Phase::Burst => "burst",
            Phase::Converge => "converge",
        }
    }
}

/// samod's figures (each phase fills its own; memory is the largest seen).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PeerFigures {
    /// Send -> shown through the server, median.
    pub send_shown_p50_ms: Option<f64>,
    /// Send -> shown through the server, 99th percentile.
    pub send_shown_p99_ms: Option<f64>,
    /// The burst until the server acknowledged all of it.
    pub burst_s: Option<f64>,
    /// Bytes through the wire meter during the burst.
    pub burst_wire_bytes: Option<u64>,
    /// A new device (empty storage) until it holds the whole burst.
    pub history_ms: Option<f64>,
    /// Bytes through the wire meter while the new device pulled.
    pub history_wire_bytes: Option<u64>,
    /// Two diverged devices until both hold everything.
    pub converge_s: Option<f64>,
    /// Bytes through the wire meter while converging.
    pub converge_wire_bytes: Option<u64>,
    /// Peak RSS of the clients' process, largest over the phases.
    pub clients_peak_rss_mib: Option<f64>,
    /// Peak RSS of samod's server process, largest over the phases.
    pub server_peak_rss_mib: Option<f64>,
    /// Phases samod did not finish, with why (their figures stay empty).
    #[serde(default)]
    pub unfinished: Vec<String>,
}

impl PeerFigures {
    /// Takes every figure `other` has.
    fn merge(&mut self, other: PeerFigures) {
        fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            }
        }
        self.send_shown_p50_ms = other.send_shown_p50_ms.or(self.send_shown_p50_ms);
        self.send_shown_p99_ms = other.send_shown_p99_ms.or(self.send_shown_p99_ms);
        self.burst_s = other.burst_s.or(self.burst_s);
        self.burst_wire_bytes = other.burst_wire_bytes.or(self.burst_wire_bytes);
        self.history_ms = other.history_ms.or(self.history_ms);
        self.history_wire_bytes = other.history_wire_bytes.or(self.history_wire_bytes);
        self.converge_s = other.converge_s.or(self.converge_s);
        self.converge_wire_bytes = other.converge_wire_bytes.or(self.converge_wire_bytes);
        self.clients_peak_rss_mib = max(self.clients_peak_rss_mib, other.clients_peak_rss_mib);
        self.server_peak_rss_mib = max(self.server_peak_rss_mib, other.server_peak_rss_mib);
        self.unfinished.extend(other.unfinished);
    }
}

/// samod's server as a child process; killed when dropped.
struct ServerChild {
    child: Child,
    url: String,
}

impl ServerChild {
    fn start() -> Result<ServerChild> {
        let me = std::env::current_exe().context("locating the kith-bench binary")?;
        let child = Command::new(me)
            .arg("samod-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting samod's server")?;
        let mut server = ServerChild {
            child,
            url: String::new(),
        };
        let stdout = server.child.stdout.take().context("samod's server stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            bail!("samod's server did not start: its first line was {line:?}");
        };
        server.url = url.to_owned();
        Ok(server)
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs every phase, each on a fresh samod server.
pub fn measure(sizes: &Sizes, progress: &Progress) -> Result<PeerFigures> {
    let me = std::env::current_exe().context("locating the kith-bench binary")?;
    let mut figures = PeerFigures::default();
    for phase in [Phase::Send, Phase::Burst, Phase::Converge] {
        let server = ServerChild::start()?;
        progress.say(
            "samod",
            &format!("{} phase against samod's server at {}", phase.name(), server.url),
        );
        let mut peer = Command::new(&me);
        peer.args(["samod-peer", "--url", &server.url, "--phase", phase.name()]);
        if sizes.name == "quick" {
            peer.arg("--quick");
        }
        let output = peer.output().context("running samod's clients")?;
        let server_peak = crate::machine::peak_rss_mib_of(server.child.id());
        if !output.status.success() {
            // samod not finishing is a result, not a harness failure: its
            // column stays empty for this phase and the notes say why.
            let stderr = String::from_utf8_lossy(&output.stderr);
            let why = stderr
                .lines()
                .find_map(|line| line.strip_prefix("Error: "))
                .unwrap_or("no error printed");
            progress.say("samod", &format!("{} phase did not finish: {why}", phase.name()));
            figures.merge(PeerFigures {
                server_peak_rss_mib: server_peak,
                unfinished: vec![format!("{}: {why}", phase.name())],
                ..PeerFigures::default()
            });
            continue;
        }
        let mut phase_figures: PeerFigures = serde_json::from_slice(&output.stdout)
            .with_context(|| format!("reading samod's {} figures", phase.name()))?;
        phase_figures.server_peak_rss_mib = server_peak;
        figures.merge(phase_figures);
    }
    Ok(figures)
}
