//! Seed inputs for every fuzz target, built from real encodings: a few that
//! each decoder accepts (`valid-*`) and a few it must refuse (`invalid-*`).

use automerge::transaction::Transactable;
use kith_core::docs::Doc;
use kith_core::relay::RelayItem;
use kith_fuzz_targets::{engine_docs, envelope_key, envelope_stream, person};
use std::io::Write;

type Seeds = Vec<(&'static str, Vec<(String, Vec<u8>)>)>;

fn named(valid: Vec<Vec<u8>>, invalid: Vec<Vec<u8>>) -> Vec<(String, Vec<u8>)> {
    let valid = valid.into_iter().enumerate().map(|(i, b)| (format!("valid-{i}"), b));
    let invalid = invalid
        .into_iter()
        .enumerate()
        .map(|(i, b)| (format!("invalid-{i}"), b));
    valid.chain(invalid).collect()
}

fn flipped(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x55;
    bytes
}

/// One change by person 1 in the head document the engine targets use.
fn head_change() -> automerge::Change {
    let alice = person(1);
    let mut doc = Doc::new(engine_docs()[0], &alice.device_id());
    doc.raw_mut().put(automerge::ROOT, "name", "Book club").unwrap();
    doc.raw_mut().commit();
    doc.raw_mut().get_last_local_change().unwrap()
}

/// A compressed change chunk that inflates past the 4 MiB cap (a string of
/// 8 MiB of NULs, which DEFLATE shrinks to a few KiB).
fn change_bomb() -> Vec<u8> {
    let mut doc = automerge::AutoCommit::new();
    doc.put(automerge::ROOT, "zeros", "\0".repeat(8 << 20)).unwrap();
    doc.commit();
    let mut change = doc.get_last_local_change().unwrap();
    let bytes = change.bytes().to_vec();
    assert!(bytes.len() < 64 * 1024, "compressed: {}", bytes.len());
    bytes
}

fn sync_messages() -> (Vec<u8>, Vec<u8>) {
    let alice = person(1);
    let mut doc = Doc::new(engine_docs()[0], &alice.device_id());
    doc.raw_mut().put(automerge::ROOT, "name", "Book club").unwrap();
    doc.raw_mut().commit();
    let mut sender = kith_core::SyncSession::new();
    let first = sender.generate(&mut doc).unwrap();
    // As if the receiver had answered "I have nothing": the next message
    // carries the change.
    let mut empty = Doc::new(engine_docs()[0], &person(2).device_id());
    let mut receiver = kith_core::SyncSession::new();
    struct Nobody;
    impl kith_core::Directory for Nobody {
        fn account_of(&self, _: &kith_proto::DeviceId) -> Option<kith_proto::AccountId> {
            None
        }
        fn was_member(&self, _: &kith_proto::ChatId, _: &kith_proto::AccountId) -> bool {
            false
        }
    }
    receiver.receive(&mut empty, &first, &Nobody).unwrap();
    let answer = receiver.generate(&mut empty).unwrap();
    sender.receive(&mut doc, &answer, &Nobody).unwrap();
    let with_changes = sender.generate(&mut doc).unwrap();
    (first, with_changes)
}

/// Every target's seeds.
pub fn all() -> Seeds {
    let alice = person(1);
    let item = RelayItem::Change {
        doc: engine_docs()[0].to_string(),
        change: head_change().raw_bytes().to_vec(),
    }
    .encode();
    let sealed = kith_core::crypto::seal_envelope(
        &envelope_key(),
        7,
        &envelope_stream(),
        b"item",
        alice.device_keys(),
        &item,
        [1; 24],
    )
    .unwrap();
    let mut envelope = 7u32.to_be_bytes().to_vec();
    envelope.extend_from_slice(&sealed.ciphertext);
    let hello = kith_client::p2p::PeerFrame::Hello {
        protocol: "kith/auth/2".into(),
        certificate: alice.certificate().to_bytes(),
        name: Some("Alice".into()),
    }
    .encode();
    let welcome = kith_client::p2p::PeerFrame::Welcome { name: None }.encode();
    let invite = kith_client::Invite {
        account: alice.account_id(),
        sealing_key: [7; 32],
        secret: [8; 32],
    }
    .link();
    let attachment = kith_core::Attachment {
        hash: [1; 32],
        key: [2; 32],
        size: 1234,
        mime: "image/jpeg".into(),
        name: "beach.jpg".into(),
        kind: kith_core::AttachmentKind::Image {
            width: 640,
            height: 480,
        },
        thumbnail: Some(vec![0xff, 0xd8, 0xff]),
    };
    let attachments = kith_core::attachment::encode_attachments(&[attachment]).unwrap();
    let mut change = head_change();
    let (first_sync, sync_with_changes) = sync_messages();
    let mut log = Vec::new();
    writeln!(log, "not a frame").unwrap();
    vec![
        (
            "server_frame",
            named(
                vec![
                    kith_proto::ClientFrame::Hello { version: 1 }.encode().unwrap(),
                    kith_proto::ClientFrame::Register {
                        log: kith_proto::LogId([3; 32]),
                        capability: kith_proto::Capability([4; 32]),
                        manager: [5; 32],
                    }
                    .encode()
                    .unwrap(),
                    kith_proto::ServerFrame::error(kith_proto::ErrorCode::Malformed, "no", false)
                        .encode()
                        .unwrap(),
                ],
                vec![vec![0xff; 12], log.clone()],
            ),
        ),
        (
            "envelope",
            named(
                vec![envelope.clone()],
                vec![flipped(envelope.clone(), 40), envelope[..20].to_vec()],
            ),
        ),
        (
            "relay_item",
            named(vec![item.clone()], vec![vec![0xff; 40], log.clone()]),
        ),
        (
            "peer_frame",
            named(vec![hello, welcome], vec![vec![0xff; 300], log.clone()]),
        ),
        (
            "certificate",
            named(
                vec![alice.certificate().to_bytes()],
                vec![flipped(alice.certificate().to_bytes(), 50), vec![1, 2, 3]],
            ),
        ),
        (
            "invite",
            named(
                vec![invite.clone().into_bytes()],
                vec![
                    b"kith://invite/garbage".to_vec(),
                    invite.as_bytes()[..invite.len() - 5].to_vec(),
                ],
            ),
        ),
        (
            "attachments",
            named(
                vec![attachments.clone()],
                vec![vec![0xff; 20], attachments[..10].to_vec()],
            ),
        ),
        (
            "change_chunk",
            named(
                vec![change.raw_bytes().to_vec(), change.bytes().to_vec()],
                vec![
                    change_bomb(),
                    vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 200],
                    log.clone(),
                ],
            ),
        ),
        (
            "sync_message",
            named(vec![first_sync, sync_with_changes], vec![vec![0xff; 64], log]),
        ),
    ]
}
