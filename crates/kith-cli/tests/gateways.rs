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
    let postgres = Postgres::start();
    let url = postgres.new_database("chat");
    let nats = Nats::start();
    let nats_url = nats.url();
    let homes = tempfile::tempdir().unwrap();
    let args = ["--no-p2p", "--database", url.as_str(), "--nats", nats_url.as_str()];
    let gateway_1 = ServerProcess::start_with(&homes.path().join("gw1"), &args);
    let gateway_2 = ServerProcess::start_with(&homes.path().join("gw2"), &args);
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");

    // Contacts: the invite goes through gateway 2, the answer through 1.
    let invite = kith_json(&alice, &["whoami"])["invite"].as_str().unwrap().to_owned();
    kith(&bob, &["contact", "add", &invite]);
    sync(&bob, &gateway_2);
    sync(&alice, &gateway_1);
    sync(&bob, &gateway_2);
    let bob_id = account_of(&bob);
    let chat = kith_json(&alice, &["chat", "new", "--name", "Two gateways", "--member", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = send(&alice, &chat, "hello from gateway 1");
    sync(&alice, &gateway_1);

    // Bob watches on gateway 2: what Alice sends through gateway 1 arrives
    // live, and so does her typing.
    let mut watcher = Watcher::start(&bob, &gateway_2);
    let live = send(&alice, &chat, "are you there?");
    sync(&alice, &gateway_1);
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
    sync(&alice, &gateway_1);
    assert_eq!(status_of(&alice, &chat, &first)["status"], "delivered");
    kith(&bob, &["read", &chat]);
    send(&bob, &chat, "yes, on gateway 2");
    sync(&bob, &gateway_2);
    sync(&alice, &gateway_1);
    assert_eq!(status_of(&alice, &chat, &first)["status"], "read");
    assert!(
        kith_json(&alice, &["messages", &chat])
            .to_string()
            .contains("yes, on gateway 2")
    );

    // Bob's new laptop, linked through gateway 2, pulls the whole history.
    let laptop = homes.path().join("bob-laptop");
    link_device(&bob, &laptop, &gateway_2);
    sync(&laptop, &gateway_2);
    let on_laptop = kith_json(&laptop, &["messages", &chat]).as_array().unwrap().len();
    assert_eq!(on_laptop, 3, "the new device has every message");
}
