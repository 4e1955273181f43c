//! The `kith` CLI contract: what scripts and tests rely on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;

#[test]
fn a_new_user_can_chat_alone_offline() {
    let (_tmp, alice) = new_profile("Alice");
    let me = kith_json(&alice, &["whoami"]);
    for key in ["account_id", "device_id", "name", "invite"] {
        assert!(me[key].is_string(), "whoami lacks {key}: {me}");
    }
    assert_eq!(me["name"], "Alice");
    assert!(me["invite"].as_str().unwrap_or("").starts_with("kith://invite/"));

    let chat = new_chat(&alice, "Book club");
    let first = send(&alice, &chat, "Welcome to the book club!");
    let second = send(&alice, &chat, "Next up: Piranesi by Susanna Clarke");
    let reply = kith_json(&alice, &["send", &chat, "Café after?", "--reply-to", &first])["message_id"]
        .as_str()
        .expect("id")
        .to_string();
    kith(&alice, &["edit", &chat, &first, "Welcome, everyone!"]);
    kith(&alice, &["react", &chat, &first, "👍"]);
    kith(&alice, &["react", &chat, &first, "🎉"]);
    kith(&alice, &["react", &chat, &first, "🎉", "--remove"]);

    let messages = kith_json(&alice, &["messages", &chat]);
    let list = messages.as_array().expect("array");
    assert_eq!(list.len(), 3);
    for key in [
        "id",
        "chat_id",
        "author",
        "author_name",
        "text",
        "ts",
        "reply_to",
        "edited",
        "deleted",
        "reactions",
    ] {
        assert!(list[0].get(key).is_some(), "message lacks {key}: {}", list[0]);
    }
    assert_eq!(list[0]["id"], first.as_str(), "oldest first");
    assert_eq!(list[0]["text"], "Welcome, everyone!");
    assert_eq!(list[0]["edited"], true);
    assert_eq!(list[0]["author_name"], "Alice");
    assert_eq!(list[0]["reactions"]["👍"][0], me["account_id"]);
    assert!(list[0]["reactions"].get("🎉").is_none(), "removed reaction is gone");
    assert_eq!(list[1]["id"], second.as_str());
    assert_eq!(list[2]["id"], reply.as_str());
    assert_eq!(list[2]["reply_to"], first.as_str());

    let chats = kith_json(&alice, &["chats"]);
    let row = &chats.as_array().expect("array")[0];
    for key in [
        "chat_id",
        "name",
        "last_message",
        "unread",
        "pinned",
        "muted",
        "archived",
    ] {
        assert!(row.get(key).is_some(), "chat lacks {key}: {row}");
    }
    assert_eq!(row["name"], "Book club");
    assert_eq!(row["unread"], 0, "own messages are never unread");
    assert_eq!(row["last_message"]["text"], "Café after?");

    let hits = kith_json(&alice, &["search", "piran"]);
    let hits = hits.as_array().expect("array");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["message_id"], second.as_str());
    assert!(hits[0]["snippet"].as_str().unwrap_or("").contains("[Piranesi]"));
    for key in ["chat_id", "message_id", "text", "snippet"] {
        assert!(hits[0].get(key).is_some());
    }
    let cafe = kith_json(&alice, &["search", "cafe"]);
    assert_eq!(cafe.as_array().map(Vec::len), Some(1), "diacritics are ignored: {cafe}");

    kith(&alice, &["delete", &chat, &second]);
    let after = kith_json(&alice, &["messages", &chat]);
    assert_eq!(after[1]["deleted"], true);
    assert_eq!(after[1]["text"], Value::Null);
    assert_eq!(
        kith_json(&alice, &["search", "piranesi"]).as_array().map(Vec::len),
        Some(0)
    );
    kith_fails(&alice, &["edit", &chat, &second, "undelete"]);
}

