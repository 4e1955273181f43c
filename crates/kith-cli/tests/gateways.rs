//! Two people on two `kith-server` gateways sharing one PostgreSQL and one
//! NATS (throwaway servers this test starts): they chat live, with
//! receipts and typing, and a new device on the other gateway pulls the
//! whole history.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kith_testkit::{Nats, Postgres};
use serde_json::Value;

#[test]
fn alice_on_one_gateway_and_bob_on_another_chat_live_and_a_new_device_gets_the_history() {
    // Contacts made with the invite through gateway 2, the answer through 1.
    let service = service("chat");
    let (alice, bob, chat) = (service.alice.clone(), service.bob.clone(), service.chat.clone());
    let (gateway_1, gateway_2) = (&service.gateway_1, &service.gateway_2);
    let first = send(&alice, &chat, "hello from gateway 1");
    sync(&alice, gateway_1);

    // Bob watches on gateway 2: what Alice sends through gateway 1 arrives
    // live, and so does her typing.
    let mut watcher = Watcher::start(&bob, gateway_2);
    let live = send(&alice, &chat, "are you there?");
    sync(&alice, gateway_1);
    watcher.wait_for(|line| line.contains(&live));
    kith(&alice, &["typing", &chat, "--server", &gateway_1.url]);
    let typing: Value = serde_json::from_str(&watcher.wait_for(|line| line.contains("\"typing\""))).unwrap();
    assert_eq!(typing["account"], account_of(&alice).as_str());
    drop(watcher);
    let texts = kith_json(&bob, &["messages", &chat]).to_string();
    assert!(
        texts.contains("hello from gateway 1") && texts.contains("are you there?"),
        "{texts}"
    );

    // Receipts cross too: delivered, then read.
    sync(&alice, gateway_1);
    assert_eq!(status_of(&alice, &chat, &first)["status"], "delivered");
    kith(&bob, &["read", &chat]);
    send(&bob, &chat, "yes, on gateway 2");
    sync(&bob, gateway_2);
    sync(&alice, gateway_1);
    assert_eq!(status_of(&alice, &chat, &first)["status"], "read");
    assert!(
        kith_json(&alice, &["messages", &chat])
            .to_string()
            .contains("yes, on gateway 2")
    );

    // Bob's new laptop, linked through gateway 2, pulls the whole history.
    let laptop = service.homes.path().join("bob-laptop");
    link_device(&bob, &laptop, gateway_2);
    sync(&laptop, gateway_2);
    let on_laptop = kith_json(&laptop, &["messages", &chat]).as_array().unwrap().len();
    assert_eq!(on_laptop, 3, "the new device has every message");
}

/// Two gateways on one PostgreSQL and NATS, and Alice (gateway 1) and Bob
/// (gateway 2) in a chat with each other.
struct Service {
    _postgres: Postgres,
    nats: Nats,
    gateway_1: ServerProcess,
    gateway_2: ServerProcess,
    homes: tempfile::TempDir,
    _profiles: (tempfile::TempDir, tempfile::TempDir),
    alice: std::path::PathBuf,
    bob: std::path::PathBuf,
    chat: String,
}

fn service(name: &str) -> Service {
    let postgres = Postgres::start();
    let url = postgres.new_database(name);
    let nats = Nats::start();
    let nats_url = nats.url();
    let homes = tempfile::tempdir().unwrap();
    let args = ["--no-p2p", "--database", url.as_str(), "--nats", nats_url.as_str()];
    let gateway_1 = ServerProcess::start_with(&homes.path().join("gw1"), &args);
    let gateway_2 = ServerProcess::start_with(&homes.path().join("gw2"), &args);
    let (a, alice) = new_profile("Alice");
    let (b, bob) = new_profile("Bob");
    befriend_across(&alice, &gateway_1, &bob, &gateway_2);
    let bob_id = account_of(&bob);
    let chat = kith_json(&alice, &["chat", "new", "--name", name, "--member", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&alice, &gateway_1);
    sync(&bob, &gateway_2);
    Service {
        _postgres: postgres,
        nats,
        gateway_1,
        gateway_2,
        homes,
        _profiles: (a, b),
        alice,
        bob,
        chat,
    }
}

/// NATS stops mid-conversation: Bob, watching on gateway 2, still gets
/// what Alice sends through gateway 1 (the gateways poll the database
/// while NATS is away), and live pokes carry it again once NATS is back.
#[test]
fn nats_stopped_and_restarted_mid_conversation_loses_nothing() {
    let mut service = service("nats_restart");
    let (alice, bob, chat) = (service.alice.clone(), service.bob.clone(), service.chat.clone());
    let mut watcher = Watcher::start(&bob, &service.gateway_2);
    let before = send(&alice, &chat, "with NATS");
    sync(&alice, &service.gateway_1);
    watcher.wait_for(|line| line.contains(&before));

    service.nats.stop();
    let during = send(&alice, &chat, "while NATS is down");
    sync(&alice, &service.gateway_1);
    watcher.wait_for(|line| line.contains(&during));

    service.nats.resume();
    // The gateways reconnect in the background; then pokes flow again.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let after = send(&alice, &chat, "NATS is back");
    sync(&alice, &service.gateway_1);
    watcher.wait_for(|line| line.contains(&after));
    drop(watcher);
    let texts = kith_json(&bob, &["messages", &chat]).to_string();
    for text in ["with NATS", "while NATS is down", "NATS is back"] {
        assert_eq!(texts.matches(text).count(), 1, "{text} once in {texts}");
    }
}

/// Gateway 1 is SIGKILLed while Alice's client pushes a burst through it:
/// her client finishes on gateway 2 (as it would behind a load balancer),
/// and Bob gets every message exactly once.
#[test]
fn a_gateway_killed_during_a_burst_and_the_client_finishes_on_the_other() {
    let mut service = service("gateway_kill");
    let (alice, bob, chat) = (service.alice.clone(), service.bob.clone(), service.chat.clone());
    for n in 0..10 {
        send(&alice, &chat, &format!("burst {n:02}"));
    }
    sync(&alice, &service.gateway_1);
    for n in 10..30 {
        send(&alice, &chat, &format!("burst {n:02}"));
    }
    // A sync under way when the gateway dies (it fails or half-finishes).
    let pushing = kith_cmd(&alice, &["sync", "--server", &service.gateway_1.url, "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    service.gateway_1.kill9();
    let _ = pushing.wait_with_output();

    sync(&alice, &service.gateway_2);
    sync(&bob, &service.gateway_2);
    let texts = kith_json(&bob, &["messages", &chat]).to_string();
    for n in 0..30 {
        let text = format!("burst {n:02}");
        assert_eq!(texts.matches(&text).count(), 1, "{text} once in {texts}");
    }
}
