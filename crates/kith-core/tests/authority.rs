//! Authority: every replica refuses what the author had no right to write,
//! whatever order changes arrive in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use kith_core::docs::DocError;
use kith_core::docs::{Doc, account, head, segment};
use kith_core::{
    ApplyOutcome, ChangeSignature, ChatKind, Directory, Identity, Role, SignedSyncMessage, SyncSession, apply_remote,
    commit_local,
};
use kith_proto::{AccountId, ChatId, DeviceId, DocId, Hlc, MessageId, Month};
use std::collections::{BTreeMap, BTreeSet};

const NOW: u64 = 1_795_000_000_000;

fn person(n: u8) -> Identity {
    Identity::create([[n; 32], [n + 100; 32], [n + 200; 32]], NOW)
}

#[derive(Default)]
struct TestDirectory {
    devices: BTreeMap<DeviceId, AccountId>,
    members: BTreeMap<ChatId, BTreeSet<AccountId>>,
}

impl TestDirectory {
    fn knowing(people: &[&Identity]) -> Self {
        let mut dir = TestDirectory::default();
        for p in people {
            dir.devices.insert(p.device_id(), p.account_id());
        }
        dir
    }
}

impl Directory for TestDirectory {
    fn account_of(&self, device: &DeviceId) -> Option<AccountId> {
        self.devices.get(device).copied()
    }
    fn was_member(&self, chat: &ChatId, account: &AccountId) -> bool {
        self.members.get(chat).is_some_and(|m| m.contains(account))
    }
}

fn changes(doc: &mut Doc) -> Vec<automerge::Change> {
    doc.raw_mut().get_changes(&[])
}

/// A second device of `person(n)`'s account.
fn laptop(n: u8) -> Identity {
    Identity::join(person(n).account_seed(), [[n + 50; 32], [n + 150; 32]], NOW)
}

/// The test person whose device is `actor` (every actor here is one).
fn keys_of(actor: &automerge::ActorId) -> Identity {
    (1..=20)
        .flat_map(|n| [person(n), laptop(n)])
        .find(|p| p.device_id().as_bytes().as_slice() == actor.to_bytes())
        .expect("an actor of a test person")
}

/// Commits what the typed operations wrote. (They already closed
/// Automerge's transaction, so `commit_local` sees nothing new: the newest
/// local change is signed here, as the client's write path does.)
fn commit(doc: &mut Doc) {
    let before = doc.heads();
    let keys = keys_of(doc.automerge().get_actor());
    commit_local(doc, &before, 0, keys.device_keys());
    if let Some(change) = doc.raw_mut().get_last_local_change() {
        doc.keep_signature(ChangeSignature::sign(keys.device_keys(), &doc.id(), &change));
    }
}

/// Every change signed by its actor: these tests judge authority, with
/// authorship proven (the signature tests sign selectively).
fn apply(doc: &mut Doc, changes: Vec<automerge::Change>, dir: &dyn Directory) -> Result<ApplyOutcome, DocError> {
    let signatures: Vec<ChangeSignature> = changes
        .iter()
        .map(|c| ChangeSignature::sign(keys_of(c.actor_id()).device_keys(), &doc.id(), c))
        .collect();
    apply_remote(doc, changes, &signatures, dir)
}

/// Alice creates a group with Bob as member; returns the chat id and Alice's head doc.
fn group(alice: &Identity, bob: &Identity) -> (ChatId, Doc) {
    let nonce = [42u8; 16];
    let chat = kith_core::schema::chat_id_for(&alice.account_id(), &nonce);
    let mut doc = Doc::new(DocId::Head(chat), &alice.device_id());
    head::genesis(
        &mut doc,
        &alice.account_id(),
        &nonce,
        ChatKind::Group,
        "Book club",
        &[bob.account_id()],
        alice.certificate(),
    )
    .expect("genesis");
    commit(&mut doc);
    (chat, doc)
}

fn replica_of(source: &mut Doc, device: &DeviceId, dir: &TestDirectory) -> Doc {
    let mut doc = Doc::new(source.id(), device);
    let outcome = apply(&mut doc, changes(source), dir).expect("apply");
    assert!(
        outcome.rejected.is_empty() && outcome.deferred.is_empty(),
        "{outcome:?}"
    );
    doc
}

#[test]
fn only_the_creator_can_write_a_conversations_first_change() {
    let (alice, bob, mallory) = (person(1), person(2), person(3));
    let dir = TestDirectory::knowing(&[&alice, &bob, &mallory]);
    let (chat, mut alice_doc) = group(&alice, &bob);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    assert_eq!(head::role_of(&mut bob_doc, &alice.account_id()), Some(Role::Owner));

    // Mallory forges a concurrent first change making herself owner of Alice's chat.
    let mut forged = Doc::new(DocId::Head(chat), &mallory.device_id());
    let am = forged.raw_mut();
    am.put(ROOT, "schema", 1).expect("put");
    am.put(ROOT, "genesis/creator", mallory.account_id().to_string())
        .expect("put");
    am.put(ROOT, "genesis/nonce", automerge::ScalarValue::Bytes(vec![42; 16]))
        .expect("put");
    am.put(ROOT, "kind", "group").expect("put");
    am.put(ROOT, format!("member/{}", mallory.account_id()), "owner")
        .expect("put");
    am.commit();
    let outcome = apply(&mut bob_doc, changes(&mut forged), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(head::role_of(&mut bob_doc, &mallory.account_id()), None);
}

#[test]
fn a_member_cannot_rename_or_promote_itself() {
    let (alice, bob) = (person(1), person(2));
    let dir = TestDirectory::knowing(&[&alice, &bob]);
    let (_, mut alice_doc) = group(&alice, &bob);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    // The honest API refuses locally...
    assert!(head::rename(&mut bob_doc, &bob.account_id(), "mine").is_err());
    // ...and a tampered client that writes anyway has no effect on Alice.
    bob_doc.raw_mut().put(ROOT, "name", "pwned").expect("put");
    bob_doc
        .raw_mut()
        .put(ROOT, format!("member/{}", bob.account_id()), "owner")
        .expect("put");
    bob_doc.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut bob_doc), &dir).expect("apply");
    assert_eq!(outcome.accepted, 0);
    assert_eq!(outcome.rejected.len(), 1);
    let row = head::chat_row(&mut alice_doc.clone(), head_chat(&alice_doc)).expect("row");
    assert_eq!(row.name, "Book club");
    assert_eq!(row.members.get(&bob.account_id()), Some(&Role::Member));
}

