//! `cargo xtask bench`: the benchmark harness in release mode; the test run
//! runs it (`--quick`) on the test build instead (see [`Build`]).

use std::process::Command;

use anyhow::Result;

use crate::process;
use crate::workspace::Workspace;

/// Which build of `kith-bench` (and the `kith-server` beside it) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// `--release`: the figures the README reports.
    Release,
    /// The debug build `cargo xtask test` already made (dependencies at
    /// opt-level 2, Kith's own crates unoptimised): it shows the harness works
    /// without a second, optimised build of the whole tree; its figures are
    /// not the ones to quote.
    Test,
}

/// kith-bench's arguments when none are given.
const DEFAULT_ARGS: &[&str] = &["local"];

/// Runs `kith-bench ARGS` (default: `local`).
pub fn run(ws: &Workspace, args: &[String]) -> Result<()> {
    process::run(&mut build_server(ws))?;
    let mut cmd = if args.is_empty() {
        command(ws, Build::Release, DEFAULT_ARGS)
    } else {
        command(ws, Build::Release, args)
    };
    process::run(&mut cmd)
}

/// `cargo build --release --locked -p kith-server`: the relay benchmark runs
/// the real server binary, built beside `kith-bench`.
pub fn build_server(ws: &Workspace) -> Command {
    let mut cmd = ws.cargo();
    cmd.args(["build", "--release", "--locked", "-p", "kith-server"]);
    cmd
}

/// `kith-bench ARGS`: through `cargo run --release` for [`Build::Release`];
/// for [`Build::Test`] the binary the test build already made, run directly
/// (a `cargo run` would resolve features for `kith-bench` alone and rebuild
/// dependencies the workspace build compiled with other features).
pub fn command(ws: &Workspace, build: Build, args: &[impl AsRef<std::ffi::OsStr>]) -> Command {
    let mut cmd = match build {
        Build::Release => {
            let mut cmd = ws.cargo();
            cmd.args(["run", "--release", "--locked", "-p", "kith-bench", "--"]);
            cmd
        }
        Build::Test => ws.command(debug_binary(ws, "kith-bench")),
    };
    cmd.args(args);
    cmd
}

/// `kith-bench desktop` against the debug `kith-desktop` the test run built,
/// inside a virtual display and a private D-Bus session on Linux.
pub fn desktop_command(ws: &Workspace, build: Build, quick: bool) -> Command {
    let app = debug_binary(ws, "kith-desktop");
    let bench = command(ws, build, &["desktop", "--app"]);
    let mut cmd = if cfg!(target_os = "linux") {
        let mut cmd = ws.command("xvfb-run");
        cmd.args(["-a", "-s", "-screen 0 1280x800x24", "dbus-run-session", "--"])
            .arg(bench.get_program())
            .args(bench.get_args());
        cmd
    } else {
        bench
    };
    cmd.arg(app).env("KITH_SECRET_STORAGE", "file");
    if quick {
        cmd.arg("--quick");
    }
    cmd
}

/// A binary of the debug build in the workspace's target directory.
fn debug_binary(ws: &Workspace, name: &str) -> std::path::PathBuf {
    ws.target_dir
        .join("debug")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}
