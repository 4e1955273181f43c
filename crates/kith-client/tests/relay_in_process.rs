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
