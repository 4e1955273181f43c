//! A real `kith-server` process for the relay benchmarks: started on
//! 127.0.0.1 with an OS-chosen port and a temporary data directory, killed
//! when dropped.

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tempfile::TempDir;

/// The `kith-server` binary, which must sit beside this one (same target directory).
pub fn binary() -> Result<PathBuf> {
    let me = std::env::current_exe().context("locating the kith-bench binary")?;
    let bin = me.with_file_name(format!("kith-server{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!(
            "{} is missing: the relay benchmarks start a real kith-server built beside kith-bench; \
             run `cargo build --release -p kith-server` (with the same target directory) first",
            bin.display()
        );
    }
    Ok(bin)
}

/// A running `kith-server` process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub url: String,
    data: TempDir,
}

impl ServerProcess {
    /// Starts `bin` on a fresh data directory and waits for its
    /// `listening on http://ADDR` line.
    pub fn start(bin: &Path) -> Result<ServerProcess> {
        ServerProcess::start_with(bin, &[])
    }

    /// [`ServerProcess::start`] with extra arguments.
    pub fn start_with(bin: &Path, extra: &[&str]) -> Result<ServerProcess> {
        let data = tempfile::tempdir()?;
        let child = Command::new(bin)
            .arg("--data")
            .arg(data.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            // Its request log would only cost time: keep warnings and errors.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        // From here on, dropping the value kills the process.
        let mut server = ServerProcess {
            child,
            url: String::new(),
            data,
        };
        let stdout = server
            .child
            .stdout
            .take()
            .context("kith-server's stdout was not captured")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading kith-server's first line")?;
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            bail!("kith-server did not start: its first line was {line:?} (expected `listening on http://ADDR`)");
        };
        server.url = url.to_owned();
        Ok(server)
    }

    /// The address in [`ServerProcess::url`].
    pub fn addr(&self) -> Result<std::net::SocketAddr> {
        self.url
            .trim_start_matches("http://")
            .parse()
            .with_context(|| format!("{:?} is not the server's address", self.url))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's database file.
    pub fn db_path(&self) -> PathBuf {
        self.data.path().join("server.db")
    }

    /// Envelopes stored on the server and the sum of their ciphertext bytes.
    pub fn stored(&self) -> Result<(u64, u64)> {
        let path = self.db_path();
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening {}", path.display()))?;
        let (count, bytes): (i64, i64) = conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(ciphertext)), 0) FROM entries",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok((u64::try_from(count)?, u64::try_from(bytes)?))
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn stop(&mut self) {
        // It may have exited already; either way it is gone afterwards.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
