//! The `Client` runtime against `kith-server` served in this process (a real
//! socket on 127.0.0.1, real SQLite files): its one event stream carries
//! what the server loop and the local watch see, typing goes out through
//! it, and stopping ends every task and then the stream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::start_server;
use kith_client::{
    ChatId, ChatKind, Client, ClientEvent, ClientEvents, ClientOptions, ConnectionState, Ephemeral, MessageChange,
    Profile, WatchEvent,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for one expected event (a failure, never a pass, if hit).
const PATIENCE: Duration = Duration::from_secs(30);

fn persona(dir: &Path, seed: u8, name: &str) -> Arc<Profile> {
    Arc::new(common::persona(dir, seed, name))
}

async fn sync(profile: &Profile, url: &str) {
    common::sync(profile, url).await;
}

/// Alice and Bob as contacts with a group chat both have synced.
async fn contacts_with_a_chat(dir: &Path, url: &str) -> (Arc<Profile>, Arc<Profile>, ChatId) {
    let alice = persona(dir, 1, "Alice");
    let bob = persona(dir, 2, "Bob");
    bob.contacts().add(&alice.contacts().invite().unwrap().link()).unwrap();
    for profile in [&bob, &alice, &bob] {
        sync(profile, url).await;
    }
    let chat = alice
        .chats()
        .create("Weekend", &[bob.identity().account_id()], ChatKind::Group)
        .unwrap();
    sync(&alice, url).await;
    sync(&bob, url).await;
    (alice, bob, chat)
}

/// Waits for the first event `wanted` accepts; every other event is passed.
async fn wait_for<T>(events: &mut ClientEvents, mut wanted: impl FnMut(&ClientEvent) -> Option<T>) -> T {
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            let event = events.next().await.expect("the client's events ended early");
            if let Some(found) = wanted(&event) {
                return found;
            }
        }
    })
    .await;
    waited.expect("the event never came")
}

fn server_options(url: &str) -> ClientOptions {
    ClientOptions {
        server: Some(url.to_owned()),
        ..ClientOptions::default()
    }
}

fn is_idle(event: &ClientEvent) -> Option<()> {
    matches!(event, ClientEvent::Server(WatchEvent::State(ConnectionState::Idle))).then_some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_brings_a_message_and_typing_through_the_server_then_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _server) = start_server(&dir.path().join("server")).await;
    let (alice, bob, chat) = contacts_with_a_chat(dir.path(), &url).await;

    let (bob_client, mut bob_events) = Client::start(Arc::clone(&bob), server_options(&url)).unwrap();
    let (alice_client, mut alice_events) = Client::start(Arc::clone(&alice), server_options(&url)).unwrap();
    wait_for(&mut bob_events, is_idle).await;
    wait_for(&mut alice_events, is_idle).await;

    // Alice's send is committed locally; her runtime notices the commit,
    // uploads it, the server pokes Bob's, and his runtime shows it.
    let sent = alice.messages().send(&chat, "See you at nine", None).unwrap();
    let shown = wait_for(&mut bob_events, |event| match event {
        ClientEvent::Server(WatchEvent::Message { change, message }) if *change == MessageChange::Message => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(shown.id, sent);
    assert_eq!(shown.text.as_deref(), Some("See you at nine"));
    assert_eq!(shown.author, alice.identity().account_id());

    // Bob types: Alice's runtime hears it as his, in this chat.
    let bob_account = bob.identity().account_id();
    bob_client.send_typing(chat);
    let typing = wait_for(&mut alice_events, |event| match event {
        ClientEvent::Server(WatchEvent::Ephemeral(Ephemeral::Typing { chat_id, account, .. })) => {
            Some((*chat_id, *account))
        }
        _ => None,
    })
    .await;
    assert_eq!(typing, (chat, bob_account));

    // Stopping waits for every task; the stream then ends, with no task
    // having ended on its own before.
    bob_client.stop();
    let mut after_stop = Vec::new();
    while let Some(event) = bob_events.next().await {
        after_stop.push(event);
    }
    assert!(
        !after_stop.iter().any(|e| matches!(e, ClientEvent::Ended { .. })),
        "{after_stop:?}"
    );
    alice_client.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_server_the_runtime_reports_what_another_writer_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _server) = start_server(&dir.path().join("server")).await;
    let (alice, bob, chat) = contacts_with_a_chat(dir.path(), &url).await;

    // Bob's runtime has no server: only a watch of his store.
    let (bob_client, mut bob_events) = Client::start(Arc::clone(&bob), ClientOptions::default()).unwrap();
    let sent = alice.messages().send(&chat, "Bring a torch", None).unwrap();
    sync(&alice, &url).await;
    // Another writer (here a one-shot relay pass, as `kith sync` in a
    // second process would be) commits Alice's message into Bob's store.
    sync(&bob, &url).await;
    let changes = wait_for(&mut bob_events, |event| match event {
        ClientEvent::LocalCommit(changes) if !changes.is_empty() => Some(changes.clone()),
        _ => None,
    })
    .await;
    let new_messages: Vec<_> = changes
        .iter()
        .filter_map(|change| match change {
            WatchEvent::Message {
                change: MessageChange::Message,
                message,
            } => Some(message.id),
            _ => None,
        })
        .collect();
    assert_eq!(new_messages, vec![sent], "{changes:?}");
    bob_client.stop();
    let drained = tokio::time::timeout(PATIENCE, async { while bob_events.next().await.is_some() {} }).await;
    assert!(drained.is_ok(), "the events end once stopped");
}
