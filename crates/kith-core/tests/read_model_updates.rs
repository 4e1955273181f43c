//! The rows a write produces are found from the write's own operations (not a
//! diff of the document): each kind of write in a segment that already holds
//! many messages yields exactly the rows it changed, and a received batch
//! yields every row it brought, equal to what a rebuild from scratch says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kith_core::docs::{Doc, segment};
use kith_core::{Directory, Identity, ReadModelUpdate, apply_remote, commit_local, full_read_model};
use kith_proto::{AccountId, ChatId, DeviceId, DocId, Hlc, MessageId, Month};

const NOW: u64 = 1_795_000_000_000;

struct Everyone;

impl Directory for Everyone {
    fn account_of(&self, device: &DeviceId) -> Option<AccountId> {
        Some(person().device_id())
            .filter(|d| d == device)
            .map(|_| person().account_id())
    }
    fn was_member(&self, _chat: &ChatId, _account: &AccountId) -> bool {
        true
    }
}

fn person() -> Identity {
    Identity::create([[7; 32], [107; 32], [207; 32]], NOW)
}

fn chat() -> ChatId {
    kith_core::schema::chat_id_for(&person().account_id(), &[1; 16])
}

fn send(doc: &mut Doc, who: &Identity, n: u64) -> MessageId {
    let id = MessageId::new(Hlc::new(NOW + n, 0), &who.device_id());
    segment::send(
        doc,
        &segment::NewMessage {
            id,
            author: who.account_id(),
            device: who.device_id(),
            text: format!("message {n}"),
            reply_to: None,
            attachments: Vec::new(),
        },
    )
    .unwrap();
    id
}

/// Runs `write` and commits it; the heads are taken before it (reading them
/// afterwards would close Automerge's open transaction).
fn commit<T>(doc: &mut Doc, write: impl FnOnce(&mut Doc) -> T) -> (T, Vec<ReadModelUpdate>) {
    let before = doc.heads();
    let value = write(doc);
    let keys = person();
    (value, commit_local(doc, &before, 0, keys.device_keys()).updates)
}

fn signatures(doc: &Doc) -> Vec<kith_core::ChangeSignature> {
    doc.signatures().cloned().collect()
}

fn message_ids(updates: &[ReadModelUpdate]) -> Vec<(MessageId, Option<String>, Vec<String>)> {
    updates
        .iter()
        .filter_map(|u| match u {
            ReadModelUpdate::Message(row) => Some((row.id, row.text.clone(), row.reactions.keys().cloned().collect())),
            _ => None,
        })
        .collect()
}

#[test]
fn each_write_in_a_full_segment_yields_the_rows_it_changed() {
    let alice = person();
    let segment_id = DocId::Segment(chat(), Month::of(Hlc::new(NOW, 0)));
    let mut doc = Doc::new(segment_id, &alice.device_id());
    let mut ids = Vec::new();
    for n in 0..300 {
        let (id, updates) = commit(&mut doc, |doc| send(doc, &alice, n));
        assert_eq!(message_ids(&updates).len(), 1);
        ids.push(id);
    }

    let (new, updates) = commit(&mut doc, |doc| send(doc, &alice, 1_000));
    assert_eq!(message_ids(&updates), vec![(new, Some("message 1000".into()), vec![])]);

    // An edit writes inside an object an earlier change created.
    let (_, updates) = commit(&mut doc, |doc| {
        segment::edit(doc, &ids[10], &alice.account_id(), "edited", Hlc::new(NOW + 2_000, 0)).unwrap()
    });
    assert_eq!(message_ids(&updates), vec![(ids[10], Some("edited".into()), vec![])]);

    // A reaction is a root key of its own that names the message.
    let ts = Hlc::new(NOW + 3_000, 0);
    let (_, updates) = commit(&mut doc, |doc| {
        segment::react(doc, &ids[20], &alice.account_id(), "👍", false, ts).unwrap()
    });
    assert_eq!(
        message_ids(&updates),
        vec![(ids[20], Some("message 20".into()), vec!["👍".into()])]
    );
    let (_, updates) = commit(&mut doc, |doc| {
        segment::react(doc, &ids[20], &alice.account_id(), "👍", true, ts).unwrap()
    });
    assert_eq!(
        message_ids(&updates),
        vec![(ids[20], Some("message 20".into()), vec![])]
    );

    // A delete removes the text.
    let (_, updates) = commit(&mut doc, |doc| {
        segment::delete(doc, &ids[30], &alice.account_id(), Hlc::new(NOW + 4_000, 0)).unwrap()
    });
    assert_eq!(message_ids(&updates), vec![(ids[30], None, vec![])]);

    // A read position is not a message row.
    let (_, updates) = commit(&mut doc, |doc| {
        segment::mark_read(doc, &alice.account_id(), Hlc::new(NOW + 5_000, 0)).unwrap()
    });
    assert!(message_ids(&updates).is_empty());
    assert!(
        updates
            .iter()
            .any(|u| matches!(u, ReadModelUpdate::ReadPosition { account, .. } if *account == alice.account_id()))
    );

    // Nothing written: nothing to update.
    assert!(commit(&mut doc, |_| ()).1.is_empty());
}

#[test]
fn a_received_batch_yields_the_rows_a_rebuild_would() {
    let alice = person();
    let segment_id = DocId::Segment(chat(), Month::of(Hlc::new(NOW, 0)));
    let mut sender = Doc::new(segment_id, &alice.device_id());
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(commit(&mut sender, |doc| send(doc, &alice, n)).0);
    }
    let mut receiver = Doc::new(segment_id, &DeviceId::from_bytes([9; 32]));
    let first = apply_remote(
        &mut receiver,
        sender.raw_mut().get_changes(&[]),
        &signatures(&sender),
        &Everyone,
    )
    .unwrap();
    assert_eq!(first.accepted, 50);

    // Edits of messages the receiver already holds, in a second batch.
    let known = sender.heads();
    commit(&mut sender, |doc| {
        segment::edit(doc, &ids[3], &alice.account_id(), "changed", Hlc::new(NOW + 100, 0)).unwrap()
    });
    let second = apply_remote(
        &mut receiver,
        sender.changes_since(&known),
        &signatures(&sender),
        &Everyone,
    )
    .unwrap();
    assert_eq!(
        message_ids(&second.delta.updates),
        vec![(ids[3], Some("changed".into()), vec![])]
    );

    let mut rebuilt: Vec<_> = message_ids(&full_read_model(&mut receiver));
    let mut incremental: Vec<_> = message_ids(&first.delta.updates);
    for row in message_ids(&second.delta.updates) {
        incremental.retain(|r| r.0 != row.0);
        incremental.push(row);
    }
    rebuilt.sort();
    incremental.sort();
    assert_eq!(incremental, rebuilt);
}
