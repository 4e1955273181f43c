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

impl Build {
    fn cargo_args(self) -> &'static [&'static str] {
        match self {
            Self::Release => &["--release"],
            Self::Test => &[],
        }
    }
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

/// `cargo run [--release] --locked -p kith-bench -- ARGS`.
pub fn command(ws: &Workspace, build: Build, args: &[impl AsRef<std::ffi::OsStr>]) -> Command {
    let mut cmd = ws.cargo();
    cmd.arg("run")
        .args(build.cargo_args())
        .args(["--locked", "-p", "kith-bench", "--"])
        .args(args);
    cmd
}

/// `kith-bench desktop` against the debug `kith-desktop` the test run built,
/// inside a virtual display and a private D-Bus session on Linux.
pub fn desktop_command(ws: &Workspace, build: Build, quick: bool) -> Command {
    let app = ws
        .target_dir
        .join("debug")
        .join(format!("kith-desktop{}", std::env::consts::EXE_SUFFIX));
    let mut cmd = if cfg!(target_os = "linux") {
        let mut cmd = ws.command("xvfb-run");
        cmd.args(["-a", "-s", "-screen 0 1280x800x24", "dbus-run-session", "--", "cargo"]);
        cmd
    } else {
        ws.cargo()
    };
    cmd.arg("run")
        .args(build.cargo_args())
        .args(["--locked", "-p", "kith-bench", "--", "desktop", "--app"])
        .arg(app)
        .env("KITH_SECRET_STORAGE", "file");
    if quick {
        cmd.arg("--quick");
    }
    cmd
}
