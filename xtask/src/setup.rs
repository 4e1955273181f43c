//! `cargo xtask setup`: idempotent installs of what building and testing
//! Kith needs. Every step checks first and prints one line saying what it did
//! or that it was already there.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::process::{self, find_program, is_root};
use crate::workspace::Workspace;

/// A group of Debian packages with the reason the project needs them.
#[derive(Debug)]
pub struct PackageGroup {
    /// What the packages are for, shown in setup's output.
    pub purpose: &'static str,
    /// Debian package names.
    pub packages: &'static [&'static str],
}

/// Every Debian package the project needs, grouped by purpose. To need a
/// new package, add it here (to a group or as a new group); nothing else
/// changes.
pub const DEBIAN_PACKAGES: &[PackageGroup] = &[
    PackageGroup {
        purpose: "build toolchain",
        packages: &["build-essential", "pkg-config"],
    },
    PackageGroup {
        purpose: "OS keyring tests (private D-Bus session with gnome-keyring)",
        packages: &["dbus", "dbus-x11", "gnome-keyring", "libsecret-tools"],
    },
    PackageGroup {
        purpose: "desktop app (Tauri 2 on WebKitGTK)",
        packages: &[
            "libwebkit2gtk-4.1-dev",
            "libgtk-3-dev",
            "libsoup-3.0-dev",
            "libjavascriptcoregtk-4.1-dev",
            "librsvg2-dev",
            "libayatana-appindicator3-dev",
            "libxdo-dev",
            "libssl-dev",
            "file",
            // kith:// links are registered with the desktop through these.
            "desktop-file-utils",
            "xdg-utils",
            // Emoji in messages and reactions render in colour, as on any desktop.
            "fonts-noto-color-emoji",
            // Voice notes play: WebKitGTK's media goes through GStreamer
            // (WAV, WebM and Ogg demuxers, Opus and Vorbis decoders).
            "gstreamer1.0-plugins-base",
            "gstreamer1.0-plugins-good",
        ],
    },
    PackageGroup {
        purpose: "videos: converted with GStreamer (kith-video), played by WebKitGTK; test clips",
        packages: &[
            "libgstreamer1.0-dev",
            "libgstreamer-plugins-base1.0-dev",
            // H.264/HEVC/AAC from phones are decoded by libav's decoders.
            "gstreamer1.0-libav",
            // WebKitGTK's video sink uploads frames through GstGL.
            "gstreamer1.0-gl",
            // gst-launch-1.0 writes the test clips.
            "gstreamer1.0-tools",
        ],
    },
    PackageGroup {
        purpose: "kith-server's scale-out backends under test (a throwaway PostgreSQL per test run; NATS); an SMTP sink for email nudges",
        packages: &["postgresql", "nats-server", "python3-aiosmtpd"],
    },
    PackageGroup {
        purpose: "desktop app under a virtual display, WebDriver UI tests, screenshots",
        packages: &["xvfb", "xauth", "webkit2gtk-driver", "imagemagick", "xdotool"],
    },
];

/// What a user on a system without apt-get must install by hand.
const MANUAL_INSTALL_HINT: &str = if cfg!(target_os = "macos") {
    "the Xcode command line tools (`xcode-select --install`)"
} else if cfg!(windows) {
    "Visual Studio Build Tools with the \"Desktop development with C++\" workload"
} else {
    "a C toolchain (cc, make) and pkg-config; for real-keyring tests: dbus \
     (dbus-run-session), gnome-keyring and libsecret's secret-tool"
};

/// rustup components the checks need.
const RUSTUP_COMPONENTS: &[&str] = &["clippy", "rustfmt"];

/// A command-line tool installed with `cargo install` at an exact version.
#[derive(Debug)]
pub struct PinnedTool {
    /// The crate to install.
    pub krate: &'static str,
    /// The binary the crate installs (checked with `BINARY --version`).
    pub binary: &'static str,
    /// The exact version; `BINARY --version` must print it as a word.
    pub version: &'static str,
    /// Whether to pass `--locked` (some crates' lockfiles do not resolve).
    pub locked: bool,
}

