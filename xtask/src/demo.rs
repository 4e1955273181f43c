//! `cargo xtask run`: build `kith` and `kith-server` and walk through a
//! guided demo of the CLI: one person's chat, then a second person who joins
//! through a sync server on 127.0.0.1. The profiles are kept afterwards.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::process::{self, quote};
use crate::workspace::Workspace;
use crate::{json, setup};

/// Runs setup, builds `kith` and `kith-server` in release mode and runs the demo.
pub fn run(ws: &Workspace) -> Result<()> {
    setup::run(ws)?;
    process::run(
        ws.cargo()
            .args(["build", "--release", "--locked", "-p", "kith-cli", "-p", "kith-server"]),
    )?;
    let kith = ws.release_binary("kith");
    let server = ws.release_binary("kith-server");
    for binary in [&kith, &server] {
        if !binary.is_file() {
            bail!("the build finished but {} does not exist", binary.display());
        }
    }
    let base = fresh_profile_dir()?;
    let profile = base.join("alice");

    println!();
    println!("kith:    {}", kith.display());
    println!("profile: {} (kept after the demo)", profile.display());
    println!();
    let demo = Demo { kith, profile };
    let chat = demo.script()?;
    let relay = demo.relay_script(&server, &base, &chat)?;
    demo.print_next_steps(&chat, &relay);
    Ok(())
}

/// What the relay part of the demo left behind.
#[derive(Debug)]
struct RelayDemo {
    /// Bob's profile.
    bob: PathBuf,
    /// The server's data directory.
    data: PathBuf,
}

/// A `kith-server` child process, killed when dropped.
struct ServerChild {
    child: std::process::Child,
    url: String,
}

impl ServerChild {
    fn start(binary: &Path, data: &Path) -> Result<ServerChild> {
        use std::io::{BufRead, BufReader};
        println!("$ kith-server --data {} --listen 127.0.0.1:0", quote(data));
        let mut child = Command::new(binary)
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        print!("{line}");
        println!();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected first line from kith-server: {line:?}"))?
            .to_owned();
        Ok(ServerChild { child, url })
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh, empty directory under the system temp dir, unique to this run.
fn fresh_profile_dir() -> Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("kith-demo-{secs}-{}", std::process::id()));
    fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The demo: the `kith` binary and the profile it runs against.
#[derive(Debug)]
struct Demo {
    /// Path of the release `kith` binary.
    kith: PathBuf,
    /// The demo's profile directory.
    profile: PathBuf,
}

impl Demo {
    /// The guided tour, one `kith` invocation at a time; returns the id of
    /// the chat it created.
    fn script(&self) -> Result<String> {
        self.kith(&["init", "--name", "Alice"])?;
        self.kith(&["--json", "whoami"])?;

        let out = self.kith(&["--json", "chat", "new", "--name", "Book club"])?;
        let chat = json::find_string(&out, "chat_id").context("reading `kith chat new` output")?;
        let out = self.kith(&["--json", "send", &chat, "Welcome to the book club!"])?;
        let welcome = json::find_string(&out, "message_id").context("reading `kith send` output")?;

        self.kith(&["send", &chat, "Next up: Piranesi"])?;
        self.kith(&["--json", "send", &chat, "Great pick", "--reply-to", &welcome])?;
        self.kith(&["edit", &chat, &welcome, "Welcome to the book club, everyone!"])?;
        self.kith(&["react", &chat, &welcome, "👍"])?;
        self.kith(&["--json", "chats"])?;
        self.kith(&["read", &chat])?;
        self.kith(&["--json", "chats"])?;
        self.kith(&["messages", &chat])?;
        self.kith(&["search", "piran"])?;

        let export = self.profile.join("export");
        self.kith(&[OsStr::new("export"), export.as_os_str()])?;
        list_dir(&export)?;
        Ok(chat)
    }

