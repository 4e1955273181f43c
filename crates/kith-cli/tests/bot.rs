//! The example FAQ bot (`examples/faq_bot.rs`) against a real server and a
//! real person's profile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Built by `cargo build --all-targets` (which `cargo xtask test` runs).
fn bot_bin() -> PathBuf {
    let bin = kith_bin()
        .with_file_name("examples")
        .join(format!("faq_bot{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p kith-cli --examples`",
        bin.display()
    );
    bin
}

/// Syncs `profile` until a message by `author` replying to `to` arrives.
fn wait_for_reply(profile: &Path, server: &ServerProcess, chat: &str, author: &str, to: &str, log: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        sync(profile, server);
        let messages = kith_json(profile, &["messages", chat]);
        if let Some(reply) = messages
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["author"] == author && m["reply_to"] == to)
        {
            return reply.clone();
        }
        if Instant::now() >= deadline {
            let said = std::fs::read_to_string(log).unwrap_or_default();
            panic!("no reply to {to}: {messages}\nthe bot said: {said}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_faq_bot_answers_a_question_sent_through_a_real_server() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (_b, bot) = new_profile("Kith Help");
    let (_p, bob) = new_profile("Bob");
    befriend(&bob, &bot, &server);
    let bot_id = account_of(&bot);
    let faq = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/faq.txt");
    let _running = Killed(
        std::process::Command::new(bot_bin())
            .arg("--kith")
            .arg(kith_bin())
            .arg("--profile")
            .arg(&bot)
            .args(["--server", &server.url, "--faq"])
            .arg(&faq)
            .env("KITH_SECRET_STORAGE", "file")
            .stdout(std::process::Stdio::null())
            // Kept for a failure's diagnosis: what the bot said, and its watch.
            .stderr(std::fs::File::create(bot.with_extension("log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let chat = kith_json(&bob, &["chat", "direct", &bot_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let asked = send(&bob, &chat, "Help, I forgot my password. What do I do?");
    let reply = wait_for_reply(&bob, &server, &chat, &bot_id, &asked, &bot.with_extension("log"));
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("recovery phrase"), "{text}");
    let asked = send(&bob, &chat, "is the chat encrypted?");
    let reply = wait_for_reply(&bob, &server, &chat, &bot_id, &asked, &bot.with_extension("log"));
    assert!(
        reply["text"].as_str().unwrap().contains("end-to-end encrypted"),
        "{reply}"
    );
    let asked = send(&bob, &chat, "what is the weather in Paris");
    let reply = wait_for_reply(&bob, &server, &chat, &bot_id, &asked, &bot.with_extension("log"));
    assert!(reply["text"].as_str().unwrap().starts_with("I don't know"), "{reply}");
}