/// Tools installed with `cargo install NAME --version X` when `NAME --version`
/// does not report X.
const PINNED_TOOLS: &[PinnedTool] = &[
    // Must equal the `wasm-bindgen` crate in Cargo.lock (checked by the UI build).
    // Not `--locked`: its lockfile names a version the registry no longer has.
    PinnedTool {
        krate: "wasm-bindgen-cli",
        binary: "wasm-bindgen",
        version: "0.2.130",
        locked: false,
    },
    // Runs the fuzz targets in fuzz/ (with `--sanitizer none`, on stable).
    PinnedTool {
        krate: "cargo-fuzz",
        binary: "cargo-fuzz",
        version: "0.13.2",
        locked: true,
    },
    // The WebDriver proxy in front of WebKitWebDriver for the UI tests.
    PinnedTool {
        krate: "tauri-driver",
        binary: "tauri-driver",
        version: "2.1.0",
        locked: true,
    },
];

/// Rust targets the build needs: the shared types crate must build for the
/// browser-side UI (wasm32).
const RUSTUP_TARGETS: &[&str] = &["wasm32-unknown-unknown"];

/// Runs every setup step.
pub fn run(ws: &Workspace) -> Result<()> {
    debian_packages()?;
    rustup_components(ws)?;
    rustup_targets(ws)?;
    pinned_tools(ws)?;
    Ok(())
}

/// Installs missing Debian packages: one `apt-get update`, one
/// `apt-get install`, and only if something is missing.
fn debian_packages() -> Result<()> {
    let all = || DEBIAN_PACKAGES.iter().flat_map(|group| group.packages.iter());
    if !cfg!(target_os = "linux") {
        println!("setup: system packages: not Linux; install yourself if missing: {MANUAL_INSTALL_HINT}");
        return Ok(());
    }
    if find_program("apt-get").is_none() || find_program("dpkg-query").is_none() {
        let names = all().copied().collect::<Vec<_>>().join(" ");
        println!(
            "setup: system packages: no apt-get; install the equivalents of these Debian packages yourself: {names}"
        );
        return Ok(());
    }

    let mut missing = Vec::new();
    for &package in all() {
        if !is_installed(package)? {
            missing.push(package);
        }
    }
    if !missing.is_empty() {
        apt_install(&missing)?;
        let still_missing: Vec<&str> = missing
            .iter()
            .copied()
            .filter(|package| !matches!(is_installed(package), Ok(true)))
            .collect();
        if !still_missing.is_empty() {
            bail!(
                "apt-get install succeeded but these packages are still not installed: {}",
                still_missing.join(" ")
            );
        }
    }
    for group in DEBIAN_PACKAGES {
        let (new, old): (Vec<&str>, Vec<&str>) = group.packages.iter().partition(|package| missing.contains(package));
        let mut parts = Vec::new();
        if !new.is_empty() {
            parts.push(format!("installed {}", new.join(" ")));
        }
        if !old.is_empty() {
            parts.push(format!("already installed {}", old.join(" ")));
        }
        println!("setup: apt, {}: {}", group.purpose, parts.join("; "));
    }
    Ok(())
}

/// Whether dpkg reports `package` as installed.
fn is_installed(package: &str) -> Result<bool> {
    let out = process::output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))?;
    Ok(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
}

