//! Crashes, several processes on one profile, damaged files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn integrity(profile: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(profile.join("kith.db")).expect("open db");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

/// Two shell loops run `kith send` against one profile at the same time; both
/// are SIGKILLed mid-burst. Every send that printed its id is stored, the
/// database is intact, and the profile keeps working.
#[test]
fn sigkill_mid_burst_loses_no_acknowledged_message() {
    let (tmp, alice) = new_profile("Alice");
    let chat = new_chat(&alice, "Burst");
    let mut loops = Vec::new();
    let mut logs = Vec::new();
    for writer in 0..2 {
        let log = tmp.path().join(format!("acked-{writer}.txt"));
        let script = format!(
            "i=0; while [ $i -lt 100000 ]; do \"$KITH\" --profile \"$PROFILE\" send {chat} \"burst {writer} $i\" >> \"$LOG\" || exit 1; i=$((i+1)); done"
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("KITH", kith_bin())
            .env("PROFILE", &alice)
            .env("LOG", &log)
            .env("KITH_SECRET_STORAGE", "file")
            .process_group(0)
            .spawn()
            .expect("spawn loop");
        loops.push(child);
        logs.push(log);
    }
    // Let both loops get going, then kill each whole process group (the shell
    // and the `kith send` it is running, wherever that is in its write).
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let acked: usize = logs
            .iter()
            .map(|l| std::fs::read_to_string(l).map(|s| s.lines().count()).unwrap_or(0))
            .sum();
        if acked >= 40 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for child in &mut loops {
        let pgid = child.id().to_string();
        let status = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status()
            .expect("kill");
        assert!(status.success());
        child.wait().expect("reap");
    }
    let acked: Vec<String> = logs
        .iter()
        .flat_map(|l| {
            std::fs::read_to_string(l)
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        acked.len() >= 20,
        "the loops acknowledged too few sends to test anything: {}",
        acked.len()
    );

    assert_eq!(integrity(&alice), "ok");
    let stored = kith_json(&alice, &["messages", &chat, "--limit", "1000000"]);
    let stored: std::collections::HashSet<&str> = stored
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    for id in &acked {
        assert!(stored.contains(id.as_str()), "acknowledged message {id} was lost");
    }
    // Both writers interleaved without losing each other's writes.
    assert!(stored.len() >= acked.len());
    send(&alice, &chat, "still works after the crash");
    println!(
        "{} acknowledged sends survived SIGKILL; {} stored",
        acked.len(),
        stored.len()
    );
}

#[test]
fn a_watching_process_sees_what_another_process_writes() {
    let (_tmp, alice) = new_profile("Alice");
    let chat = new_chat(&alice, "Watched");
    let mut watcher = kith_cmd(&alice, &["--json", "watch", "--count", "1", "--timeout-secs", "30"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let mut lines = BufReader::new(watcher.stdout.take().expect("stdout")).lines();
    let ready = lines.next().expect("a first line").expect("read");
    assert!(ready.contains("watching"), "{ready}");
    let sent_at = Instant::now();
    let id = send(&alice, &chat, "are you watching?");
    // The send's own process start and exit are not the watcher's delay.
    let committed = sent_at.elapsed();
    let event = lines.next().expect("a change event").expect("read");
    let noticed = sent_at.elapsed() - committed;
    let event: serde_json::Value = serde_json::from_str(&event).expect("json");
    assert_eq!(event["event"], "changed");
    assert_eq!(event["chats"][0]["last_message"], id.as_str());
    assert!(watcher.wait().expect("wait").success());
    println!("the watcher noticed the other process's write after {noticed:?}");
    assert!(
        noticed < Duration::from_secs(1),
        "a running process notices another process's write within a second of that command returning, not {noticed:?}"
    );
}

#[test]
fn a_corrupt_document_chunk_is_a_clear_error_and_loses_nothing() {
    let (_tmp, alice) = new_profile("Alice");
    let chat = new_chat(&alice, "Damaged");
    let other = new_chat(&alice, "Healthy");
    let id = send(&alice, &chat, "before the damage");
    {
        let conn = rusqlite::Connection::open(alice.join("kith.db")).expect("open");
        conn.execute(
            "INSERT INTO doc_chunks (doc_id, kind, bytes, checksum) SELECT doc_id, 0, x'deadbeef00ff', x'00' FROM doc_chunks WHERE doc_id LIKE 'seg:%' LIMIT 1",
            [],
        )
        .expect("inject garbage");
    }
    let err = kith_fails(&alice, &["send", &chat, "after the damage"]);
    assert!(err.contains("corrupt"), "{err}");
    // What was stored is still readable, and the rest of the profile works.
    assert_eq!(kith_json(&alice, &["messages", &chat])[0]["id"], id.as_str());
    send(&alice, &other, "other chats still work");
    assert_eq!(integrity(&alice), "ok");
}

#[test]
fn a_truncated_database_is_a_clear_error() {
    let (_tmp, alice) = new_profile("Alice");
    let chat = new_chat(&alice, "Soon truncated");
    for i in 0..50 {
        send(
            &alice,
            &chat,
            &format!("message number {i} with some text to take space"),
        );
    }
    let db = alice.join("kith.db");
    {
        // Fold the WAL into the main file so truncation hits real data.
        let conn = rusqlite::Connection::open(&db).expect("open");
        let _: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .expect("checkpoint");
    }
    let len = std::fs::metadata(&db).expect("meta").len();
    let file = std::fs::OpenOptions::new().write(true).open(&db).expect("open");
    file.set_len(len / 2).expect("truncate");
    drop(file);
    let err = kith_fails(&alice, &["messages", &chat]);
    assert!(err.contains("kith: error"), "{err}");
}

#[test]
fn a_database_from_a_newer_kith_is_refused_untouched() {
    let (_tmp, alice) = new_profile("Alice");
    let db = alice.join("kith.db");
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.pragma_update(None, "user_version", 999).expect("set version");
    }
    let before = std::fs::read(&db).expect("read");
    let err = kith_fails(&alice, &["chats"]);
    assert!(err.contains("schema version 999"), "{err}");
    assert_eq!(
        std::fs::read(&db).expect("read"),
        before,
        "the newer database was not modified"
    );
}

#[test]
fn a_damaged_identity_file_is_a_clear_error() {
    let (_tmp, alice) = new_profile("Alice");
    std::fs::write(alice.join("identity.json"), b"{ not json").expect("write");
    let err = kith_fails(&alice, &["whoami"]);
    assert!(err.contains("identity.json"), "{err}");
}

#[test]
fn secrets_fall_back_to_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, alice) = new_profile("Alice");
    let mode = std::fs::metadata(alice.join("device.secret"))
        .expect("secret file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(kith_json(&alice, &["whoami"])["secret_storage"], "file");
}

/// With a real Secret Service (`cargo xtask test` runs the suite inside a
/// private D-Bus session with gnome-keyring), secrets go to the OS keyring.
#[test]
fn secrets_go_to_the_os_keyring_when_there_is_one() {
    if std::env::var("KITH_TEST_REAL_KEYRING").as_deref() != Ok("1") {
        println!(
            "skipped: KITH_TEST_REAL_KEYRING is not 1 (no private keyring session); `cargo xtask test` provides one"
        );
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("keyring-user");
    let out = Command::new(kith_bin())
        .args(["--json", "--profile"])
        .arg(&dir)
        .args(["init", "--name", "Kay"])
        .env_remove("KITH_SECRET_STORAGE")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(info["secret_storage"], "keyring");
    assert!(
        !dir.join("device.secret").exists(),
        "no secret file when the keyring works"
    );
    let again = Command::new(kith_bin())
        .args(["--json", "--profile"])
        .arg(&dir)
        .arg("whoami")
        .output()
        .expect("run");
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
}

fn chunks_per_doc(profile: &std::path::Path) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(profile.join("kith.db")).expect("open db");
    let mut stmt = conn
        .prepare("SELECT doc_id, count(*) FROM doc_chunks GROUP BY doc_id ORDER BY doc_id")
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Compaction replaces a document's chunks with one snapshot and loses
/// nothing: messages, edits, reactions, search and the exported documents are
/// the same before and after, and the profile keeps working.
#[test]
fn compaction_keeps_every_message_and_the_profile_keeps_working() {
    let (tmp, alice) = new_profile("Alice");
    let chat = new_chat(&alice, "Compacted");
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(send(&alice, &chat, &format!("message number {n} about lighthouses")));
    }
    kith(&alice, &["edit", &chat, &ids[3], "an edited lighthouse"]);
    kith(&alice, &["react", &chat, &ids[4], "🔥"]);
    kith(&alice, &["delete", &chat, &ids[5]]);
    let before = kith_json(&alice, &["messages", &chat]);
    let search_before = kith_json(&alice, &["search", "lighthouse"]);
    assert!(
        chunks_per_doc(&alice).iter().any(|(_, n)| *n > 10),
        "{:?}",
        chunks_per_doc(&alice)
    );

    let report = kith_json(&alice, &["compact"]);
    assert!(report["compacted"].as_u64().unwrap() >= 2, "{report}");
    for (doc, chunks) in chunks_per_doc(&alice) {
        assert_eq!(chunks, 1, "{doc} is one snapshot after compaction");
    }
    assert_eq!(kith_json(&alice, &["messages", &chat]), before);
    assert_eq!(kith_json(&alice, &["search", "lighthouse"]), search_before);
    assert_eq!(integrity(&alice), "ok");

    // The compacted documents load anywhere and hold everything.
    let out = tmp.path().join("export");
    kith(&alice, &["export", out.to_str().unwrap()]);
    let exported = std::fs::read_to_string(out.join("kith-export.json")).unwrap();
    assert!(exported.contains("an edited lighthouse") && exported.contains("🔥"));
    assert!(
        !exported.contains("message number 5 about"),
        "the deleted text stays gone"
    );
    for entry in std::fs::read_dir(out.join("documents")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        automerge::AutoCommit::load(&bytes).unwrap();
    }

    // Writing goes on from the snapshot.
    let after = send(&alice, &chat, "after compaction");
    kith(&alice, &["edit", &chat, &ids[0], "edited after compaction"]);
    let messages = kith_json(&alice, &["messages", &chat]).to_string();
    assert!(messages.contains(&after) && messages.contains("edited after compaction"));
}

/// A profile written before changes were signed (store schema 7: no
/// signature rows) signs its own history when it is next opened, and what
/// it sends afterwards is accepted by a contact who has never seen it.
#[test]
fn a_profile_from_before_signatures_vouches_for_its_own_history() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    befriend(&alice, &bob, &server);
    let bob_id = account_of(&bob);
    let chat = kith_json(&alice, &["chat", "new", "--name", "Old times", "--member", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&alice, &chat, "written before signatures");
    let signature_rows = |profile: &std::path::Path| -> i64 {
        let conn = rusqlite::Connection::open(profile.join("kith.db")).expect("open");
        conn.query_row("SELECT count(*) FROM change_signatures", [], |r| r.get(0))
            .expect("count")
    };
    let signed_now = signature_rows(&alice);
    assert!(signed_now >= 3, "account, head and segment are signed: {signed_now}");
    {
        // What a version-7 profile holds: the same documents, no signatures.
        let conn = rusqlite::Connection::open(alice.join("kith.db")).expect("open");
        conn.execute_batch("DELETE FROM change_signatures; DELETE FROM meta WHERE key = 'signatures/own-history';")
            .expect("strip signatures");
    }
    assert_eq!(signature_rows(&alice), 0);
    kith(&alice, &["chats"]);
    assert_eq!(
        signature_rows(&alice),
        signed_now,
        "every document it wrote is signed again"
    );

    sync(&alice, &server);
    sync(&bob, &server);
    sync(&bob, &server);
    let texts: Vec<String> = kith_json(&bob, &["messages", &chat])
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(texts, ["written before signatures"], "bob accepts the signed history");
}

/// Other local users can read nothing of a profile: the directory is 0700,
/// the database (and its journal), the identity file and the secret file
/// are 0600, also when the profile was created under a loose umask or its
/// modes were widened since (they are narrowed again when it is opened).
#[test]
fn a_profile_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    let (_tmp, alice) = new_profile("Alice");
    let chat = new_chat(&alice, "Diary");
    send(&alice, &chat, "private");
    assert_eq!(mode(&alice), 0o700, "profile directory");
    for file in ["kith.db", "identity.json", "device.secret"] {
        assert_eq!(mode(&alice.join(file)), 0o600, "{file}");
    }
    if alice.join("kith.db-wal").exists() {
        assert_eq!(mode(&alice.join("kith.db-wal")), 0o600, "the write-ahead log");
    }
    std::fs::set_permissions(&alice, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(alice.join("kith.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    kith(&alice, &["chats"]);
    assert_eq!(mode(&alice), 0o700, "narrowed again on open");
    assert_eq!(mode(&alice.join("kith.db")), 0o600, "narrowed again on open");
}
