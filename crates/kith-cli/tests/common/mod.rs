//! Helpers shared by the CLI tests: run the real `kith` binary on a temp profile.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
