//! The relay path against `kith-server` served in this process (no
//! subprocess, a real socket on 127.0.0.1 and a real SQLite file on both
//! sides): the fast cases. The CLI's tests run the server binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{persona, start_server, sync};
use kith_client::ChatKind;

#[tokio::test]
async fn two_profiles_become_contacts_and_chat_through_the_server_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = start_server(&dir.path().join("server")).await;
    let alice = persona(dir.path(), 1, "Alice");
    let bob = persona(dir.path(), 2, "Bob");
    bob.contacts().add(&alice.contacts().invite().unwrap().link()).unwrap();
    for profile in [&bob, &alice, &bob] {
        sync(profile, &url).await;
    }
    for (profile, other) in [(&alice, &bob), (&bob, &alice)] {
        let contacts = profile.contacts().list().unwrap();
        assert_eq!(contacts.len(), 1, "{contacts:?}");
        assert_eq!(contacts[0].account_id, other.identity().account_id());
        assert_eq!(contacts[0].state, "accepted");
    }
    assert_eq!(
        alice.relay().last_server().unwrap().as_deref(),
        Some(url.as_str()),
        "connect remembers the server"
    );

    let chat = alice
        .chats()
        .create("Weekend", &[bob.identity().account_id()], ChatKind::Group)
        .unwrap();
    let sent = alice.messages().send(&chat, "Count me in", None).unwrap();
    sync(&alice, &url).await;
    let report = sync(&bob, &url).await;
    assert!(report.applied > 0, "{report:?}");
    let shown = bob.messages().list(&chat, 10, None).unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].id, sent);
    assert_eq!(shown[0].text.as_deref(), Some("Count me in"));
    assert_eq!(shown[0].route.as_deref(), Some("server"));

    // Receipts travel back (Bob's devices hold it, then Alice learns so);
    // after that the two are quiet: the uploaded heads are kept, so a sync
    // uploads nothing again, and nothing new is applied.
    let mut rounds = 0;
    loop {
        let (a, b) = (sync(&alice, &url).await, sync(&bob, &url).await);
        if a.uploaded + b.uploaded + a.applied + b.applied == 0 {
            break;
        }
        rounds += 1;
        assert!(rounds < 5, "still busy after {rounds} rounds: {a:?} {b:?}");
    }
    for profile in [&alice, &bob] {
        let quiet = sync(profile, &url).await;
        assert_eq!((quiet.uploaded, quiet.applied), (0, 0), "{quiet:?}");
    }
}

/// Bob, a member, writes a change that claims to come from Alice's (the
/// owner's) device and makes him admin. It reaches Alice and Carol through
/// the server and neither applies it: no signature of Alice's device
/// vouches for it. Each holds it back (quarantined), never in the chat.
#[tokio::test]
async fn a_change_claiming_the_owners_device_is_refused_by_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = start_server(&dir.path().join("server")).await;
    let alice = persona(dir.path(), 1, "Alice");
    let bob = persona(dir.path(), 2, "Bob");
    let carol = persona(dir.path(), 3, "Carol");
    // Invites are single-use: Carol uses the one Alice shows after Bob's.
    bob.contacts().add(&alice.contacts().invite().unwrap().link()).unwrap();
    for profile in [&bob, &alice, &bob] {
        sync(profile, &url).await;
    }
    carol
        .contacts()
        .add(&alice.contacts().invite().unwrap().link())
        .unwrap();
    for profile in [&carol, &alice, &carol] {
        sync(profile, &url).await;
    }
    let (bob_account, carol_account) = (bob.identity().account_id(), carol.identity().account_id());
    let chat = alice
        .chats()
        .create("Book club", &[bob_account, carol_account], ChatKind::Group)
        .unwrap();
    alice.messages().send(&chat, "welcome", None).unwrap();
    for profile in [&alice, &bob, &carol] {
        sync(profile, &url).await;
    }
    for profile in [&bob, &carol] {
        assert_eq!(
            profile.messages().list(&chat, 10, None).unwrap().len(),
            1,
            "everyone is in"
        );
    }

    let head = kith_client::DocId::Head(chat);
    common::forge_as(
        &bob,
        &alice.identity().device_id(),
        head,
        common::promote_and_rename(bob_account, "Bob's club"),
    );
    assert_eq!(
        bob.store().chat(&chat).unwrap().unwrap().name,
        "Bob's club",
        "the forger's own copy took it"
    );
    sync(&bob, &url).await;
    for profile in [&alice, &carol] {
        sync(profile, &url).await;
        let row = profile.store().chat(&chat).unwrap().unwrap();
        assert_eq!(
            row.name,
            "Book club",
            "{}: the forgery is not applied",
            profile.identity().account_id()
        );
        assert_eq!(row.members.get(&bob_account), Some(&kith_core::Role::Member));
        assert!(
            !profile.store().quarantined(&head).unwrap().is_empty(),
            "it arrived and is held back"
        );
        assert_eq!(
            profile.docs().heads(head).unwrap(),
            alice.docs().heads(head).unwrap(),
            "every honest replica holds the same head"
        );
    }
    // A second pass changes nothing.
    sync(&carol, &url).await;
    assert_eq!(carol.store().chat(&chat).unwrap().unwrap().name, "Book club");
}
