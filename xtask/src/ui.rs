//! Building the UI (`ui/dist`) and the desktop app, and running the app.
//!
//! The chain is plain cargo + wasm-bindgen (no `dx`): build `kith-ui` for
//! wasm32, generate its JavaScript glue with the wasm-bindgen CLI whose
//! version must equal the `wasm-bindgen` crate in Cargo.lock, then copy the
//! hand-written `ui/static` files (index.html, main.js, style.css) and the
//! icon beside it. `kith-desktop` embeds `ui/dist` at compile time, so this
//! runs before anything builds the shell.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::process::{self, find_program};
use crate::workspace::Workspace;

/// The wasm target the UI compiles to.
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Builds `ui/dist` from scratch.
pub fn build_ui(ws: &Workspace) -> Result<()> {
    check_wasm_bindgen_version(ws)?;
    // kith-proto rides along: the UI does not depend on it, but it must
    // build for wasm32 too (a future web client shares its ids and HLC).
    process::run(ws.cargo().args([
        "build",
        "--locked",
        "-p",
        "kith-ui",
        "-p",
        "kith-proto",
        "--release",
        "--target",
        WASM_TARGET,
    ]))?;
    let wasm = ws.target_dir.join(WASM_TARGET).join("release").join("kith-ui.wasm");
    let dist = ws.root.join("ui").join("dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
    }
    fs::create_dir_all(&dist)?;
    process::run(
        ws.command("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--out-name",
                "kith-ui",
                "--out-dir",
            ])
            .arg(&dist)
            .arg(&wasm),
    )?;
    copy_dir(&ws.root.join("ui").join("static"), &dist)?;
    fs::copy(ws.root.join("icons").join("icon.png"), dist.join("icon.png")).context("copying the icon")?;
    println!("ui: built {}", dist.display());
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::copy(entry.path(), to.join(entry.file_name()))
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The `wasm-bindgen` version pinned in Cargo.lock.
fn locked_wasm_bindgen(ws: &Workspace) -> Result<String> {
    let lock = fs::read_to_string(ws.root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(version) = lines.next().and_then(|l| l.trim().strip_prefix("version = \""))
        {
            return Ok(version.trim_end_matches('"').to_owned());
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}

/// The CLI must match the crate exactly, or the generated glue does not fit.
fn check_wasm_bindgen_version(ws: &Workspace) -> Result<()> {
    let locked = locked_wasm_bindgen(ws)?;
    if find_program("wasm-bindgen").is_none() {
        bail!("wasm-bindgen {locked} is not installed: run `cargo xtask setup`");
    }
    let out = process::stdout_of(Command::new("wasm-bindgen").arg("--version"))?;
    if !out.split_whitespace().any(|word| word == locked) {
        bail!(
            "wasm-bindgen CLI reports {:?} but Cargo.lock pins {locked}: update setup's PINNED_TOOLS",
            out.trim()
        );
    }
    Ok(())
}

/// Builds the UI and the desktop app (debug).
pub fn build_desktop(ws: &Workspace) -> Result<()> {
    build_ui(ws)?;
    process::run(ws.cargo().args(["build", "--locked", "-p", "kith-desktop"]))
}

/// Builds and starts the desktop app. With no display on Linux it runs in a
/// virtual one (Xvfb), as on a headless machine.
pub fn run_desktop(ws: &Workspace) -> Result<()> {
    build_desktop(ws)?;
    let binary = ws
        .target_dir
        .join("debug")
        .join(format!("kith-desktop{}", std::env::consts::EXE_SUFFIX));
    let headless = cfg!(target_os = "linux")
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none();
    let mut cmd = if headless {
        if find_program("xvfb-run").is_none() {
            bail!("no display and no xvfb-run: run `cargo xtask setup` or start a desktop session");
        }
        println!("run: no display found; starting Kith inside Xvfb (xvfb-run)");
        let mut cmd = ws.command("xvfb-run");
        cmd.args(["-a", "-s", "-screen 0 1280x800x24", "dbus-run-session", "--"])
            .arg(&binary);
        cmd
    } else {
        ws.command(&binary)
    };
    println!("run: starting {}", binary.display());
    process::run(&mut cmd)
}
