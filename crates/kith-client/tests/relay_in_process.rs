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

/// `joiner` becomes a contact of `host` through the server.
async fn befriend(host: &kith_client::Profile, joiner: &kith_client::Profile, url: &str) {
    joiner
        .contacts()
        .add(&host.contacts().invite().unwrap().link())
        .unwrap();
    for profile in [joiner, host, joiner] {
        sync(profile, url).await;
    }
}

/// The key ids a profile's copy of the chat's head commits to, by epoch.
fn committed_epochs(
    profile: &kith_client::Profile,
    chat: &kith_proto::ChatId,
) -> std::collections::BTreeMap<u32, String> {
    let mut head = profile.docs().load(kith_client::DocId::Head(*chat)).unwrap();
    kith_core::docs::head::committed_epochs(&mut head)
}

/// Texts of every message a profile's store holds for a chat.
fn texts(profile: &kith_client::Profile, chat: &kith_proto::ChatId) -> Vec<String> {
    profile
        .messages()
        .list(chat, 1000, None)
        .unwrap()
        .into_iter()
        .filter_map(|m| m.text)
        .collect()
}

/// Mallory, an admin, is removed by Alice, who starts epoch 1. Before she
/// syncs, Mallory commits an epoch 1 of her own (concurrent with her
/// removal, so valid where written), and her client hands its key to Bob,
/// her contact. Once the removal is known, the removal cut takes her epoch
/// away everywhere: Bob and Alice keep writing with Alice's key, and
/// nothing sent after the removal ever reaches Mallory's profile.
#[tokio::test]
async fn a_removed_admin_cannot_lure_members_onto_her_key() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = start_server(&dir.path().join("server")).await;
    let alice = persona(dir.path(), 1, "Alice");
    let bob = persona(dir.path(), 2, "Bob");
    let mallory = persona(dir.path(), 3, "Mallory");
    befriend(&alice, &bob, &url).await;
    befriend(&alice, &mallory, &url).await;
    befriend(&mallory, &bob, &url).await;
    let (bob_account, mallory_account) = (bob.identity().account_id(), mallory.identity().account_id());
    let chat = alice
        .chats()
        .create("Book club", &[bob_account, mallory_account], ChatKind::Group)
        .unwrap();
    alice
        .chats()
        .set_role(&chat, &mallory_account, kith_core::Role::Admin)
        .unwrap();
    alice.messages().send(&chat, "welcome", None).unwrap();
    for profile in [&alice, &bob, &mallory] {
        sync(profile, &url).await;
    }
    assert_eq!(texts(&mallory, &chat), ["welcome"]);

    alice.chats().remove_member(&chat, &mallory_account).unwrap();
    sync(&alice, &url).await;
    let alices_key = committed_epochs(&alice, &chat)[&1].clone();

    // Mallory has not synced: her epoch 1 does not know of the removal.
    let her_key = kith_core::crypto::EpochKey::from_bytes([77; 32]);
    let her_id = her_key.key_id();
    mallory
        .docs()
        .tamper(kith_client::DocId::Head(chat), |raw| {
            use kith_core::automerge::transaction::Transactable;
            raw.put(
                kith_core::automerge::ROOT,
                kith_core::schema::epoch_key(1),
                her_id.as_str(),
            )
            .unwrap();
        })
        .unwrap();
    mallory
        .docs()
        .tamper(kith_client::DocId::Account(mallory_account), |raw| {
            use kith_core::automerge::transaction::Transactable;
            raw.put(
                kith_core::automerge::ROOT,
                kith_core::schema::chat_key_key(&chat, 1, &her_id),
                kith_core::automerge::ScalarValue::Bytes(her_key.as_bytes().to_vec()),
            )
            .unwrap();
        })
        .unwrap();
    assert_eq!(committed_epochs(&mallory, &chat)[&1], her_id, "her own copy takes it");
    for profile in [&mallory, &bob, &alice, &mallory, &bob, &alice] {
        sync(profile, &url).await;
    }
    for profile in [&alice, &bob, &mallory] {
        assert_eq!(
            committed_epochs(profile, &chat).get(&1),
            Some(&alices_key),
            "{}: Alice's epoch 1 stands",
            profile.identity().account_id()
        );
        assert!(
            !profile
                .store()
                .chat(&chat)
                .unwrap()
                .unwrap()
                .members
                .contains_key(&mallory_account),
            "Mallory is out"
        );
    }

    bob.messages().send(&chat, "after she left", None).unwrap();
    alice.messages().send(&chat, "agreed", None).unwrap();
    for profile in [&bob, &alice, &mallory, &bob, &alice, &mallory] {
        sync(profile, &url).await;
    }
    assert!(
        texts(&alice, &chat).contains(&"after she left".to_owned()),
        "Bob and Alice share a key"
    );
    assert!(texts(&bob, &chat).contains(&"agreed".to_owned()));
    assert_eq!(
        texts(&mallory, &chat),
        ["welcome"],
        "nothing after her removal reaches Mallory"
    );
}

