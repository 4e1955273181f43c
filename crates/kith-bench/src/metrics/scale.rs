//! `kith-bench scale`: one, two and three `kith-server` gateways on one
//! PostgreSQL and one NATS (throwaway servers from `kith-testkit`, on
//! 127.0.0.1), beside the single SQLite process in the same run.
//!
//! - The live chat load of `load.rs` with each pair's receiver on another
//!   gateway than its sender, so every delivery crosses PostgreSQL and NATS
//!   (and with one gateway on PostgreSQL, which separates the database's
//!   cost from the hop between gateways).
//! - A burst of sends: many devices spread over the gateways push as fast as
//!   the server acknowledges (a few pushes in flight each) until every send
//!   is stored.
//!
//! Every process shares this machine's cores, so the figures say what the
//! extra hops cost here, not the capacity another machine would add.

use super::load::{Outcome, chat_pairs_between};
use super::wire::{self, Socket};
use crate::progress::Progress;
use crate::report::{Budget, Metric, Subject};
use crate::server::ServerProcess;
use crate::sizes::Sizes;
use anyhow::{Context, Result, bail};
use kith_proto::{Capability, LogId, ServerFrame};
use kith_testkit::{Nats, Postgres};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

/// Devices that share the burst (each stays under the server's per-device
/// frame burst of 400, so the figure is storage, not rate limiting).
const BURST_DEVICES: usize = 50;
/// Pushes each burst device keeps in flight.
const BURST_WINDOW: usize = 8;
/// Ciphertext bytes of one burst message.
const BURST_BYTES: usize = 200;

/// One deployment under test: its gateways' addresses, and what keeps the
/// processes alive.
struct Deployment {
    gateways: Vec<ServerProcess>,
}

impl Deployment {
    fn addresses(&self) -> Result<Vec<SocketAddr>> {
        self.gateways.iter().map(ServerProcess::addr).collect()
    }
}

/// What one deployment measured.
struct Figures {
    live: Outcome,
    burst: Duration,
    burst_errors: u64,
    /// CPU time the gateways and PostgreSQL spent during the burst.
    burst_cpu: CpuSplit,
}

/// CPU seconds spent by the gateways and by PostgreSQL (postmaster and
/// backends) over one stretch of the run.
#[derive(Clone, Copy, Default)]
struct CpuSplit {
    gateways: f64,
    postgres: f64,
}

impl CpuSplit {
    /// PostgreSQL's share of the CPU the service used, in percent.
    fn postgres_share(&self) -> f64 {
        100.0 * self.postgres / (self.gateways + self.postgres).max(1e-9)
    }
}

/// User + system CPU ticks of process `pid` and of its parent pid, from
/// `/proc/PID/stat` (fields after the command name: state, ppid, ...).
fn ticks_and_parent(pid: u32) -> Option<(u64, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime, ppid))
}

/// CPU seconds of `pid` and, when `with_children`, of its direct children.
fn cpu_seconds(pid: u32, with_children: bool) -> f64 {
    // USER_HZ is 100 on Linux.
    const TICKS_PER_SECOND: f64 = 100.0;
    let mut ticks = ticks_and_parent(pid).map_or(0, |(ticks, _)| ticks);
    if with_children && let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((child_ticks, parent)) = ticks_and_parent(child)
                && parent == pid
            {
                ticks += child_ticks;
            }
        }
    }
    ticks as f64 / TICKS_PER_SECOND
}

/// The CPU seconds so far of the deployment's gateways and of PostgreSQL.
fn cpu_now(deployment: &Deployment, postgres: Option<u32>) -> CpuSplit {
    CpuSplit {
        gateways: deployment.gateways.iter().map(|g| cpu_seconds(g.pid(), false)).sum(),
        postgres: postgres.map_or(0.0, |pid| cpu_seconds(pid, true)),
    }
}