fn head_chat(doc: &Doc) -> ChatId {
    doc.id().chat().expect("chat doc")
}

#[test]
fn authority_is_judged_at_the_changes_dependencies_in_any_order() {
    let (alice, bob) = (person(1), person(2));
    let dir = TestDirectory::knowing(&[&alice, &bob]);
    let (_, mut alice_doc) = group(&alice, &bob);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    let genesis = changes(&mut alice_doc);

    // Concurrently: Alice promotes Bob; Bob (still a member at his deps) renames.
    head::set_role(&mut alice_doc, &alice.account_id(), &bob.account_id(), Role::Admin).expect("promote");
    commit(&mut alice_doc);
    bob_doc.raw_mut().put(ROOT, "name", "early rename").expect("put");
    bob_doc.raw_mut().commit();
    let promote = alice_doc.raw_mut().get_last_local_change().expect("change");
    let rename = bob_doc.raw_mut().get_last_local_change().expect("change");

    let mut verdicts = Vec::new();
    for order in [
        vec![promote.clone(), rename.clone()],
        vec![rename.clone(), promote.clone()],
    ] {
        let mut carol_view = Doc::new(alice_doc.id(), &DeviceId::from_bytes([9; 32]));
        apply(&mut carol_view, genesis.clone(), &dir).expect("genesis");
        let outcome = apply(&mut carol_view, order, &dir).expect("apply");
        verdicts.push((outcome.accepted, outcome.rejected.len(), carol_view.heads()));
        let row = head::chat_row(&mut carol_view.clone(), head_chat(&carol_view)).expect("row");
        assert_eq!(row.name, "Book club", "the rename was written before Bob was admin");
        assert_eq!(row.members.get(&bob.account_id()), Some(&Role::Admin));
    }
    assert_eq!(verdicts[0], verdicts[1], "same verdicts and heads whatever the order");

    // Once Bob has seen his promotion, his rename counts.
    apply(&mut bob_doc, vec![promote], &dir).expect("apply");
    let mut bob_fresh = Doc::new(alice_doc.id(), &bob.device_id());
    apply(&mut bob_fresh, changes(&mut alice_doc), &dir).expect("apply");
    head::rename(&mut bob_fresh, &bob.account_id(), "renamed by admin bob").expect("rename as admin");
    commit(&mut bob_fresh);
    let outcome = apply(&mut alice_doc, changes(&mut bob_fresh), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 0);
    assert_eq!(
        head::chat_row(&mut alice_doc.clone(), head_chat(&alice_doc))
            .expect("row")
            .name,
        "renamed by admin bob"
    );
}

fn segment_pair(alice: &Identity, bob: &Identity) -> (ChatId, Doc, Doc, TestDirectory, MessageId) {
    let mut dir = TestDirectory::knowing(&[alice, bob]);
    let chat = ChatId::from_bytes([5; 16]);
    dir.members
        .entry(chat)
        .or_default()
        .extend([alice.account_id(), bob.account_id()]);
    let ts = Hlc::new(NOW, 0);
    let id = DocId::Segment(chat, Month::of(ts));
    let mut alice_doc = Doc::new(id, &alice.device_id());
    let message = MessageId::new(ts, &alice.device_id());
    segment::send(
        &mut alice_doc,
        &segment::NewMessage {
            id: message,
            author: alice.account_id(),
            device: alice.device_id(),
            text: "hello".into(),
            reply_to: None,
            attachments: Vec::new(),
        },
    )
    .expect("send");
    commit(&mut alice_doc);
    let bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    (chat, alice_doc, bob_doc, dir, message)
}

#[test]
fn a_member_cannot_edit_someone_elses_message_or_react_for_them() {
    let (alice, bob) = (person(1), person(2));
    let (chat, mut alice_doc, mut bob_doc, dir, message) = segment_pair(&alice, &bob);
    assert!(segment::edit(&mut bob_doc, &message, &bob.account_id(), "x", Hlc::new(NOW, 5)).is_err());

    let obj = match bob_doc.raw_mut().get(ROOT, format!("m/{message}")).expect("get") {
        Some((_, obj)) => obj,
        None => panic!("message missing"),
    };
    let mut tampered = bob_doc.clone();
    tampered.raw_mut().put(&obj, "text", "evil edit").expect("put");
    tampered.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut tampered), &dir).expect("apply");
    assert_eq!((outcome.accepted, outcome.rejected.len()), (0, 1));

    let mut tampered = bob_doc.clone();
    tampered
        .raw_mut()
        .put(ROOT, format!("r/{message}/{}/👍", alice.account_id()), 1)
        .expect("put");
    tampered.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut tampered), &dir).expect("apply");
    assert_eq!((outcome.accepted, outcome.rejected.len()), (0, 1));

    // A message claiming Alice's device as its minter.
    let mut tampered = bob_doc.clone();
    let forged = MessageId::new(Hlc::new(NOW, 9), &alice.device_id());
    let obj = tampered
        .raw_mut()
        .put_object(ROOT, format!("m/{forged}"), automerge::ObjType::Map)
        .expect("obj");
    tampered
        .raw_mut()
        .put(&obj, "author", bob.account_id().to_string())
        .expect("put");
    tampered.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut tampered), &dir).expect("apply");
    assert_eq!((outcome.accepted, outcome.rejected.len()), (0, 1));

    // Honest reactions and edits by the author pass.
    segment::react(&mut bob_doc, &message, &bob.account_id(), "👍", false, Hlc::new(NOW, 6)).expect("react");
    commit(&mut bob_doc);
    let outcome = apply(&mut alice_doc, changes(&mut bob_doc), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 0);
    let row = segment::message_row(&alice_doc, chat, &message).expect("row");
    assert_eq!(row.text.as_deref(), Some("hello"));
    assert_eq!(row.reactions.get("👍").map(|s| s.len()), Some(1));
}