    /// Bob joins through a sync server: invite, contacts, the book club,
    /// messages both ways, end-to-end encrypted.
    fn relay_script(&self, server_binary: &Path, base: &Path, chat: &str) -> Result<RelayDemo> {
        println!("--- Now a second person, through a sync server on 127.0.0.1 ---");
        println!();
        let data = base.join("server-data");
        let server = ServerChild::start(server_binary, &data)?;
        let bob = base.join("bob");
        let url = server.url.as_str();
        self.kith_as(&bob, &["init", "--name", "Bob"])?;
        let out = self.kith(&["--json", "whoami"])?;
        let invite = json::find_string(&out, "invite").context("reading `kith whoami` output")?;
        self.kith_as(&bob, &["contact", "add", &invite])?;
        self.kith_as(&bob, &["sync", "--server", url])?;
        self.kith(&["sync", "--server", url])?;
        self.kith_as(&bob, &["sync", "--server", url])?;
        self.kith(&["contacts"])?;
        let out = self.kith_as(&bob, &["--json", "whoami"])?;
        let bob_id = json::find_string(&out, "account_id").context("reading Bob's account id")?;
        self.kith(&["member", "add", chat, &bob_id])?;
        self.kith(&["send", chat, "Bob, welcome! The whole history is yours too."])?;
        self.kith(&["sync", "--server", url])?;
        self.kith_as(&bob, &["sync", "--server", url])?;
        self.kith_as(&bob, &["messages", chat])?;
        self.kith_as(&bob, &["send", chat, "Thanks! Reading Piranesi now."])?;
        self.kith_as(&bob, &["sync", "--server", url])?;
        self.kith(&["sync", "--server", url])?;
        self.kith(&["messages", chat])?;
        drop(server);
        Ok(RelayDemo { bob, data })
    }

    /// Runs `kith` on this demo's profile.
    fn kith(&self, args: &[impl AsRef<OsStr>]) -> Result<String> {
        self.kith_as(&self.profile, args)
    }

    /// Prints `$ kith --profile DIR ARGS`, runs it, shows its stdout and
    /// stderr, and returns stdout; fails if it exits non-zero.
    fn kith_as(&self, profile: &Path, args: &[impl AsRef<OsStr>]) -> Result<String> {
        let shown: Vec<String> = args.iter().map(quote).collect();
        println!("$ kith --profile {} {}", quote(profile), shown.join(" "));
        let out = process::output(
            Command::new(&self.kith)
                .arg("--profile")
                .arg(profile)
                .args(args)
                .env("KITH_SECRET_STORAGE", "file"),
        )?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        print!("{stdout}");
        if !stdout.is_empty() && !stdout.ends_with('\n') {
            println!();
        }
        // Keep stdout and stderr in order when both go to a pipe.
        let _ = std::io::stdout().flush();
        if !stderr.is_empty() {
            eprint!("{stderr}");
            if !stderr.ends_with('\n') {
                eprintln!();
            }
        }
        println!();
        if !out.status.success() {
            bail!(
                "demo step `kith {}` failed ({}); the profile is kept at {}",
                shown.join(" "),
                out.status,
                profile.display()
            );
        }
        Ok(stdout)
    }

    /// Tells the user where things are and what to try next.
    fn print_next_steps(&self, chat: &str, relay: &RelayDemo) {
        let kith = quote(&self.kith);
        let profile = quote(&self.profile);
        println!("That was the demo. The profile is kept at {profile}.");
        println!("Try next:");
        println!("  alias kith={}", quote(format!("{kith} --profile {profile}")));
        println!("  kith --help");
        println!("  kith chats");
        println!("  kith messages {}", quote(chat));
        println!("  kith send {} \"See you Thursday\"", quote(chat));
        println!(
            "Bob's profile is at {}; the server's data at {} (ciphertext only).",
            quote(&relay.bob),
            quote(&relay.data)
        );
        println!("To chat between them again, start the server on that data:");
        println!(
            "  {} --data {} --listen 127.0.0.1:0",
            quote(self.kith.with_file_name("kith-server")),
            quote(&relay.data)
        );
        println!("For a profile of your own, run {kith} without --profile.");
    }
}

/// Prints `$ ls DIR` and every file below `dir` with its size.
fn list_dir(dir: &Path) -> Result<()> {
    println!("$ ls {}", quote(dir));
    let mut entries = Vec::new();
    collect_files(dir, dir, &mut entries)?;
    entries.sort();
    for (path, size) in entries {
        println!("{path}  ({size} bytes)");
    }
    println!();
    Ok(())
}

/// Appends every file below `dir` as (path relative to `base`, size).
fn collect_files(base: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        let meta = entry
            .metadata()
            .with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            collect_files(base, &path, out)?;
        } else {
            let relative = path.strip_prefix(base).unwrap_or(&path);
            out.push((relative.display().to_string(), meta.len()));
        }
    }
    Ok(())
}
