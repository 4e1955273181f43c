//! The local benchmarks, one per file, run in a fixed order: some reuse what
//! an earlier one built (disk reuses the send profile, cold open the search
//! corpus). The relay benchmarks (`relay.rs`) run apart, against a real
//! `kith-server` process.

mod abuse;
mod cold_open;
mod converge;
mod desktop;
mod disk;
mod idle;
mod ingest;
mod load;
mod open_chat;
mod p2p;
mod relay;
mod scale;
mod search;
mod send;
mod suggest;
mod wire;

use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::corpus::Vocabulary;
use crate::progress::Progress;
use crate::report::Report;
use crate::sizes::Sizes;

/// Words in the vocabulary every benchmark draws texts from.
const VOCABULARY_WORDS: usize = 400;
/// Typical short chat message, in bytes (DESIGN.md §8).
pub(crate) const TEXT_BYTES: usize = 80;

/// Seeded randomness for one benchmark, so runs are repeatable.
pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The shared vocabulary.
pub(crate) fn vocabulary() -> Vocabulary {
    Vocabulary::new(VOCABULARY_WORDS, &mut rng(0x6b69_7468))
}

/// A group of local benchmarks that share their setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Group {
    /// `send_*` and `disk_*` (disk measures the send profile).
    Send,
    /// `ingest_msgs_per_s`.
    Ingest,
    /// `converge_*`.
    Converge,
    /// `open_last50_ms`.
    Open,
    /// `search_p95_ms` and `cold_open_ms` (cold open reads the search corpus).
    Search,
    /// `suggest_p95_ms` and `suggest_top3_pct`.
    Suggest,
}

/// Runs the local benchmarks of `groups` (all when empty), in a fixed order.
pub fn run_local(sizes: &Sizes, groups: &[Group]) -> Result<Report> {
    let progress = Progress::new(sizes.time_limit);
    let vocab = vocabulary();
    let mut report = Report::default();
    let wanted = |group| groups.is_empty() || groups.contains(&group);

    if wanted(Group::Send) {
        let sent = send::run(sizes, &vocab, &progress)?;
        report.extend(sent.metrics.clone());
        report.extend(disk::run(sent, &progress)?);
    }
    if wanted(Group::Ingest) {
        report.extend(ingest::run(sizes, &vocab, &progress)?);
    }
    if wanted(Group::Converge) {
        report.extend(converge::run(sizes, &vocab, &progress)?);
    }
    if wanted(Group::Open) {
        report.extend(open_chat::run(sizes, &vocab, &progress)?);
    }
    if wanted(Group::Search) {
        let corpus = search::run(sizes, &vocab, &progress)?;
        report.extend(corpus.metrics.clone());
        report.extend(cold_open::run(sizes, &corpus, &progress)?);
    }
    if wanted(Group::Suggest) {
        report.extend(suggest::run(sizes, &vocab, &progress)?);
    }
    progress.say("done", "benchmarks finished");
    Ok(report)
}

/// Runs the relay benchmarks against real `kith-server` processes on 127.0.0.1.
/// The desktop benchmark: the real app `app` started on a profile with many
/// messages and on an empty one.
pub fn run_desktop(sizes: &Sizes, app: &std::path::Path) -> Result<Report> {
    let progress = Progress::new(sizes.time_limit);
    let vocab = vocabulary();
    let mut report = Report::default();
    report.extend(desktop::run(sizes, &vocab, &progress, app)?);
    progress.say("done", "benchmarks finished");
    Ok(report)
}

/// Peer-to-peer benchmarks: two devices over libp2p on 127.0.0.1.
pub fn run_p2p(sizes: &Sizes) -> Result<Report> {
    let progress = Progress::new(sizes.time_limit);
    let vocab = vocabulary();
    let mut report = Report::default();
    report.extend(p2p::run(sizes, &vocab, &progress)?);
    progress.say("done", "benchmarks finished");
    Ok(report)
}

/// Relay benchmarks against a real `kith-server`.
pub use idle::echo_idle_server;

/// Server benchmarks against a real kith-server: memory per idle
/// authenticated connection beside a small-buffer WebSocket baseline, then
/// a live chat load alone and under an abuse mix beside a WebSocket echo.
pub fn run_server(sizes: &Sizes) -> Result<Report> {
    let server_bin = crate::server::binary()?;
    let progress = Progress::new(sizes.time_limit);
    let mut report = Report::default();
    report.extend(idle::run(sizes, &progress, &server_bin)?);
    report.extend(load::run(sizes, &progress, &server_bin)?);
    progress.say("done", "benchmarks finished");
    Ok(report)
}

/// Scale-out: two and three gateways on one PostgreSQL and one NATS (live
/// load across gateways, a burst of sends) beside one SQLite process.
pub fn run_scale(sizes: &Sizes) -> Result<Report> {
    let server_bin = crate::server::binary()?;
    let progress = Progress::new(sizes.time_limit);
    let mut report = Report::default();
    report.extend(scale::run(sizes, &progress, &server_bin)?);
    progress.say("done", "benchmarks finished");
    Ok(report)
}

pub fn run_relay(sizes: &Sizes) -> Result<Report> {
    // Fail before any setup when the server binary is missing.
    let server_bin = crate::server::binary()?;
    let progress = Progress::new(sizes.time_limit);
    let vocab = vocabulary();
    let mut report = Report::default();
    report.extend(relay::run(sizes, &vocab, &progress, &server_bin)?);
    progress.say("done", "benchmarks finished");
    Ok(report)
}