fn picture(n: u8) -> kith_core::Attachment {
    kith_core::Attachment {
        hash: [n; 32],
        key: [n; 32],
        size: 10,
        mime: "image/jpeg".into(),
        name: "p.jpg".into(),
        kind: kith_core::AttachmentKind::Image { width: 2, height: 2 },
        thumbnail: None,
    }
}

#[test]
fn attachments_are_written_with_the_message_and_leave_with_its_deletion() {
    let (alice, bob) = (person(1), person(2));
    let (chat, mut alice_doc, mut bob_doc, dir, first) = segment_pair(&alice, &bob);
    // Bob sends a picture: accepted, and the row carries it.
    let ts = Hlc::new(NOW, 3);
    let id = MessageId::new(ts, &bob.device_id());
    let new = segment::NewMessage {
        id,
        author: bob.account_id(),
        device: bob.device_id(),
        text: String::new(),
        reply_to: None,
        attachments: vec![picture(7)],
    };
    segment::send(&mut bob_doc, &new).expect("send");
    commit(&mut bob_doc);
    let outcome = apply(&mut alice_doc, changes(&mut bob_doc), &dir).expect("apply");
    assert_eq!((outcome.accepted, outcome.rejected.len()), (1, 0));
    let row = segment::message_row(&alice_doc, chat, &id).expect("row");
    assert_eq!(row.attachments, vec![picture(7)]);

    // Attaching to a message after it was sent (even one's own) is refused,
    // and so are bytes that are not an attachment list.
    let obj = match bob_doc.raw_mut().get(ROOT, format!("m/{id}")).expect("get") {
        Some((_, obj)) => obj,
        None => panic!("message missing"),
    };
    let mut tampered = bob_doc.clone();
    let swapped = kith_core::attachment::encode_attachments(&[picture(9)]).expect("encode");
    tampered.raw_mut().put(&obj, "attachments", swapped).expect("put");
    tampered.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut tampered), &dir).expect("apply");
    assert_eq!((outcome.accepted, outcome.rejected.len()), (0, 1), "swapped later");
    let mut tampered = bob_doc.clone();
    let forged = MessageId::new(Hlc::new(NOW, 8), &bob.device_id());
    let obj = tampered
        .raw_mut()
        .put_object(ROOT, format!("m/{forged}"), automerge::ObjType::Map)
        .expect("obj");
    tampered
        .raw_mut()
        .put(&obj, "author", bob.account_id().to_string())
        .expect("put");
    tampered
        .raw_mut()
        .put(&obj, "device", bob.device_id().to_string())
        .expect("put");
    tampered
        .raw_mut()
        .put(&obj, "attachments", vec![0xffu8; 20])
        .expect("put");
    tampered.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut tampered), &dir).expect("apply");
    assert_eq!((outcome.accepted, outcome.rejected.len()), (0, 1), "garbage list");

    // Deleting it for everyone takes the attachments out of the row.
    segment::delete(&mut bob_doc, &id, &bob.account_id(), Hlc::new(NOW, 10)).expect("delete");
    commit(&mut bob_doc);
    let outcome = apply(&mut alice_doc, changes(&mut bob_doc), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 0);
    let row = segment::message_row(&alice_doc, chat, &id).expect("row");
    assert!(row.deleted && row.attachments.is_empty());
    // Alice's own message, without files, is untouched.
    assert!(
        segment::message_row(&alice_doc, chat, &first)
            .expect("row")
            .attachments
            .is_empty()
    );
}

#[test]
fn unknown_authors_are_deferred_not_accepted() {
    let (alice, bob) = (person(1), person(2));
    let (_, mut alice_doc, _, _, _) = segment_pair(&alice, &bob);
    let stranger_view = TestDirectory::default();
    let mut doc = Doc::new(alice_doc.id(), &bob.device_id());
    let outcome = apply(&mut doc, changes(&mut alice_doc), &stranger_view).expect("apply");
    assert_eq!(outcome.accepted, 0);
    assert_eq!(outcome.deferred.len(), 1);
    assert!(segment::message_ids(&doc).is_empty());

    // Known device but not (yet) a member: still deferred.
    let knows_device = TestDirectory::knowing(&[&alice]);
    let outcome = apply(&mut doc, changes(&mut alice_doc), &knows_device).expect("apply");
    assert_eq!((outcome.accepted, outcome.deferred.len()), (0, 1));
}

#[test]
fn account_documents_accept_only_their_owners_devices_until_revoked() {
    let alice = person(1);
    let mallory = person(3);
    let dir = TestDirectory::knowing(&[&alice, &mallory]);
    let mut alice_doc = Doc::new(DocId::Account(alice.account_id()), &alice.device_id());
    kith_core::docs::account::set_name(&mut alice_doc, "Alice").expect("name");
    commit(&mut alice_doc);
    let mut copy = replica_of(&mut alice_doc, &mallory.device_id(), &dir);
    copy.raw_mut()
        .put(ROOT, "profile/name", "Mallory was here")
        .expect("put");
    copy.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut copy), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(kith_core::docs::account::name(&alice_doc).as_deref(), Some("Alice"));
}

/// Alice's phone revokes her laptop. The laptop, having seen it, can no
/// longer write; and nobody can take a revocation back.
#[test]
fn a_revocation_holds_once_written() {
    let (alice, alices_laptop) = (person(1), laptop(1));
    let dir = TestDirectory::knowing(&[&alice, &alices_laptop]);
    let mut phone = Doc::new(DocId::Account(alice.account_id()), &alice.device_id());
    account::set_name(&mut phone, "Alice").expect("name");
    commit(&mut phone);
    let mut on_laptop = replica_of(&mut phone, &alices_laptop.device_id(), &dir);
    account::revoke_device(&mut phone, &alices_laptop.device_id(), 1).expect("revoke");
    commit(&mut phone);
    let outcome = apply(&mut on_laptop, changes(&mut phone), &dir).expect("apply");
    assert_eq!(outcome.accepted, 1);

    // After its revocation: refused, whatever it writes.
    let revoked_key = kith_core::schema::revoked_key(&alices_laptop.device_id());
    on_laptop.raw_mut().delete(ROOT, revoked_key.as_str()).expect("delete");
    on_laptop.raw_mut().commit();
    on_laptop.raw_mut().put(ROOT, "profile/name", "Not Alice").expect("put");
    on_laptop.raw_mut().commit();
    let outcome = apply(&mut phone, changes(&mut on_laptop), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 2, "{outcome:?}");
    assert!(account::is_revoked(&phone, &alices_laptop.device_id()));
    assert_eq!(account::name(&phone).as_deref(), Some("Alice"));

    // Not even a live device takes a revocation back, by deleting it or by
    // overwriting its time with something else.
    for undo in [None, Some("never")] {
        let mut copy = replica_of(&mut phone, &alice.device_id(), &dir);
        match undo {
            None => copy.raw_mut().delete(ROOT, revoked_key.as_str()).expect("delete"),
            Some(text) => copy.raw_mut().put(ROOT, revoked_key.as_str(), text).expect("put"),
        }
        copy.raw_mut().commit();
        let outcome = apply(&mut phone, changes(&mut copy), &dir).expect("apply");
        assert_eq!(outcome.rejected.len(), 1, "{outcome:?}");
        assert!(account::is_revoked(&phone, &alices_laptop.device_id()));
    }
}

