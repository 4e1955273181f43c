//! Helpers shared by the CLI tests: run the real `kith` binary on a temp profile.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The `kith` binary built for these tests.
pub fn kith_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kith"))
}

/// A command for `kith --profile DIR ARGS...` with secrets in the profile
/// (tests must not litter the developer's keyring).
pub fn kith_cmd(profile: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(kith_bin());
    cmd.arg("--profile").arg(profile).args(args);
    cmd.env("KITH_SECRET_STORAGE", "file").env_remove("KITH_PROFILE");
    cmd
}

/// Runs and returns the output, whatever the exit status.
pub fn kith_raw(profile: &Path, args: &[&str]) -> Output {
    kith_cmd(profile, args).output().expect("run kith")
}

/// Runs, asserts success, returns stdout.
pub fn kith(profile: &Path, args: &[&str]) -> String {
    let out = kith_raw(profile, args);
    assert!(
        out.status.success(),
        "kith {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs with `--json`, asserts success, parses the one JSON value.
pub fn kith_json(profile: &Path, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let stdout = kith(profile, &full);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("kith {args:?} printed non-JSON {stdout:?}: {e}"))
}

/// Runs expecting failure; returns stderr. Asserts no panic.
pub fn kith_fails(profile: &Path, args: &[&str]) -> String {
    let out = kith_raw(profile, args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "kith {args:?} should fail");
    assert!(!stderr.contains("panicked"), "kith {args:?} panicked: {stderr}");
    stderr
}

/// `init` a profile named `name` in a fresh temp dir.
pub fn new_profile(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(name);
    kith(&dir, &["init", "--name", name]);
    (tmp, dir)
}

/// Creates a chat and returns its id.
pub fn new_chat(profile: &Path, name: &str) -> String {
    kith_json(profile, &["chat", "new", "--name", name])["chat_id"]
        .as_str()
        .expect("chat_id")
        .to_string()
}

/// Sends and returns the message id.
pub fn send(profile: &Path, chat: &str, text: &str) -> String {
    kith_json(profile, &["send", chat, text])["message_id"]
        .as_str()
        .expect("message_id")
        .to_string()
}

/// A running `kith-server` process on 127.0.0.1, port chosen by the OS.
pub struct ServerProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`, as it printed.
    pub url: String,
    /// The libp2p address (`/ip4/.../tcp/.../p2p/ID`) it printed, if any.
    pub p2p: Option<String>,
    pub data: PathBuf,
}

/// The `kith-server` binary: built beside `kith` (`cargo xtask test` builds
/// every binary before running the tests).
pub fn server_bin() -> PathBuf {
    let bin = kith_bin().with_file_name(format!("kith-server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p kith-server` (cargo xtask test does)",
        bin.display()
    );
    bin
}

impl ServerProcess {
    /// Starts a server on `data` (kept across restarts).
    pub fn start(data: &Path) -> ServerProcess {
        ServerProcess::start_with(data, &[])
    }

    /// Starts a server with extra arguments.
    pub fn start_with(data: &Path, extra: &[&str]) -> ServerProcess {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(server_bin())
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn kith-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut line).expect("listening line");
        let mut p2p = String::new();
        if !extra.contains(&"--no-p2p") {
            reader.read_line(&mut p2p).expect("p2p line");
        }
        let p2p = p2p.trim().strip_prefix("p2p on ").map(|a| a.to_owned());
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        ServerProcess {
            child,
            url,
            p2p,
            data: data.to_owned(),
        }
    }

    /// SIGKILL: no graceful shutdown.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `kith sync --server URL --once`, asserting success.
pub fn sync(profile: &Path, server: &ServerProcess) -> Value {
    kith_json(profile, &["sync", "--server", &server.url, "--once"])
}

/// Makes `b` a contact of `a` when `a` syncs with `a_server` and `b` with
/// `b_server` (two gateways of one service): `b` uses `a`'s invite.
pub fn befriend_across(a: &Path, a_server: &ServerProcess, b: &Path, b_server: &ServerProcess) {
    let invite = kith_json(a, &["whoami"])["invite"].as_str().expect("invite").to_owned();
    kith(b, &["contact", "add", &invite]);
    sync(b, b_server);
    sync(a, a_server);
    sync(b, b_server);
}

/// The account id of a profile.
pub fn account_of(profile: &Path) -> String {
    kith_json(profile, &["whoami"])["account_id"]
        .as_str()
        .expect("account_id")
        .to_owned()
}

/// Makes `b` a contact of `a` through the server (b uses a's invite).
pub fn befriend(a: &Path, b: &Path, server: &ServerProcess) {
    let invite = kith_json(a, &["whoami"])["invite"].as_str().expect("invite").to_owned();
    kith(b, &["contact", "add", &invite]);
    sync(b, server);
    sync(a, server);
    sync(b, server);
}

/// Copies a directory tree (a stopped server's data, a profile).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Asserts that no file under `dir` holds `needle` (as plaintext).
pub fn assert_no_file_holds(dir: &Path, needle: &str) {
    for (path, bytes) in read_all_files(dir) {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{} holds {needle:?}",
            path.display()
        );
    }
}

/// Every file under `dir`, recursively, with its contents.
pub fn read_all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).expect("read")));
            }
        }
    }
    out
}

/// Links a new device (an empty profile at `new_dir`) to `existing`'s account.
pub fn link_device(existing: &Path, new_dir: &Path, server: &ServerProcess) {
    use std::io::{BufRead, BufReader};
    let mut linker = kith_cmd(
        existing,
        &["device", "link", "--server", &server.url, "--timeout-secs", "30"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(linker.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let code = first
        .trim()
        .strip_prefix("pairing code: ")
        .unwrap_or_else(|| panic!("first line {first:?}"))
        .to_owned();
    let joined = kith_json(new_dir, &["device", "join", &code, "--server", &server.url]);
    assert_eq!(joined["account_id"], account_of(existing).as_str());
    let mut rest = String::new();
    stdout.read_line(&mut rest).unwrap();
    assert!(rest.starts_with("linked device "), "{rest:?}");
    assert!(linker.wait().unwrap().success());
}

/// The `chats --json` row of `chat` (panics when the profile has no such chat).
pub fn chat_row(profile: &Path, chat: &str) -> Value {
    kith_json(profile, &["chats"])
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["chat_id"] == chat)
        .cloned()
        .unwrap_or_else(|| panic!("{} has no chat {chat}", profile.display()))
}

/// A running `kith --json sync --watch` whose output lines can be awaited.
pub struct Watcher {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Watcher {
    /// Starts watching and waits until it is connected and subscribed.
    pub fn start(profile: &Path, server: &ServerProcess) -> Watcher {
        use std::io::{BufRead, BufReader};
        let args = [
            "--json",
            "sync",
            "--server",
            &server.url,
            "--watch",
            "--timeout-secs",
            "60",
        ];
        let mut child = kith_cmd(profile, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut watcher = Watcher { child, lines };
        watcher.wait_for(|line| line.contains("\"idle\""));
        watcher
    }

    /// The first line from now on that matches; panics after 20 s.
    pub fn wait_for(&mut self, matches: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if matches(&line) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no matching line; saw {seen:#?}");
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `messages --json` row of message `id` in `chat`.
pub fn status_of(profile: &Path, chat: &str, id: &str) -> Value {
    kith_json(profile, &["messages", chat])
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no message {id}"))
}
