//! The encrypted relay path end to end: real `kith` processes and a real
//! `kith-server` process on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The parts of `messages --json` every member must agree on (names are
/// local knowledge: someone who is not your contact may have no name yet).
fn shared_view(profile: &Path, chat: &str) -> Vec<Value> {
    let messages = kith_json(profile, &["messages", chat, "--limit", "10000"]);
    messages
        .as_array()
        .expect("array")
        .iter()
        .map(|m| {
            let mut m = m.clone();
            let fields = m.as_object_mut().expect("object");
            // Local knowledge: names of non-contacts, the status of one's own
            // messages, the route each message took to this device.
            for local in ["author_name", "status", "receipts", "route"] {
                fields.remove(local);
            }
            m
        })
        .collect()
}

fn contact_state(profile: &Path, account: &str) -> Option<(String, Value)> {
    kith_json(profile, &["contacts"])
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["account_id"] == account)
        .map(|c| (c["state"].as_str().expect("state").to_owned(), c["name"].clone()))
}

#[test]
fn three_people_befriend_chat_in_a_group_and_directly_and_the_server_sees_no_plaintext() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (_a, alice) = new_profile("Alice Liddell");
    let (_b, bob) = new_profile("Bob Builder");
    let (_c, carol) = new_profile("Carol Danvers");
    let (_d, dave) = new_profile("Dave Lister");
    let (alice_id, bob_id, carol_id) = (account_of(&alice), account_of(&bob), account_of(&carol));

    // Bob uses a one-time link of Alice's; Dave, who got the same link, does
    // not become her contact.
    let first_invite = kith_json(&alice, &["invite", "new", "--once"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    kith(&bob, &["contact", "add", &first_invite]);
    sync(&bob, &server);
    sync(&alice, &server);
    sync(&bob, &server);
    kith(&dave, &["contact", "add", &first_invite]);
    sync(&dave, &server);
    sync(&alice, &server);
    sync(&dave, &server);
    assert_eq!(
        contact_state(&alice, &bob_id),
        Some(("accepted".into(), Value::from("Bob Builder")))
    );
    assert_eq!(
        contact_state(&bob, &alice_id),
        Some(("accepted".into(), Value::from("Alice Liddell")))
    );
    assert_eq!(
        contact_state(&dave, &alice_id).map(|c| c.0),
        Some("refused".into()),
        "a used one-time link adds no one, and says so"
    );
    assert_eq!(contact_state(&alice, &account_of(&dave)), None);
    befriend(&alice, &carol, &server);
    assert_eq!(contact_state(&carol, &alice_id).map(|c| c.0), Some("accepted".into()));

    // Alice starts a group with both and a direct chat with Bob.
    let group = kith_json(
        &alice,
        &[
            "chat",
            "new",
            "--name",
            "Tea Party Planning",
            "--member",
            &bob_id,
            "--member",
            &carol_id,
        ],
    )["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let direct = kith_json(&alice, &["chat", "direct", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = send(&alice, &group, "the kettle is singing");
    send(&alice, &direct, "a word for bob alone");
    sync(&alice, &server);
    sync(&bob, &server);
    sync(&carol, &server);

    // Everyone writes while offline, then they sync in varied orders.
    for i in 0..4 {
        send(&alice, &group, &format!("alice brings scones {i}"));
        send(&bob, &group, &format!("bob brings jam {i}"));
        send(&carol, &group, &format!("carol brings cream {i}"));
    }
    kith(&bob, &["react", &group, &first, "🫖"]);
    kith(
        &carol,
        &["send", &group, "replying to the kettle", "--reply-to", &first],
    );
    send(&bob, &direct, "bob answers privately");
    for order in [[&carol, &alice, &bob], [&bob, &carol, &alice], [&alice, &bob, &carol]] {
        for profile in order {
            sync(profile, &server);
        }
    }

    let expected = shared_view(&alice, &group);
    assert_eq!(expected.len(), 1 + 12 + 1, "every message arrived at alice");
    assert_eq!(shared_view(&bob, &group), expected, "bob sees what alice sees");
    assert_eq!(shared_view(&carol, &group), expected, "carol sees what alice sees");
    let kettle = expected.iter().find(|m| m["id"] == first.as_str()).unwrap();
    assert!(kettle.to_string().contains("🫖"), "bob's reaction arrived: {kettle}");
    for profile in [&alice, &bob, &carol] {
        let row = chat_row(profile, &group);
        assert_eq!(row["name"], "Tea Party Planning");
        assert_eq!(row["members"], chat_row(&alice, &group)["members"]);
    }
    assert_eq!(shared_view(&bob, &direct), shared_view(&alice, &direct));
    assert_eq!(shared_view(&alice, &direct).len(), 2);
    let carol_chats = kith_json(&carol, &["chats"]);
    assert!(
        !carol_chats.to_string().contains(&direct),
        "carol knows nothing of the direct chat"
    );

    // Alice removes Carol: a new key epoch starts, and nothing written
    // after the removal can be read with the keys Carol holds.
    kith(&alice, &["member", "remove", &group, &carol_id]);
    send(&alice, &group, "carol has gone home");
    sync(&alice, &server);
    sync(&bob, &server);
    send(&bob, &group, "bob whispers after the rotation");
    for profile in [&bob, &alice, &carol, &bob, &carol] {
        sync(profile, &server);
    }
    let after = shared_view(&bob, &group);
    assert_eq!(after, shared_view(&alice, &group), "alice and bob still agree");
    assert!(after.iter().any(|m| m["text"] == "bob whispers after the rotation"));
    let carol_view = kith_json(&carol, &["messages", &group, "--limit", "10000"]).to_string();
    assert!(!carol_view.contains("carol has gone home") && !carol_view.contains("whispers"));
    // Carol learned that she was removed (the change that removed her also
    // went to the epoch she can read), and her client no longer sends there.
    let carol_row = chat_row(&carol, &group);
    assert!(carol_row["members"].get(carol_id.as_str()).is_none(), "{carol_row}");
    let refused = kith_fails(&carol, &["send", &group, "am I still here?"]);
    assert!(refused.contains("not a member"), "{refused}");
    for (path, bytes) in read_all_files(&carol) {
        for needle in ["carol has gone home", "bob whispers"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds {needle:?}",
                path.display()
            );
        }
    }

    // The server stored only ciphertext: no text, chat name or person name.
    drop(server);
    let files = read_all_files(&server_dir.path().join("data"));
    assert!(!files.is_empty());
    for needle in [
        "kettle",
        "scones",
        "jam",
        "cream",
        "a word for bob alone",
        "privately",
        "Tea Party",
        "Alice Liddell",
        "Bob Builder",
        "Carol Danvers",
        "Dave Lister",
        "gone home",
        "whispers",
    ] {
        for (path, bytes) in &files {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} contains {needle:?}",
                path.display()
            );
        }
    }
}