#[test]
fn sync_converges_and_a_refused_change_does_not_loop() {
    let (alice, bob) = (person(1), person(2));
    let (_, mut alice_doc, mut bob_doc, dir, message) = segment_pair(&alice, &bob);
    // Bob writes one honest and one tampered change.
    segment::react(&mut bob_doc, &message, &bob.account_id(), "🎉", false, Hlc::new(NOW, 7)).expect("react");
    commit(&mut bob_doc);
    bob_doc
        .raw_mut()
        .put(ROOT, format!("read/{}", alice.account_id()), 1)
        .expect("put");
    bob_doc.raw_mut().commit();
    segment::send(
        &mut alice_doc,
        &segment::NewMessage {
            id: MessageId::new(Hlc::new(NOW, 3), &alice.device_id()),
            author: alice.account_id(),
            device: alice.device_id(),
            text: "second".into(),
            reply_to: None,
            attachments: Vec::new(),
        },
    )
    .expect("send");
    commit(&mut alice_doc);

    let (mut a, mut b) = (SyncSession::new(), SyncSession::new());
    let mut messages = 0;
    loop {
        let mut quiet = true;
        if let Some(m) = a.generate(&mut alice_doc) {
            b.receive(&mut bob_doc, &m, &dir).expect("bob receives");
            messages += 1;
            quiet = false;
        }
        if let Some(m) = b.generate(&mut bob_doc) {
            a.receive(&mut alice_doc, &m, &dir).expect("alice receives");
            messages += 1;
            quiet = false;
        }
        assert!(messages < 20, "sync loop");
        if quiet {
            break;
        }
    }
    assert_eq!(segment::message_ids(&bob_doc).len(), 2);
    let row = segment::message_row(&alice_doc, ChatId::from_bytes([5; 16]), &message).expect("row");
    assert!(row.reactions.contains_key("🎉"), "the honest reaction arrived");
    assert_eq!(
        segment::read_position(&alice_doc, &alice.account_id()),
        None,
        "the forged read position did not"
    );
}

#[test]
fn corrupt_and_truncated_bytes_are_clear_errors() {
    let alice = person(1);
    let id = DocId::Head(ChatId::from_bytes([1; 16]));
    let err = Doc::load(id, &alice.device_id(), [b"not automerge at all".as_slice()]).expect_err("corrupt");
    assert!(err.to_string().contains("corrupt"), "{err}");
    let (_, mut doc) = group(&alice, &person(2));
    let bytes = doc.save();
    let err = Doc::load(id, &alice.device_id(), [&bytes[..bytes.len() / 2]]).expect_err("truncated");
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert!(
        SyncSession::new()
            .receive(&mut doc, b"\x42garbage", &TestDirectory::default())
            .is_err()
    );
}

#[test]
fn documents_from_a_newer_schema_are_refused() {
    let alice = person(1);
    let id = DocId::Account(alice.account_id());
    let mut doc = Doc::new(id, &alice.device_id());
    doc.raw_mut().put(ROOT, "schema", 99).expect("put");
    doc.raw_mut().commit();
    let bytes = doc.save();
    let err = Doc::load(id, &alice.device_id(), [bytes.as_slice()]).expect_err("newer schema");
    assert!(err.to_string().contains("schema version 99"), "{err}");
    assert!(doc.raw_mut().get(ROOT, "schema").is_ok());
}

#[test]
fn a_member_cannot_mark_a_shared_document_as_from_the_future() {
    let (alice, bob) = (person(1), person(2));
    let (_, mut alice_doc, mut bob_doc, dir, _) = segment_pair(&alice, &bob);
    bob_doc.raw_mut().put(ROOT, "schema", 99).expect("put");
    bob_doc.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut bob_doc), &dir).expect("apply");
    assert_eq!((outcome.accepted, outcome.rejected.len()), (0, 1));
    let bytes = alice_doc.save();
    assert!(
        Doc::load(alice_doc.id(), &alice.device_id(), [bytes.as_slice()]).is_ok(),
        "the document still loads"
    );
}

