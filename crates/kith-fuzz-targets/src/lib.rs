//! The fuzz targets' bodies: each feeds arbitrary bytes to one decoder that
//! faces the network and says whether the input was accepted. A target must
//! never panic, hang or allocate without bound, whatever the bytes.
//!
//! `fuzz/` (cargo-fuzz, run for a bounded time by `cargo xtask test`) calls
//! these; `tests/corpus.rs` replays the committed seed corpus through them on
//! stable Rust in every `cargo test`.

use kith_core::docs::Doc;
use kith_core::docs::chunks::{change_from_network, check_document_inflation, split_chunks};
use kith_core::relay::{ConnectRequest, RelayItem};
use kith_core::{Directory, Identity, SyncSession};
use kith_proto::{AccountId, ChatId, ClientFrame, DeviceId, DocId, Envelope, EnvelopeId, ServerFrame};

/// One target: arbitrary bytes in, whether they were accepted out.
pub type Target = fn(&[u8]) -> bool;

/// Every target, by the name of its fuzz target and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("server_frame", server_frame),
    ("envelope", envelope),
    ("relay_item", relay_item),
    ("peer_frame", peer_frame),
    ("certificate", certificate),
    ("invite", invite),
    ("attachments", attachments),
    ("change_chunk", change_chunk),
    ("sync_message", sync_message),
];

/// A frame the sync server reads from a client, and one a client reads from
/// the server; what decodes encodes again.
pub fn server_frame(data: &[u8]) -> bool {
    let client = ClientFrame::decode(data).ok();
    if let Some(frame) = &client {
        assert!(frame.encode().is_ok(), "a decoded client frame encodes");
    }
    let server = ServerFrame::decode(data).ok();
    if let Some(frame) = &server {
        assert!(frame.encode().is_ok(), "a decoded server frame encodes");
    }
    client.is_some() || server.is_some()
}

/// The key and stream the envelope target's seeds are sealed for.
pub fn envelope_key() -> kith_core::crypto::EpochKey {
    kith_core::crypto::EpochKey::from_bytes([3; 32])
}

/// The stream of the envelope target.
pub fn envelope_stream() -> kith_core::crypto::Stream {
    kith_core::crypto::Stream::Chat(ChatId::from_bytes([4; 16]))
}

/// An envelope pulled from a log (epoch in the first 4 bytes, ciphertext the
/// rest), opened with the stream's key; what opens is a relay item.
pub fn envelope(data: &[u8]) -> bool {
    let Some((epoch, ciphertext)) = data.split_first_chunk::<4>() else {
        return false;
    };
    let envelope = Envelope {
        id: EnvelopeId([0; 16]),
        epoch: u32::from_be_bytes(*epoch),
        ciphertext: ciphertext.to_vec(),
    };
    match kith_core::crypto::open_envelope(&envelope_key(), &envelope_stream(), &envelope) {
        Ok(opened) => {
            let _ = RelayItem::decode(&opened.plaintext);
            true
        }
        Err(_) => false,
    }
}

/// What an opened envelope holds, and a connect request.
pub fn relay_item(data: &[u8]) -> bool {
    let item = RelayItem::decode(data).is_ok();
    let request = ConnectRequest::decode(data).is_ok();
    item || request
}

/// A frame from a libp2p peer.
pub fn peer_frame(data: &[u8]) -> bool {
    match kith_client::p2p::PeerFrame::decode(data) {
        Ok(frame) => {
            let again = kith_client::p2p::PeerFrame::decode(&frame.encode());
            assert_eq!(again.as_ref().ok(), Some(&frame), "a decoded peer frame round-trips");
            true
        }
        Err(_) => false,
    }
}

/// A device certificate (hello frames, head and account documents).
pub fn certificate(data: &[u8]) -> bool {
    kith_core::DeviceCertificate::from_bytes(data).is_ok_and(|cert| cert.verify().is_ok())
}

/// An invite link someone pasted.
pub fn invite(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(|text| kith_client::Invite::parse(text).is_ok())
}

/// The attachment list of a message.
pub fn attachments(data: &[u8]) -> bool {
    kith_core::attachment::decode_attachments(data).is_ok()
}

/// The devices the engine targets know: two people, one of whom owns the
/// chat the documents belong to.
struct Known {
    people: Vec<(DeviceId, AccountId)>,
}

impl Known {
    fn new() -> Known {
        let people = [1u8, 2]
            .iter()
            .map(|n| {
                let person = person(*n);
                (person.device_id(), person.account_id())
            })
            .collect();
        Known { people }
    }
}

impl Directory for Known {
    fn account_of(&self, device: &DeviceId) -> Option<AccountId> {
        self.people.iter().find(|(d, _)| d == device).map(|(_, a)| *a)
    }
    fn was_member(&self, _: &ChatId, account: &AccountId) -> bool {
        self.people.iter().any(|(_, a)| a == account)
    }
}

/// A test person of the engine targets (seeds are written by them).
pub fn person(n: u8) -> Identity {
    Identity::create([[n; 32], [n + 100; 32], [n + 200; 32]], 1_795_000_000_000)
}

/// The documents the engine targets receive into: a head and a segment.
pub fn engine_docs() -> [DocId; 2] {
    let chat = ChatId::from_bytes([5; 16]);
    [
        DocId::Head(chat),
        DocId::Segment(chat, kith_proto::Month::from_millis(1_795_000_000_000)),
    ]
}

/// Bytes a peer or a relay item offers as changes: split into chunks, each
/// change checked (inflation cap first) and, with no signature, judged by
/// the engine's receive path, which may only keep them waiting.
pub fn change_chunk(data: &[u8]) -> bool {
    let Ok(chunks) = split_chunks(data) else {
        return false;
    };
    let mut changes = Vec::new();
    for (_, chunk) in chunks {
        if let Ok(change) = change_from_network(chunk) {
            changes.push(change);
        }
        let _ = check_document_inflation(chunk);
    }
    let any = !changes.is_empty();
    for id in engine_docs() {
        let mut doc = Doc::new(id, &DeviceId::from_bytes([9; 32]));
        if let Ok(outcome) = kith_core::apply_remote(&mut doc, changes.clone(), &[], &Known::new()) {
            assert_eq!(outcome.accepted, 0, "nothing unsigned is applied");
        }
    }
    any
}

/// A peer's sync message (`SignedSyncMessage`) received into an empty head
/// and an empty segment.
pub fn sync_message(data: &[u8]) -> bool {
    let mut accepted = false;
    for id in engine_docs() {
        let mut doc = Doc::new(id, &DeviceId::from_bytes([9; 32]));
        accepted |= SyncSession::new().receive(&mut doc, data, &Known::new()).is_ok();
    }
    accepted
}
