//! Suggested replies from the user's own history, with real `kith` and
//! `kith-server` processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// Bob's newest message in `chat` as Alice has it.
fn newest_from(profile: &Path, chat: &str, author: &str) -> String {
    kith_json(profile, &["messages", chat])
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["author"] == author)
        .unwrap_or_else(|| panic!("no message by {author}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn suggestions(profile: &Path, chat: &str, message: &str) -> Vec<Value> {
    kith_json(profile, &["suggest", chat, message])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_usual_reply_to_a_familiar_question_comes_first_and_nobody_elses_words_are_suggested() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    let (_c, carol) = new_profile("Carol");
    befriend(&alice, &bob, &server);
    befriend(&alice, &carol, &server);
    let (bob_id, carol_id) = (account_of(&bob), account_of(&carol));
    let direct = kith_json(&alice, &["chat", "direct", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = kith_json(
        &alice,
        &[
            "chat",
            "new",
            "--name",
            "Book club",
            "--member",
            &bob_id,
            "--member",
            &carol_id,
        ],
    )["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&alice, &server);
    sync(&bob, &server);
    sync(&carol, &server);

    // A history from the committed examples: Bob asks, Alice answers.
    let examples = kith_testkit::reply_examples();
    for (asked, answered) in examples.history.iter().take(8) {
        send(&bob, &direct, asked);
        sync(&bob, &server);
        sync(&alice, &server);
        send(&alice, &direct, answered);
    }
    // In the group Carol asks the same kind of thing and Bob, not Alice, answers.
    send(&carol, &group, "are you coming to the book club tonight?");
    sync(&carol, &server);
    sync(&bob, &server);
    send(&bob, &group, "Only if Carol brings the secret cake recipe");
    sync(&bob, &server);

    // A familiar question: Alice's usual answer comes first.
    send(&bob, &direct, "are you coming to the barbecue tonight?");
    sync(&bob, &server);
    sync(&alice, &server);
    let asked = newest_from(&alice, &direct, &bob_id);
    let offered = suggestions(&alice, &direct, &asked);
    assert_eq!(offered.len(), 3, "{offered:?}");
    assert_eq!(offered[0]["text"], "Yes, I'll be there at 7", "{offered:?}");
    assert_eq!(offered[0]["source"], "history");
    assert!(offered[0]["times"].as_u64().unwrap() >= 2);
    // The rest are short built-ins for a question.
    assert!(offered.iter().skip(1).all(|s| s["source"] == "built-in"), "{offered:?}");

    // Something never answered before gets built-ins only, and never Bob's
    // or Carol's words, in any chat.
    let everyone_else: Vec<String> = [&direct, &group]
        .iter()
        .flat_map(|chat| {
            kith_json(&alice, &["messages", chat, "--limit", "1000"])
                .as_array()
                .unwrap()
                .clone()
        })
        .filter(|m| m["author"] != account_of(&alice).as_str())
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    let carol_asked = newest_from(&alice, &group, &carol_id);
    for (chat, message) in [(&group, carol_asked.as_str()), (&direct, asked.as_str())] {
        for offered in suggestions(&alice, chat, message) {
            let text = offered["text"].as_str().unwrap();
            assert!(
                !everyone_else.iter().any(|t| t == text),
                "suggested someone else's words: {text}"
            );
        }
    }
    let bob_said = newest_from(&alice, &group, &bob_id);
    let offered = suggestions(&alice, &group, &bob_said);
    assert!(offered.iter().all(|s| s["source"] == "built-in"), "{offered:?}");
    // Own messages get no suggestions; a message that does not exist is an error.
    let own = newest_from(&alice, &direct, &account_of(&alice));
    assert!(suggestions(&alice, &direct, &own).is_empty());
    let err = kith_fails(&alice, &["suggest", &direct, "06h50ejkc0001rlqcsa5rlpf7o"]);
    assert!(err.contains("no message"), "{err}");
}
