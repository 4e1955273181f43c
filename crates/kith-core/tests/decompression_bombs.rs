//! Decompression bombs from the network are refused without being inflated:
//! a compressed change in a relay envelope and a whole document in a peer's
//! sync message, each of which would inflate to hundreds of MiB, leave this
//! process's peak RSS (read from /proc, reset first) within a few MiB.
//!
//! One test per binary, so no other test's memory counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kith_core::docs::Doc;
use kith_core::docs::chunks::{MAX_INFLATED_CHANGE, MAX_INFLATED_DOCUMENT, change_from_network};
use kith_core::relay::RelayItem;
use kith_core::{Directory, SignedSyncMessage, SyncSession};
use kith_proto::{AccountId, ChatId, DeviceId, DocId};
use std::io::Write;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// DEFLATE data of `len` zero bytes, streamed (never all in memory).
fn deflated_zeros(len: usize) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 16];
    for _ in 0..len / block.len() {
        encoder.write_all(&block).unwrap();
    }
    encoder.finish().unwrap()
}

fn uleb(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// An Automerge chunk of `kind` around `data` (checksum left zero: the
/// bomb must be refused before anything would check it).
fn chunk(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    uleb(data.len() as u64, &mut out);
    out.extend_from_slice(data);
    out
}

/// A whole-document chunk with one actor and one change column whose
/// compressed data is `column`.
fn document_with_column(column: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    uleb(1, &mut data); // one actor
    uleb(16, &mut data);
    data.extend_from_slice(&[7; 16]);
    uleb(0, &mut data); // no heads
    uleb(1, &mut data); // one change column: id 1, type 6 (raw), deflated
    uleb((1 << 4) | 0b1000 | 6, &mut data);
    uleb(column.len() as u64, &mut data);
    uleb(0, &mut data); // no op columns
    data.extend_from_slice(column);
    chunk(0, &data)
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS (Linux)");
}

struct Nobody;

impl Directory for Nobody {
    fn account_of(&self, _: &DeviceId) -> Option<AccountId> {
        None
    }
    fn was_member(&self, _: &ChatId, _: &AccountId) -> bool {
        false
    }
}

#[test]
fn decompression_bombs_are_refused_with_bounded_memory() {
    // Built before the measurement: 256 MiB of zeros in a change that fits
    // a 256 KiB relay envelope, and 1 GiB in a document column (~1 MiB,
    // well inside a 32 MiB peer frame).
    let change_bomb = chunk(2, &deflated_zeros(256 << 20));
    let document_bomb = document_with_column(&deflated_zeros(1 << 30));
    assert!(
        change_bomb.len() < 256 * 1024,
        "fits an envelope: {}",
        change_bomb.len()
    );
    const { assert!(256 << 20 > MAX_INFLATED_CHANGE && 1u64 << 30 > MAX_INFLATED_DOCUMENT) };
    let item = RelayItem::Change {
        doc: "head:x".into(),
        change: change_bomb,
    }
    .encode();
    let message = automerge::sync::Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: vec![document_bomb].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V2,
    };
    let frame = SignedSyncMessage {
        message: message.encode(),
        signatures: vec![],
    }
    .encode();
    let mut doc = Doc::new(DocId::Head(ChatId::from_bytes([1; 16])), &DeviceId::from_bytes([2; 32]));

    reset_peak_rss();
    let before = peak_rss_kib();
    // The relay path: an envelope's item, then its change.
    let RelayItem::Change { change, .. } = RelayItem::decode(&item).unwrap() else {
        panic!("a change item");
    };
    let refused = change_from_network(&change).expect_err("the change bomb");
    assert!(refused.to_string().contains("inflates"), "{refused}");
    // The peer path: a sync message carrying a whole document.
    let refused = SyncSession::new()
        .receive(&mut doc, &frame, &Nobody)
        .expect_err("the document bomb");
    assert!(refused.to_string().contains("inflates"), "{refused}");
    let grown_kib = peak_rss_kib().saturating_sub(before);
    eprintln!("peak RSS grew by {grown_kib} KiB while refusing 1.25 GiB of bombs");
    assert!(grown_kib < 16 * 1024, "peak RSS grew by {grown_kib} KiB");
    assert!(doc.heads().is_empty(), "nothing was applied");
}
