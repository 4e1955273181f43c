//! The relay's inbox as data: each pulled entry becomes an [`Inbound`]
//! before anything is applied: the changes of a document that belongs on
//! the stream it came from, mail from a device, or refused (it did not
//! open, decode, or belong there). Pure: no store, no network, so every way
//! an entry can be bad is tested here.

use crate::streams::{Followed, StreamKey};
use automerge::Change;
use kith_core::ChangeSignature;
use kith_core::crypto::open_envelope;
use kith_core::docs::chunks::ChunkKind;
use kith_core::relay::RelayItem;
use kith_proto::{DeviceId, DocId, Envelope};

/// What one pulled entry is.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// Changes of one document that belongs on this stream.
    Changes {
        /// The document.
        doc: DocId,
        /// Its changes, in the entry's order.
        changes: Vec<Change>,
        /// Signatures that came with them (none from clients before
        /// signatures existed: those changes wait for one).
        signatures: Vec<ChangeSignature>,
    },
    /// Keys, hellos, connect requests, notices: signed by `sender`.
    Mail {
        /// The device that sealed it.
        sender: DeviceId,
        /// The item.
        item: RelayItem,
    },
    /// It did not open or decode, or names a document of another stream
    /// (logged; the cursor moves past it all the same).
    Refused,
}

/// What the entry at `seq` of `stream`'s log is.
pub(crate) fn classify(stream: &StreamKey, seq: u64, envelope: &Envelope) -> Inbound {
    let Some((sender, item)) = open_entry(stream, seq, envelope) else {
        return Inbound::Refused;
    };
    let followed = stream.followed();
    let one = |doc: &str, change: Vec<u8>| {
        document_of_stream(doc, followed)
            .zip(kith_core::docs::chunks::change_from_network(&change).ok())
            .map(|(doc, change)| (doc, vec![change]))
    };
    let (changes, signatures) = match item {
        RelayItem::Change { doc, change } => (one(&doc, change), Vec::new()),
        RelayItem::SignedChange { doc, change, signature } => (one(&doc, change), signature.into_iter().collect()),
        RelayItem::Changes { doc, changes } => (
            document_of_stream(&doc, followed).zip(unpack_changes(&changes)),
            Vec::new(),
        ),
        RelayItem::SignedChanges {
            doc,
            changes,
            signatures,
        } => (
            document_of_stream(&doc, followed).zip(unpack_changes(&changes)),
            signatures,
        ),
        item => return Inbound::Mail { sender, item },
    };
    match changes {
        Some((doc, changes)) => Inbound::Changes {
            doc,
            changes,
            signatures,
        },
        None => Inbound::Refused,
    }
}

/// The sender and item of one pulled envelope; `None` (logged) when it does
/// not open or decode.
fn open_entry(stream: &StreamKey, seq: u64, envelope: &Envelope) -> Option<(DeviceId, RelayItem)> {
    let opened = match open_envelope(stream.key(), stream.stream(), envelope) {
        Ok(opened) => opened,
        Err(err) => {
            tracing::warn!(seq, %err, "refused a relay envelope");
            return None;
        }
    };
    match RelayItem::decode(&opened.plaintext) {
        Ok(item) => Some((opened.sender, item)),
        Err(err) => {
            tracing::warn!(seq, %err, "refused a relay item");
            None
        }
    }
}

/// The document named `doc`, if it belongs to the stream it arrived on.
fn document_of_stream(doc: &str, followed: Followed) -> Option<DocId> {
    let doc: DocId = doc.parse().ok()?;
    let belongs = match (followed, doc) {
        (Followed::Chat(chat), DocId::Head(c) | DocId::Segment(c, _)) => c == chat,
        (Followed::Account, DocId::Account(_)) => true,
        _ => false,
    };
    if !belongs {
        tracing::warn!(%doc, ?followed, "a change of a document that does not belong to its stream");
        return None;
    }
    Some(doc)
}

