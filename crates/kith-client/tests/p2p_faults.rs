//! Peer-to-peer sync under faults, over real libp2p sockets on 127.0.0.1:
//! lost and delayed frames, and a hostile peer that skips authentication.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use kith_client::p2p::{Faults, P2pEvent, P2pOptions, P2pReport, PeerFrame, run_p2p};
use kith_client::{ChatKind, ConsumerFailed, DocId, Profile};
use kith_core::identity::Identity;
use kith_net::p2p::{
    FrameReceiver, FrameSender, Multiaddr, NodeCommand, NodeConfig, NodeEvent, P2pNode, keypair_of, spawn_framed,
};
use kith_store::{SqliteStore, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn profile(seed: u8, name: &str) -> Profile {
    let identity = Identity::create([[seed; 32], [seed + 1; 32], [seed + 2; 32]], 0);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    Profile::with_store(identity, store, name).unwrap()
}

fn options(peers: Vec<Multiaddr>) -> P2pOptions {
    P2pOptions {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        peers,
        mdns: false,
        quiet_after: Duration::from_millis(300),
        ..P2pOptions::default()
    }
}

/// Runs `a` listening and `b` dialing `a` until `done` or 60 s.
async fn run_pair(
    a: &Profile,
    a_options: P2pOptions,
    b: &Profile,
    b_options: P2pOptions,
    done: &(dyn Fn() -> bool + Sync),
) -> (P2pReport, P2pReport) {
    let slot: Mutex<Option<Multiaddr>> = Mutex::new(None);
    let deadline = Instant::now() + Duration::from_secs(60);
    let stop = || done() || Instant::now() > deadline;
    let a_peer = kith_net::p2p::peer_id_of_device(&a.identity().device_id()).unwrap();
    let mut on_a = |event: P2pEvent| -> Result<(), ConsumerFailed> {
        if let P2pEvent::Listening(addresses) = event {
            let mut address: Multiaddr = addresses[0].parse().unwrap();
            address.push(kith_net::p2p::Protocol::P2p(a_peer));
            *slot.lock().unwrap() = Some(address);
        }
        Ok(())
    };
    let mut on_b = |_: P2pEvent| -> Result<(), ConsumerFailed> { Ok(()) };
    let b_run = async {
        let address = loop {
            if let Some(address) = slot.lock().unwrap().clone() {
                break address;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let mut b_options = b_options;
        b_options.peers = vec![address];
        run_p2p(b, b_options, &stop, &mut on_b).await
    };
    let (a_report, b_report) = tokio::join!(run_p2p(a, a_options, &stop, &mut on_a), b_run);
    (a_report.unwrap(), b_report.unwrap())
}

fn count(profile: &Profile, chat: &kith_client::ChatId) -> usize {
    profile
        .messages()
        .list(chat, 10_000, None)
        .map(|m| m.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "current_thread")]
async fn lost_and_delayed_frames_recover_without_a_sync_loop() {
    let alice = profile(1, "Alice");
    let bob = profile(11, "Bob");
    bob.contacts().add(&alice.contacts().invite().unwrap().link()).unwrap();
    let chat = alice
        .chats()
        .create("Pair", &[bob.identity().account_id()], ChatKind::Group)
        .unwrap();
    alice.messages().send(&chat, "hello", None).unwrap();
    // First meeting: contacts, and Bob gets the chat.
    let has_chat = || count(&bob, &chat) == 1;
    run_pair(&alice, options(vec![]), &bob, options(vec![]), &has_chat).await;
    assert_eq!(count(&bob, &chat), 1, "bob got the chat");

    // Both write offline, then meet again while Alice's stream loses its
    // first four sync frames and delays every frame: only the digest
    // exchange after a quiet spell notices the loss and resyncs.
    for i in 0..150 {
        alice.messages().send(&chat, &format!("alice {i}"), None).unwrap();
        bob.messages().send(&chat, &format!("bob {i}"), None).unwrap();
    }
    let mut faulty = options(vec![]);
    faulty.faults = Faults {
        drop_sync_frames: [1, 2, 3, 4].into_iter().collect(),
        delay: Duration::from_millis(5),
    };
    let converged = || count(&alice, &chat) == 301 && count(&bob, &chat) == 301;
    let (a_report, b_report) = run_pair(&alice, faulty, &bob, options(vec![]), &converged).await;
    assert_eq!(count(&alice, &chat), 301, "alice has everything");
    assert_eq!(count(&bob, &chat), 301, "bob has everything");
    let frames = a_report.frames_sent + b_report.frames_sent;
    // A handful of rounds per document (a resync after the loss included),
    // not a loop: bounded by a small multiple of the documents involved.
    assert!(frames < 80, "{frames} frames: {a_report:?} {b_report:?}");
    let doc = DocId::Head(chat);
    assert_eq!(alice.docs().heads(doc).unwrap(), bob.docs().heads(doc).unwrap());
}

#[tokio::test(flavor = "current_thread")]
async fn a_hostile_peer_that_skips_authentication_changes_nothing() {
    let alice = profile(21, "Alice");
    let bob = profile(31, "Bob");
    let mallory = profile(41, "Mallory");
    bob.contacts().add(&alice.contacts().invite().unwrap().link()).unwrap();
    let secret = alice.chats().create("Secret", &[], ChatKind::Group).unwrap();
    alice.messages().send(&secret, "the plans", None).unwrap();
    let spam = mallory
        .chats()
        .create("Spam", &[alice.identity().account_id()], ChatKind::Group)
        .unwrap();
    mallory.messages().send(&spam, "buy now", None).unwrap();

    let attack = async |address: Multiaddr| {
        // Mallory's own device key, but Bob's certificate: refused at once.
        let forged = attack_once(
            &mallory,
            &address,
            vec![PeerFrame::Hello {
                protocol: "kith/auth/2".into(),
                certificate: bob.identity().certificate().to_bytes(),
                name: Some("Bob".into()),
            }],
        )
        .await;
        // Her own certificate, then documents without waiting for a welcome.
        let mut frames = vec![PeerFrame::Hello {
            protocol: "kith/auth/2".into(),
            certificate: mallory.identity().certificate().to_bytes(),
            name: Some("Mallory".into()),
        }];
        frames.push(PeerFrame::Heads {
            docs: vec![(DocId::Head(secret).to_string(), vec![])],
            resync: false,
        });
        for doc in [DocId::Head(spam), DocId::Head(secret)] {
            if let Some(message) = mallory.docs().sync_generate("attack", doc).unwrap() {
                frames.push(PeerFrame::Sync {
                    doc: doc.to_string(),
                    message,
                });
            }
        }
        let pushy = attack_once(&mallory, &address, frames).await;
        (forged, pushy)
    };
    let (report, (forged, pushy)) = against_listening(&alice, attack).await;

    let said = |frames: &[PeerFrame]| {
        frames
            .iter()
            .filter(|f| !matches!(f, PeerFrame::Hello { .. } | PeerFrame::Refused { .. }))
            .count()
    };
    assert!(
        forged
            .iter()
            .any(|f| matches!(f, PeerFrame::Refused { reason } if reason.contains("not of the connected device"))),
        "{forged:?}"
    );
    assert_eq!(
        said(&forged),
        0,
        "nothing but a refusal for a forged certificate: {forged:?}"
    );
    assert_eq!(
        said(&pushy),
        0,
        "no welcome, heads or documents for a stranger: {pushy:?}"
    );
    assert_eq!(report.peers, 0);
    assert_eq!(report.applied, 0);
    assert!(report.refused >= 1, "{report:?}");
    assert!(
        alice.messages().list(&spam, 10, None).is_err(),
        "the spam chat was not applied"
    );
    assert_eq!(alice.chats().list().unwrap().len(), 1);
}

/// Runs `alice` listening on loopback and `attack` against her address;
/// she stops when the attack is over.
async fn against_listening<T>(alice: &Profile, attack: impl AsyncFnOnce(Multiaddr) -> T) -> (P2pReport, T) {
    let finished = AtomicBool::new(false);
    let slot: Mutex<Option<Multiaddr>> = Mutex::new(None);
    let stop = || finished.load(Ordering::SeqCst);
    let alice_peer = kith_net::p2p::peer_id_of_device(&alice.identity().device_id()).unwrap();
    let mut on_alice = |event: P2pEvent| -> Result<(), ConsumerFailed> {
        if let P2pEvent::Listening(addresses) = event {
            let mut address: Multiaddr = addresses[0].parse().unwrap();
            address.push(kith_net::p2p::Protocol::P2p(alice_peer));
            *slot.lock().unwrap() = Some(address);
        }
        Ok(())
    };
    let attacker = async {
        let address: Multiaddr = loop {
            if let Some(address) = slot.lock().unwrap().clone() {
                break address;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let result = attack(address).await;
        finished.store(true, Ordering::SeqCst);
        result
    };
    let (report, result) = tokio::join!(run_p2p(alice, options(vec![]), &stop, &mut on_alice), attacker);
    (report.unwrap(), result)
}

/// Connects to `address` as `attacker` and opens a Kith stream. The node
/// is returned too: dropping it closes the connection.
async fn open_stream(attacker: &Profile, address: &Multiaddr) -> (P2pNode, FrameSender, FrameReceiver) {
    let keypair = keypair_of(attacker.identity().device_keys()).unwrap();
    let config = NodeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        mdns: false,
        ..NodeConfig::default()
    };
    let (node, mut events) = P2pNode::start(keypair, config).unwrap();
    node.command(NodeCommand::Dial(address.clone())).unwrap();
    let stream = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(NodeEvent::Stream { stream, .. })) => break stream,
            Ok(Some(_)) => continue,
            other => panic!("no stream: {other:?}"),
        }
    };
    let (writer, reader) = spawn_framed(stream);
    (node, writer, reader)
}

/// Connects to `address` as `attacker`, sends `frames` at once, and returns
/// everything the other side said until it closed the stream (or 8 s).
async fn attack_once(attacker: &Profile, address: &Multiaddr, frames: Vec<PeerFrame>) -> Vec<PeerFrame> {
    let (_node, writer, mut reader) = open_stream(attacker, address).await;
    for frame in frames {
        writer.send(&frame.encode()).unwrap();
    }
    let mut heard = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while let Ok(Ok(Some(bytes))) = tokio::time::timeout_at(deadline, reader.next()).await {
        heard.push(PeerFrame::decode(&bytes).unwrap());
    }
    heard
}

#[tokio::test(flavor = "current_thread")]
async fn a_removed_member_who_stays_a_contact_learns_the_removal_but_no_new_messages() {
    let alice = profile(51, "Alice");
    let bob = profile(61, "Bob");
    bob.contacts().add(&alice.contacts().invite().unwrap().link()).unwrap();
    let bob_account = bob.identity().account_id();
    let chat = alice.chats().create("Team", &[bob_account], ChatKind::Group).unwrap();
    alice.messages().send(&chat, "before", None).unwrap();
    let has_chat = || count(&bob, &chat) == 1;
    run_pair(&alice, options(vec![]), &bob, options(vec![]), &has_chat).await;
    assert_eq!(count(&bob, &chat), 1, "bob got the chat");

    alice.chats().remove_member(&chat, &bob_account).unwrap();
    alice.messages().send(&chat, "after bob left", None).unwrap();
    // They stay contacts and meet again for a while.
    let started = Instant::now();
    let a_while = || started.elapsed() > Duration::from_secs(3);
    run_pair(&alice, options(vec![]), &bob, options(vec![]), &a_while).await;
    let members = bob.store().chat(&chat).unwrap().unwrap().members;
    assert!(
        !members.contains_key(&bob_account),
        "bob learned he was removed: {members:?}"
    );
    let texts: Vec<String> = bob
        .messages()
        .list(&chat, 100, None)
        .unwrap()
        .into_iter()
        .filter_map(|m| m.text)
        .collect();
    assert_eq!(texts, ["before"], "nothing written after the removal reaches bob");
}

#[tokio::test(flavor = "current_thread")]
async fn a_contact_cannot_push_a_chat_we_are_not_in() {
    let alice = profile(71, "Alice");
    let bob = profile(81, "Bob");
    bob.contacts().add(&alice.contacts().invite().unwrap().link()).unwrap();
    let bob_account = bob.identity().account_id();
    let contacts = || {
        alice
            .contacts()
            .list()
            .unwrap()
            .iter()
            .any(|c| c.account_id == bob_account && c.state == "accepted")
    };
    run_pair(&alice, options(vec![]), &bob, options(vec![]), &contacts).await;
    assert!(contacts(), "they became contacts");
    // Bob's notes-to-self, with messages; an honest Bob never offers them.
    let notes = bob.chats().create("Ads", &[], ChatKind::Group).unwrap();
    bob.messages().send(&notes, "buy now", None).unwrap();

    // A pushy Bob authenticates properly and then pushes them anyway.
    let push = async |address: Multiaddr| {
        let mut frames = vec![PeerFrame::Hello {
            protocol: "kith/auth/2".into(),
            certificate: bob.identity().certificate().to_bytes(),
            name: Some("Bob".into()),
        }];
        frames.push(PeerFrame::Welcome {
            name: Some("Bob".into()),
        });
        let segments: Vec<DocId> = bob
            .store()
            .doc_ids()
            .unwrap()
            .into_iter()
            .filter(|d| d.chat() == Some(notes))
            .collect();
        assert!(segments.len() >= 2, "a head and a segment: {segments:?}");
        // A first sync message holds no changes: play an empty peer once
        // so that Bob's next message carries all of them.
        let empty = profile(91, "Empty");
        for doc in segments {
            let hello = bob.docs().sync_generate("empty", doc).unwrap().unwrap();
            empty.docs().sync_receive("bob", doc, &hello).unwrap();
            let ask = empty.docs().sync_generate("bob", doc).unwrap().unwrap();
            bob.docs().sync_receive("empty", doc, &ask).unwrap();
            let message = bob.docs().sync_generate("empty", doc).unwrap().unwrap();
            frames.push(PeerFrame::Sync {
                doc: doc.to_string(),
                message,
            });
        }
        attack_once(&bob, &address, frames).await
    };
    let (report, heard) = against_listening(&alice, push).await;
    assert!(
        heard.iter().any(|f| matches!(f, PeerFrame::Welcome { .. })),
        "bob is a contact: {heard:?}"
    );
    assert_eq!(
        report.applied, 2,
        "the head's genesis and first epoch (judged; it may add alice later): {report:?}"
    );
    assert!(report.refused >= 1, "the messages were refused: {report:?}");
    assert!(
        alice.chats().list().unwrap().iter().all(|c| c.chat_id != notes),
        "not in alice's chat list"
    );
    assert_eq!(count(&alice, &notes), 0, "no message of it stored");
}

/// Over real sockets: Bob, a member, forges a change with the actor of
/// Alice's (the owner's) device that makes him admin and renames the chat;
/// Alice's replica holds it back and the chat stays as she made it, and the
/// sync still ends (the held-back change is not asked for again and again).
#[tokio::test(flavor = "current_thread")]
async fn a_peer_cannot_pass_off_a_change_as_the_owners() {
    let alice = profile(81, "Alice");
    let bob = profile(91, "Bob");
    bob.contacts().add(&alice.contacts().invite().unwrap().link()).unwrap();
    let bob_account = bob.identity().account_id();
    let chat = alice.chats().create("Club", &[bob_account], ChatKind::Group).unwrap();
    alice.messages().send(&chat, "hello", None).unwrap();
    let has_chat = || count(&bob, &chat) == 1;
    run_pair(&alice, options(vec![]), &bob, options(vec![]), &has_chat).await;
    assert_eq!(count(&bob, &chat), 1, "bob got the chat");

    let head = DocId::Head(chat);
    common::forge_as(
        &bob,
        &alice.identity().device_id(),
        head,
        common::promote_and_rename(bob_account, "Bob's club"),
    );
    let arrived = || !alice.store().quarantined(&head).unwrap().is_empty();
    let (report, _) = run_pair(&alice, options(vec![]), &bob, options(vec![]), &arrived).await;
    assert!(arrived(), "the forged change reached alice: {report:?}");
    let row = alice.store().chat(&chat).unwrap().unwrap();
    assert_eq!(row.name, "Club", "the forgery is not applied");
    assert_eq!(row.members.get(&bob_account), Some(&kith_core::Role::Member));
    assert_ne!(
        alice.docs().heads(head).unwrap(),
        bob.docs().heads(head).unwrap(),
        "alice's head does not include it"
    );
}

/// Connects to `address` as `attacker`, sends the raw `frames`, and says
/// whether the other side closed the stream within 8 s.
async fn attack_raw(attacker: &Profile, address: &Multiaddr, frames: Vec<Vec<u8>>) -> bool {
    let (_node, writer, mut reader) = open_stream(attacker, address).await;
    for frame in frames {
        writer.send(&frame).unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    loop {
        match tokio::time::timeout_at(deadline, reader.next()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(_) => return true,
            Err(_) => return false,
        }
    }
}

/// Mallory, a contact, authenticates and then sends a frame that is not a
/// frame at all. Alice closes Mallory's link alone: her run goes on, and Bob,
/// who connects next, syncs with her.
#[tokio::test(flavor = "current_thread")]
async fn a_peer_that_sends_garbage_is_dropped_alone_and_the_run_goes_on() {
    let alice = profile(111, "Alice");
    let bob = profile(121, "Bob");
    let mallory = profile(131, "Mallory");
    for other in [&bob, &mallory] {
        other
            .contacts()
            .add(&alice.contacts().invite().unwrap().link())
            .unwrap();
        let accepted = |of: &Profile, whom: kith_client::AccountId| {
            of.contacts()
                .list()
                .unwrap()
                .iter()
                .any(|c| c.account_id == whom && c.state == "accepted")
        };
        let (account, alice_account) = (other.identity().account_id(), alice.identity().account_id());
        // Both sides: each must know the other's devices.
        let befriended = || accepted(&alice, account) && accepted(other, alice_account);
        run_pair(&alice, options(vec![]), other, options(vec![]), &befriended).await;
        assert!(befriended());
    }
    let chat = alice
        .chats()
        .create("Pair", &[bob.identity().account_id()], ChatKind::Group)
        .unwrap();
    for i in 0..50 {
        alice.messages().send(&chat, &format!("note {i}"), None).unwrap();
    }

    let finished = AtomicBool::new(false);
    let slot: Mutex<Option<Multiaddr>> = Mutex::new(None);
    let bob_done = || count(&bob, &chat) == 50;
    let stop = || finished.load(Ordering::SeqCst) && bob_done();
    let deadline = Instant::now() + Duration::from_secs(60);
    let stop_alice = || stop() || Instant::now() > deadline;
    let alice_peer = kith_net::p2p::peer_id_of_device(&alice.identity().device_id()).unwrap();
    let refused: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut on_alice = |event: P2pEvent| -> Result<(), ConsumerFailed> {
        match event {
            P2pEvent::Listening(addresses) => {
                let mut address: Multiaddr = addresses[0].parse().unwrap();
                address.push(kith_net::p2p::Protocol::P2p(alice_peer));
                *slot.lock().unwrap() = Some(address);
            }
            P2pEvent::Refused { peer_id, .. } => refused.lock().unwrap().push(peer_id),
            _ => {}
        }
        Ok(())
    };
    let address = async || loop {
        if let Some(address) = slot.lock().unwrap().clone() {
            break address;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let attack = async {
        let address = address().await;
        let hello = PeerFrame::Hello {
            protocol: "kith/auth/2".into(),
            certificate: mallory.identity().certificate().to_bytes(),
            name: Some("Mallory".into()),
        };
        let closed = attack_raw(&mallory, &address, vec![hello.encode(), vec![0xff; 300]]).await;
        finished.store(true, Ordering::SeqCst);
        closed
    };
    let mut on_bob = |_: P2pEvent| -> Result<(), ConsumerFailed> { Ok(()) };
    // Bob comes once Mallory's link is gone: Alice's run must have outlived it.
    let then_bob = async {
        let closed = attack.await;
        let address = address().await;
        let report = run_p2p(&bob, options(vec![address]), &stop_alice, &mut on_bob).await;
        (closed, report)
    };
    let (alice_report, (closed, bob_report)) =
        tokio::join!(run_p2p(&alice, options(vec![]), &stop_alice, &mut on_alice), then_bob);
    let (alice_report, bob_report) = (alice_report.unwrap(), bob_report.unwrap());
    assert!(closed, "Mallory's link was closed");
    assert_eq!(
        count(&bob, &chat),
        50,
        "Bob's sync went on: {alice_report:?} {bob_report:?}"
    );
    let mallory_peer = kith_net::p2p::peer_id_of_device(&mallory.identity().device_id()).unwrap();
    assert_eq!(
        *refused.lock().unwrap(),
        [mallory_peer.to_string()],
        "only Mallory's link was refused"
    );
    let doc = DocId::Head(chat);
    assert_eq!(alice.docs().heads(doc).unwrap(), bob.docs().heads(doc).unwrap());
}
