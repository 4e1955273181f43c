//! `cargo xtask`: the project's own build commands, written in Rust so they
//! work the same on every machine that has cargo.
//!
//! - `cargo xtask setup`: install what building and testing Kith needs.
//! - `cargo xtask test`: setup, then fmt, clippy, the test suite (against a
//!   real OS keyring where possible) and a quick benchmark run.
//! - `cargo xtask run`: build the UI and the desktop app, and start it.
//! - `cargo xtask demo`: build `kith` and walk through a guided CLI demo.
//! - `cargo xtask bench [ARGS...]`: the benchmark harness.
//! - `cargo xtask structure`: the layering rules (import cycles, `Profile`'s size).

mod bench;
mod demo;
mod fuzz;
mod json;
mod process;
mod setup;
mod steps;
mod structure;
mod test_suite;
mod ui;
mod workspace;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::workspace::Workspace;

/// Command line of `cargo xtask`.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Kith's build commands: setup, test, run, bench."
)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    task: Task,
}

/// The subcommands of `cargo xtask`.
#[derive(Debug, Subcommand)]
enum Task {
    /// Install system packages, rustup components and pinned tools (idempotent).
    Setup,
    /// Setup, then fmt check, clippy, the test suite and a quick benchmark.
    Test(test_suite::TestArgs),
    /// Setup, build the UI and the desktop app, and start it.
    Run,
    /// Setup, build `kith` and run a guided CLI demo in a fresh temp profile.
    Demo,
    /// Build the UI into `ui/dist` (wasm32 + wasm-bindgen).
    Ui,
    /// Check the layering rules: no import cycles, `Profile`'s method count.
    Structure,
    /// Run the benchmark harness (`kith-bench`) in release mode.
    Bench {
        /// Arguments for kith-bench (default: `local`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let ws = Workspace::locate()?;
    match cli.task {
        Task::Setup => setup::run(&ws),
        Task::Test(args) => test_suite::run(&ws, &args),
        Task::Run => {
            setup::run(&ws)?;
            ui::run_desktop(&ws)
        }
        Task::Demo => demo::run(&ws),
        Task::Ui => ui::build_ui(&ws),
        Task::Structure => structure::run(&ws),
        Task::Bench { args } => bench::run(&ws, &args),
    }
}
