//! `cargo xtask test`: everything CI checks, in order, stopping at the first
//! failure.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::process::find_program;
use crate::steps::Steps;
use crate::workspace::Workspace;
use crate::{bench, fuzz, setup, structure, ui};

/// Flags of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Skip the quick benchmark run.
    #[arg(long)]
    no_bench: bool,
    /// Skip `setup` (system packages, rustup components, pinned tools).
    #[arg(long)]
    skip_setup: bool,
    /// Skip the bounded fuzzing run (the seed corpus is replayed by the
    /// tests either way).
    #[arg(long)]
    no_fuzz: bool,
}

/// How long each fuzz target runs in `cargo xtask test`.
const FUZZ_SECONDS_PER_TARGET: u32 = 15;

/// The password of the throwaway login keyring the tests unlock.
const TEST_KEYRING_PASSWORD: &str = "kith-test";

/// Runs the steps, then prints a summary whether they passed or not.
pub fn run(ws: &Workspace, args: &TestArgs) -> Result<()> {
    println!("CARGO_TARGET_DIR={}", ws.target_dir.display());
    let mut steps = Steps::default();
    let result = run_steps(ws, args, &mut steps);
    steps.print_summary();
    result
}

/// setup, fmt, structure, then one compilation that both lints (clippy,
/// `-D warnings`) and builds, every test (UI tests included) on that build,
/// and the quick benchmarks on that same build.
fn run_steps(ws: &Workspace, args: &TestArgs, steps: &mut Steps) -> Result<()> {
    if !args.skip_setup {
        println!("==> setup");
        steps.time("setup", || setup::run(ws))?;
    }
    steps.command("fmt", ws.cargo().args(["fmt", "--all", "--", "--check"]))?;
    steps.time("structure", || structure::run(ws))?;
    // From here on every cargo child compiles the workspace's crates through
    // clippy-driver: clippy's lints come with the build that the tests use,
    // instead of a separate check pass over the whole tree.
    let ws = &ws.with_lints(clippy_driver()?);
    // The desktop shell embeds ui/dist at compile time: build the UI first.
    // This is also the wasm32 build and lint of kith-ui, kith-api (which the
    // UI depends on) and kith-proto (built beside it).
    steps.time("ui build + clippy (wasm32)", || ui::build_ui(ws))?;
    // Every target (libraries, binaries, tests) of every crate but the UI:
    // the end-to-end tests run binaries of other packages (`kith-server`
    // beside `kith`, the desktop app), so all of them are built here.
    steps.command(
        "build + clippy",
        ws.cargo().args([
            "build",
            "--workspace",
            "--exclude",
            "kith-ui",
            "--all-targets",
            "--locked",
        ]),
    )?;
    cargo_test(ws, steps)?;
    if !args.no_fuzz {
        steps.time("fuzz (bounded)", || fuzz::run_all(ws, FUZZ_SECONDS_PER_TARGET))?;
    }
    if !args.no_bench {
        // On the test build (see bench::Build::Test): `cargo xtask bench`
        // gives the release figures.
        let build = bench::Build::Test;
        steps.command("bench local", &mut bench::command(ws, build, &["local", "--quick"]))?;
        steps.command("bench relay", &mut bench::command(ws, build, &["relay", "--quick"]))?;
        steps.command("bench p2p", &mut bench::command(ws, build, &["p2p", "--quick"]))?;
        steps.command("bench server", &mut bench::command(ws, build, &["server", "--quick"]))?;
        steps.command("bench scale", &mut bench::command(ws, build, &["scale", "--quick"]))?;
        steps.command("bench desktop", &mut bench::desktop_command(ws, build, true))?;
    }
    Ok(())
}

/// The `clippy-driver` of the active toolchain (setup installs the clippy
/// component).
/// The toolchain's own binary rather than rustup's proxy, which would add a
/// rustup start to every compiled crate.
fn clippy_driver() -> Result<PathBuf> {
    if let Ok(out) = Command::new("rustup").args(["which", "clippy-driver"]).output()
        && out.status.success()
    {
        return Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    find_program("clippy-driver")
        .context("clippy-driver not found: run `cargo xtask setup` (it adds the clippy component)")
}

/// `cargo test --workspace --exclude kith-ui --locked` once, for every crate
/// including the end-to-end and UI tests (one feature resolution, so nothing
/// the build step compiled is compiled again):
/// - inside a virtual display (Xvfb) on Linux, for the real app driven
///   through tauri-driver and WebKitWebDriver (screenshots land in
///   `<target>/ui-screenshots`);
/// - inside a private D-Bus session with an unlocked gnome-keyring when those
///   exist, so tests can use the real Secret Service (they check
///   `KITH_TEST_REAL_KEYRING=1`).
fn cargo_test(ws: &Workspace, steps: &mut Steps) -> Result<()> {
    const CARGO_TEST: [&str; 6] = ["cargo", "test", "--workspace", "--exclude", "kith-ui", "--locked"];
    let shots = ws.target_dir.join("ui-screenshots");
    if shots.exists() {
        fs::remove_dir_all(&shots).with_context(|| format!("removing {}", shots.display()))?;
    }
    let mut cmd = if cfg!(target_os = "linux") {
        for program in ["xvfb-run", "dbus-run-session", "tauri-driver", "WebKitWebDriver"] {
            if find_program(program).is_none() {
                anyhow::bail!("{program} is missing: run `cargo xtask setup`");
            }
        }
        let mut cmd = ws.command("xvfb-run");
        cmd.args(["-a", "-s", "-screen 0 1280x800x24", "dbus-run-session", "--"]);
        cmd
    } else {
        ws.command(CARGO_TEST[0])
    };
    // The keyring files live in a fresh directory under the target dir, never
    // in the user's own ~/.local/share/keyrings, whose password we do not know.
    let keyring_home = ws.target_dir.join("kith-test-keyring");
    let real_keyring = cfg!(target_os = "linux") && find_program("gnome-keyring-daemon").is_some();
    if real_keyring {
        if keyring_home.exists() {
            fs::remove_dir_all(&keyring_home).with_context(|| format!("removing {}", keyring_home.display()))?;
        }
        fs::create_dir_all(&keyring_home).with_context(|| format!("creating {}", keyring_home.display()))?;
        let script = format!(
            "printf '{TEST_KEYRING_PASSWORD}\\n' | XDG_DATA_HOME=\"$KITH_TEST_KEYRING_HOME\" \
             gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec \"$@\""
        );
        cmd.args(["sh", "-c", &script, "sh"])
            .env("KITH_TEST_KEYRING_HOME", &keyring_home)
            .env("KITH_TEST_REAL_KEYRING", "1");
        println!("note: private D-Bus session with an unlocked gnome-keyring; KITH_TEST_REAL_KEYRING=1");
    } else {
        println!("note: gnome-keyring-daemon not found: tests that need the real OS keyring will skip");
    }
    if cfg!(target_os = "linux") {
        cmd.args(CARGO_TEST);
    } else {
        cmd.args(&CARGO_TEST[1..]);
    }
    cmd.env("KITH_SCREENSHOTS", &shots);
    let result = steps.command("test", &mut cmd);
    println!("ui: screenshots in {}", shots.display());
    // Best effort: the directory is recreated on the next run anyway.
    let _ = fs::remove_dir_all(&keyring_home);
    result
}
