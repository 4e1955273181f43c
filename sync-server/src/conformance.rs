//! The conformance suite of [`LogStore`]: every backend (SQLite,
//! PostgreSQL) must pass every case. Each case gets a function that opens
//! a fresh store, and opens the same one again when called again (a
//! restart). Run by `tests/store_conformance.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::store::{BlobChunk, BlobInfo, GatewayAnnouncement, LogStore, Quotas, StoreError, TokenRate};
use kith_proto::{BlobId, DeviceId, Envelope, EnvelopeId, LogId};

/// One case: its name and the function.
pub type Case = (&'static str, fn(&dyn Fn() -> Box<dyn LogStore>));

fn env(n: u8) -> Envelope {
    Envelope {
        id: EnvelopeId([n; 16]),
        epoch: 1,
        ciphertext: vec![n; 10],
    }
}

fn dev() -> DeviceId {
    DeviceId::from_bytes([7; 32])
}

fn quotas(per_log: u64) -> Quotas {
    Quotas {
        per_log,
        per_device: u64::MAX,
    }
}

/// A conformance case.
pub fn a_device_over_its_budget_stores_nothing_more(open: &dyn Fn() -> Box<dyn LogStore>) {
    let store = open();
    let budget = Quotas {
        per_log: 1000,
        per_device: 25,
    };
    store
        .append(&LogId([1; 32]), &[9; 32], &[env(1), env(2)], &dev(), budget, 1)
        .unwrap();
    // 20 bytes stored; 10 more in another log goes over 25.
    assert!(matches!(
        store.append(&LogId([2; 32]), &[9; 32], &[env(3)], &dev(), budget, 2),
        Err(StoreError::DeviceQuotaExceeded {
            would_hold: 30,
            quota: 25
        })
    ));
    assert!(matches!(
        store.last_seq(&LogId([2; 32]), &[9; 32]),
        Err(StoreError::NotFound)
    ));
    // Another device has its own budget; re-sending stored ids costs nothing.
    store
        .append(
            &LogId([2; 32]),
            &[9; 32],
            &[env(3)],
            &DeviceId::from_bytes([8; 32]),
            budget,
            3,
        )
        .unwrap();
    store
        .append(&LogId([1; 32]), &[9; 32], &[env(1)], &dev(), budget, 4)
        .unwrap();
}

fn chunk(blob: u8, total_bytes: u64, index: u32, bytes: &[u8]) -> BlobChunk<'_> {
    BlobChunk {
        blob: BlobId([blob; 32]),
        total_bytes,
        index,
        bytes,
    }
}

