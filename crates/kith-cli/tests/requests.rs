//! Usernames and message requests with real `kith` processes and a real
//! `kith-server`: claim, find, release; look-alikes refused; no name in
//! the server's files; lookups rate-limited. A stranger's request lands in
//! Requests on every device of the recipient, with nothing going back until
//! it is accepted; ignore, accept and block-and-report each do what they
//! say; the operator reads the report and suspends the device.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn requests_of(profile: &Path) -> Vec<Value> {
    kith_json(profile, &["requests"]).as_array().unwrap().clone()
}

fn device_of(profile: &Path) -> String {
    kith_json(profile, &["whoami"])["device_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn admin(data: &Path, args: &[&str]) -> std::process::Output {
    let mut full = vec!["--data".to_owned(), data.display().to_string(), "admin".to_owned()];
    full.extend(args.iter().map(|a| (*a).to_owned()));
    std::process::Command::new(server_bin()).args(&full).output().unwrap()
}

/// Alice on a laptop and a phone, with the username `alice` (claimed from
/// the laptop). The temporary directories live as long as the first value.
fn alice_on_two_devices(server: &ServerProcess) -> ((tempfile::TempDir, tempfile::TempDir), PathBuf, PathBuf) {
    let (laptop_home, laptop) = new_profile("Alice");
    let phone_home = tempfile::tempdir().unwrap();
    let phone = phone_home.path().join("alice-phone");
    sync(&laptop, server);
    link_device(&laptop, &phone, server);
    kith(&laptop, &["username", "set", "alice", "--server", &server.url]);
    ((laptop_home, phone_home), laptop, phone)
}

#[test]
fn usernames_are_claimed_found_released_and_look_alikes_refused() {
    let server_home = tempfile::tempdir().unwrap();
    let data = server_home.path().join("data");
    let server = ServerProcess::start_with(&data, &["--lookups-per-hour", "12"]);
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    let claimed = kith_json(&alice, &["username", "set", "Alice", "--server", &server.url]);
    assert_eq!(claimed["username"], "alice");
    assert_eq!(kith_json(&alice, &["username", "show"])["username"], "alice");

    let found = kith_json(&bob, &["contact", "find", "@alice", "--server", &server.url]);
    assert_eq!(found["account_id"], account_of(&alice).as_str());
    assert_eq!(found["relation"], "none");
    // Look-alikes are the same name: they cannot be claimed by someone else.
    for look_alike in ["A1ice", "\u{0430}lice", "ALICE"] {
        let refused = kith_fails(&bob, &["username", "set", look_alike, "--server", &server.url]);
        assert!(refused.contains("is taken"), "{look_alike}: {refused}");
    }
    let bad = kith_fails(&bob, &["username", "set", "bob smith", "--server", &server.url]);
    assert!(bad.contains("letters a-z"), "{bad}");
    kith(&bob, &["username", "set", "bob.smith", "--server", &server.url]);

    // The server keeps a hash and a sealed record: no name in its files.
    for name in ["alice", "Alice", "bob.smith"] {
        assert_no_file_holds(&data, name);
    }

    let released = kith_json(&alice, &["username", "release", "--server", &server.url]);
    assert_eq!(released["released"], "alice");
    assert!(kith_json(&alice, &["username", "show"])["username"].is_null());
    let gone = kith_fails(&bob, &["contact", "find", "alice", "--server", &server.url]);
    assert!(gone.contains("nobody has the username"), "{gone}");

    // A flood of lookups from one device meets its hourly limit.
    let (_c, carol) = new_profile("Carol");
    let mut limited = None;
    for attempt in 0..14 {
        let out = kith_raw(
            &carol,
            &["contact", "find", &format!("guess{attempt}"), "--server", &server.url],
        );
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if stderr.contains("too many username lookups") {
            limited = Some(attempt);
            break;
        }
        assert!(stderr.contains("nobody has the username"), "{stderr}");
    }
    assert_eq!(limited, Some(12), "the 13th lookup in an hour is refused");
}

#[test]
fn a_strangers_request_waits_in_requests_on_every_device_until_accepted() {
    let server_home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_home.path().join("data"));
    let (_homes, laptop, phone) = alice_on_two_devices(&server);
    sync(&phone, &server);

    let (_b, bob) = new_profile("Bob");
    sync(&bob, &server);
    let sent = kith_json(
        &bob,
        &[
            "contact",
            "request",
            "alice",
            "--message",
            "Hi Alice, it's Bob from the climbing gym",
            "--server",
            &server.url,
        ],
    );
    assert_eq!(sent["account_id"], account_of(&laptop).as_str());
    let bob_id = account_of(&bob);

    sync(&laptop, &server);
    sync(&phone, &server);
    sync(&laptop, &server);
    for device in [&laptop, &phone] {
        let requests = requests_of(device);
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(requests[0]["account_id"], bob_id.as_str());
        assert_eq!(requests[0]["name"], "Bob");
        assert_eq!(requests[0]["text"], "Hi Alice, it's Bob from the climbing gym");
        assert_eq!(requests[0]["via"], "username");
        // Not a contact, and no chat with them yet: nothing of theirs is
        // fetched, nothing goes back.
        let contacts = kith_json(device, &["contacts"]);
        assert!(!contacts.to_string().contains(&bob_id), "{contacts}");
        assert_eq!(kith_json(device, &["chats"]).as_array().unwrap().len(), 0);
    }
    sync(&bob, &server);
    let bob_sees = kith_json(&bob, &["contacts"]);
    assert_eq!(bob_sees[0]["state"], "pending", "{bob_sees}");
    let direct = kith_json(&bob, &["chats"])[0]["chat_id"].as_str().unwrap().to_owned();
    let first = &kith_json(&bob, &["messages", &direct])[0];
    assert_eq!(first["text"], "Hi Alice, it's Bob from the climbing gym");
    assert_eq!(
        first["status"], "uploaded",
        "no receipt before the request is accepted: {first}"
    );
    assert!(
        first["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["delivered"] == false && r["read"] == false),
        "{first}"
    );

    // Accepted on the phone: both devices of Alice and Bob agree.
    kith(&phone, &["request", "accept", &bob_id]);
    sync(&phone, &server);
    sync(&bob, &server);
    sync(&laptop, &server);
    sync(&bob, &server);
    assert_eq!(kith_json(&bob, &["contacts"])[0]["state"], "accepted");
    for device in [&laptop, &phone] {
        sync(device, &server);
        assert!(requests_of(device).is_empty());
        let contacts = kith_json(device, &["contacts"]);
        assert_eq!(contacts[0]["account_id"], bob_id.as_str(), "{contacts}");
        assert_eq!(contacts[0]["state"], "accepted");
        let chats = kith_json(device, &["chats"]);
        let chat = chats[0]["chat_id"].as_str().unwrap();
        assert_eq!(chat, direct);
        let messages = kith_json(device, &["messages", chat]);
        assert_eq!(messages[0]["text"], "Hi Alice, it's Bob from the climbing gym");
    }
    // Now receipts flow.
    kith(&laptop, &["read", &direct]);
    sync(&laptop, &server);
    sync(&bob, &server);
    let first = &kith_json(&bob, &["messages", &direct])[0];
    assert_eq!(first["status"], "read", "{first}");
}

#[test]
fn ignore_and_block_and_report_hold_on_every_device_and_the_operator_suspends() {
    let server_home = tempfile::tempdir().unwrap();
    let data = server_home.path().join("data");
    let server = ServerProcess::start(&data);
    let (_homes, laptop, phone) = alice_on_two_devices(&server);

    let (_c, carol) = new_profile("Carol");
    let (_d, dave) = new_profile("Dave");
    for (who, text) in [
        (&carol, "WIN FREE CRYPTO at https://win.example now"),
        (&dave, "cheap followers, click https://buy.example"),
    ] {
        sync(who, &server);
        kith(
            who,
            &[
                "contact",
                "request",
                "alice",
                "--message",
                text,
                "--server",
                &server.url,
            ],
        );
    }
    sync(&laptop, &server);
    sync(&phone, &server);
    assert_eq!(requests_of(&phone).len(), 2);

    let (carol_id, dave_id) = (account_of(&carol), account_of(&dave));
    kith(&phone, &["request", "ignore", &carol_id]);
    sync(&phone, &server);
    sync(&laptop, &server);
    let left: Vec<Value> = requests_of(&laptop);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["account_id"], dave_id.as_str());
    // Carol asks again: dropped, not listed, on either device.
    kith(
        &carol,
        &[
            "contact",
            "request",
            "alice",
            "--message",
            "please?",
            "--server",
            &server.url,
        ],
    );
    sync(&laptop, &server);
    sync(&phone, &server);
    assert_eq!(requests_of(&laptop).len(), 1);
    assert_eq!(requests_of(&phone).len(), 1);
    sync(&carol, &server);
    assert_eq!(
        kith_json(&carol, &["contacts"])[0]["state"],
        "pending",
        "Carol is not told"
    );

    let blocked = kith_json(
        &laptop,
        &[
            "request",
            "block",
            &dave_id,
            "--report",
            "spam links",
            "--server",
            &server.url,
        ],
    );
    assert_eq!(blocked["reported"], true);
    assert_eq!(blocked["device_id"], device_of(&dave).as_str());
    sync(&laptop, &server);
    sync(&phone, &server);
    for device in [&laptop, &phone] {
        assert!(requests_of(device).is_empty());
        let contacts = kith_json(device, &["contacts"]);
        let dave_row = contacts
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["account_id"] == dave_id.as_str());
        assert_eq!(
            dave_row.map(|c| c["state"].clone()),
            Some("blocked".into()),
            "{contacts}"
        );
    }

    // The operator sees only the device and the reason, and suspends it.
    let reports = admin(&data, &["reports"]);
    let listed = String::from_utf8_lossy(&reports.stdout).to_string();
    assert!(reports.status.success(), "{reports:?}");
    assert!(
        listed.contains(&device_of(&dave)) && listed.contains("spam links"),
        "{listed}"
    );
    assert!(!listed.contains("cheap followers"), "no message content in a report");
    let suspended = admin(&data, &["suspend-device", &device_of(&dave)]);
    assert!(suspended.status.success(), "{suspended:?}");
    let refused = kith_fails(&dave, &["sync", "--server", &server.url, "--once"]);
    assert!(refused.contains("suspended"), "{refused}");
    let taken = admin(&data, &["suspend-username", "Carol.Spam"]);
    assert!(String::from_utf8_lossy(&taken.stdout).contains("reserved the username carol.spam"));
    let claim = kith_fails(&carol, &["username", "set", "carol.spam", "--server", &server.url]);
    assert!(claim.contains("suspended"), "{claim}");
}