/// `apt-get update` then `apt-get install` of `packages`, through sudo when
/// not root.
fn apt_install(packages: &[&str]) -> Result<()> {
    let use_sudo = if is_root() {
        false
    } else if find_program("sudo").is_some() {
        true
    } else {
        bail!(
            "missing Debian packages and neither root nor sudo available; as root run: \
             apt-get update && apt-get install -y --no-install-recommends {}",
            packages.join(" ")
        );
    };
    let apt_get = |args: &[&str]| {
        let mut cmd = if use_sudo {
            let mut cmd = Command::new("sudo");
            // sudo resets the environment, so pass the variable through env(1).
            cmd.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            cmd
        } else {
            let mut cmd = Command::new("apt-get");
            cmd.env("DEBIAN_FRONTEND", "noninteractive");
            cmd
        };
        cmd.args(args);
        cmd
    };
    process::run(&mut apt_get(&["update"]))?;
    let mut install = apt_get(&["install", "-y", "--no-install-recommends"]);
    install.args(packages);
    process::run(&mut install)
}

/// Adds missing rustup components (from the workspace root, so a
/// rust-toolchain file there applies).
fn rustup_components(ws: &Workspace) -> Result<()> {
    if find_program("rustup").is_none() {
        println!(
            "setup: rustup: not found; make sure your toolchain has {}",
            RUSTUP_COMPONENTS.join(" and ")
        );
        return Ok(());
    }
    let installed = process::stdout_of(ws.command("rustup").args(["component", "list", "--installed"]))?;
    let is_installed = |component: &str| {
        installed
            .lines()
            .map(str::trim)
            .any(|line| line == component || line.starts_with(&format!("{component}-")))
    };
    let missing: Vec<&str> = RUSTUP_COMPONENTS
        .iter()
        .copied()
        .filter(|component| !is_installed(component))
        .collect();
    if !missing.is_empty() {
        process::run(ws.command("rustup").args(["component", "add"]).args(&missing))?;
    }
    for component in RUSTUP_COMPONENTS {
        let what = if missing.contains(component) {
            "installed"
        } else {
            "already installed"
        };
        println!("setup: rustup component {component}: {what}");
    }
    Ok(())
}

/// Adds missing rustup targets.
fn rustup_targets(ws: &Workspace) -> Result<()> {
    if find_program("rustup").is_none() {
        println!(
            "setup: rustup: not found; make sure your toolchain has the targets {}",
            RUSTUP_TARGETS.join(", ")
        );
        return Ok(());
    }
    let installed = process::stdout_of(ws.command("rustup").args(["target", "list", "--installed"]))?;
    for target in RUSTUP_TARGETS {
        if installed.lines().any(|line| line.trim() == *target) {
            println!("setup: rustup target {target}: already installed");
        } else {
            process::run(ws.command("rustup").args(["target", "add", target]))?;
            println!("setup: rustup target {target}: installed");
        }
    }
    Ok(())
}

/// Installs every [`PINNED_TOOLS`] entry whose binary does not report the
/// pinned version.
fn pinned_tools(ws: &Workspace) -> Result<()> {
    // What cargo itself installed (tauri-driver has no `--version`).
    let cargo_list = process::stdout_of(ws.cargo().args(["install", "--list"])).unwrap_or_default();
    for tool in PINNED_TOOLS {
        let listed = cargo_list
            .lines()
            .any(|line| line.trim_end_matches(':') == format!("{} v{}", tool.krate, tool.version));
        if (listed && find_program(tool.binary).is_some()) || reports_version(tool) {
            println!("setup: {} {}: already installed", tool.binary, tool.version);
            continue;
        }
        let mut cmd = ws.cargo();
        cmd.args(["install", tool.krate, "--version", tool.version]);
        if tool.locked {
            cmd.arg("--locked");
        }
        process::run(&mut cmd).with_context(|| format!("installing {} {}", tool.krate, tool.version))?;
        println!("setup: {} {}: installed", tool.binary, tool.version);
    }
    Ok(())
}

/// Whether `BINARY --version` runs and prints the pinned version as a word
/// (so 0.2.13 does not match 0.2.130).
fn reports_version(tool: &PinnedTool) -> bool {
    process::stdout_of(Command::new(tool.binary).arg("--version")).is_ok_and(|out| {
        out.split_whitespace()
            .any(|word| word.trim_start_matches('v') == tool.version)
    })
}
