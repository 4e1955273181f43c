//! `desktop_start_ms` / `desktop_idle_rss_mib`: the real `kith-desktop`
//! started on a profile holding many messages, timed from spawn until the UI
//! reports the chat list painted, then left idle and measured: the memory of
//! the whole app (PSS of the shell and every WebKit process it started).
//! The baseline is the same app on an empty profile, in the same run.

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::corpus::Vocabulary;
use crate::fixtures;
use crate::progress::Progress;
use crate::report::{Budget, Metric, Subject};
use crate::sizes::Sizes;

/// Chats the messages are spread over.
const CHATS: usize = 20;
/// How long the app is left alone before its memory is read.
const IDLE: Duration = Duration::from_secs(3);
/// Longest wait for the chat list.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the desktop benchmark.
pub fn run(sizes: &Sizes, vocab: &Vocabulary, progress: &Progress, app: &Path) -> Result<Vec<Metric>> {
    if !app.is_file() {
        bail!(
            "{} is missing: build kith-desktop first (cargo xtask test does)",
            app.display()
        );
    }
    if std::env::var("KITH_SECRET_STORAGE").as_deref() != Ok("file") {
        bail!("run with KITH_SECRET_STORAGE=file: the benchmark's profiles must not touch the OS keyring");
    }
    let tmp = tempfile::tempdir()?;
    let empty = tmp.path().join("empty");
    let full = tmp.path().join("full");
    kith_client::Profile::init(&empty, "Empty").context("creating the empty profile")?;
    progress.say(
        "desktop",
        &format!("storing {} messages in {CHATS} chats", sizes.desktop_messages),
    );
    {
        let profile = kith_client::Profile::init(&full, "Busy").context("creating the busy profile")?;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0x6465_736b);
        let per_chat = sizes.desktop_messages / CHATS;
        for index in 0..CHATS {
            let chat = profile
                .chats()
                .create(&format!("Chat {index}"), &[], kith_client::ChatKind::Group)?;
            let texts = fixtures::texts(vocab, per_chat, super::TEXT_BYTES, &mut rng);
            fixtures::fill_segment(&profile, &chat, &texts)?;
        }
    }
    let mut start_empty = Vec::new();
    let mut start_full = Vec::new();
    let mut rss_empty = Vec::new();
    let mut rss_full = Vec::new();
    for run in 0..sizes.desktop_runs {
        progress.say("desktop", &format!("start {}/{}", run + 1, sizes.desktop_runs));
        // Interleaved, so drift of the machine hits both alike.
        let (ms, mib) = start(app, &empty)?;
        start_empty.push(ms);
        rss_empty.push(mib);
        let (ms, mib) = start(app, &full)?;
        start_full.push(ms);
        rss_full.push(mib);
    }
    let median = |v: &[f64]| {
        let mut sorted = v.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let note = format!(
        "{} starts of the real app each (median), {} messages in {CHATS} chats vs an empty profile; \
         memory = PSS of the shell + WebKit processes after {} s idle",
        sizes.desktop_runs,
        sizes.desktop_messages,
        IDLE.as_secs()
    );
    Ok(vec![
        Metric::new(
            "desktop_start_ms",
            "ms",
            median(&start_full),
            Some(median(&start_empty)),
            Some(Budget::Below(Subject::Value, 400.0)),
        )
        .note(note.clone()),
        Metric::new(
            "desktop_idle_pss_mib",
            "MiB",
            median(&rss_full),
            Some(median(&rss_empty)),
            Some(Budget::Below(Subject::Value, 200.0)),
        )
        .note(note),
    ])
}

/// Starts the app on `profile`: milliseconds until the chat list is painted,
/// and the app's resident memory after it idled.
fn start(app: &Path, profile: &Path) -> Result<(f64, f64)> {
    let started = Instant::now();
    let mut command = Command::new(app);
    command
        .arg("--profile")
        .arg(profile)
        .env("KITH_STARTUP_REPORT", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group, so the WebKit children can be ended with it.
        command.process_group(0);
    }
    let mut child = AppProcess(command.spawn().context("starting kith-desktop")?);
    let stdout = child.0.stdout.take().context("app stdout")?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("chat list painted") {
                let _ = sender.send(started.elapsed());
            }
        }
    });
    let painted = receiver
        .recv_timeout(START_TIMEOUT)
        .context("the app did not report its chat list in time")?;
    std::thread::sleep(IDLE);
    let rss = tree_pss_mib(child.0.id()).unwrap_or(f64::NAN);
    Ok((painted.as_secs_f64() * 1000.0, rss))
}

/// Ends the app and its process group when dropped.
struct AppProcess(Child);

impl Drop for AppProcess {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let group = format!("-{}", self.0.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Memory of `root` and all its descendants in MiB (Linux): the sum of their
/// proportional set sizes, so libraries they share count once, not once per
/// process as a sum of RSS would.
fn tree_pss_mib(root: u32) -> Option<f64> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent pid follows the command name, which ends at the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        index += 1;
    }
    // A process that ended meanwhile simply counts nothing.
    let kib: f64 = tree
        .iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            let line = status.lines().find(|l| l.starts_with("Pss:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .sum();
    Some(kib / 1024.0)
}