/// A server, and Alice and Bob: contacts, in one group, both synced.
struct GroupOfTwo {
    server: ServerProcess,
    alice: PathBuf,
    bob: PathBuf,
    chat: String,
    /// Keeps the directories alive: bind it (`_homes`), do not drop it with `..`.
    _homes: [tempfile::TempDir; 3],
}

fn group_of_two() -> GroupOfTwo {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (alice_home, alice) = new_profile("Alice");
    let (bob_home, bob) = new_profile("Bob");
    let chat = group_with(&alice, &bob, &server);
    sync(&alice, &server);
    sync(&bob, &server);
    GroupOfTwo {
        server,
        alice,
        bob,
        chat,
        _homes: [server_dir, alice_home, bob_home],
    }
}

fn group_with(alice: &Path, bob: &Path, server: &ServerProcess) -> String {
    befriend(alice, bob, server);
    let bob_id = account_of(bob);
    kith_json(alice, &["chat", "new", "--name", "Durability", "--member", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn count(profile: &Path, chat: &str) -> usize {
    kith_json(profile, &["messages", chat, "--limit", "100000"])
        .as_array()
        .unwrap()
        .len()
}

/// Starts `kith sync --once` and SIGKILLs it (or lets it finish) after `after`.
fn sync_killed_after(profile: &Path, server: &ServerProcess, after: Duration) {
    let mut child = kith_cmd(profile, &["sync", "--server", &server.url, "--once"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_client_killed_mid_upload_finishes_after_restart_and_a_killed_server_loses_nothing() {
    let server_dir = tempfile::tempdir().unwrap();
    let data = server_dir.path().join("data");
    let mut server = ServerProcess::start(&data);
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    let chat = group_with(&alice, &bob, &server);
    // A long history so the upload takes a while.
    let text = "x".repeat(2000);
    for i in 0..60 {
        send(&alice, &chat, &format!("{i} {text}"));
    }
    // Kill the uploading client at several points; each restart continues.
    for millis in [5, 20, 60] {
        sync_killed_after(&alice, &server, Duration::from_millis(millis));
    }
    sync(&alice, &server);
    sync(&bob, &server);
    assert_eq!(count(&bob, &chat), 60, "the outbox finished after the kills");

    // Now kill the server while Alice syncs more, and restart it on the same data.
    for i in 60..120 {
        send(&alice, &chat, &format!("{i} {text}"));
    }
    let mut child = kith_cmd(&alice, &["sync", "--server", &server.url, "--once"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(30));
    server.kill9();
    let _ = child.wait();
    let server = ServerProcess::start(&data);
    sync(&alice, &server);
    sync(&bob, &server);
    assert_eq!(count(&bob, &chat), 120, "nothing lost across the server crash");
    assert_eq!(shared_view(&bob, &chat), shared_view(&alice, &chat));
}

#[test]
fn watch_streams_a_message_from_another_profile_as_a_json_event() {
    let GroupOfTwo {
        server,
        alice,
        bob,
        chat,
        _homes,
    } = group_of_two();
    let mut watcher = Watcher::start(&bob, &server);
    let id = send(&alice, &chat, "live over the relay");
    sync(&alice, &server);
    let output = watcher.wait_for(|line| line.contains(&id));
    let event: Value = serde_json::from_str(&output).unwrap();
    assert_eq!(event["event"], "message");
    assert_eq!(event["message"]["text"], "live over the relay");
    // Edits and reactions arrive as their own events.
    kith(&alice, &["edit", &chat, &id, "live, and edited"]);
    sync(&alice, &server);
    let edit: Value = serde_json::from_str(&watcher.wait_for(|line| line.contains("\"edit\""))).unwrap();
    assert_eq!(edit["message"]["text"], "live, and edited");
    kith(&alice, &["react", &chat, &id, "👀"]);
    sync(&alice, &server);
    let reaction: Value = serde_json::from_str(&watcher.wait_for(|line| line.contains("\"reaction\""))).unwrap();
    assert!(reaction["message"]["reactions"].to_string().contains("👀"));
}

#[test]
fn two_devices_of_one_person_and_two_friends_converge_in_any_sync_order() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (_a, laptop) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    let (_c, carol) = new_profile("Carol");
    befriend(&laptop, &bob, &server);
    befriend(&laptop, &carol, &server);
    let (bob_id, carol_id) = (account_of(&bob), account_of(&carol));
    let group = kith_json(
        &laptop,
        &[
            "chat", "new", "--name", "Hiking", "--member", &bob_id, "--member", &carol_id,
        ],
    )["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let direct = kith_json(&laptop, &["chat", "direct", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&laptop, &group, "written on the laptop before the desktop existed");
    send(&laptop, &direct, "just for bob");
    kith(&laptop, &["chat", "pin", &group]);
    sync(&laptop, &server);

    // A second device joins and receives every chat with its full history.
    let desktop_home = tempfile::tempdir().unwrap();
    let desktop = desktop_home.path().join("alice-desktop");
    link_device(&laptop, &desktop, &server);
    assert_eq!(shared_view(&desktop, &group), shared_view(&laptop, &group));
    assert_eq!(shared_view(&desktop, &direct), shared_view(&laptop, &direct));
    let devices = kith_json(&laptop, &["device", "list"]);
    sync(&laptop, &server);
    let devices_after = kith_json(&laptop, &["device", "list"]);
    assert_eq!(
        devices_after.as_array().unwrap().len(),
        2,
        "{devices} then {devices_after}"
    );

    // Everyone writes offline, then syncs in varied orders.
    sync(&bob, &server);
    sync(&carol, &server);
    for i in 0..3 {
        send(&laptop, &group, &format!("laptop {i}"));
        send(&desktop, &group, &format!("desktop {i}"));
        send(&bob, &group, &format!("bob {i}"));
        send(&carol, &group, &format!("carol {i}"));
    }
    send(&desktop, &direct, "desktop to bob");
    send(&bob, &direct, "bob to alice");
    kith(&desktop, &["chat", "mute", &direct]);
    let everyone = [&laptop, &desktop, &bob, &carol];
    for order in [[3, 1, 0, 2], [2, 0, 3, 1], [1, 2, 0, 3], [0, 3, 2, 1]] {
        for i in order {
            sync(everyone[i], &server);
        }
    }
    let expected = shared_view(&laptop, &group);
    assert_eq!(expected.len(), 1 + 12);
    for profile in everyone {
        assert_eq!(shared_view(profile, &group), expected, "{}", profile.display());
    }
    assert_eq!(shared_view(&desktop, &direct), shared_view(&laptop, &direct));
    assert_eq!(shared_view(&bob, &direct), shared_view(&laptop, &direct));
    assert_eq!(shared_view(&bob, &direct).len(), 3);
    // Both of Alice's devices show the same chat list: names, order, pins, mutes.
    assert_eq!(kith_json(&desktop, &["chats"]), kith_json(&laptop, &["chats"]));
    let direct_row = chat_row(&laptop, &direct);
    assert_eq!(
        direct_row["muted"], true,
        "a setting made on the desktop reached the laptop"
    );
    assert_eq!(chat_row(&desktop, &group)["pinned"], true);
}

#[test]
fn own_messages_go_from_sent_to_uploaded_to_delivered_to_read() {
    let GroupOfTwo {
        server,
        alice,
        bob,
        chat,
        _homes,
    } = group_of_two();
    let bob_id = account_of(&bob);

    let id = send(&alice, &chat, "did the parcel arrive?");
    assert_eq!(status_of(&alice, &chat, &id)["status"], "sent");
    sync(&alice, &server);
    assert_eq!(status_of(&alice, &chat, &id)["status"], "uploaded");
    sync(&bob, &server);
    let seen_by_bob = status_of(&bob, &chat, &id);
    assert_eq!(
        seen_by_bob["status"],
        Value::Null,
        "no status on other people's messages"
    );
    sync(&alice, &server);
    let delivered = status_of(&alice, &chat, &id);
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(
        delivered["receipts"],
        serde_json::json!([{"account": bob_id, "delivered": true, "read": false}])
    );
    kith(&bob, &["read", &chat]);
    sync(&bob, &server);
    sync(&alice, &server);
    let read = status_of(&alice, &chat, &id);
    assert_eq!(read["status"], "read");
    assert_eq!(read["receipts"][0]["read"], true);
}

#[test]
fn typing_and_presence_reach_a_watching_member_as_events() {
    let GroupOfTwo {
        server,
        alice,
        bob,
        chat,
        _homes,
    } = group_of_two();
    let alice_id = account_of(&alice);
    let mut watcher = Watcher::start(&bob, &server);
    // Alice types (a one-shot command), then goes online with a watcher of her own.
    // No --server: the one this profile last synced with.
    kith(&alice, &["typing", &chat]);
    let line = watcher.wait_for(|line| line.contains("\"typing\""));
    let typing: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(typing["chat_id"], chat.as_str());
    assert_eq!(typing["account"], alice_id.as_str());
    let _alice_online = Watcher::start(&alice, &server);
    let line = watcher.wait_for(|line| line.contains("\"presence\""));
    let presence: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(presence["account"], alice_id.as_str());
    assert!(presence["until_ms"].as_u64().unwrap() > 0);
}

#[test]
fn deleting_an_account_leaves_chats_tells_contacts_and_erases_the_profile() {
    let GroupOfTwo {
        server,
        alice,
        bob,
        chat,
        _homes,
    } = group_of_two();
    send(&alice, &chat, "a last word before leaving");
    sync(&alice, &server);
    sync(&bob, &server);
    let alice_id = account_of(&alice);

    let refused = kith_fails(&alice, &["delete-account", "--server", &server.url]);
    assert!(refused.contains("--yes"), "{refused}");
    assert!(alice.join("identity.json").exists(), "nothing deleted without --yes");

    let report = kith_json(&alice, &["delete-account", "--server", &server.url, "--yes"]);
    assert_eq!(report["chats_left"], 1);
    assert_eq!(report["contacts_told"], 1);
    // The account stream and the invite: alice manages both, so both went.
    assert_eq!(report["logs_deleted"], 2, "{report}");
    assert_eq!(report["logs_kept"], 0, "{report}");
    assert!(!alice.exists(), "the profile directory is gone");

    sync(&bob, &server);
    assert_eq!(contact_state(&bob, &alice_id).map(|c| c.0), Some("deleted".into()));
    let row = chat_row(&bob, &chat);
    assert!(
        row["members"].get(alice_id.as_str()).is_none(),
        "alice left the chat: {row}"
    );
    let messages = kith_json(&bob, &["messages", &chat]).to_string();
    assert!(
        messages.contains("a last word before leaving"),
        "what was sent stays with bob"
    );
}

#[test]
fn a_blocked_contact_is_hidden_on_every_device_until_unblocked() {
    let GroupOfTwo {
        server,
        alice,
        bob,
        chat,
        _homes,
    } = group_of_two();
    let desktop_home = tempfile::tempdir().unwrap();
    let bob_desktop = desktop_home.path().join("bob-desktop");
    link_device(&bob, &bob_desktop, &server);
    let alice_id = account_of(&alice);

    send(&bob, &chat, "bob's own word");
    kith(&bob, &["contact", "block", &alice_id]);
    sync(&bob, &server);
    send(&alice, &chat, "you will not see this");
    sync(&alice, &server);
    for device in [&bob, &bob_desktop] {
        sync(device, &server);
        assert_eq!(contact_state(device, &alice_id).map(|c| c.0), Some("blocked".into()));
        let shown = kith_json(device, &["messages", &chat]).to_string();
        assert!(
            !shown.contains("you will not see this"),
            "{}: {shown}",
            device.display()
        );
        // A hidden message does not make a page look empty: the page reaches
        // past it to the newest message shown.
        let newest = kith_json(device, &["messages", &chat, "--limit", "1"]);
        assert_eq!(newest.as_array().unwrap().len(), 1, "{newest}");
        assert_eq!(newest[0]["text"], "bob's own word");
    }
    // The export lists contacts with their state, and keeps every message:
    // it is the user's copy of their data, not what the chat view shows.
    let out = desktop_home.path().join("export");
    kith(&bob_desktop, &["export", out.to_str().unwrap()]);
    let exported: Value = serde_json::from_slice(&std::fs::read(out.join("kith-export.json")).unwrap()).unwrap();
    assert_eq!(exported["contacts"][0]["account_id"], alice_id.as_str());
    assert_eq!(exported["contacts"][0]["state"], "blocked");
    assert!(
        exported["chats"].to_string().contains("you will not see this"),
        "{}",
        exported["chats"]
    );
    assert_eq!(
        exported["devices"].as_array().unwrap().len(),
        2,
        "{}",
        exported["devices"]
    );
    kith(&bob_desktop, &["contact", "unblock", &alice_id]);
    sync(&bob_desktop, &server);
    sync(&bob, &server);
    let shown = kith_json(&bob, &["messages", &chat]).to_string();
    assert!(
        shown.contains("you will not see this"),
        "unblocking shows it again: {shown}"
    );
}

fn server_entries(data: &Path) -> i64 {
    let conn = rusqlite::Connection::open(data.join("server.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM entries", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn a_compacted_log_still_gives_a_new_device_the_whole_history() {
    let server_dir = tempfile::tempdir().unwrap();
    let data = server_dir.path().join("data");
    let server = ServerProcess::start_with(&data, &["--compaction-grace-secs", "0"]);
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    let chat = group_with(&alice, &bob, &server);
    for i in 0..40 {
        send(&alice, &chat, &format!("history line {i}"));
    }
    sync(&alice, &server);
    let before = server_entries(&data);
    let report = kith_json(&alice, &["sync", "--server", &server.url, "--compact-after", "10"]);
    assert!(report["report"]["compacted"].as_u64().unwrap() >= 1, "{report}");
    let after = server_entries(&data);
    assert!(after < before, "compaction shrank the log: {before} -> {after} entries");

    // Bob, who never synced this chat, and a brand-new device of his get all of it.
    sync(&bob, &server);
    assert_eq!(count(&bob, &chat), 40);
    let desktop_home = tempfile::tempdir().unwrap();
    let desktop = desktop_home.path().join("bob-desktop");
    link_device(&bob, &desktop, &server);
    assert_eq!(shared_view(&desktop, &chat), shared_view(&alice, &chat));
    // Writing continues after the compaction.
    send(&bob, &chat, "after the snapshot");
    sync(&bob, &server);
    sync(&alice, &server);
    assert_eq!(count(&alice, &chat), 41);
}

#[test]
fn a_revoked_device_receives_nothing_written_after_the_revocation() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (_a, laptop) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    let chat = group_with(&laptop, &bob, &server);
    send(&laptop, &chat, "before the revocation");
    sync(&laptop, &server);
    sync(&bob, &server);
    let desktop_home = tempfile::tempdir().unwrap();
    let desktop = desktop_home.path().join("alice-desktop");
    link_device(&laptop, &desktop, &server);
    assert_eq!(count(&desktop, &chat), 1);
    let desktop_id = kith_json(&desktop, &["whoami"])["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&laptop, &server);

    kith(&laptop, &["device", "revoke", &desktop_id]);
    let devices = kith_json(&laptop, &["device", "list"]).to_string();
    assert!(devices.contains("\"revoked\":true"), "{devices}");
    sync(&laptop, &server);
    sync(&bob, &server);
    send(&laptop, &chat, "the laptop after the revocation");
    send(&bob, &chat, "bob after the revocation");
    for profile in [&laptop, &bob, &laptop, &desktop, &bob, &desktop] {
        sync(profile, &server);
    }
    assert_eq!(shared_view(&bob, &chat), shared_view(&laptop, &chat));
    assert_eq!(count(&bob, &chat), 3);
    let seen = kith_json(&desktop, &["messages", &chat]).to_string();
    assert!(seen.contains("before the revocation"));
    assert!(
        !seen.contains("after the revocation"),
        "the revoked device read new messages: {seen}"
    );
    assert_no_file_holds(&desktop, "after the revocation");
}

#[test]
fn a_profile_picture_reaches_contacts_as_a_clean_256_px_jpeg() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (home, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    let picture = home.path().join("me.png");
    image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]))
        .save(&picture)
        .unwrap();
    kith(&alice, &["avatar", "set", picture.to_str().unwrap()]);
    let not_a_picture = home.path().join("notes.txt");
    std::fs::write(&not_a_picture, "just words").unwrap();
    let refused = kith_fails(&alice, &["avatar", "set", not_a_picture.to_str().unwrap()]);
    assert!(refused.contains("cannot use this picture"), "{refused}");

    befriend(&alice, &bob, &server);
    let alice_id = account_of(&alice);
    let contacts = kith_json(&bob, &["contacts"]);
    assert_eq!(contacts[0]["has_avatar"], true, "{contacts}");
    let saved = home.path().join("alice-as-bob-sees-her.jpg");
    kith(
        &bob,
        &["avatar", "get", saved.to_str().unwrap(), "--account", &alice_id],
    );
    let bytes = std::fs::read(&saved).unwrap();
    assert_eq!(image::guess_format(&bytes).unwrap(), image::ImageFormat::Jpeg);
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 256));
}

#[test]
fn unread_counts_follow_what_each_person_has_read() {
    let GroupOfTwo {
        server,
        alice,
        bob,
        chat,
        _homes,
    } = group_of_two();
    let first = send(&alice, &chat, "are you coming on Sunday?");
    send(&alice, &chat, "bring the book");
    sync(&alice, &server);
    sync(&bob, &server);
    assert_eq!(chat_row(&bob, &chat)["unread"], 2, "two messages from Alice");
    assert_eq!(
        chat_row(&alice, &chat)["unread"],
        0,
        "her own messages are never unread"
    );

    kith(&bob, &["read", &chat]);
    assert_eq!(chat_row(&bob, &chat)["unread"], 0);
    send(&bob, &chat, "yes, see you");
    sync(&bob, &server);
    sync(&alice, &server);
    assert_eq!(chat_row(&alice, &chat)["unread"], 1, "Bob's answer");
    let mine = kith_json(&alice, &["messages", &chat]);
    let first = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == first.as_str())
        .unwrap();
    assert_eq!(first["status"], "read", "{first}");
}

/// A self-hosted server with its own self-signed certificate: Alice's
/// first sync is refused with a hint, then both pin the certificate once
/// (`--server-cert`), and every later command trusts it from the profile.
#[test]
fn friends_chat_through_a_self_hosted_tls_server_once_they_pin_its_certificate() {
    let tls = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert_path, key_path) = (tls.path().join("cert.pem"), tls.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key_pair.serialize_pem()).unwrap();
    let server = ServerProcess::start_with(
        &tls.path().join("data"),
        &[
            "--no-p2p",
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let (_alice_home, alice) = new_profile("Alice");
    let (_bob_home, bob) = new_profile("Bob");

    let refused = kith_fails(&alice, &["sync", "--server", &server.url, "--once"]);
    assert!(
        refused.contains("certificate") && refused.contains("--server-cert"),
        "{refused}"
    );
    // Plain HTTP is for this machine only: refused before any name lookup
    // (a `.invalid` name could not be looked up anyway).
    let refused = kith_fails(&alice, &["sync", "--server", "http://kith.invalid:8787", "--once"]);
    assert!(
        refused.contains("unencrypted") && refused.contains("https://"),
        "{refused}"
    );
    let not_pem = tls.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let refused = kith_fails(
        &alice,
        &[
            "sync",
            "--server",
            &server.url,
            "--server-cert",
            not_pem.to_str().unwrap(),
            "--once",
        ],
    );
    assert!(refused.contains("not.pem"), "{refused}");

    for profile in [&alice, &bob] {
        kith(
            profile,
            &[
                "sync",
                "--server",
                &server.url,
                "--server-cert",
                cert_path.to_str().unwrap(),
                "--once",
            ],
        );
    }
    let chat = group_with(&alice, &bob, &server);
    send(&alice, &chat, "over TLS");
    sync(&alice, &server);
    sync(&bob, &server);
    let texts = texts(&bob, &chat);
    assert_eq!(texts, vec!["over TLS".to_owned()]);
}

/// The texts of a chat's messages, oldest first.
fn texts(profile: &Path, chat: &str) -> Vec<String> {
    kith_json(profile, &["messages", chat])
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect()
}

/// The server is restored from a copy older than what Bob has pulled, so
/// his cursor is past the log's end: he pulls the log from the start and
/// still gets what Alice sends after the restore.
#[test]
fn a_server_restored_from_an_older_copy_still_delivers_new_messages() {
    let server_dir = tempfile::tempdir().unwrap();
    let (data, backup) = (server_dir.path().join("data"), server_dir.path().join("backup"));
    let mut server = ServerProcess::start(&data);
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    let chat = group_with(&alice, &bob, &server);
    send(&alice, &chat, "before the backup");
    sync(&alice, &server);
    sync(&bob, &server);
    server.kill9();
    copy_dir(&data, &backup);
    let mut server = ServerProcess::start(&data);
    // Several envelopes the restored copy will not have.
    for i in 0..4 {
        send(&alice, &chat, &format!("lost in the restore {i}"));
        sync(&alice, &server);
    }
    sync(&bob, &server);
    assert_eq!(count(&bob, &chat), 5);
    server.kill9();
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&backup, &data);
    let server = ServerProcess::start(&data);
    send(&alice, &chat, "after the restore");
    sync(&alice, &server);
    sync(&bob, &server);
    let texts = texts(&bob, &chat);
    assert!(texts.iter().any(|t| t == "after the restore"), "{texts:?}");
}
