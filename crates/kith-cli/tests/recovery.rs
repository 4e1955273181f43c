//! Never losing an account: a recovery phrase against a real `kith-server`
//! process, and encrypted backups, restores and imports with no server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn with_secret(profile: &Path, env: &str, secret: &str, args: &[&str]) -> Output {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    kith_cmd(profile, &full).env(env, secret).output().expect("run kith")
}

fn succeeds(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn fails(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "should have failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// `messages --json` of every chat, by chat id, without what is local to
/// one device (the route a message took, the status of one's own messages).
fn all_messages(profile: &Path) -> Vec<(String, Vec<Value>)> {
    let chats = kith_json(profile, &["chats"]);
    let mut out: Vec<(String, Vec<Value>)> = chats
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let chat = c["chat_id"].as_str().unwrap().to_owned();
            let messages = kith_json(profile, &["messages", &chat, "--limit", "10000"])
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    let mut m = m.clone();
                    for local in ["route", "status", "receipts"] {
                        m.as_object_mut().unwrap().remove(local);
                    }
                    m
                })
                .collect();
            (chat, messages)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn texts(profile: &Path, chat: &str) -> String {
    kith_json(profile, &["messages", chat, "--limit", "1000"]).to_string()
}

#[test]
fn a_lost_account_comes_back_from_its_recovery_phrase_and_the_lost_devices_are_shut_out() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (_a, laptop) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    befriend(&laptop, &bob, &server);
    let bob_id = account_of(&bob);
    let group = kith_json(&laptop, &["chat", "new", "--name", "Hiking", "--member", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let direct = kith_json(&laptop, &["chat", "direct", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&laptop, &group, "the trail starts at nine");
    sync(&laptop, &server);
    sync(&bob, &server);
    send(&bob, &group, "see you there");
    send(&bob, &direct, "bring the map");
    sync(&bob, &server);
    sync(&laptop, &server);
    let phone_home = tempfile::tempdir().unwrap();
    let phone = phone_home.path().join("alice-phone");
    link_device(&laptop, &phone, &server);

    // Alice writes her phrase down; her devices put their kits on the server.
    let status = kith_json(&laptop, &["recovery", "status"]);
    assert_eq!(status["phrase_made"], false);
    let words = kith_json(&laptop, &["recovery", "show"])["words"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(words.split(' ').count(), 24);
    assert_eq!(kith_json(&laptop, &["recovery", "status"])["kit_on_server"], false);
    sync(&laptop, &server);
    assert_eq!(kith_json(&laptop, &["recovery", "status"])["kit_on_server"], true);
    sync(&phone, &server);
    let before_loss = all_messages(&laptop);
    assert_eq!(before_loss.len(), 2);

    // A thief keeps a copy of the laptop; then both devices are gone.
    let thief_home = tempfile::tempdir().unwrap();
    let stolen = thief_home.path().join("stolen-laptop");
    copy_dir(&laptop, &stolen);
    std::fs::remove_dir_all(&laptop).unwrap();
    std::fs::remove_dir_all(&phone).unwrap();

    // Wrong phrases get clear errors and write nothing.
    let new_home = tempfile::tempdir().unwrap();
    let recovered = new_home.path().join("alice-new");
    let mut typo: Vec<&str> = words.split(' ').collect();
    typo.swap(0, 1);
    let typo = typo.join(" ");
    if typo != words {
        let err = fails(&with_secret(
            &recovered,
            "KITH_RECOVERY_PHRASE",
            &typo,
            &["recover", "--server", &server.url],
        ));
        assert!(err.contains("not a Kith recovery phrase"), "{err}");
    }
    let (_c, carol) = new_profile("Carol");
    let other_words = kith_json(&carol, &["recovery", "show"])["words"]
        .as_str()
        .unwrap()
        .to_owned();
    let err = fails(&with_secret(
        &recovered,
        "KITH_RECOVERY_PHRASE",
        &other_words,
        &["recover", "--server", &server.url],
    ));
    assert!(err.contains("holds no recovery kit for this phrase"), "{err}");
    assert!(
        !recovered.join("identity.json").exists(),
        "a failed recovery wrote a profile"
    );

    // The right phrase brings back contacts, groups and the full history.
    let out = succeeds(&with_secret(
        &recovered,
        "KITH_RECOVERY_PHRASE",
        &words.to_uppercase(),
        &["recover", "--server", &server.url, "--revoke-others"],
    ));
    assert_eq!(out["name"], "Alice");
    assert_eq!(out["revoked"].as_array().unwrap().len(), 2, "{out}");
    sync(&recovered, &server);
    assert_eq!(all_messages(&recovered), before_loss);
    let contacts = kith_json(&recovered, &["contacts"]).to_string();
    assert!(
        contacts.contains(&bob_id) && contacts.contains("accepted"),
        "{contacts}"
    );

    // Bob's next messages reach the recovered device, not the stolen one.
    sync(&bob, &server);
    send(&bob, &group, "written after the recovery");
    send(&bob, &direct, "also after the recovery");
    for profile in [&bob, &recovered, &bob, &recovered, &stolen] {
        sync(profile, &server);
    }
    assert!(texts(&recovered, &group).contains("written after the recovery"));
    assert!(texts(&recovered, &direct).contains("also after the recovery"));
    let seen = format!("{}{}", texts(&stolen, &group), texts(&stolen, &direct));
    assert!(seen.contains("the trail starts at nine"));
    assert!(
        !seen.contains("after the recovery"),
        "the stolen laptop read new messages: {seen}"
    );
    assert_no_file_holds(&stolen, "after the recovery");
    // And the recovered device writes to Bob as before.
    send(&recovered, &direct, "I am back");
    sync(&recovered, &server);
    sync(&bob, &server);
    assert!(texts(&bob, &direct).contains("I am back"));
}

fn backup_file(dir: &Path) -> PathBuf {
    dir.join("alice.kithbackup")
}

#[test]
fn a_backup_restores_with_no_server_and_an_export_imports_round_trip() {
    let (home, alice) = new_profile("Alice");
    let chat = new_chat(&alice, "Notes");
    let other = new_chat(&alice, "Recipes");
    for i in 0..30 {
        send(&alice, &chat, &format!("note {i}"));
    }
    send(&alice, &other, "two eggs, one cup of flour");
    let picture = home.path().join("photo.bin");
    std::fs::write(&picture, (0..700_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
    kith(
        &alice,
        &["send", &other, "the recipe card", "--attach", picture.to_str().unwrap()],
    );
    let file = backup_file(home.path());
    let passphrase = "a long and private passphrase";

    let short = fails(&with_secret(
        &alice,
        "KITH_BACKUP_PASSPHRASE",
        "short",
        &["backup", file.to_str().unwrap()],
    ));
    assert!(short.contains("at least 8"), "{short}");
    let out = succeeds(&with_secret(
        &alice,
        "KITH_BACKUP_PASSPHRASE",
        passphrase,
        &["backup", file.to_str().unwrap()],
    ));
    assert!(out["items"].as_u64().unwrap() >= 5, "{out}");
    let bytes = std::fs::read(&file).unwrap();
    for plain in [b"note 1".as_slice(), b"two eggs", b"Alice"] {
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain),
            "the backup holds plaintext"
        );
    }

    // Wrong passphrase, damage, truncation: clear errors, nothing written.
    let restore_home = tempfile::tempdir().unwrap();
    let restored = restore_home.path().join("alice-restored");
    let err = fails(&with_secret(
        &restored,
        "KITH_BACKUP_PASSPHRASE",
        "not the passphrase",
        &["restore", file.to_str().unwrap()],
    ));
    assert!(err.contains("wrong passphrase"), "{err}");
    let damaged = restore_home.path().join("damaged.kithbackup");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    std::fs::write(&damaged, &flipped).unwrap();
    let err = fails(&with_secret(
        &restored,
        "KITH_BACKUP_PASSPHRASE",
        passphrase,
        &["restore", damaged.to_str().unwrap()],
    ));
    assert!(err.contains("damaged"), "{err}");
    let cut = restore_home.path().join("cut.kithbackup");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let err = fails(&with_secret(
        &restored,
        "KITH_BACKUP_PASSPHRASE",
        passphrase,
        &["restore", cut.to_str().unwrap()],
    ));
    assert!(err.contains("cut off") || err.contains("damaged"), "{err}");
    let not_backup = restore_home.path().join("notes.txt");
    std::fs::write(
        &not_backup,
        "just some text that is long enough to hold a header, really",
    )
    .unwrap();
    let err = fails(&with_secret(
        &restored,
        "KITH_BACKUP_PASSPHRASE",
        passphrase,
        &["restore", not_backup.to_str().unwrap()],
    ));
    assert!(err.contains("not a Kith backup"), "{err}");
    let left: Vec<_> = std::fs::read_dir(restore_home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".kithbackup") && name != "notes.txt")
        .collect();
    assert!(left.is_empty(), "a failed restore left {left:?}");

    // The right passphrase: the same messages in every chat, the attachment too.
    succeeds(&with_secret(
        &restored,
        "KITH_BACKUP_PASSPHRASE",
        passphrase,
        &["restore", file.to_str().unwrap()],
    ));
    assert_eq!(all_messages(&restored), all_messages(&alice));
    let restored_info = kith_json(&restored, &["whoami"]);
    assert_eq!(restored_info["account_id"], account_of(&alice).as_str());
    assert_ne!(restored_info["device_id"], kith_json(&alice, &["whoami"])["device_id"]);
    let saved = restore_home.path().join("card.bin");
    let attachments = kith_json(&restored, &["attachments", &other]);
    assert_eq!(attachments[0]["downloaded"], true, "{attachments}");
    let message = attachments[0]["message_id"].as_str().unwrap().to_owned();
    kith(&restored, &["save", &other, &message, saved.to_str().unwrap()]);
    assert_eq!(std::fs::read(&saved).unwrap(), std::fs::read(&picture).unwrap());

    // What the first device writes later comes over in an export.
    send(&alice, &chat, "written after the backup");
    kith(&alice, &["chat", "pin", &other]);
    let export = home.path().join("export");
    kith(&alice, &["export", export.to_str().unwrap()]);
    let imported = kith_json(&restored, &["import", export.to_str().unwrap()]);
    assert!(imported["changes"].as_u64().unwrap() >= 2, "{imported}");
    assert_eq!(imported["skipped"].as_array().unwrap().len(), 0, "{imported}");
    assert_eq!(all_messages(&restored), all_messages(&alice));
    assert_eq!(kith_json(&restored, &["chats"]), kith_json(&alice, &["chats"]));
    // Importing again changes nothing; another account's export is refused.
    assert_eq!(
        kith_json(&restored, &["import", export.to_str().unwrap()])["changes"],
        0
    );
    let (_b, bob) = new_profile("Bob");
    let err = kith_fails(&bob, &["import", export.to_str().unwrap()]);
    assert!(err.contains("this export is of account"), "{err}");
}

#[test]
fn recovery_after_a_revocation_opens_the_account_stream_epochs_started_since() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (_a, laptop) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    befriend(&laptop, &bob, &server);
    let words = kith_json(&laptop, &["recovery", "show"])["words"]
        .as_str()
        .unwrap()
        .to_owned();
    let phone_home = tempfile::tempdir().unwrap();
    let phone = phone_home.path().join("alice-phone");
    link_device(&laptop, &phone, &server);
    sync(&laptop, &server);
    // The phone is revoked: the account stream moves to a random key the
    // laptop starts; a group made afterwards lives only in that epoch.
    let phone_id = kith_json(&phone, &["whoami"])["device_id"].as_str().unwrap().to_owned();
    kith(&laptop, &["device", "revoke", &phone_id]);
    sync(&laptop, &server);
    let bob_id = account_of(&bob);
    let group = kith_json(
        &laptop,
        &["chat", "new", "--name", "After the phone", "--member", &bob_id],
    )["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&laptop, &group, "made after the revocation");
    kith(&laptop, &["chat", "pin", &group]);
    sync(&laptop, &server);
    std::fs::remove_dir_all(&laptop).unwrap();

    let new_home = tempfile::tempdir().unwrap();
    let recovered = new_home.path().join("alice-new");
    let out = succeeds(&with_secret(
        &recovered,
        "KITH_RECOVERY_PHRASE",
        &words,
        &["recover", "--server", &server.url],
    ));
    assert_eq!(out["name"], "Alice", "{out}");
    sync(&recovered, &server);
    assert!(texts(&recovered, &group).contains("made after the revocation"));
    let chats = kith_json(&recovered, &["chats"]).to_string();
    assert!(
        chats.contains("After the phone") && chats.contains("\"pinned\":true"),
        "{chats}"
    );
    // The revoked phone, which knows the phrase's public key but not the
    // phrase, reads none of it.
    sync(&phone, &server);
    assert_no_file_holds(&phone, "made after the revocation");
}