#[test]
fn a_whole_document_payload_with_orphan_changes_loses_nothing() {
    let (alice, bob) = (person(1), person(2));
    let (_, mut alice_doc, mut bob_doc, dir, _) = segment_pair(&alice, &bob);
    let next = |n: u16, text: &str, doc: &mut Doc| {
        segment::send(
            doc,
            &segment::NewMessage {
                id: MessageId::new(Hlc::new(NOW, n), &alice.device_id()),
                author: alice.account_id(),
                device: alice.device_id(),
                text: text.into(),
                reply_to: None,
                attachments: Vec::new(),
            },
        )
        .expect("send");
        commit(doc);
        doc.raw_mut().get_last_local_change().expect("change").clone()
    };
    let second = next(1, "second", &mut alice_doc);
    let third = next(2, "third", &mut alice_doc);
    let fourth = next(3, "fourth", &mut alice_doc);
    // A relaying peer holds the second message and, as an orphan, the fourth:
    // its `save()` is a document chunk followed by the orphan's change chunk.
    let mut relay = Doc::new(alice_doc.id(), &bob.device_id());
    relay.raw_mut().apply_changes(changes(&mut bob_doc)).expect("base");
    relay
        .raw_mut()
        .apply_changes([second.clone(), fourth.clone()])
        .expect("queued");
    let payload = relay.raw_mut().save();
    let message = automerge::sync::Message {
        heads: relay.heads(),
        need: vec![],
        have: vec![],
        changes: vec![payload].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V2,
    };
    let outcome = SyncSession::new()
        .receive(
            &mut bob_doc,
            &SignedSyncMessage {
                message: message.encode(),
                signatures: [&second, &fourth]
                    .map(|c| ChangeSignature::sign(alice.device_keys(), &relay.id(), c))
                    .to_vec(),
            }
            .encode(),
            &dir,
        )
        .expect("receive");
    assert_eq!(outcome.accepted, 1, "the second message is applied: {outcome:?}");
    let deferred: Vec<_> = outcome.deferred.iter().map(|c| c.hash()).collect();
    assert_eq!(
        deferred,
        vec![fourth.hash()],
        "the orphan is kept for later, not dropped"
    );
    // Once the missing third message arrives, the kept orphan applies too.
    let retried = apply(&mut bob_doc, vec![third, outcome.deferred[0].clone()], &dir).expect("apply");
    assert_eq!(retried.accepted, 2);
    assert_eq!(segment::message_ids(&bob_doc).len(), 4);
}

/// What the read model says about a replica's group picture.
fn picture_flag(doc: &mut Doc) -> Option<bool> {
    kith_core::full_read_model(doc)
        .into_iter()
        .find_map(|update| match update {
            kith_core::ReadModelUpdate::ChatAvatar { has_avatar, .. } => Some(has_avatar),
            _ => None,
        })
}

/// Stands in for a JPEG: the engine only counts the bytes.
fn jpeg(fill: u8, len: usize) -> Vec<u8> {
    let mut bytes = vec![fill; len];
    bytes[..3].copy_from_slice(&[0xff, 0xd8, 0xff]);
    bytes
}

#[test]
fn only_admins_and_owners_of_a_group_set_or_remove_its_picture() {
    let (alice, bob) = (person(1), person(2));
    let dir = TestDirectory::knowing(&[&alice, &bob]);
    let (_, mut alice_doc) = group(&alice, &bob);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    assert_eq!(picture_flag(&mut bob_doc), Some(false));

    // The honest API refuses a member locally...
    let refused = head::set_avatar(&mut bob_doc, &bob.account_id(), Some(&jpeg(1, 1000))).unwrap_err();
    assert!(refused.to_string().contains("admins"), "{refused}");
    // ...and a tampered client that writes anyway has no effect on Alice.
    bob_doc
        .raw_mut()
        .put(ROOT, "avatar", automerge::ScalarValue::Bytes(jpeg(1, 1000)))
        .expect("put");
    bob_doc.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut bob_doc), &dir).expect("apply");
    assert_eq!((outcome.accepted, outcome.rejected.len()), (0, 1));
    assert_eq!(head::avatar(&mut alice_doc), None);

    // The owner sets one; Bob's fresh replica accepts it and shows it.
    head::set_avatar(&mut alice_doc, &alice.account_id(), Some(&jpeg(2, 1000))).expect("owner sets");
    commit(&mut alice_doc);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    assert_eq!(head::avatar(&mut bob_doc), Some(jpeg(2, 1000)));
    assert_eq!(picture_flag(&mut bob_doc), Some(true));

    // A member cannot remove it either.
    assert!(head::set_avatar(&mut bob_doc, &bob.account_id(), None).is_err());
    bob_doc.raw_mut().delete(ROOT, "avatar").expect("delete");
    bob_doc.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut bob_doc), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(head::avatar(&mut alice_doc), Some(jpeg(2, 1000)));

    // Even the owner cannot store an oversized picture or one that is not bytes.
    let too_big = jpeg(3, kith_core::schema::MAX_AVATAR_BYTES + 1);
    assert!(head::set_avatar(&mut alice_doc, &alice.account_id(), Some(&too_big)).is_err());
    for value in [
        automerge::ScalarValue::Bytes(too_big),
        automerge::ScalarValue::Str("a picture, honest".into()),
        automerge::ScalarValue::Int(7),
    ] {
        let mut tampered = replica_of(&mut alice_doc, &alice.device_id(), &dir);
        tampered.raw_mut().put(ROOT, "avatar", value).expect("put");
        tampered.raw_mut().commit();
        let mut judge = replica_of(&mut alice_doc, &bob.device_id(), &dir);
        let outcome = apply(&mut judge, changes(&mut tampered), &dir).expect("apply");
        assert_eq!(outcome.rejected.len(), 1);
        assert_eq!(head::avatar(&mut judge), Some(jpeg(2, 1000)));
    }

    // The owner removes it; an admin may set one.
    head::set_avatar(&mut alice_doc, &alice.account_id(), None).expect("owner removes");
    head::set_role(&mut alice_doc, &alice.account_id(), &bob.account_id(), Role::Admin).expect("promote");
    commit(&mut alice_doc);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    assert_eq!(picture_flag(&mut bob_doc), Some(false));
    head::set_avatar(&mut bob_doc, &bob.account_id(), Some(&jpeg(4, 500))).expect("admin sets");
    commit(&mut bob_doc);
    let outcome = apply(&mut alice_doc, changes(&mut bob_doc), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 0);
    assert_eq!(head::avatar(&mut alice_doc), Some(jpeg(4, 500)));
}

