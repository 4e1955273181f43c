//! The built binaries and the processes the scenarios run.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory holding the workspace's binaries (`target/debug`): the test
/// executable lives in its `deps/` folder.
pub fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("test executable has no folder")?;
    Ok(deps.parent().context("deps has no parent")?.to_owned())
}

/// A built binary of the workspace, with a clear error when it is missing.
pub fn binary(name: &str) -> Result<PathBuf> {
    let path = bin_dir()?.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        bail!(
            "{} is missing: build the workspace's binaries first (cargo xtask test does)",
            path.display()
        );
    }
    Ok(path)
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A process killed when dropped.
#[derive(Debug)]
pub struct Running {
    child: Child,
}

impl Running {
    /// Wraps a spawned child.
    pub fn new(child: Child) -> Running {
        Running { child }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kith-server` on 127.0.0.1 with a port the OS chose.
#[derive(Debug)]
pub struct Server {
    _process: Running,
    /// Its WebSocket URL.
    pub url: String,
}

impl Server {
    /// Starts one with its data in `data`.
    pub fn start(data: &Path) -> Result<Server> {
        let mut child = Command::new(binary("kith-server")?)
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting kith-server")?;
        let stdout = child.stdout.take().context("kith-server stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected first line from kith-server: {line:?}"))?
            .to_owned();
        Ok(Server {
            _process: Running::new(child),
            url,
        })
    }
}

/// Runs `kith --profile DIR --json ARGS...` and parses its JSON output.
pub fn kith(profile: &Path, args: &[&str]) -> Result<Value> {
    let out = Command::new(binary("kith")?)
        .arg("--profile")
        .arg(profile)
        .arg("--json")
        .args(args)
        .env("KITH_SECRET_STORAGE", "file")
        .output()?;
    if !out.status.success() {
        bail!("kith {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8(out.stdout)?;
    let last = text.lines().last().unwrap_or("null");
    Ok(serde_json::from_str(last)?)
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(err) => last_error = Some(err),
        }
        if Instant::now() >= deadline {
            match last_error {
                Some(err) => bail!("timed out waiting for {what}; last error: {err:#}"),
                None => bail!("timed out waiting for {what}"),
            }
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}