/// Runs the comparison.
pub fn run(sizes: &Sizes, progress: &Progress, server_bin: &Path) -> Result<Vec<Metric>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;

    progress.say("scale", "one kith-server on SQLite");
    let single = Deployment {
        gateways: vec![ServerProcess::start_with(server_bin, &["--no-p2p"])?],
    };
    let mut alone = measure(&runtime, &single, None, sizes, progress, 3)?;
    drop(single);

    progress.say("scale", "starting PostgreSQL and NATS");
    let postgres = Postgres::start_durable();
    let nats = Nats::start();
    let mut service = Vec::new();
    for (count, phase) in [(1usize, 8u8), (2, 4), (3, 6)] {
        progress.say("scale", &format!("{count} gateways on PostgreSQL + NATS"));
        let url = postgres.new_database(&format!("scale{count}"));
        let nats_url = nats.url();
        let args = ["--no-p2p", "--database", url.as_str(), "--nats", nats_url.as_str()];
        let deployment = Deployment {
            gateways: (0..count)
                .map(|_| ServerProcess::start_with(server_bin, &args))
                .collect::<Result<_>>()?,
        };
        let figures = measure(&runtime, &deployment, Some(postgres.pid()), sizes, progress, phase)?;
        service.push((count, figures));
    }

    let (pairs, messages, burst) = (sizes.load_pairs, sizes.load_messages, sizes.burst_sends);
    let live_note = |count: usize| {
        format!(
            "{pairs} pairs, a push every 10 ms each ({messages} per sender); value: {count} gateway(s) of one PostgreSQL + NATS service, each receiver on another gateway than its sender when there are several; baseline: the same load through one kith-server on SQLite; every process shares this machine's cores"
        )
    };
    let burst_note = |count: usize| {
        format!(
            "{burst} pushes of one {BURST_BYTES}-byte envelope from {BURST_DEVICES} devices spread over {count} gateways, {BURST_WINDOW} in flight each, until every push is acknowledged (stored); baseline: the same burst into one kith-server on SQLite"
        )
    };
    let alone_burst = alone.burst.as_secs_f64();
    let alone_errors = (alone.live.errors + alone.burst_errors) as f64;
    let (alone_p50, alone_p99) = (
        alone.live.deliveries.percentile(50.0),
        alone.live.deliveries.percentile(99.0),
    );
    let mut metrics = Vec::new();
    for (count, mut figures) in service {
        let [p50, p99, burst_key, errors, cpu_share] = keys(count);
        let cpu = figures.burst_cpu;
        metrics.extend([
            Metric::new(
                p50,
                "ms",
                figures.live.deliveries.percentile(50.0),
                Some(alone_p50),
                None,
            )
            .note(live_note(count)),
            Metric::new(
                p99,
                "ms",
                figures.live.deliveries.percentile(99.0),
                Some(alone_p99),
                None,
            )
            .note(live_note(count)),
            Metric::new(burst_key, "s", figures.burst.as_secs_f64(), Some(alone_burst), None).note(burst_note(count)),
            Metric::new(
                errors,
                "count",
                (figures.live.errors + figures.burst_errors) as f64,
                Some(alone_errors),
                Some(Budget::Below(Subject::Value, 0.5)),
            )
            .note("errors and lost messages of the live load and the burst together"),
            Metric::new(cpu_share, "%", cpu.postgres_share(), None, None).note(format!(
                "CPU during the burst: PostgreSQL (postmaster and backends) {:.2} s, the gateways {:.2} s; the gateways' part is what more gateway machines spread out, PostgreSQL's is what one database machine must carry",
                cpu.postgres, cpu.gateways
            )),
        ]);
    }
    Ok(metrics)
}

/// The report keys of the live p50, p99, the burst, the errors and
/// PostgreSQL's CPU share in the burst with
/// `count` gateways on PostgreSQL.
fn keys(count: usize) -> [&'static str; 5] {
    match count {
        1 => [
            "scale_1_gateway_p50_ms",
            "scale_1_gateway_p99_ms",
            "scale_1_gateway_burst_s",
            "scale_1_gateway_errors",
            "scale_1_gateway_burst_postgres_cpu_pct",
        ],
        2 => [
            "scale_2_gateways_p50_ms",
            "scale_2_gateways_p99_ms",
            "scale_2_gateways_burst_s",
            "scale_2_gateways_errors",
            "scale_2_gateways_burst_postgres_cpu_pct",
        ],
        _ => [
            "scale_3_gateways_p50_ms",
            "scale_3_gateways_p99_ms",
            "scale_3_gateways_burst_s",
            "scale_3_gateways_errors",
            "scale_3_gateways_burst_postgres_cpu_pct",
        ],
    }
}