#[test]
fn a_direct_chat_has_no_picture_and_an_account_document_no_group_picture() {
    let (alice, bob) = (person(1), person(2));
    let dir = TestDirectory::knowing(&[&alice, &bob]);
    let nonce = [7u8; 16];
    let chat = kith_core::schema::chat_id_for(&alice.account_id(), &nonce);
    let mut alice_doc = Doc::new(DocId::Head(chat), &alice.device_id());
    head::genesis(
        &mut alice_doc,
        &alice.account_id(),
        &nonce,
        ChatKind::Direct,
        "",
        &[bob.account_id()],
        alice.certificate(),
    )
    .expect("genesis");
    commit(&mut alice_doc);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    // Both are owners, and still neither may set one.
    let refused = head::set_avatar(&mut bob_doc, &bob.account_id(), Some(&jpeg(1, 100))).unwrap_err();
    assert!(refused.to_string().contains("only groups"), "{refused}");
    bob_doc
        .raw_mut()
        .put(ROOT, "avatar", automerge::ScalarValue::Bytes(jpeg(1, 100)))
        .expect("put");
    bob_doc.raw_mut().commit();
    let outcome = apply(&mut alice_doc, changes(&mut bob_doc), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(picture_flag(&mut alice_doc), Some(false));

    // The key belongs to head documents only.
    let mut account_doc = Doc::new(DocId::Account(alice.account_id()), &alice.device_id());
    kith_core::docs::account::set_name(&mut account_doc, "Alice").expect("name");
    commit(&mut account_doc);
    let mut copy = replica_of(&mut account_doc, &alice.device_id(), &dir);
    copy.raw_mut()
        .put(ROOT, "avatar", automerge::ScalarValue::Bytes(jpeg(1, 100)))
        .expect("put");
    copy.raw_mut().commit();
    let outcome = apply(&mut account_doc, changes(&mut copy), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 1);
}

/// Every ordering of `items`.
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for (i, first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            out.push(tail);
        }
    }
    out
}

#[test]
fn every_replica_agrees_on_the_group_picture_whatever_order_changes_arrive_in() {
    let (alice, bob, carol) = (person(1), person(2), person(3));
    let dir = TestDirectory::knowing(&[&alice, &bob, &carol]);
    let (_, mut alice_doc) = group(&alice, &bob);
    head::set_role(&mut alice_doc, &alice.account_id(), &carol.account_id(), Role::Admin).expect("carol admin");
    commit(&mut alice_doc);
    let base = changes(&mut alice_doc);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    let mut carol_doc = replica_of(&mut alice_doc, &carol.device_id(), &dir);

    // Concurrently, from the same state: Alice promotes Bob and demotes
    // Carol; Bob (a member there) sets a picture; Carol (an admin there) sets
    // another. Bob's is refused and Carol's accepted, whatever arrives first.
    let before = alice_doc.heads();
    head::set_role(&mut alice_doc, &alice.account_id(), &bob.account_id(), Role::Admin).expect("promote");
    head::set_role(&mut alice_doc, &alice.account_id(), &carol.account_id(), Role::Member).expect("demote");
    commit(&mut alice_doc);
    bob_doc
        .raw_mut()
        .put(ROOT, "avatar", automerge::ScalarValue::Bytes(jpeg(2, 300)))
        .expect("put");
    bob_doc.raw_mut().commit();
    head::set_avatar(&mut carol_doc, &carol.account_id(), Some(&jpeg(3, 300))).expect("admin carol sets");
    commit(&mut carol_doc);
    // Each typed operation reads the head first, which closes the change
    // before it: the promotion and the demotion are two changes.
    let [promotion, demotion]: [automerge::Change; 2] =
        alice_doc.changes_since(&before).try_into().expect("two changes");
    let bob_picture = bob_doc.raw_mut().get_last_local_change().expect("change");
    let carol_picture = carol_doc.raw_mut().get_last_local_change().expect("change");

    let mut results = Vec::new();
    for order in permutations(&[promotion, demotion, bob_picture, carol_picture]) {
        let mut view = Doc::new(alice_doc.id(), &DeviceId::from_bytes([9; 32]));
        apply(&mut view, base.clone(), &dir).expect("base");
        let outcome = apply(&mut view, order, &dir).expect("apply");
        assert_eq!((outcome.accepted, outcome.rejected.len()), (3, 1));
        assert_eq!(
            head::avatar(&mut view),
            Some(jpeg(3, 300)),
            "Carol was an admin when she set it"
        );
        assert_eq!(picture_flag(&mut view), Some(true));
        results.push((view.heads(), head::members(&mut view)));
    }
    assert!(
        results.windows(2).all(|pair| pair[0] == pair[1]),
        "same heads and roles on every replica"
    );
}

/// Signatures: a change is judged only once its own device's signature
/// covers it. Unknown devices wait (the certificate may come later); a
/// signature that does not verify, or names another device, refuses the
/// change it names; no signature leaves it waiting, never applied.
#[test]
fn a_change_waits_for_its_devices_signature_and_a_bad_one_is_refused() {
    let (alice, bob) = (person(1), person(2));
    let (chat, alice_doc, mut bob_doc, dir, message) = segment_pair(&alice, &bob);
    segment::react(&mut bob_doc, &message, &bob.account_id(), "👍", false, Hlc::new(NOW, 9)).expect("react");
    commit(&mut bob_doc);
    let reaction = bob_doc.raw_mut().get_last_local_change().expect("change");
    let signed: Vec<ChangeSignature> = bob_doc
        .signatures()
        .filter(|s| s.device == bob.device_id())
        .cloned()
        .collect();
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].hash(), reaction.hash(), "the newest change is the signed one");
    let judge_for = |dir: &TestDirectory| {
        let mut source = alice_doc.clone();
        replica_of(&mut source, &person(3).device_id(), dir)
    };

    // Bob's certificate is not known yet: the change waits, with its signature.
    let mut not_yet = TestDirectory::knowing(&[&alice]);
    not_yet.members = dir.members.clone();
    let mut judge = judge_for(&dir);
    let waiting = apply_remote(&mut judge, vec![reaction.clone()], &signed, &not_yet).expect("apply");
    assert_eq!((waiting.accepted, waiting.deferred.len()), (0, 1), "{waiting:?}");
    assert_eq!(waiting.deferred_signatures, signed, "kept beside the change");
    // It arrives: the kept change and signature are accepted.
    let later = apply_remote(&mut judge, waiting.deferred, &waiting.deferred_signatures, &dir).expect("apply");
    assert_eq!(later.accepted, 1, "{later:?}");
    assert_eq!(
        later.delta.signatures, signed,
        "the signature is kept with the document"
    );

    // No signature at all: waits, never applied.
    let mut judge = judge_for(&dir);
    let unsigned = apply_remote(&mut judge, vec![reaction.clone()], &[], &dir).expect("apply");
    assert_eq!((unsigned.accepted, unsigned.deferred.len()), (0, 1));
    let row = segment::message_row(&judge, chat, &message).expect("row");
    assert!(row.reactions.is_empty(), "nothing of it shows");

    // A signature that does not verify, one made by another device's key,
    // and one over Bob's change claiming Alice's device: refused.
    let mut flipped = signed[0].clone();
    flipped.signature[0] ^= 1;
    let mut by_alice_key = signed[0].clone();
    by_alice_key.signature = ChangeSignature::sign(alice.device_keys(), &judge.id(), &reaction).signature;
    let mut as_alice = ChangeSignature::sign(alice.device_keys(), &judge.id(), &reaction);
    as_alice.seq = reaction.seq();
    for bad in [flipped, by_alice_key, as_alice] {
        let mut judge = judge_for(&dir);
        let outcome = apply_remote(&mut judge, vec![reaction.clone()], &[bad], &dir).expect("apply");
        assert_eq!(outcome.accepted, 0);
        assert_eq!(outcome.rejected.len(), 1, "{outcome:?}");
        assert!(outcome.rejected[0].reason.contains("signature"), "{outcome:?}");
    }
    // A valid one beside a bad one still vouches for it.
    let mut judge = judge_for(&dir);
    let mut flipped = signed[0].clone();
    flipped.signature[1] ^= 1;
    let both = apply_remote(&mut judge, vec![reaction], &[flipped, signed[0].clone()], &dir).expect("apply");
    assert_eq!(both.accepted, 1, "{both:?}");
}