/// Splits concatenated change chunks; `None` if any chunk is not a change.
fn unpack_changes(packed: &[u8]) -> Option<Vec<Change>> {
    kith_core::docs::chunks::split_chunks(packed)
        .ok()?
        .into_iter()
        .map(|(kind, chunk)| match kind {
            ChunkKind::Change | ChunkKind::CompressedChange => kith_core::docs::chunks::change_from_network(chunk).ok(),
            ChunkKind::Document | ChunkKind::Bundle => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::streams::seal_item;
    use automerge::transaction::Transactable;
    use kith_core::Identity;
    use kith_core::crypto::{EpochKey, Stream};
    use kith_proto::ChatId;

    fn chat_stream(chat: ChatId, key: u8) -> StreamKey {
        StreamKey::new(
            Followed::Chat(chat),
            Stream::Chat(chat),
            0,
            EpochKey::from_bytes([key; 32]),
        )
    }

    fn one_change() -> Change {
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "name", "Weekend").unwrap();
        doc.get_last_local_change().unwrap().clone()
    }

    fn sealed(stream: &StreamKey, identity: &Identity, item: &RelayItem) -> Envelope {
        seal_item(stream, b"item-id", identity.device_keys(), item).unwrap()
    }

    #[test]
    fn each_kind_of_entry_is_told_apart_and_every_bad_one_is_refused() {
        let alice = Identity::create([[1; 32], [2; 32], [3; 32]], 1_795_000_000_000);
        let (chat, other_chat) = (ChatId::from_bytes([7; 16]), ChatId::from_bytes([8; 16]));
        let stream = chat_stream(chat, 9);
        let change_bytes = one_change().bytes().to_vec();
        let change_item = |doc: DocId| RelayItem::Change {
            doc: doc.to_string(),
            change: change_bytes.clone(),
        };

        let ours = sealed(&stream, &alice, &change_item(DocId::Head(chat)));
        match classify(&stream, 1, &ours) {
            Inbound::Changes {
                doc,
                changes,
                signatures,
            } => {
                assert_eq!(doc, DocId::Head(chat));
                assert_eq!(changes.len(), 1);
                assert!(signatures.is_empty(), "an unsigned item of an older client");
            }
            other => panic!("{other:?}"),
        }
        // A change of another conversation's document, though sealed right.
        let elsewhere = sealed(&stream, &alice, &change_item(DocId::Head(other_chat)));
        assert!(matches!(classify(&stream, 2, &elsewhere), Inbound::Refused));
        // Sealed under another epoch's key.
        let wrong_key = sealed(&chat_stream(chat, 10), &alice, &change_item(DocId::Head(chat)));
        assert!(matches!(classify(&stream, 3, &wrong_key), Inbound::Refused));
        // Garbage where the ciphertext should be.
        let mut garbage = ours.clone();
        garbage.ciphertext = vec![0xA5; 300];
        assert!(matches!(classify(&stream, 4, &garbage), Inbound::Refused));
        // A change item whose bytes are not a change.
        let not_a_change = RelayItem::Change {
            doc: DocId::Head(chat).to_string(),
            change: b"not a change".to_vec(),
        };
        assert!(matches!(
            classify(&stream, 5, &sealed(&stream, &alice, &not_a_change)),
            Inbound::Refused
        ));
        // A packed snapshot holding a whole document (only changes may be packed).
        let whole = RelayItem::Changes {
            doc: DocId::Head(chat).to_string(),
            changes: automerge::AutoCommit::new().save(),
        };
        assert!(matches!(
            classify(&stream, 6, &sealed(&stream, &alice, &whole)),
            Inbound::Refused
        ));
        // Mail carries its signer.
        match classify(&stream, 7, &sealed(&stream, &alice, &RelayItem::Goodbye)) {
            Inbound::Mail { sender, item } => {
                assert_eq!(sender, alice.device_id());
                assert!(matches!(item, RelayItem::Goodbye));
            }
            other => panic!("{other:?}"),
        }
    }
}
