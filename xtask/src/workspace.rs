//! Where the workspace and its shared target directory live.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

/// The target directory used when `CARGO_TARGET_DIR` is not set, relative to
/// the home directory. One shared directory keeps disk use down (a full set of
/// Kith build outputs is several GB).
const DEFAULT_TARGET_DIR: &str = ".cache/kith-target";

/// The Kith workspace: its root and the target directory every cargo child uses.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root (the directory holding the top-level Cargo.toml).
    pub root: PathBuf,
    /// Absolute target directory, exported to children as `CARGO_TARGET_DIR`.
    pub target_dir: PathBuf,
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
        Ok(Self { root, target_dir })
    }

    /// A command for `program` that runs in the workspace root with
    /// `CARGO_TARGET_DIR` exported.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.root).env("CARGO_TARGET_DIR", &self.target_dir);
        cmd
    }

    /// A `cargo` command that runs in the workspace root with
    /// `CARGO_TARGET_DIR` exported.
    pub fn cargo(&self) -> Command {
        self.command("cargo")
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
