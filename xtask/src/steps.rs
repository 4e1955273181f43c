//! Timed steps of a longer run, with a summary at the end.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::process;

/// One finished (or failed) step.
#[derive(Debug)]
struct Record {
    /// Short name, e.g. `clippy`.
    name: String,
    /// Wall time the step took.
    elapsed: Duration,
    /// Whether it succeeded.
    ok: bool,
}

/// The steps run so far, in order, with their wall times.
#[derive(Debug, Default)]
pub struct Steps {
    /// Finished steps.
    records: Vec<Record>,
}

impl Steps {
    /// Runs `cmd` as the step `name` (see [`process::run`]).
    pub fn command(&mut self, name: &str, cmd: &mut Command) -> Result<()> {
        self.time(name, || process::run(cmd))
    }

    /// Runs `body` as the step `name`: prints its wall time and records it; on
    /// failure the error names the step.
    pub fn time(&mut self, name: &str, body: impl FnOnce() -> Result<()>) -> Result<()> {
        let start = Instant::now();
        let result = body();
        let elapsed = start.elapsed();
        let ok = result.is_ok();
        let verdict = if ok { "ok" } else { "FAILED" };
        println!("    {name}: {verdict} in {}", format_duration(elapsed));
        self.records.push(Record {
            name: name.to_owned(),
            elapsed,
            ok,
        });
        result.with_context(|| format!("step `{name}` failed"))
    }

    /// Prints every recorded step with its time and the total.
    pub fn print_summary(&self) {
        let width = self
            .records
            .iter()
            .map(|record| record.name.len())
            .chain(std::iter::once("total".len()))
            .max()
            .unwrap_or_default();
        println!();
        println!("==> summary");
        for record in &self.records {
            let verdict = if record.ok { "ok" } else { "FAILED" };
            println!(
                "    {:<width$}  {:>9}  {verdict}",
                record.name,
                format_duration(record.elapsed)
            );
        }
        let total = self.records.iter().map(|record| record.elapsed).sum();
        println!("    {:<width$}  {:>9}", "total", format_duration(total));
    }
}

/// `4.2s`, or `3m 07.5s` from a minute on.
fn format_duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let minutes = elapsed.as_secs() / 60;
        let rest = secs - (minutes * 60) as f64;
        format!("{minutes}m {rest:04.1}s")
    }
}