/// The live load across gateways, then the burst.
fn measure(
    runtime: &tokio::runtime::Runtime,
    deployment: &Deployment,
    postgres: Option<u32>,
    sizes: &Sizes,
    progress: &Progress,
    phase: u8,
) -> Result<Figures> {
    let senders = deployment.addresses()?;
    // Each receiver on the next gateway (the same one when there is one).
    let mut receivers = senders.clone();
    receivers.rotate_left(1);
    progress.say(
        "scale",
        &format!("live load: {} pairs on {} gateway(s)", sizes.load_pairs, senders.len()),
    );
    let live = runtime.block_on(chat_pairs_between(
        &senders,
        &receivers,
        phase,
        sizes.load_pairs,
        sizes.load_messages,
    ))?;
    progress.say("scale", &format!("burst of {} sends", sizes.burst_sends));
    let cpu_before = cpu_now(deployment, postgres);
    let (burst, burst_errors) = runtime.block_on(burst(&senders, phase + 1, sizes.burst_sends))?;
    let cpu_after = cpu_now(deployment, postgres);
    Ok(Figures {
        live,
        burst,
        burst_errors,
        burst_cpu: CpuSplit {
            gateways: cpu_after.gateways - cpu_before.gateways,
            postgres: cpu_after.postgres - cpu_before.postgres,
        },
    })
}

/// Pushes `sends` envelopes from [`BURST_DEVICES`] devices, device `n` on
/// gateway `n % len`, each into its own log; the time from the first push
/// to the last acknowledgement, and the pushes that were not acknowledged.
async fn burst(gateways: &[SocketAddr], phase: u8, sends: usize) -> Result<(Duration, u64)> {
    let mut sockets = Vec::with_capacity(BURST_DEVICES);
    for n in 0..BURST_DEVICES {
        let at = *gateways.get(n % gateways.len().max(1)).context("no gateway")?;
        let device = wire::device(0x30 + phase, n as u64);
        let source = Ipv4Addr::new(127, 0, 4, 1 + (n / 50) as u8);
        sockets.push(wire::signed_in(at, source, &device).await?);
    }
    let per_device = sends.div_ceil(BURST_DEVICES);
    let start = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(n, ws)| {
            let count = per_device.min(sends.saturating_sub(n * per_device));
            tokio::spawn(push_window(ws, log_of(phase, n), count))
        })
        .collect();
    let mut errors = 0;
    for task in tasks {
        errors += task.await??;
    }
    Ok((start.elapsed(), errors))
}

/// The log and capability of burst device `n`.
fn log_of(phase: u8, n: usize) -> (LogId, Capability) {
    let mut id = [phase; 32];
    id[..8].copy_from_slice(&(n as u64).to_le_bytes());
    id[8] = 0xb0;
    let mut capability = id;
    capability[31] = 0xcb;
    (LogId(id), Capability(capability))
}

/// `count` pushes on one connection with up to [`BURST_WINDOW`] in flight;
/// returns how many were not acknowledged.
async fn push_window(mut ws: Socket, (log, capability): (LogId, Capability), count: usize) -> Result<u64> {
    let (mut sent, mut acknowledged, mut refused) = (0usize, 0usize, 0usize);
    while acknowledged + refused < count {
        while sent < count && sent - acknowledged - refused < BURST_WINDOW {
            let push = wire::push_of(log, capability, sent, vec![0x5a; BURST_BYTES]);
            wire::send(&mut ws, &push).await?;
            sent += 1;
        }
        match wire::recv(&mut ws).await? {
            Some(ServerFrame::Pushed { .. }) => acknowledged += 1,
            Some(_) => refused += 1,
            None => bail!("the server closed a burst connection after {acknowledged} of {count}"),
        }
    }
    Ok(refused as u64)
}