/// A change whose actor is another device (here the owner's) is covered by
/// no signature of that device: the forger's own valid signature does not
/// vouch for it, and the owner's signature over her own change does not
/// reach it.
#[test]
fn a_change_forged_under_another_devices_actor_is_never_applied() {
    let (alice, bob) = (person(1), person(2));
    let (chat, mut alice_doc) = group(&alice, &bob);
    let dir = TestDirectory::knowing(&[&alice, &bob]);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    bob_doc
        .raw_mut()
        .set_actor(kith_core::docs::actor_of(&alice.device_id()));
    bob_doc
        .raw_mut()
        .put(ROOT, kith_core::schema::member_key(&bob.account_id()), "admin")
        .expect("put");
    bob_doc.raw_mut().commit();
    let forged = bob_doc.raw_mut().get_last_local_change().expect("change");
    let mut signatures: Vec<ChangeSignature> = alice_doc.signatures().cloned().collect();
    signatures.push(ChangeSignature::sign(bob.device_keys(), &alice_doc.id(), &forged));
    let mut judge = replica_of(&mut alice_doc, &person(3).device_id(), &dir);
    let outcome = apply_remote(&mut judge, vec![forged], &signatures, &dir).expect("apply");
    assert_eq!(outcome.accepted, 0, "{outcome:?}");
    assert_eq!(
        head::chat_row(&mut judge, chat)
            .expect("row")
            .members
            .get(&bob.account_id()),
        Some(&Role::Member)
    );
}

/// Key epochs: only an admin commits one, and only the next at what it had
/// seen; a member (or an admin skipping ahead) is refused by every replica.
#[test]
fn only_admins_commit_the_next_key_epoch() {
    let (alice, bob) = (person(1), person(2));
    let dir = TestDirectory::knowing(&[&alice, &bob]);
    let (_, mut alice_doc) = group(&alice, &bob);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    let epoch_put = |doc: &mut Doc, epoch: u32| {
        doc.raw_mut()
            .put(ROOT, kith_core::schema::epoch_key(epoch), "key-of-choice")
            .expect("put");
        commit(doc);
    };

    // Bob, a member, commits the first epoch with a key of his choosing.
    let before = bob_doc.heads();
    epoch_put(&mut bob_doc, 0);
    let mut judge = replica_of(&mut alice_doc, &person(3).device_id(), &dir);
    let outcome = apply(&mut judge, bob_doc.changes_since(&before), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 1, "a member's epoch: {outcome:?}");
    assert!(head::committed_epochs(&mut judge).is_empty());
    assert!(
        head::commit_epoch(&mut bob_doc.clone(), &bob.account_id(), 1, "k").is_err(),
        "refused locally too"
    );

    // Alice, the owner, skips to epoch 3: refused; epoch 0 then 1: accepted.
    let mut skipping = alice_doc.clone();
    let before = skipping.heads();
    epoch_put(&mut skipping, 3);
    let outcome = apply(&mut judge, skipping.changes_since(&before), &dir).expect("apply");
    assert_eq!(outcome.rejected.len(), 1, "a skipped epoch: {outcome:?}");
    let before = alice_doc.heads();
    head::commit_epoch(&mut alice_doc, &alice.account_id(), 0, "first").expect("epoch 0");
    commit(&mut alice_doc);
    head::commit_epoch(&mut alice_doc, &alice.account_id(), 1, "second").expect("epoch 1");
    commit(&mut alice_doc);
    assert!(head::commit_epoch(&mut alice_doc.clone(), &alice.account_id(), 5, "k").is_err());
    let outcome = apply(&mut judge, alice_doc.changes_since(&before), &dir).expect("apply");
    assert_eq!((outcome.accepted, outcome.rejected.len()), (2, 0), "{outcome:?}");
    assert_eq!(head::committed_epochs(&mut judge).len(), 2);
}

