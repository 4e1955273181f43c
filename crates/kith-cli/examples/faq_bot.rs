//! An onboarding and FAQ bot, written the way anyone can write a Kith bot:
//! it runs `kith sync --watch --json` on its own profile, reads one JSON
//! event per line, and answers each new message from someone else with
//! `kith send ... --reply-to`. The answer comes from a FAQ file, matched
//! with the same local retrieval Kith's suggested replies use (the words
//! `kith_client::reply_terms` keeps, ranked by SQLite FTS5's bm25). No
//! message leaves the bot's machine except as Kith's encrypted replies.
//!
//! ```sh
//! cargo run -p kith-cli --example faq_bot -- \
//!     --kith target/debug/kith --profile ./faq-bot --server ws://127.0.0.1:8443 \
//!     --faq crates/kith-cli/examples/faq.txt
//! ```
//!
//! Make the profile first (`kith --profile ./faq-bot init --name "Kith Help"`)
//! and share its invite link; people who add it can ask it anything.

use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What to say when no FAQ entry matches.
const DONT_KNOW: &str = "I don't know that one yet. Ask me about contacts, groups, devices, backups or privacy.";
/// What to say to a greeting.
const WELCOME: &str = "Hi! I'm the Kith help bot. Ask me a question, for example \"how do I add a contact?\"";

struct Args {
    kith: PathBuf,
    profile: PathBuf,
    server: String,
    faq: PathBuf,
}

fn args() -> Result<Args> {
    let mut kith = PathBuf::from("kith");
    let (mut profile, mut server, mut faq) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--kith" => kith = PathBuf::from(value),
            "--profile" => profile = Some(PathBuf::from(value)),
            "--server" => server = Some(value),
            "--faq" => faq = Some(PathBuf::from(value)),
            _ => bail!("unknown flag {flag}"),
        }
    }
    Ok(Args {
        kith,
        profile: profile.context("--profile DIR is required")?,
        server: server.context("--server URL is required")?,
        faq: faq.context("--faq FILE is required")?,
    })
}

/// The FAQ in an in-memory FTS5 table: one row per way of asking, pointing
/// at its answer.
struct Faq {
    db: Connection,
    answers: Vec<String>,
}

impl Faq {
    fn load(text: &str) -> Result<Faq> {
        let db = Connection::open_in_memory()?;
        db.execute_batch(
            "CREATE VIRTUAL TABLE asked USING fts5(question, answer UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')",
        )?;
        let mut answers = Vec::new();
        let mut questions: Vec<String> = Vec::new();
        for line in text.lines().chain(std::iter::once("")) {
            if let Some(q) = line.strip_prefix("Q:") {
                questions.push(q.trim().to_owned());
            } else if let Some(a) = line.strip_prefix("A:") {
                answers.push(a.trim().to_owned());
                for q in questions.drain(..) {
                    db.execute(
                        "INSERT INTO asked (question, answer) VALUES (?1, ?2)",
                        (q, i64::try_from(answers.len() - 1)?),
                    )?;
                }
            }
        }
        if answers.is_empty() {
            bail!("the FAQ has no answers (lines starting with \"A:\")");
        }
        Ok(Faq { db, answers })
    }

    fn answer(&self, asked: &str) -> Result<&str> {
        let terms = kith_client::reply_terms(asked);
        let lower = asked.to_lowercase();
        if terms.is_empty() || (terms.len() <= 2 && ["hi", "hello", "hey"].iter().any(|g| lower.starts_with(g))) {
            return Ok(WELCOME);
        }
        let Some(query) = kith_client::fts_any_query(&terms) else {
            return Ok(DONT_KNOW);
        };
        let best: Option<i64> = self
            .db
            .prepare("SELECT answer FROM asked WHERE asked MATCH ?1 ORDER BY rank LIMIT 1")?
            .query_row([query], |row| row.get(0))
            .ok();
        Ok(best
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.answers.get(i))
            .map_or(DONT_KNOW, String::as_str))
    }
}

fn main() -> Result<()> {
    let args = args()?;
    let faq =
        Faq::load(&std::fs::read_to_string(&args.faq).with_context(|| format!("reading {}", args.faq.display()))?)?;
    let me = {
        let out = Command::new(&args.kith)
            .arg("--profile")
            .arg(&args.profile)
            .args(["--json", "whoami"])
            .output()
            .context("running kith whoami")?;
        let who: Value = serde_json::from_slice(&out.stdout).context("kith whoami --json")?;
        who["account_id"].as_str().context("no account id")?.to_owned()
    };
    let mut watch = Command::new(&args.kith)
        .arg("--profile")
        .arg(&args.profile)
        .args(["--json", "sync", "--server", &args.server, "--watch"])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting kith sync --watch")?;
    let events = BufReader::new(watch.stdout.take().context("no stdout")?);
    eprintln!("faq bot: answering as {me}");
    for line in events.lines() {
        let event: Value = match serde_json::from_str(&line?) {
            Ok(event) => event,
            Err(_) => continue,
        };
        if event["event"] != "message" || event["message"]["author"] == me.as_str() {
            continue;
        }
        let (Some(chat), Some(id), Some(text)) = (
            event["chat_id"].as_str(),
            event["message"]["id"].as_str(),
            event["message"]["text"].as_str(),
        ) else {
            continue;
        };
        let answer = faq.answer(text)?;
        // A write can find the profile busy (the watching process holds it
        // for a moment): try again rather than leave the question unanswered.
        let mut answered = false;
        for attempt in 0..5u64 {
            let sent = Command::new(&args.kith)
                .arg("--profile")
                .arg(&args.profile)
                .args(["send", chat, answer, "--reply-to", id])
                .stdout(Stdio::null())
                .status()
                .context("running kith send")?;
            if sent.success() {
                answered = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200 * (attempt + 1)));
        }
        if !answered {
            eprintln!("faq bot: could not answer {id} in {chat}");
        }
    }
    let status = watch.wait()?;
    bail!("kith sync --watch ended ({status})")
}