#[test]
fn someone_from_a_shared_group_gets_a_request_in_one_step() {
    let server_home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_home.path().join("data"));
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    let (_e, erin) = new_profile("Erin");
    befriend(&bob, &alice, &server);
    befriend(&bob, &erin, &server);
    let group = new_chat(&bob, "Climbing");
    for member in [&alice, &erin] {
        kith(&bob, &["member", "add", &group, &account_of(member)]);
    }
    send(&bob, &group, "Saturday?");
    sync(&bob, &server);
    for member in [&alice, &erin] {
        sync(member, &server);
        sync(member, &server);
    }
    // Erin writes in the group: her devices are known to its members.
    send(&erin, &group, "I'm in");
    sync(&erin, &server);
    sync(&alice, &server);
    let suggestions = kith_json(&alice, &["contact", "suggestions"]);
    let erin_id = account_of(&erin);
    assert_eq!(suggestions[0]["account_id"], erin_id.as_str(), "{suggestions}");
    kith(
        &alice,
        &[
            "contact",
            "request",
            &erin_id,
            "--message",
            "Hi Erin, Alice from climbing",
            "--server",
            &server.url,
        ],
    );
    sync(&erin, &server);
    let requests = requests_of(&erin);
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["via"], "group");
    assert_eq!(requests[0]["shared_groups"], 1);
    assert_eq!(requests[0]["name"], "Alice");
}
