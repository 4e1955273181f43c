//! Facts about the machine and the libraries, printed above the results.

use std::fmt;

/// The automerge version this workspace pins (`automerge = "=0.12.0"`).
const AUTOMERGE_VERSION: &str = "0.12.0";

/// What the numbers were measured on.
#[derive(Clone, Debug)]
pub struct Facts {
    /// Logical cores available to this process.
    pub cores: usize,
    /// Operating system and architecture.
    pub os: String,
    /// The pinned automerge version.
    pub automerge: &'static str,
    /// The bundled SQLite's version, as reported by the library.
    pub sqlite: &'static str,
    /// Whether this binary was built with optimisations.
    pub release: bool,
}

impl Facts {
    /// Reads the facts of this machine and build.
    pub fn gather() -> Facts {
        Facts {
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            automerge: AUTOMERGE_VERSION,
            sqlite: rusqlite::version(),
            release: !cfg!(debug_assertions),
        }
    }
}

impl fmt::Display for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "machine: {} cores, {} | automerge {} | SQLite {} (bundled) | {} build",
            self.cores,
            self.os,
            self.automerge,
            self.sqlite,
            if self.release {
                "release"
            } else {
                "DEBUG (numbers are meaningless)"
            }
        )
    }
}

/// This process's peak resident memory in MiB (Linux; `None` elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// Another process's resident memory in KiB (Linux; `None` elsewhere).
pub fn rss_kib_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Another process's peak resident memory in MiB (Linux; `None` elsewhere).
pub fn peak_rss_mib_of(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// This process's resident memory in MiB (Linux; `None` elsewhere).
pub fn rss_mib() -> Option<f64> {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