/// A member who leaves held the newest key: an admin's client starts a new
/// epoch when it learns of the departure, so what is sent afterwards is
/// out of the leaver's reach even if its client kept following the log.
#[tokio::test]
async fn leaving_a_group_starts_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = start_server(&dir.path().join("server")).await;
    let alice = persona(dir.path(), 1, "Alice");
    let bob = persona(dir.path(), 2, "Bob");
    let carol = persona(dir.path(), 3, "Carol");
    befriend(&alice, &bob, &url).await;
    befriend(&alice, &carol, &url).await;
    let (bob_account, carol_account) = (bob.identity().account_id(), carol.identity().account_id());
    let chat = alice
        .chats()
        .create("Book club", &[bob_account, carol_account], ChatKind::Group)
        .unwrap();
    for profile in [&alice, &bob, &carol] {
        sync(profile, &url).await;
    }
    assert_eq!(committed_epochs(&alice, &chat).len(), 1);

    bob.chats().remove_member(&chat, &bob_account).unwrap();
    assert_eq!(committed_epochs(&bob, &chat).len(), 1, "a leaver starts no epoch");
    sync(&bob, &url).await;
    sync(&alice, &url).await;
    let epochs = committed_epochs(&alice, &chat);
    assert_eq!(epochs.len(), 2, "Alice's client started epoch 1: {epochs:?}");
    for profile in [&alice, &carol, &alice, &carol] {
        sync(profile, &url).await;
    }
    assert!(
        carol
            .store()
            .quarantined(&kith_client::DocId::Head(chat))
            .unwrap()
            .is_empty(),
        "Bob's departure is attributed (his certificate came with it), not held back"
    );
    assert_eq!(committed_epochs(&carol, &chat), epochs);
    alice.messages().send(&chat, "after Bob left", None).unwrap();
    for profile in [&alice, &carol, &bob] {
        sync(profile, &url).await;
    }
    assert!(texts(&carol, &chat).contains(&"after Bob left".to_owned()));
    assert!(!texts(&bob, &chat).contains(&"after Bob left".to_owned()));
    // Nobody else left: another pass starts nothing.
    sync(&alice, &url).await;
    assert_eq!(committed_epochs(&alice, &chat), epochs);
}

/// `count` junk changes into `doc`: valid Automerge changes by a device nobody
/// knows, unsigned, so a receiver can only keep them waiting.
fn junk_changes(doc: kith_client::DocId, actor: u8, count: usize) -> Vec<Vec<u8>> {
    use kith_core::automerge::transaction::Transactable;
    let mut junk = kith_core::Doc::new(doc, &kith_proto::DeviceId::from_bytes([actor; 32]));
    (0..count)
        .map(|i| {
            junk.raw_mut()
                .put(kith_core::automerge::ROOT, format!("junk{i} of {doc}"), i as i64)
                .unwrap();
            junk.raw_mut().commit();
            junk.raw_mut().get_last_local_change().unwrap().raw_bytes().to_vec()
        })
        .collect()
}

/// A peer's sync message that carries `changes`, with no signature.
fn sync_message_with(changes: Vec<Vec<u8>>) -> Vec<u8> {
    let message = kith_core::automerge::sync::Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: changes.into(),
        flags: None,
        version: kith_core::automerge::sync::MessageVersion::V1,
    };
    kith_core::SignedSyncMessage {
        message: message.encode(),
        signatures: vec![],
    }
    .encode()
}

/// Bob, a contact and member, floods Alice with changes she cannot judge
/// (unknown device, no signature) into fifty documents of their chat, one
/// of them past the per-document cap. What Alice keeps is bounded by the
/// caps, and one honest message afterwards retries at most the one document
/// it arrived in, not all fifty (counted, not timed).
#[tokio::test]
async fn junk_in_the_quarantine_stays_bounded_and_is_not_retried_on_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = start_server(&dir.path().join("server")).await;
    let alice = persona(dir.path(), 1, "Alice");
    let bob = persona(dir.path(), 2, "Bob");
    befriend(&alice, &bob, &url).await;
    let chat = alice
        .chats()
        .create("Book club", &[bob.identity().account_id()], ChatKind::Group)
        .unwrap();
    for profile in [&alice, &bob] {
        sync(profile, &url).await;
    }
    bob.messages().send(&chat, "first", None).unwrap();
    for profile in [&bob, &alice] {
        sync(profile, &url).await;
    }

    let limit = kith_store::QUARANTINE_LIMIT_PER_DOC;
    let months: Vec<kith_proto::Month> = (0..50u32)
        .map(|i| kith_proto::Month::from_yyyymm(202001 + (i / 12) * 100 + i % 12).unwrap())
        .collect();
    for (i, month) in months.iter().enumerate() {
        let doc = kith_client::DocId::Segment(chat, *month);
        let count = if i == 0 { limit + 500 } else { 20 };
        for batch in junk_changes(doc, 200, count).chunks(1000) {
            alice
                .docs()
                .sync_receive("bob", doc, &sync_message_with(batch.to_vec()))
                .unwrap();
        }
    }
    let held: Vec<usize> = months
        .iter()
        .map(|m| {
            alice
                .store()
                .quarantined(&kith_client::DocId::Segment(chat, *m))
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(held[0], limit, "the per-document cap holds");
    assert!(held[1..].iter().all(|n| *n == 20), "{held:?}");
    assert!(held.iter().sum::<usize>() <= limit + 49 * 20);

    let before = alice.quarantine_retries();
    bob.messages().send(&chat, "second", None).unwrap();
    for profile in [&bob, &alice] {
        sync(profile, &url).await;
    }
    assert!(
        alice
            .messages()
            .list(&chat, 10, None)
            .unwrap()
            .iter()
            .any(|m| m.text.as_deref() == Some("second")),
        "the honest message arrives"
    );
    let retried = alice.quarantine_retries() - before;
    assert!(
        retried <= 1,
        "one honest message retried {retried} quarantined documents"
    );
}
