//! Where the workspace and its shared target directory live.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

/// The target directory used when `CARGO_TARGET_DIR` is not set, relative to
/// the home directory. One shared directory keeps disk use down (a full set of
/// Kith build outputs is several GB).
const DEFAULT_TARGET_DIR: &str = ".cache/kith-target";

/// Arguments clippy-driver reads from `CLIPPY_ARGS` (`__CLIPPY_HACKERY__`
/// separates them, as `cargo clippy -- -D warnings` would pass them).
const CLIPPY_ARGS: &str = "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__";

/// The Kith workspace: its root and the target directory every cargo child uses.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root (the directory holding the top-level Cargo.toml).
    pub root: PathBuf,
    /// Absolute target directory, exported to children as `CARGO_TARGET_DIR`.
    pub target_dir: PathBuf,
    /// When set, every cargo child compiles the workspace's own crates through
    /// this `clippy-driver` with `-D warnings` (see [`Workspace::with_lints`]).
    pub clippy_driver: Option<PathBuf>,
}

impl Workspace {
    /// Finds the workspace root (the parent of this crate's manifest
    /// directory) and the target directory: `CARGO_TARGET_DIR` when set,
    /// otherwise `$HOME/.cache/kith-target`.
    pub fn locate() -> Result<Self> {
        // The checkout we are run from, not the one this binary was built
        // from: two checkouts sharing one target directory share the
        // `xtask` binary too.
        let from_cwd = env::current_dir()
            .ok()
            .and_then(|cwd| cwd.ancestors().find(|dir| is_kith_root(dir)).map(Path::to_path_buf));
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = match from_cwd {
            Some(root) => root,
            None => manifest_dir
                .parent()
                .with_context(|| format!("{} has no parent directory", manifest_dir.display()))?
                .to_path_buf(),
        };
        let target_dir = match env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
            // A relative CARGO_TARGET_DIR is relative to where cargo was started,
            // which is our current directory; children run from the root.
            Some(dir) => std::path::absolute(&dir)
                .with_context(|| format!("cannot make {} absolute", Path::new(&dir).display()))?,
            None => home_dir()?.join(DEFAULT_TARGET_DIR),
        };
        Ok(Self {
            root,
            target_dir,
            clippy_driver: None,
        })
    }

    /// A command for `program` that runs in the workspace root with
    /// `CARGO_TARGET_DIR` exported (and the lint wrapper, if set).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.root).env("CARGO_TARGET_DIR", &self.target_dir);
        // On every child, not only cargo: the test steps start cargo through
        // dbus-run-session and xvfb-run.
        if let Some(driver) = &self.clippy_driver {
            cmd.env("RUSTC_WORKSPACE_WRAPPER", driver)
                .env("CLIPPY_ARGS", CLIPPY_ARGS);
        }
        cmd
    }

    /// A `cargo` command that runs in the workspace root with
    /// `CARGO_TARGET_DIR` exported (and the lint wrapper, if set).
    pub fn cargo(&self) -> Command {
        self.command("cargo")
    }

    /// The same workspace, but every `cargo build`/`test`/`run` lints the
    /// workspace's crates with clippy (`-D warnings`) while it compiles them.
    ///
    /// This is what `cargo clippy` does (clippy-driver as the workspace
    /// wrapper), except that the compile also produces code: lints and build
    /// share one compilation instead of a check pass plus a build pass, and
    /// dependencies are compiled once. Every cargo child of a run must use it,
    /// or the workspace's crates are compiled again without the wrapper.
    pub fn with_lints(&self, clippy_driver: PathBuf) -> Self {
        Self {
            clippy_driver: Some(clippy_driver),
            ..self.clone()
        }
    }

    /// Path of a binary built by `cargo build --release`.
    pub fn release_binary(&self, name: &str) -> PathBuf {
        self.target_dir
            .join("release")
            .join(format!("{name}{}", env::consts::EXE_SUFFIX))
    }
}

/// The user's home directory, from `HOME` (or `USERPROFILE` on Windows).
fn home_dir() -> Result<PathBuf> {
    ["HOME", "USERPROFILE"]
        .iter()
        .filter_map(env::var_os)
        .find(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .context("neither HOME nor USERPROFILE is set; set CARGO_TARGET_DIR instead")
}

/// Whether `dir` is the root of a Kith checkout (its workspace manifest
/// lists `xtask`).
fn is_kith_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|manifest| manifest.contains("[workspace]") && manifest.contains("\"xtask\""))
        && dir.join("xtask").is_dir()
}