/// The removal cut: Alice removes Mallory, an admin, and commits a new key
/// epoch. Mallory answers with a change back-dated to before her removal
/// (valid where it was written): her own epoch 1 with a key of her choosing,
/// her membership written again, the group renamed. Whatever order the two
/// arrive in, every replica reads Alice's epoch, no Mallory and the old
/// name; and what Mallory writes once she has seen the removal is refused.
#[test]
fn a_removed_admin_gains_nothing_by_back_dating() {
    let (alice, bob, mallory) = (person(1), person(2), person(3));
    let dir = TestDirectory::knowing(&[&alice, &bob, &mallory]);
    let (_, mut alice_doc) = group(&alice, &bob);
    head::set_role(&mut alice_doc, &alice.account_id(), &mallory.account_id(), Role::Admin).expect("admin");
    head::commit_epoch(&mut alice_doc, &alice.account_id(), 0, "first").expect("epoch 0");
    commit(&mut alice_doc);
    let base = changes(&mut alice_doc);
    let mut mallory_doc = replica_of(&mut alice_doc, &mallory.device_id(), &dir);

    let before = alice_doc.heads();
    head::remove_member(&mut alice_doc, &alice.account_id(), &mallory.account_id()).expect("remove");
    head::commit_epoch(&mut alice_doc, &alice.account_id(), 1, "alices").expect("epoch 1");
    commit(&mut alice_doc);
    // The removal, then the epoch commit on top of it.
    let removal = alice_doc.changes_since(&before);
    assert_eq!(removal.len(), 2);

    let before = mallory_doc.heads();
    // One change, as a tampered client writes it.
    for (key, value) in [
        (kith_core::schema::epoch_key(1), "mallorys"),
        (kith_core::schema::member_key(&mallory.account_id()), "admin"),
        ("name".to_owned(), "Free crypto"),
    ] {
        mallory_doc.raw_mut().put(ROOT, key, value).expect("put");
    }
    commit(&mut mallory_doc);
    let back_dated = mallory_doc.changes_since(&before);
    assert_eq!(back_dated.len(), 1);

    // Having seen the removal, she tries again on top of both.
    let outcome = apply(&mut mallory_doc, removal.clone(), &dir).expect("apply");
    assert_eq!(outcome.accepted, 2);
    assert_eq!(
        head::role_of(&mut mallory_doc, &mallory.account_id()),
        None,
        "cut on her replica too"
    );
    let before = mallory_doc.heads();
    mallory_doc
        .raw_mut()
        .put(ROOT, kith_core::schema::epoch_key(2), "mallorys-next")
        .expect("put");
    mallory_doc
        .raw_mut()
        .put(ROOT, kith_core::schema::member_key(&mallory.account_id()), "admin")
        .expect("put");
    commit(&mut mallory_doc);
    let after_removal = mallory_doc.changes_since(&before);
    assert_eq!(after_removal.len(), 1);

    let mut results = Vec::new();
    let mut arrivals = removal.clone();
    arrivals.push(back_dated[0].clone());
    for order in permutations(&arrivals) {
        let mut view = Doc::new(alice_doc.id(), &DeviceId::from_bytes([9; 32]));
        apply(&mut view, base.clone(), &dir).expect("base");
        // One change at a time, so that some replicas hold Mallory's
        // change before the removal and some after.
        // (A change that comes before its dependency waits, as in the
        // quarantine, and goes in with the next one.)
        let mut waiting = Vec::new();
        for change in order {
            waiting.push(change);
            let outcome = apply(&mut view, std::mem::take(&mut waiting), &dir).expect("apply");
            assert!(outcome.rejected.is_empty(), "valid where written: {outcome:?}");
            waiting = outcome.deferred;
        }
        assert!(waiting.is_empty());
        let outcome = apply(&mut view, after_removal.clone(), &dir).expect("apply");
        assert_eq!(outcome.rejected.len(), 1, "written after the removal: {outcome:?}");
        let epochs = head::committed_epochs(&mut view);
        assert_eq!(
            epochs,
            BTreeMap::from([(0, "first".to_owned()), (1, "alices".to_owned())])
        );
        assert_eq!(head::next_epoch(&mut view), 2);
        let members = head::members(&mut view);
        assert_eq!(
            members,
            BTreeMap::from([(alice.account_id(), Role::Owner), (bob.account_id(), Role::Member)])
        );
        let chat = head_chat(&view);
        assert_eq!(head::chat_row(&mut view, chat).expect("row").name, "Book club");
        results.push((view.heads(), members, epochs));
    }
    assert!(
        results.windows(2).all(|pair| pair[0] == pair[1]),
        "every replica agrees"
    );

    // Alice's next epoch is judged at her view of it: number 2 is accepted.
    apply(&mut alice_doc, back_dated, &dir).expect("apply");
    assert_eq!(head::next_epoch(&mut alice_doc), 2);
    head::commit_epoch(&mut alice_doc, &alice.account_id(), 2, "alices-next").expect("epoch 2");
    commit(&mut alice_doc);
    let mut judge = Doc::new(alice_doc.id(), &DeviceId::from_bytes([8; 32]));
    let outcome = apply(&mut judge, changes(&mut alice_doc), &dir).expect("all");
    assert!(outcome.rejected.is_empty(), "{outcome:?}");
    assert_eq!(
        head::committed_epochs(&mut judge).get(&2).map(String::as_str),
        Some("alices-next")
    );
}

/// Two admins who remove each other without having seen the other's
/// removal are both out: removals always hold, even inside a cut change,
/// and the owner (whom admins cannot remove) remains.
#[test]
fn admins_who_remove_each_other_concurrently_are_both_out() {
    let (alice, bob, carol) = (person(1), person(2), person(3));
    let dir = TestDirectory::knowing(&[&alice, &bob, &carol]);
    let (_, mut alice_doc) = group(&alice, &bob);
    head::set_role(&mut alice_doc, &alice.account_id(), &bob.account_id(), Role::Admin).expect("admin");
    head::set_role(&mut alice_doc, &alice.account_id(), &carol.account_id(), Role::Admin).expect("admin");
    commit(&mut alice_doc);
    let base = changes(&mut alice_doc);
    let mut bob_doc = replica_of(&mut alice_doc, &bob.device_id(), &dir);
    let mut carol_doc = replica_of(&mut alice_doc, &carol.device_id(), &dir);
    head::remove_member(&mut bob_doc, &bob.account_id(), &carol.account_id()).expect("bob removes carol");
    commit(&mut bob_doc);
    head::remove_member(&mut carol_doc, &carol.account_id(), &bob.account_id()).expect("carol removes bob");
    commit(&mut carol_doc);
    let by_bob = bob_doc.raw_mut().get_last_local_change().expect("change");
    let by_carol = carol_doc.raw_mut().get_last_local_change().expect("change");
    for order in permutations(&[by_bob, by_carol]) {
        let mut view = Doc::new(alice_doc.id(), &DeviceId::from_bytes([9; 32]));
        apply(&mut view, base.clone(), &dir).expect("base");
        apply(&mut view, order, &dir).expect("apply");
        assert_eq!(
            head::members(&mut view),
            BTreeMap::from([(alice.account_id(), Role::Owner)])
        );
    }
}