/// A conformance case.
pub fn blob_chunks_are_charged_once_and_go_with_their_log(open: &dyn Fn() -> Box<dyn LogStore>) {
    let store = open();
    let (log, cap) = (LogId([1; 32]), [9; 32]);
    store.append(&log, &cap, &[], &dev(), quotas(1000), 1).unwrap();
    let full = kith_proto::BLOB_CHUNK_BYTES + kith_proto::BLOB_CHUNK_OVERHEAD;
    let total = (full + 5) as u64;
    let big = vec![1u8; full];
    let generous = quotas(10 * full as u64);
    // The last chunk first, twice: stored and charged once.
    for _ in 0..2 {
        let out = store
            .blob_put_chunk(&log, &cap, chunk(3, total, 1, &[2; 5]), &dev(), generous, 2)
            .unwrap();
        assert!(!out.complete);
    }
    assert_eq!(store.device_stored(&dev()).unwrap(), 5);
    assert!(matches!(
        store.blob_get_chunk(&log, &cap, &BlobId([3; 32]), 1),
        Err(StoreError::BlobIncomplete { stored: 1, count: 2 })
    ));
    let out = store
        .blob_put_chunk(&log, &cap, chunk(3, total, 0, &big), &dev(), generous, 3)
        .unwrap();
    assert_eq!((out.complete, out.new_chunk, out.new_bytes), (true, true, full as u64));
    assert_eq!(store.device_stored(&dev()).unwrap(), total);
    assert_eq!(
        store.blob_stat(&log, &cap, &BlobId([3; 32])).unwrap(),
        BlobInfo {
            total_bytes: total,
            have: vec![0, 1]
        }
    );
    assert_eq!(store.blob_get_chunk(&log, &cap, &BlobId([3; 32]), 0).unwrap(), big);
    // The log's quota: a new blob must fit whole before anything is stored.
    let tight = Quotas {
        per_log: total + 10,
        per_device: u64::MAX,
    };
    assert!(matches!(
        store.blob_put_chunk(&log, &cap, chunk(4, 20, 0, &[0; 20]), &dev(), tight, 4),
        Err(StoreError::QuotaExceeded { would_hold, quota }) if would_hold == total + 20 && quota == total + 10
    ));
    assert!(matches!(
        store.blob_stat(&log, &cap, &BlobId([4; 32])),
        Err(StoreError::BlobNotFound)
    ));
    // An empty blob is one empty chunk, complete at once.
    let out = store
        .blob_put_chunk(&log, &cap, chunk(5, 0, 0, &[]), &dev(), tight, 5)
        .unwrap();
    assert!(out.complete);
    assert_eq!(
        store.blob_get_chunk(&log, &cap, &BlobId([5; 32]), 0).unwrap(),
        Vec::<u8>::new()
    );
    store.register(&log, &cap, &MANAGER, 6).unwrap();
    store.delete_log(&log, &MANAGER, 7).unwrap();
    assert!(matches!(
        store.blob_stat(&log, &cap, &BlobId([3; 32])),
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.device_stored(&dev()).unwrap(), 0, "the blob's bytes came back");
}

/// A manage key hash in these tests.
const MANAGER: [u8; 32] = [0xab; 32];

/// A conformance case.
pub fn compaction_and_deletion_give_each_device_its_bytes_back(open: &dyn Fn() -> Box<dyn LogStore>) {
    let store = open();
    let (log, cap) = (LogId([2; 32]), [9; 32]);
    let (alice, bob) = (DeviceId::from_bytes([1; 32]), DeviceId::from_bytes([2; 32]));
    let sized = |n: u8, len: usize| Envelope {
        id: EnvelopeId([n; 16]),
        epoch: 1,
        ciphertext: vec![n; len],
    };
    let roomy = quotas(1_000_000);
    store.register(&log, &cap, &MANAGER, 1).unwrap();
    store
        .append(&log, &cap, &[sized(1, 300), sized(2, 300)], &alice, roomy, 2)
        .unwrap();
    store.append(&log, &cap, &[sized(3, 200)], &bob, roomy, 3).unwrap();
    // Another log of bob's is untouched by what happens to this one.
    let other = LogId([3; 32]);
    store.append(&other, &cap, &[sized(4, 50)], &bob, roomy, 4).unwrap();
    assert_eq!(store.device_stored(&alice).unwrap(), 600);
    assert_eq!(store.device_stored(&bob).unwrap(), 250);
    // Compacting the first two entries frees 600 bytes of the log's 800:
    // each device gets back its share (3/4 of its bytes in the log).
    store.mark_superseded(&log, &MANAGER, 2, 5).unwrap();
    assert_eq!(store.sweep_superseded(5).unwrap(), 2);
    assert_eq!(store.device_stored(&alice).unwrap(), 150);
    assert_eq!(store.device_stored(&bob).unwrap(), 50 + 50);
    // Deleting the log gives back the rest.
    store.delete_log(&log, &MANAGER, 6).unwrap();
    assert_eq!(store.device_stored(&alice).unwrap(), 0);
    assert_eq!(store.device_stored(&bob).unwrap(), 50);
}

/// A conformance case.
pub fn only_the_registered_manager_deletes_or_compacts(open: &dyn Fn() -> Box<dyn LogStore>) {
    let store = open();
    let (log, cap) = (LogId([4; 32]), [9; 32]);
    store.append(&log, &cap, &[env(1)], &dev(), quotas(1000), 1).unwrap();
    assert!(matches!(
        store.delete_log(&log, &MANAGER, 2),
        Err(StoreError::Unmanaged)
    ));
    assert!(matches!(
        store.mark_superseded(&log, &MANAGER, 1, 2),
        Err(StoreError::Unmanaged)
    ));
    assert!(matches!(
        store.register(&log, &[8; 32], &MANAGER, 2),
        Err(StoreError::Forbidden)
    ));
    store.register(&log, &cap, &MANAGER, 2).unwrap();
    store.register(&log, &cap, &MANAGER, 3).unwrap();
    assert!(matches!(
        store.register(&log, &cap, &[0xcd; 32], 3),
        Err(StoreError::ManagedByAnother)
    ));
    assert!(matches!(store.delete_log(&log, &cap, 4), Err(StoreError::NotManager)));
    assert!(matches!(
        store.delete_log(&LogId([5; 32]), &MANAGER, 4),
        Err(StoreError::NotFound)
    ));
    store.delete_log(&log, &MANAGER, 4).unwrap();
    assert!(matches!(
        store.register(&log, &cap, &MANAGER, 5),
        Err(StoreError::Deleted)
    ));
}

/// A conformance case.
pub fn append_pull_idempotent_forbidden_quota(open: &dyn Fn() -> Box<dyn LogStore>) {
    let store = open();
    let log = LogId([1; 32]);
    let cap = [9; 32];
    let out = store
        .append(&log, &cap, &[env(1), env(2)], &dev(), quotas(1000), 1)
        .unwrap();
    assert_eq!(out.results, vec![(EnvelopeId([1; 16]), 1), (EnvelopeId([2; 16]), 2)]);
    let out = store
        .append(&log, &cap, &[env(2), env(3), env(3)], &dev(), quotas(1000), 2)
        .unwrap();
    assert_eq!(
        out.results,
        vec![
            (EnvelopeId([2; 16]), 2),
            (EnvelopeId([3; 16]), 3),
            (EnvelopeId([3; 16]), 3)
        ]
    );
    assert!(matches!(
        store.append(&log, &[8; 32], &[env(4)], &dev(), quotas(1000), 3),
        Err(StoreError::Forbidden)
    ));
    assert!(matches!(
        store.pull(&log, &[8; 32], 0, 10, usize::MAX),
        Err(StoreError::Forbidden)
    ));
    assert!(matches!(
        store.pull(&LogId([2; 32]), &cap, 0, 10, usize::MAX),
        Err(StoreError::NotFound)
    ));
    let pulled = store.pull(&log, &cap, 1, 1, usize::MAX).unwrap();
    assert_eq!(pulled.entries, vec![(2, env(2))]);
    assert!(pulled.more);
    let pulled = store.pull(&log, &cap, 0, 10, usize::MAX).unwrap();
    assert_eq!(pulled.entries.len(), 3);
    assert!(!pulled.more);
    // 30 bytes stored; 10 more is over a quota of 35 and stores nothing.
    assert!(matches!(
        store.append(&log, &cap, &[env(5)], &dev(), quotas(35), 4),
        Err(StoreError::QuotaExceeded { .. })
    ));
    assert_eq!(store.last_seq(&log, &cap).unwrap(), 3);
    // A retry of stored envelopes is acknowledged again even at the quota.
    let out = store
        .append(&log, &cap, &[env(3), env(1)], &dev(), quotas(35), 5)
        .unwrap();
    assert_eq!(out.results, vec![(EnvelopeId([3; 16]), 3), (EnvelopeId([1; 16]), 1)]);
    assert!(!out.appended);
    assert_eq!(store.last_seq(&log, &cap).unwrap(), 3);
    drop(store);
    let store = open();
    assert_eq!(store.last_seq(&log, &cap).unwrap(), 3);
}

/// A conformance case.
pub fn a_deleted_log_is_a_tombstone_and_a_cursor_past_the_end_says_so(open: &dyn Fn() -> Box<dyn LogStore>) {
    let store = open();
    let (log, cap) = (LogId([6; 32]), [6; 32]);
    store
        .append(&log, &cap, &[env(1), env(2)], &dev(), quotas(1000), 1)
        .unwrap();
    let past = store.pull(&log, &cap, 7, 10, usize::MAX).unwrap();
    assert!(
        past.entries.is_empty() && past.more,
        "a cursor past the end is told to start over"
    );
    store.register(&log, &cap, &MANAGER, 2).unwrap();
    store.delete_log(&log, &MANAGER, 2).unwrap();
    assert!(matches!(
        store.append(&log, &cap, &[env(3)], &dev(), quotas(1000), 3),
        Err(StoreError::Deleted)
    ));
    assert!(matches!(
        store.pull(&log, &cap, 0, 10, usize::MAX),
        Err(StoreError::NotFound)
    ));
    drop(store);
    let store = open();
    assert!(
        matches!(
            store.append(&log, &cap, &[env(3)], &dev(), quotas(1000), 4),
            Err(StoreError::Deleted)
        ),
        "the tombstone outlives a restart"
    );
}

/// A conformance case.
pub fn a_pull_stops_at_its_byte_budget_but_always_returns_one_entry(open: &dyn Fn() -> Box<dyn LogStore>) {
    let store = open();
    let (log, cap) = (LogId([7; 32]), [7; 32]);
    // Each test envelope holds 10 bytes of ciphertext.
    let envelopes: Vec<Envelope> = (1..=5).map(env).collect();
    store.append(&log, &cap, &envelopes, &dev(), quotas(1000), 1).unwrap();
    let pulled = store.pull(&log, &cap, 0, 100, 25).unwrap();
    assert_eq!(pulled.entries.len(), 2);
    assert!(pulled.more);
    let pulled = store.pull(&log, &cap, 0, 100, 1).unwrap();
    assert_eq!(pulled.entries.len(), 1, "one entry larger than the budget still goes");
    assert!(pulled.more);
}

/// Concurrent appends to one log (as from several gateways) get every
/// sequence number from 1 up exactly once, in commit order.
pub fn appends_from_many_threads_get_gapless_sequence_numbers(open: &dyn Fn() -> Box<dyn LogStore>) {
    let store: std::sync::Arc<dyn LogStore> = std::sync::Arc::from(open());
    let (log, cap) = (LogId([9; 32]), [9; 32]);
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for n in 0..25u8 {
                    let envelope = Envelope {
                        id: EnvelopeId([t, n, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
                        epoch: 1,
                        ciphertext: vec![t; 10],
                    };
                    let out = store
                        .append(
                            &log,
                            &cap,
                            &[envelope],
                            &DeviceId::from_bytes([t; 32]),
                            quotas(1_000_000),
                            1,
                        )
                        .unwrap();
                    seqs.push(out.results[0].1);
                }
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<u64>>());
    let pulled = store.pull(&log, &cap, 0, 1000, usize::MAX).unwrap();
    let seqs: Vec<u64> = pulled.entries.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
}

/// The new-device bucket of an address empties, refills with time, is its
/// own per address, and survives a restart (a second gateway on the same
/// database opens the same store).
pub fn a_new_device_bucket_is_shared_and_refills(open: &dyn Fn() -> Box<dyn LogStore>) {
    // Three at once, then one per second.
    let rate = TokenRate {
        per_second: 1.0,
        burst: 3.0,
    };
    let (alice, bob) = ([1; 32], [2; 32]);
    let store = open();
    let t0 = 1_000_000;
    for _ in 0..3 {
        assert!(store.take_token(&alice, rate, t0).unwrap());
    }
    assert!(!store.take_token(&alice, rate, t0).unwrap());
    assert!(store.take_token(&bob, rate, t0).unwrap());
    let again = open();
    assert!(!again.take_token(&alice, rate, t0 + 500).unwrap());
    // A second later one token is back, and only one.
    assert!(again.take_token(&alice, rate, t0 + 1_000).unwrap());
    assert!(!store.take_token(&alice, rate, t0 + 1_000).unwrap());
    // Long after, the bucket is full again (its row forgotten or refilled).
    for _ in 0..3 {
        assert!(store.take_token(&alice, rate, t0 + 60_000).unwrap());
    }
    assert!(!store.take_token(&alice, rate, t0 + 60_000).unwrap());
}

/// Gateways announce themselves; a later announcement replaces an earlier
/// one; the stale are left out; another gateway on the store sees them.
pub fn gateways_announce_themselves_to_each_other(open: &dyn Fn() -> Box<dyn LogStore>) {
    let gateway = |peer: &str, addresses: &[&str]| GatewayAnnouncement {
        peer_id: peer.to_owned(),
        addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
    };
    let first = open();
    let second = open();
    first
        .announce_gateway(&gateway("A", &["/ip4/10.0.0.1/tcp/1/p2p/A"]), 1_000)
        .unwrap();
    second
        .announce_gateway(
            &gateway("B", &["/ip4/10.0.0.2/tcp/2/p2p/B", "/ip6/::1/tcp/2/p2p/B"]),
            2_000,
        )
        .unwrap();
    first
        .announce_gateway(&gateway("A", &["/ip4/10.0.0.1/tcp/3/p2p/A"]), 3_000)
        .unwrap();
    assert_eq!(
        second.gateways(0).unwrap(),
        vec![
            gateway("A", &["/ip4/10.0.0.1/tcp/3/p2p/A"]),
            gateway("B", &["/ip4/10.0.0.2/tcp/2/p2p/B", "/ip6/::1/tcp/2/p2p/B"]),
        ]
    );
    assert_eq!(
        first.gateways(2_500).unwrap(),
        vec![gateway("A", &["/ip4/10.0.0.1/tcp/3/p2p/A"])]
    );
}

/// A conformance case.
pub fn a_username_is_claimed_found_released_and_suspended(open: &dyn Fn() -> Box<dyn LogStore>) {
    use crate::directory::ClaimOutcome;
    let store = open();
    let (name, other) = ([1u8; 32], [2u8; 32]);
    let (alice, mallory) = ([10u8; 32], [11u8; 32]);
    assert_eq!(store.find_name(&name).unwrap(), None);
    assert_eq!(
        store.claim_name(&name, b"first", &alice, &dev(), 1).unwrap(),
        ClaimOutcome::Claimed
    );
    assert!(matches!(
        store.claim_name(&name, b"mine", &mallory, &dev(), 2),
        Err(StoreError::Taken)
    ));
    assert_eq!(
        store.claim_name(&name, b"second", &alice, &dev(), 3).unwrap(),
        ClaimOutcome::Updated
    );
    let again = open();
    assert_eq!(again.find_name(&name).unwrap().as_deref(), Some(&b"second"[..]));
    assert!(matches!(
        again.release_name(&name, &mallory),
        Err(StoreError::NotManager)
    ));
    assert!(matches!(again.release_name(&other, &alice), Err(StoreError::NotFound)));
    again.release_name(&name, &alice).unwrap();
    assert_eq!(again.find_name(&name).unwrap(), None);
    // Free again: anyone may claim it; the operator may take it.
    again.claim_name(&name, b"mallory's", &mallory, &dev(), 4).unwrap();
    assert!(again.suspend_name(&name, 5).unwrap());
    assert_eq!(again.find_name(&name).unwrap(), None);
    assert!(matches!(
        again.claim_name(&name, b"back", &mallory, &dev(), 6),
        Err(StoreError::Suspended)
    ));
    assert!(matches!(
        again.release_name(&name, &mallory),
        Err(StoreError::Suspended)
    ));
    // A name nobody held is reserved as well.
    assert!(!again.suspend_name(&other, 7).unwrap());
    assert!(matches!(
        again.claim_name(&other, b"x", &alice, &dev(), 8),
        Err(StoreError::Suspended)
    ));
}

/// A conformance case.
pub fn an_inbox_belongs_to_its_device_and_takes_appends(open: &dyn Fn() -> Box<dyn LogStore>) {
    let store = open();
    let device = DeviceId::from_bytes([3; 32]);
    let log = LogId([30; 32]);
    assert_eq!(store.inbox(&device).unwrap(), None);
    store.open_inbox(&device, &log, &[31; 32], 1).unwrap();
    // Opening again is fine; another capability for the same log is not.
    store.open_inbox(&device, &log, &[31; 32], 2).unwrap();
    assert!(matches!(
        store.open_inbox(&DeviceId::from_bytes([4; 32]), &log, &[32; 32], 3),
        Err(StoreError::Forbidden)
    ));
    let (found, capability) = open().inbox(&device).unwrap().unwrap();
    assert_eq!((found, capability), (log, [31; 32]));
    store
        .append(&found, &capability, &[env(1)], &dev(), quotas(1000), 4)
        .unwrap();
    assert_eq!(store.last_seq(&log, &[31; 32]).unwrap(), 1);
    // Moving to a new log replaces the old one.
    store.open_inbox(&device, &LogId([33; 32]), &[34; 32], 5).unwrap();
    assert_eq!(store.inbox(&device).unwrap(), Some((LogId([33; 32]), [34; 32])));
}

/// A conformance case.
pub fn reports_are_kept_once_per_pair_and_suspensions_lift(open: &dyn Fn() -> Box<dyn LogStore>) {
    use crate::directory::AbuseReport;
    let store = open();
    let (spammer, alice, bob) = (
        DeviceId::from_bytes([5; 32]),
        DeviceId::from_bytes([6; 32]),
        DeviceId::from_bytes([8; 32]),
    );
    let report = |reporter: DeviceId, reason: &str, at_ms: u64| AbuseReport {
        reported: spammer,
        reporter,
        reason: reason.to_owned(),
        at_ms,
    };
    store.record_report(&report(alice, "spam", 1)).unwrap();
    store.record_report(&report(alice, "still spam", 2)).unwrap();
    store.record_report(&report(bob, "scam", 3)).unwrap();
    assert_eq!(
        open().reports(10).unwrap(),
        vec![report(bob, "scam", 3), report(alice, "still spam", 2)]
    );
    assert_eq!(store.reports(1).unwrap().len(), 1);
    assert!(!store.device_suspended(&spammer).unwrap());
    store.suspend_device(&spammer, "spam", 4).unwrap();
    assert!(open().device_suspended(&spammer).unwrap());
    assert!(!store.device_suspended(&alice).unwrap());
    assert!(store.lift_suspension(&spammer).unwrap());
    assert!(!store.lift_suspension(&spammer).unwrap());
    assert!(!store.device_suspended(&spammer).unwrap());
}

/// A conformance case.
pub fn a_nudge_is_due_once_per_absence_and_unsubscribes(open: &dyn Fn() -> Box<dyn LogStore>) {
    use crate::nudges::DueNudge;
    let store = open();
    let (alice, bob) = (DeviceId::from_bytes([3; 32]), DeviceId::from_bytes([4; 32]));
    let (hers, other) = (LogId([50; 32]), LogId([51; 32]));
    store.record_device(&alice, 1_000).unwrap();
    let address = "alice@example.org";
    assert_eq!(
        store
            .set_nudge(&alice, address, [1; 16], 5_000, &[hers], 1_000)
            .unwrap(),
        [1; 16]
    );
    // Changed again: the first token (in emails already sent) stays.
    assert_eq!(
        store
            .set_nudge(&alice, address, [2; 16], 5_000, &[hers], 1_000)
            .unwrap(),
        [1; 16]
    );
    assert!(store.due_nudges(10_000, 10).unwrap().is_empty(), "nothing waits");
    store
        .append(&other, &[9; 32], &[env(1)], &bob, quotas(1000), 2_000)
        .unwrap();
    assert!(store.due_nudges(10_000, 10).unwrap().is_empty(), "not one of her logs");
    store
        .append(&hers, &[9; 32], &[env(2)], &bob, quotas(1000), 2_000)
        .unwrap();
    assert!(store.due_nudges(5_999, 10).unwrap().is_empty(), "not away long enough");
    assert_eq!(
        store.due_nudges(6_000, 10).unwrap(),
        vec![DueNudge {
            device: alice,
            address: address.to_owned(),
            token: [1; 16]
        }]
    );
    assert!(store.claim_nudge(&alice, 6_000).unwrap());
    assert!(!open().claim_nudge(&alice, 6_001).unwrap(), "one email per absence");
    assert!(store.due_nudges(20_000, 10).unwrap().is_empty());
    // Back, then away again with something new: due again.
    store.touch_devices(&[alice], 21_000).unwrap();
    store
        .append(&hers, &[9; 32], &[env(3)], &bob, quotas(1000), 22_000)
        .unwrap();
    assert!(store.due_nudges(25_999, 10).unwrap().is_empty());
    assert_eq!(store.due_nudges(26_000, 10).unwrap().len(), 1);
    assert!(store.has_nudge(&alice).unwrap());
    assert!(store.unsubscribe(&[1; 16]).unwrap());
    assert!(!store.unsubscribe(&[1; 16]).unwrap());
    assert!(!store.has_nudge(&alice).unwrap());
    assert!(store.due_nudges(30_000, 10).unwrap().is_empty());
    assert!(!store.stop_nudges(&alice).unwrap());
}

/// Every case.
pub const CASES: &[Case] = &[
    (
        "a_nudge_is_due_once_per_absence_and_unsubscribes",
        a_nudge_is_due_once_per_absence_and_unsubscribes,
    ),
    (
        "a_username_is_claimed_found_released_and_suspended",
        a_username_is_claimed_found_released_and_suspended,
    ),
    (
        "an_inbox_belongs_to_its_device_and_takes_appends",
        an_inbox_belongs_to_its_device_and_takes_appends,
    ),
    (
        "reports_are_kept_once_per_pair_and_suspensions_lift",
        reports_are_kept_once_per_pair_and_suspensions_lift,
    ),
    (
        "gateways_announce_themselves_to_each_other",
        gateways_announce_themselves_to_each_other,
    ),
    (
        "a_new_device_bucket_is_shared_and_refills",
        a_new_device_bucket_is_shared_and_refills,
    ),
    (
        "a_device_over_its_budget_stores_nothing_more",
        a_device_over_its_budget_stores_nothing_more,
    ),
    (
        "blob_chunks_are_charged_once_and_go_with_their_log",
        blob_chunks_are_charged_once_and_go_with_their_log,
    ),
    (
        "compaction_and_deletion_give_each_device_its_bytes_back",
        compaction_and_deletion_give_each_device_its_bytes_back,
    ),
    (
        "only_the_registered_manager_deletes_or_compacts",
        only_the_registered_manager_deletes_or_compacts,
    ),
    (
        "append_pull_idempotent_forbidden_quota",
        append_pull_idempotent_forbidden_quota,
    ),
    (
        "a_deleted_log_is_a_tombstone_and_a_cursor_past_the_end_says_so",
        a_deleted_log_is_a_tombstone_and_a_cursor_past_the_end_says_so,
    ),
    (
        "a_pull_stops_at_its_byte_budget_but_always_returns_one_entry",
        a_pull_stops_at_its_byte_budget_but_always_returns_one_entry,
    ),
    (
        "appends_from_many_threads_get_gapless_sequence_numbers",
        appends_from_many_threads_get_gapless_sequence_numbers,
    ),
];