#[test]
fn chat_settings_rename_and_pagination() {
    let (_tmp, alice) = new_profile("Alice");
    let quiet = new_chat(&alice, "Quiet");
    let busy = new_chat(&alice, "Busy");
    let ids: Vec<String> = (0..5).map(|i| send(&alice, &busy, &format!("message {i}"))).collect();
    kith(&alice, &["chat", "pin", &quiet]);
    kith(&alice, &["chat", "mute", &busy]);
    kith(&alice, &["chat", "rename", &busy, "Very busy"]);
    let chats = kith_json(&alice, &["chats"]);
    let chats = chats.as_array().expect("array");
    assert_eq!(chats[0]["chat_id"], quiet.as_str(), "pinned first");
    assert_eq!(chats[0]["pinned"], true);
    assert_eq!(chats[1]["name"], "Very busy");
    assert_eq!(chats[1]["muted"], true);
    kith(&alice, &["chat", "pin", &quiet, "--off"]);
    kith(&alice, &["chat", "archive", &quiet]);
    let chats = kith_json(&alice, &["chats"]);
    assert_eq!(chats[0]["chat_id"], busy.as_str(), "most recent first once unpinned");
    assert_eq!(chats[1]["archived"], true);

    let page = kith_json(&alice, &["messages", &busy, "--limit", "2"]);
    let page: Vec<&str> = page
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(page, vec![ids[3].as_str(), ids[4].as_str()]);
    let older = kith_json(&alice, &["messages", &busy, "--limit", "2", "--before", &ids[3]]);
    let older: Vec<&str> = older
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(older, vec![ids[1].as_str(), ids[2].as_str()]);
}

#[test]
fn bad_ids_and_missing_things_are_clear_errors() {
    let (_tmp, alice) = new_profile("Alice");
    let chat = new_chat(&alice, "Chat");
    let msg = send(&alice, &chat, "hi");
    assert!(kith_fails(&alice, &["send", "not-an-id!", "x"]).contains("invalid chat id"));
    assert!(kith_fails(&alice, &["send", "0000000000000000000000000g", "x"]).contains("no chat"));
    assert!(kith_fails(&alice, &["edit", &chat, "zzzz", "x"]).contains("invalid message id"));
    assert!(kith_fails(&alice, &["react", &chat, "00000000000000000000000000", "👍"]).contains("no message"));
    assert!(
        kith_fails(
            &alice,
            &["send", &chat, "x", "--reply-to", "00000000000000000000000000"]
        )
        .contains("no message")
    );
    assert!(kith_fails(&alice, &["chat", "new", "--name", "x", "--member", "bob"]).contains("invalid account id"));
    assert!(kith_fails(&alice, &["init", "--name", "Again"]).contains("already holds a profile"));
    let empty = alice.with_file_name("nobody");
    assert!(kith_fails(&empty, &["chats"]).contains("init"));
    let long = "x".repeat(70_000);
    assert!(kith_fails(&alice, &["send", &chat, &long]).contains("limit"));
    // Nothing was lost along the way.
    assert_eq!(kith_json(&alice, &["messages", &chat])[0]["id"], msg.as_str());
}

#[test]
fn export_writes_readable_json_and_standard_automerge_files() {
    let (tmp, alice) = new_profile("Alice");
    let chat = new_chat(&alice, "Exported");
    send(&alice, &chat, "keep me");
    let out = tmp.path().join("export");
    kith(&alice, &["export", out.to_str().expect("utf-8 path")]);
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("kith-export.json")).expect("json")).expect("parse");
    assert_eq!(json["name"], "Alice");
    assert_eq!(json["chats"][0]["messages"][0]["text"], "keep me");
    let docs = json["documents"].as_array().expect("documents");
    assert_eq!(docs.len(), 3, "account, head and one segment");
    for doc in docs {
        let bytes = std::fs::read(out.join(doc.as_str().expect("path"))).expect("doc file");
        automerge::AutoCommit::load(&bytes).expect("a standard Automerge document");
    }
}
