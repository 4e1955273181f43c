//! End-to-end tests against the real `kith-server` binary on 127.0.0.1.

#![warn(clippy::too_many_lines)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use common::*;
use ed25519_dalek::Signer;
use kith_proto::{
    BLOB_CHUNK_BYTES, BLOB_CHUNK_OVERHEAD, BlobId, Capability, ClientFrame, ErrorCode, LogId, MAX_BLOB_BYTES,
    MAX_ENVELOPE_BYTES, MAX_FRAME_BYTES, ManageKey, ServerFrame, auth_message, blob_chunk_count, blob_chunk_len,
};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn error_code(frame: &ServerFrame) -> Option<ErrorCode> {
    match frame {
        ServerFrame::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[test]
fn healthz_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok"), "{response}");
}

fn http_get(addr: &str, path: &str) -> String {
    http_get_with(addr, path, "")
}

/// `GET path` with extra header lines (each ending in `\r\n`).
fn http_get_with(addr: &str, path: &str, headers: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n").as_bytes())
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[tokio::test]
async fn metrics_count_traffic_without_naming_logs_or_devices() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    assert!(matches!(
        alice.push(vec![envelope(1, b"one"), envelope(2, b"two")]).await,
        ServerFrame::Pushed { .. }
    ));
    // A repeated envelope is not stored (or counted) twice.
    assert!(matches!(
        alice.push(vec![envelope(2, b"two")]).await,
        ServerFrame::Pushed { .. }
    ));
    alice.pull_all().await;
    alice.send_text("not a frame").await;
    assert_eq!(error_code(&alice.recv().await), Some(ErrorCode::Malformed));
    let response = http_get(&server.addr, "/metrics");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for line in [
        "kith_envelopes_stored_total 2",
        "kith_authenticated_total 1",
        "kith_pulls_total 1",
        "kith_errors_total 1",
        "kith_connections_open 1",
    ] {
        assert!(response.contains(line), "missing {line:?} in {response}");
    }
    let device_hex: String = device(&key(1)).as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!response.contains(&device_hex) && !response.contains(&device(&key(1)).to_string()));
}

#[tokio::test]
async fn a_device_over_its_write_budget_gets_quota_exceeded_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--device-quota-bytes", "150"]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    let mut bob = Client::authed(&server.addr, &key(2)).await;
    assert!(matches!(
        alice.push(vec![envelope(1, &[1; 100])]).await,
        ServerFrame::Pushed { .. }
    ));
    let refused = alice.push(vec![envelope(2, &[2; 100])]).await;
    assert_eq!(error_code(&refused), Some(ErrorCode::QuotaExceeded), "{refused:?}");
    assert!(matches!(
        bob.push(vec![envelope(3, &[3; 100])]).await,
        ServerFrame::Pushed { .. }
    ));
    assert_eq!(
        alice.pull_all().await.len(),
        2,
        "alice's refused envelope was not stored"
    );
}

#[tokio::test]
async fn a_devices_budget_comes_back_when_its_entries_are_compacted_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--device-quota-bytes", "1000", "--compaction-grace-secs", "0"],
    );
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    let full = |n: u32| envelope(n, &[n as u8; 900]);
    assert!(matches!(alice.push(vec![full(1)]).await, ServerFrame::Pushed { .. }));
    let refused = alice.push(vec![envelope(2, &[2; 200])]).await;
    assert_eq!(error_code(&refused), Some(ErrorCode::QuotaExceeded), "{refused:?}");

    // The manager compacts the first entry away: its bytes come back.
    assert_eq!(alice.register().await, ServerFrame::Registered { log: LOG });
    alice
        .send(&ClientFrame::Compact {
            log: LOG,
            manage: MANAGE,
            through_seq: 1,
        })
        .await;
    assert!(matches!(alice.recv().await, ServerFrame::Compacted { .. }));
    assert!(matches!(
        alice.push(vec![envelope(2, &[2; 200])]).await,
        ServerFrame::Pushed { .. }
    ));

    // 200 bytes stored: another log's 900 do not fit until this log goes.
    let other = LogId([0x12; 32]);
    let push_other = |n| ClientFrame::Push {
        log: other,
        capability: CAP,
        envelopes: vec![full(n)],
    };
    alice.send(&push_other(3)).await;
    assert_eq!(error_code(&alice.recv().await), Some(ErrorCode::QuotaExceeded));
    assert_eq!(alice.delete(MANAGE).await, ServerFrame::Deleted { log: LOG });
    alice.send(&push_other(3)).await;
    assert!(matches!(alice.recv().await, ServerFrame::Pushed { .. }));
}

#[tokio::test]
async fn push_then_pull_in_order_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    let batch = vec![envelope(1, b"one"), envelope(2, b"two"), envelope(3, b"three")];
    match alice.push(batch.clone()).await {
        ServerFrame::Pushed { log, results } => {
            assert_eq!(log, LOG);
            assert_eq!(results, vec![(batch[0].id, 1), (batch[1].id, 2), (batch[2].id, 3)]);
        }
        other => panic!("{other:?}"),
    }
    // Re-push (with one new envelope): old ids keep their seqs, nothing duplicated.
    match alice.push(vec![envelope(2, b"two"), envelope(4, b"four")]).await {
        ServerFrame::Pushed { results, .. } => {
            assert_eq!(results, vec![(batch[1].id, 2), (envelope(4, b"").id, 4)]);
        }
        other => panic!("{other:?}"),
    }
    let all = alice.pull_all().await;
    let seqs: Vec<u64> = all.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    assert_eq!(all[0].1, batch[0]);
    assert_eq!(all[2].1, batch[2]);
    // Pull after a cursor, from another device holding the capability.
    let mut bob = Client::authed(&server.addr, &key(2)).await;
    match bob.pull(LOG, CAP, 2).await {
        ServerFrame::Entries { entries, more, .. } => {
            assert_eq!(entries.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![3, 4]);
            assert!(!more);
        }
        other => panic!("{other:?}"),
    }
    bob.send(&ClientFrame::Pull {
        log: LOG,
        capability: CAP,
        after_seq: 0,
        limit: 2,
    })
    .await;
    match bob.recv().await {
        ServerFrame::Entries { entries, more, .. } => {
            assert_eq!(entries.len(), 2);
            assert!(more);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn subscriber_gets_appended_pokes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    assert!(matches!(
        alice.push(vec![envelope(1, b"x")]).await,
        ServerFrame::Pushed { .. }
    ));
    let mut bob = Client::authed(&server.addr, &key(2)).await;
    bob.send(&ClientFrame::Subscribe {
        log: LOG,
        capability: CAP,
    })
    .await;
    assert_eq!(bob.recv().await, ServerFrame::Subscribed { log: LOG, last_seq: 1 });
    assert!(matches!(
        alice.push(vec![envelope(2, b"y")]).await,
        ServerFrame::Pushed { .. }
    ));
    assert_eq!(bob.recv().await, ServerFrame::Appended { log: LOG, seq: 2 });
    assert!(matches!(
        alice.push(vec![envelope(3, b"z"), envelope(4, b"w")]).await,
        ServerFrame::Pushed { .. }
    ));
    assert_eq!(bob.recv().await, ServerFrame::Appended { log: LOG, seq: 4 });
    // A re-push appends nothing and pokes nobody: the next frame bob sees is his Pong.
    assert!(matches!(
        alice.push(vec![envelope(4, b"w")]).await,
        ServerFrame::Pushed { .. }
    ));
    bob.ping(5).await;
    // Subscribing with a wrong capability is refused.
    bob.send(&ClientFrame::Subscribe {
        log: LOG,
        capability: Capability([0; 32]),
    })
    .await;
    assert_eq!(error_code(&bob.recv().await), Some(ErrorCode::Forbidden));
}

#[tokio::test]
async fn wrong_capability_is_forbidden_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    assert!(matches!(
        alice.push(vec![envelope(1, b"a")]).await,
        ServerFrame::Pushed { .. }
    ));
    let mut mallory = Client::authed(&server.addr, &key(9)).await;
    mallory
        .send(&ClientFrame::Push {
            log: LOG,
            capability: Capability([0x33; 32]),
            envelopes: vec![envelope(2, b"evil")],
        })
        .await;
    assert_eq!(error_code(&mallory.recv().await), Some(ErrorCode::Forbidden));
    assert_eq!(
        error_code(&mallory.pull(LOG, Capability([0x33; 32]), 0).await),
        Some(ErrorCode::Forbidden)
    );
    // The log id alone (with the capability hash as capability) is not enough either.
    let hash = Capability(*blake3::hash(&CAP.0).as_bytes());
    assert_eq!(
        error_code(&mallory.pull(LOG, hash, 0).await),
        Some(ErrorCode::Forbidden)
    );
    mallory.ping(1).await;
    let all = alice.pull_all().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].1, envelope(1, b"a"));
}

#[tokio::test]
async fn unknown_log_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    assert_eq!(
        error_code(&alice.pull(LogId([0x77; 32]), CAP, 0).await),
        Some(ErrorCode::NotFound)
    );
    alice.ping(2).await;
}

#[tokio::test]
async fn a_subscription_may_wait_for_its_log_and_a_wrong_capability_gets_no_pokes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut mallory, mut bob) = (
        Client::authed(&server.addr, &key(1)).await,
        Client::authed(&server.addr, &key(3)).await,
        Client::authed(&server.addr, &key(2)).await,
    );
    let later = LogId([0x78; 32]);
    let subscribe = |capability| ClientFrame::Subscribe { log: later, capability };
    alice.send(&subscribe(CAP)).await;
    assert_eq!(
        alice.recv().await,
        ServerFrame::Subscribed {
            log: later,
            last_seq: 0
        }
    );
    mallory.send(&subscribe(Capability([0x99; 32]))).await;
    assert_eq!(
        mallory.recv().await,
        ServerFrame::Subscribed {
            log: later,
            last_seq: 0
        }
    );
    bob.send(&ClientFrame::Push {
        log: later,
        capability: CAP,
        envelopes: vec![envelope(1, b"first")],
    })
    .await;
    assert!(matches!(bob.recv().await, ServerFrame::Pushed { .. }));
    assert_eq!(alice.recv().await, ServerFrame::Appended { log: later, seq: 1 });
    // Mallory's capability does not match the one the first push set: no
    // poke reaches it (its next frame is the answer to its ping).
    mallory.ping(5).await;
    assert_eq!(
        error_code(&mallory.pull(later, Capability([0x99; 32]), 0).await),
        Some(ErrorCode::Forbidden)
    );
}

#[tokio::test]
async fn malformed_bytes_get_malformed_and_connection_survives() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    alice.send_raw(vec![0xff, 0x00, 0x13, 0x37]).await;
    assert_eq!(error_code(&alice.recv().await), Some(ErrorCode::Malformed));
    alice.send_raw(Vec::new()).await;
    assert_eq!(error_code(&alice.recv().await), Some(ErrorCode::Malformed));
    alice.send_text("hello").await;
    assert_eq!(error_code(&alice.recv().await), Some(ErrorCode::Malformed));
    alice.ping(7).await;
}

#[tokio::test]
async fn oversize_frame_and_envelope_are_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    alice.send_raw(vec![0u8; MAX_FRAME_BYTES + 1]).await;
    assert_eq!(error_code(&alice.recv().await), Some(ErrorCode::TooLarge));
    alice.ping(1).await;
    match alice.push(vec![envelope(1, &vec![1u8; MAX_ENVELOPE_BYTES + 1])]).await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::TooLarge),
        other => panic!("{other:?}"),
    }
    let many: Vec<_> = (0..1001).map(|i| envelope(i, b"")).collect();
    assert_eq!(error_code(&alice.push(many).await), Some(ErrorCode::TooLarge));
    alice.ping(2).await;
    // Nothing was stored: the log does not even exist.
    assert_eq!(error_code(&alice.pull(LOG, CAP, 0).await), Some(ErrorCode::NotFound));
    // A message far past the frame limit closes the connection unread.
    // (The write itself may fail: the server stops reading at the header.)
    let _ = alice.try_send_raw(vec![0u8; 2 * MAX_FRAME_BYTES]).await;
    let closed = loop {
        match alice.try_recv().await {
            None => break true,
            Some(ServerFrame::Error { .. }) => break false,
            Some(_) => continue,
        }
    };
    assert!(closed, "a 2 MiB message should close the connection");
}

#[tokio::test]
async fn quota_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--quota-bytes", "100"]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    assert!(matches!(
        alice.push(vec![envelope(1, &[1; 60])]).await,
        ServerFrame::Pushed { .. }
    ));
    assert_eq!(
        error_code(&alice.push(vec![envelope(2, &[2; 60])]).await),
        Some(ErrorCode::QuotaExceeded)
    );
    assert_eq!(alice.pull_all().await.len(), 1);
}

#[tokio::test]
async fn unauthenticated_requests_and_bad_signature_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut anon = Client::connect(&server.addr).await;
    anon.send(&ClientFrame::Push {
        log: LOG,
        capability: CAP,
        envelopes: vec![envelope(1, b"x")],
    })
    .await;
    assert_eq!(error_code(&anon.recv().await), Some(ErrorCode::Unauthenticated));
    assert_eq!(
        error_code(&anon.pull(LOG, CAP, 0).await),
        Some(ErrorCode::Unauthenticated)
    );

    // Signed by a different key than the claimed device.
    let mut forger = Client::connect(&server.addr).await;
    let timestamp_ms = now_ms();
    let signature = key(2).sign(&auth_message(&forger.audience, &forger.nonce, timestamp_ms));
    forger
        .send(&ClientFrame::Auth {
            device: device(&key(1)),
            timestamp_ms,
            nonce: forger.nonce,
            signature: signature.to_bytes().to_vec(),
        })
        .await;
    assert_eq!(error_code(&forger.recv().await), Some(ErrorCode::Unauthenticated));
    assert_eq!(forger.try_recv().await, None, "connection must close");

    // Wrong audience.
    let mut other = Client::connect(&server.addr).await;
    let signature = key(1).sign(&auth_message("another-server", &other.nonce, timestamp_ms));
    other
        .send(&ClientFrame::Auth {
            device: device(&key(1)),
            timestamp_ms,
            nonce: other.nonce,
            signature: signature.to_bytes().to_vec(),
        })
        .await;
    assert_eq!(error_code(&other.recv().await), Some(ErrorCode::Unauthenticated));

    // Stale timestamp.
    let mut stale = Client::connect(&server.addr).await;
    let old = now_ms() - 10 * 60 * 1000;
    let signature = key(1).sign(&auth_message(&stale.audience, &stale.nonce, old));
    stale
        .send(&ClientFrame::Auth {
            device: device(&key(1)),
            timestamp_ms: old,
            nonce: stale.nonce,
            signature: signature.to_bytes().to_vec(),
        })
        .await;
    assert_eq!(error_code(&stale.recv().await), Some(ErrorCode::Unauthenticated));

    // Nothing was stored by any of them.
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    assert_eq!(error_code(&alice.pull(LOG, CAP, 0).await), Some(ErrorCode::NotFound));
}

#[tokio::test]
async fn replayed_auth_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut first = Client::connect(&server.addr).await;
    let auth = first.auth_frame(&key(1));
    first.send(&auth).await;
    assert_eq!(first.recv().await, ServerFrame::Authenticated);

    // The same Auth frame, byte for byte, on a new connection (with a new nonce).
    let mut second = Client::connect(&server.addr).await;
    assert_ne!(second.nonce, first.nonce);
    second.send(&auth).await;
    assert_eq!(error_code(&second.recv().await), Some(ErrorCode::Unauthenticated));
    assert_eq!(second.try_recv().await, None, "connection must close");

    // Same signature with the nonce field rewritten to the new connection's nonce.
    let mut third = Client::connect(&server.addr).await;
    let ClientFrame::Auth {
        device,
        timestamp_ms,
        signature,
        ..
    } = auth.clone()
    else {
        unreachable!()
    };
    third
        .send(&ClientFrame::Auth {
            device,
            timestamp_ms,
            nonce: third.nonce,
            signature,
        })
        .await;
    assert_eq!(error_code(&third.recv().await), Some(ErrorCode::Unauthenticated));
    first.ping(1).await;
}

#[tokio::test]
async fn flooding_client_is_rate_limited_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut flooder = Client::authed(&server.addr, &key(1)).await;
    let mut polite = Client::authed(&server.addr, &key(2)).await;
    // The burst (400) and then fewer refusals in a row than close the
    // connection (100).
    const N: u64 = 450;
    for id in 0..N {
        flooder.send(&ClientFrame::Ping { id }).await;
    }
    let mut limited = 0;
    let mut pongs = 0;
    for _ in 0..N {
        match flooder.recv().await {
            ServerFrame::Pong { .. } => pongs += 1,
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                retryable,
                ..
            } => {
                assert!(retryable);
                limited += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(limited > 0, "no RateLimited among {N} answers");
    assert!(pongs >= 400, "burst should be served, got {pongs}");
    polite.ping(1).await;
    assert!(matches!(
        polite.push(vec![envelope(1, b"ok")]).await,
        ServerFrame::Pushed { .. }
    ));
    // The flooder recovers once tokens refill.
    tokio::time::sleep(Duration::from_millis(200)).await;
    flooder.ping(99).await;

    // A client that keeps sending into the refusals is disconnected; the
    // others go on.
    for id in 0..3000 {
        if !flooder.try_send_raw(ClientFrame::Ping { id }.encode().unwrap()).await {
            break;
        }
    }
    let mut answers = 0;
    while flooder.try_recv().await.is_some() {
        answers += 1;
    }
    assert!(answers < 3000, "the flooder was never disconnected");
    polite.ping(2).await;
    // It owes ten seconds of its rate: signing in again at once is refused.
    let mut again = Client::connect(&server.addr).await;
    let auth = again.auth_frame(&key(1));
    again.send(&auth).await;
    assert_eq!(error_code(&again.recv().await), Some(ErrorCode::RateLimited));
    assert_eq!(again.try_recv().await, None, "and the connection closes");
}

#[tokio::test]
async fn acknowledged_pushes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let acked_writer = acked.clone();
    let pusher = tokio::spawn(async move {
        for i in 0..100_000u32 {
            alice
                .send(&ClientFrame::Push {
                    log: LOG,
                    capability: CAP,
                    envelopes: vec![envelope(i, &i.to_be_bytes().repeat(64))],
                })
                .await;
            match alice.try_recv().await {
                Some(ServerFrame::Pushed { results, .. }) => acked_writer.lock().unwrap().extend(results),
                Some(ServerFrame::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Some(other) => panic!("{other:?}"),
                None => return,
            }
        }
    });
    // Let some pushes be acknowledged, then kill the server mid-stream.
    for _ in 0..200 {
        if acked.lock().unwrap().len() >= 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    let _ = tokio::time::timeout(Duration::from_secs(15), pusher).await;
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 50, "only {} pushes acknowledged", acked.len());

    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    let stored = alice.pull_all().await;
    for (id, seq) in &acked {
        let found = stored.iter().find(|(_, e)| e.id == *id);
        assert_eq!(found.map(|(s, _)| *s), Some(*seq), "acknowledged envelope lost");
    }
    // Seqs are gapless from 1.
    for (index, (seq, _)) in stored.iter().enumerate() {
        assert_eq!(*seq, index as u64 + 1);
    }
}

#[tokio::test]
async fn data_dir_never_contains_plaintext() {
    const SECRET: &[u8] = b"the eagle lands at midnight 4f1c9e";
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    let cipher = XChaCha20Poly1305::new(&[0x42; 32].into());
    let mut envelopes = Vec::new();
    for i in 0..20u32 {
        let nonce = XNonce::from([i as u8; 24]);
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend(cipher.encrypt(&nonce, SECRET).unwrap());
        envelopes.push(envelope(i, &ciphertext));
    }
    assert!(matches!(
        alice.push(envelopes.clone()).await,
        ServerFrame::Pushed { .. }
    ));
    let stored = alice.pull_all().await;
    assert_eq!(stored.len(), 20);
    let (nonce, body) = stored[3].1.ciphertext.split_at(24);
    assert_eq!(cipher.decrypt(XNonce::from_slice(nonce), body).unwrap(), SECRET);

    let check = |when: &str| {
        let files = read_all_files(dir.path());
        assert!(!files.is_empty());
        for (path, bytes) in files {
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET),
                "{when}: plaintext found in {}",
                path.display()
            );
        }
    };
    check("while running");
    server.kill9();
    check("after stop");
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    assert!(matches!(
        alice.push(vec![envelope(1, b"x")]).await,
        ServerFrame::Pushed { .. }
    ));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The open WebSocket is closed by the server.
    assert_eq!(alice.try_recv().await, None);
    let exit = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().unwrap();
        (status, server)
    })
    .await
    .unwrap();
    assert!(exit.0.success(), "exit status {:?}", exit.0);
}

#[tokio::test]
async fn signals_reach_other_subscribers_only_and_are_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob, mut mallory) = (
        Client::authed(&server.addr, &key(1)).await,
        Client::authed(&server.addr, &key(2)).await,
        Client::authed(&server.addr, &key(3)).await,
    );
    assert!(matches!(
        alice.push(vec![envelope(1, b"stored")]).await,
        ServerFrame::Pushed { .. }
    ));
    for client in [&mut alice, &mut bob] {
        client
            .send(&ClientFrame::Subscribe {
                log: LOG,
                capability: CAP,
            })
            .await;
        assert!(matches!(client.recv().await, ServerFrame::Subscribed { .. }));
    }
    let signal = |capability, payload: &[u8]| ClientFrame::Signal {
        log: LOG,
        capability,
        payload: payload.to_vec(),
    };
    alice.send(&signal(CAP, b"typing")).await;
    assert_eq!(skip_pokes(&mut alice).await, ServerFrame::SignalSent { log: LOG });
    assert_eq!(
        skip_pokes(&mut bob).await,
        ServerFrame::Signal {
            log: LOG,
            payload: b"typing".to_vec()
        }
    );
    // Not echoed to the sender, not delivered to a non-subscriber.
    alice.send(&ClientFrame::Ping { id: 1 }).await;
    assert_eq!(skip_pokes(&mut alice).await, ServerFrame::Pong { id: 1 });
    mallory.ping(2).await;
    // A wrong capability and an oversize payload are refused.
    mallory.send(&signal(Capability([0x99; 32]), b"spoof")).await;
    assert_eq!(error_code(&mallory.recv().await), Some(ErrorCode::Forbidden));
    alice
        .send(&signal(CAP, &vec![0; kith_proto::MAX_SIGNAL_BYTES + 1]))
        .await;
    assert_eq!(error_code(&skip_pokes(&mut alice).await), Some(ErrorCode::TooLarge));
    bob.send(&ClientFrame::Ping { id: 3 }).await;
    assert_eq!(skip_pokes(&mut bob).await, ServerFrame::Pong { id: 3 });
    // The log still holds only the one stored envelope.
    assert_eq!(alice.pull_all().await.len(), 1);
    drop(server);
    for (path, bytes) in read_all_files(dir.path()) {
        assert!(
            !bytes.windows(6).any(|w| w == b"typing"),
            "{} holds a signal",
            path.display()
        );
    }
}

/// The next frame that is not an `Appended` poke (pokes for the setup push
/// may arrive at any point after subscribing).
async fn skip_pokes(client: &mut Client) -> ServerFrame {
    loop {
        match client.recv().await {
            ServerFrame::Appended { .. } => continue,
            other => return other,
        }
    }
}

#[tokio::test]
async fn a_log_is_deleted_only_by_its_manager_and_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    let secret_body = b"envelope-body-to-forget";
    assert!(matches!(
        alice.push(vec![envelope(1, secret_body), envelope(2, b"second")]).await,
        ServerFrame::Pushed { .. }
    ));
    // Nobody manages the log yet: no key deletes it, not even the capability.
    let mut mallory = Client::authed(&server.addr, &key(3)).await;
    assert_eq!(
        error_code(&mallory.delete(ManageKey(CAP.0)).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(error_code(&mallory.delete(MANAGE).await), Some(ErrorCode::Forbidden));
    assert_eq!(alice.register().await, ServerFrame::Registered { log: LOG });
    // Registering again is idempotent; another manager cannot take over,
    // and a registration needs the log's capability.
    assert_eq!(alice.register().await, ServerFrame::Registered { log: LOG });
    let take_over = |capability| ClientFrame::Register {
        log: LOG,
        capability,
        manager: manager_of(&ManageKey([0x77; 32])),
    };
    mallory.send(&take_over(CAP)).await;
    assert_eq!(error_code(&mallory.recv().await), Some(ErrorCode::Forbidden));
    mallory.send(&take_over(Capability([0x99; 32]))).await;
    assert_eq!(error_code(&mallory.recv().await), Some(ErrorCode::Forbidden));
    // A member holding the read/append capability cannot delete.
    for wrong in [ManageKey(CAP.0), ManageKey([0x77; 32]), ManageKey(manager_of(&MANAGE))] {
        assert_eq!(error_code(&mallory.delete(wrong).await), Some(ErrorCode::Forbidden));
    }
    assert_eq!(alice.pull_all().await.len(), 2, "a refused delete deletes nothing");
    assert_eq!(mallory.delete(MANAGE).await, ServerFrame::Deleted { log: LOG });
    assert_eq!(error_code(&alice.pull(LOG, CAP, 0).await), Some(ErrorCode::NotFound));
    // The id stays a tombstone: it cannot be filled again from seq 1, nor
    // registered again.
    assert_eq!(
        error_code(&alice.push(vec![envelope(3, b"again")]).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(error_code(&alice.register().await), Some(ErrorCode::Forbidden));
    drop(server);
    for (path, bytes) in read_all_files(dir.path()) {
        assert!(
            !bytes.windows(secret_body.len()).any(|w| w == secret_body),
            "{} still holds a deleted envelope",
            path.display()
        );
    }
}

#[tokio::test]
async fn a_registration_creates_the_log_so_nobody_can_claim_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    assert_eq!(alice.register().await, ServerFrame::Registered { log: LOG });
    // The new, empty log is the capability's: another capability neither
    // pushes to it nor reads it.
    alice
        .send(&ClientFrame::Push {
            log: LOG,
            capability: Capability([0x99; 32]),
            envelopes: vec![envelope(1, b"x")],
        })
        .await;
    assert_eq!(error_code(&alice.recv().await), Some(ErrorCode::Forbidden));
    assert_eq!(alice.pull_all().await, Vec::new());
    assert!(matches!(
        alice.push(vec![envelope(1, b"first")]).await,
        ServerFrame::Pushed { .. }
    ));
    assert_eq!(alice.pull_all().await.len(), 1);
}

#[tokio::test]
async fn compaction_deletes_superseded_entries_after_the_grace_period_only() {
    let dir = tempfile::tempdir().unwrap();
    // No grace: superseded entries go at once.
    let server = Server::start(dir.path(), &["--compaction-grace-secs", "0"]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    for n in 1..=5 {
        assert!(matches!(
            alice.push(vec![envelope(n, format!("old entry {n}").as_bytes())]).await,
            ServerFrame::Pushed { .. }
        ));
    }
    assert!(matches!(
        alice.push(vec![envelope(6, b"snapshot")]).await,
        ServerFrame::Pushed { .. }
    ));
    let compact = |manage, through_seq| ClientFrame::Compact {
        log: LOG,
        manage,
        through_seq,
    };
    // Compaction deletes entries: the capability is not enough, before or
    // after the manager registered.
    alice.send(&compact(ManageKey(CAP.0), 5)).await;
    assert_eq!(error_code(&alice.recv().await), Some(ErrorCode::Forbidden));
    assert_eq!(alice.register().await, ServerFrame::Registered { log: LOG });
    alice.send(&compact(ManageKey(CAP.0), 5)).await;
    assert_eq!(error_code(&alice.recv().await), Some(ErrorCode::Forbidden));
    alice.send(&compact(MANAGE, 99)).await;
    assert_eq!(
        error_code(&alice.recv().await),
        Some(ErrorCode::Malformed),
        "past the end"
    );
    assert_eq!(alice.pull_all().await.len(), 6, "refused compactions change nothing");
    alice.send(&compact(MANAGE, 5)).await;
    assert_eq!(
        alice.recv().await,
        ServerFrame::Compacted {
            log: LOG,
            through_seq: 5
        }
    );
    let left = alice.pull_all().await;
    assert_eq!(left.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), vec![6]);
    // New entries continue the sequence.
    match alice.push(vec![envelope(7, b"after")]).await {
        ServerFrame::Pushed { results, .. } => assert_eq!(results[0].1, 7),
        other => panic!("{other:?}"),
    }
    drop(server);
    for (path, bytes) in read_all_files(dir.path()) {
        assert!(
            !bytes.windows(9).any(|w| w == b"old entry"),
            "{} holds a superseded entry",
            path.display()
        );
    }

    // With a grace period, superseded entries stay readable until it passes.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--compaction-grace-secs", "3600"]);
    let mut bob = Client::authed(&server.addr, &key(2)).await;
    for n in 1..=3 {
        assert!(matches!(
            bob.push(vec![envelope(n, b"kept")]).await,
            ServerFrame::Pushed { .. }
        ));
    }
    assert_eq!(bob.register().await, ServerFrame::Registered { log: LOG });
    bob.send(&compact(MANAGE, 2)).await;
    assert_eq!(
        bob.recv().await,
        ServerFrame::Compacted {
            log: LOG,
            through_seq: 2
        }
    );
    assert_eq!(bob.pull_all().await.len(), 3, "still there during the grace period");
}

// ---------------------------------------------------------------- blobs

/// Ciphertext size of a full blob chunk.
const FULL: usize = BLOB_CHUNK_BYTES + BLOB_CHUNK_OVERHEAD;
const BLOB: BlobId = BlobId([0x44; 32]);
const WRONG: Capability = Capability([0x33; 32]);

/// Random-looking bytes standing in for ciphertext, different for every seed.
fn noise(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// The chunks of a blob of `total` bytes of noise.
fn noise_chunks(seed: &str, total: u64) -> Vec<Vec<u8>> {
    (0..blob_chunk_count(total))
        .map(|index| noise(&format!("{seed}/{index}"), blob_chunk_len(total, index).unwrap()))
        .collect()
}

async fn blob_put(
    client: &mut Client,
    (log, capability): (LogId, Capability),
    blob: BlobId,
    total_bytes: u64,
    index: u32,
    bytes: &[u8],
) -> ServerFrame {
    client
        .send(&ClientFrame::BlobPut {
            log,
            capability,
            blob,
            total_bytes,
            index,
            bytes: bytes.to_vec(),
        })
        .await;
    client.recv().await
}

async fn blob_stat(client: &mut Client, (log, capability): (LogId, Capability), blob: BlobId) -> ServerFrame {
    client.send(&ClientFrame::BlobStat { log, capability, blob }).await;
    client.recv().await
}

async fn blob_get(
    client: &mut Client,
    (log, capability): (LogId, Capability),
    blob: BlobId,
    index: u32,
) -> ServerFrame {
    client
        .send(&ClientFrame::BlobGet {
            log,
            capability,
            blob,
            index,
        })
        .await;
    client.recv().await
}

fn stored(index: u32, complete: bool) -> ServerFrame {
    ServerFrame::BlobStored {
        blob: BLOB,
        index,
        complete,
    }
}

/// Creates [`LOG`] (an empty push).
async fn create_log(client: &mut Client) {
    assert!(matches!(client.push(Vec::new()).await, ServerFrame::Pushed { .. }));
}

/// Whether any file under `dir` contains `needle`.
fn on_disk(dir: &std::path::Path, needle: &[u8]) -> Option<std::path::PathBuf> {
    read_all_files(dir)
        .into_iter()
        .find(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        .map(|(path, _)| path)
}

#[tokio::test]
async fn a_blob_uploads_out_of_order_resumes_after_a_restart_and_downloads_identical() {
    let dir = tempfile::tempdir().unwrap();
    let total = (2 * FULL + 1000) as u64;
    // The write budget is exactly the blob: a chunk counted twice would not fit.
    let quota = total.to_string();
    let mut server = Server::start(dir.path(), &["--device-quota-bytes", &quota]);
    let chunks = noise_chunks("resume", total);
    assert_eq!(chunks.len(), 3);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    create_log(&mut alice).await;
    let at = (LOG, CAP);
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 2, &chunks[2]).await,
        stored(2, false)
    );
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 0, &chunks[0]).await,
        stored(0, false)
    );
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 0, &chunks[0]).await,
        stored(0, false)
    );

    // Acknowledged chunks survive a crash; the upload resumes from what stat lists.
    server.kill9();
    let server = Server::start(dir.path(), &["--device-quota-bytes", &quota]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    assert_eq!(
        blob_stat(&mut alice, at, BLOB).await,
        ServerFrame::BlobState {
            blob: BLOB,
            total_bytes: total,
            have: vec![0, 2]
        }
    );
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 1, &chunks[1]).await,
        stored(1, true)
    );
    // Repeating a chunk of a complete blob is still accepted.
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 2, &chunks[2]).await,
        stored(2, true)
    );

    // Another device holding the capability downloads the same bytes.
    let mut bob = Client::authed(&server.addr, &key(2)).await;
    let ServerFrame::BlobState { total_bytes, have, .. } = blob_stat(&mut bob, at, BLOB).await else {
        panic!("no BlobState");
    };
    assert_eq!((total_bytes, have.clone()), (total, vec![0, 1, 2]));
    let mut downloaded = Vec::new();
    for index in have {
        match blob_get(&mut bob, at, BLOB, index).await {
            ServerFrame::BlobChunk { blob, index: i, bytes } => {
                assert_eq!((blob, i), (BLOB, index));
                downloaded.extend(bytes);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(downloaded, chunks.concat());

    // Since the restart: one chunk newly stored (the repeat is not counted), three served.
    let metrics = http_get(&server.addr, "/metrics");
    for line in [
        "kith_blob_chunks_stored_total 1\n".to_owned(),
        format!("kith_blob_bytes_stored_total {}\n", FULL),
        "kith_blob_chunks_served_total 3\n".to_owned(),
    ] {
        assert!(metrics.contains(&line), "missing {line:?} in {metrics}");
    }
}

#[tokio::test]
async fn an_incomplete_blob_is_not_served_yet() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    create_log(&mut alice).await;
    let total = (FULL + 10) as u64;
    let chunks = noise_chunks("incomplete", total);
    let at = (LOG, CAP);
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 0, &chunks[0]).await,
        stored(0, false)
    );
    for index in [0, 1] {
        match blob_get(&mut alice, at, BLOB, index).await {
            ServerFrame::Error {
                code: ErrorCode::NotFound,
                message,
                retryable: true,
            } => assert!(message.contains("not complete yet: 1 of 2 chunks"), "{message}"),
            other => panic!("chunk {index}: {other:?}"),
        }
    }
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 1, &chunks[1]).await,
        stored(1, true)
    );
    assert_eq!(
        blob_get(&mut alice, at, BLOB, 0).await,
        ServerFrame::BlobChunk {
            blob: BLOB,
            index: 0,
            bytes: chunks[0].clone()
        }
    );
}

#[tokio::test]
async fn a_wrong_capability_learns_nothing_about_a_blob_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    create_log(&mut alice).await;
    let secret = noise("secret blob", 100);
    assert_eq!(
        blob_put(&mut alice, (LOG, CAP), BLOB, 100, 0, &secret).await,
        stored(0, true)
    );
    let absent = BlobId([0x45; 32]);
    let mut mallory = Client::authed(&server.addr, &key(9)).await;
    let hash = Capability(*blake3::hash(&CAP.0).as_bytes());
    for capability in [WRONG, hash] {
        let at = (LOG, capability);
        // The same answer whether the blob exists or not.
        let existing = blob_stat(&mut mallory, at, BLOB).await;
        assert_eq!(error_code(&existing), Some(ErrorCode::Forbidden), "{existing:?}");
        assert_eq!(existing, blob_stat(&mut mallory, at, absent).await);
        let existing = blob_get(&mut mallory, at, BLOB, 0).await;
        assert_eq!(error_code(&existing), Some(ErrorCode::Forbidden), "{existing:?}");
        assert_eq!(existing, blob_get(&mut mallory, at, absent, 0).await);
        let existing = blob_put(&mut mallory, at, BLOB, 100, 0, &[0; 100]).await;
        assert_eq!(error_code(&existing), Some(ErrorCode::Forbidden), "{existing:?}");
        assert_eq!(existing, blob_put(&mut mallory, at, absent, 100, 0, &[0; 100]).await);
    }
    // A valid capability for another log: the blob reads as absent there.
    let theirs = (LogId([0x66; 32]), Capability([0x67; 32]));
    mallory
        .send(&ClientFrame::Push {
            log: theirs.0,
            capability: theirs.1,
            envelopes: Vec::new(),
        })
        .await;
    assert!(matches!(mallory.recv().await, ServerFrame::Pushed { .. }));
    let existing = blob_stat(&mut mallory, theirs, BLOB).await;
    assert_eq!(error_code(&existing), Some(ErrorCode::NotFound), "{existing:?}");
    assert_eq!(existing, blob_stat(&mut mallory, theirs, absent).await);
    let existing = blob_get(&mut mallory, theirs, BLOB, 0).await;
    assert_eq!(error_code(&existing), Some(ErrorCode::NotFound), "{existing:?}");
    assert_eq!(existing, blob_get(&mut mallory, theirs, absent, 0).await);
    // Writing into alice's blob from another log is refused.
    let refused = blob_put(&mut mallory, theirs, BLOB, 100, 0, &[0; 100]).await;
    assert_eq!(error_code(&refused), Some(ErrorCode::Forbidden), "{refused:?}");

    // Alice's blob is unchanged, and the refused puts created nothing.
    assert_eq!(
        blob_get(&mut alice, (LOG, CAP), BLOB, 0).await,
        ServerFrame::BlobChunk {
            blob: BLOB,
            index: 0,
            bytes: secret
        }
    );
    assert_eq!(
        error_code(&blob_stat(&mut alice, (LOG, CAP), absent).await),
        Some(ErrorCode::NotFound)
    );
}

#[tokio::test]
async fn a_blob_for_a_log_that_does_not_exist_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    let at = (LOG, CAP);
    let refused = blob_put(&mut alice, at, BLOB, 10, 0, &[7; 10]).await;
    assert_eq!(error_code(&refused), Some(ErrorCode::NotFound), "{refused:?}");
    assert_eq!(
        error_code(&blob_stat(&mut alice, at, BLOB).await),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        error_code(&blob_get(&mut alice, at, BLOB, 0).await),
        Some(ErrorCode::NotFound)
    );
    // The put did not create the log either.
    assert_eq!(error_code(&alice.pull(LOG, CAP, 0).await), Some(ErrorCode::NotFound));
    // Once the log exists, the same put succeeds.
    create_log(&mut alice).await;
    assert_eq!(blob_put(&mut alice, at, BLOB, 10, 0, &[7; 10]).await, stored(0, true));
}

#[tokio::test]
async fn blob_size_limit_and_chunk_shapes_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    create_log(&mut alice).await;
    let at = (LOG, CAP);

    let oversize = MAX_BLOB_BYTES + 1;
    match blob_put(&mut alice, at, BLOB, oversize, 0, &noise("big", FULL)).await {
        ServerFrame::Error {
            code: ErrorCode::TooLarge,
            message,
            retryable: false,
        } => assert!(
            message.contains(&oversize.to_string()) && message.contains(&MAX_BLOB_BYTES.to_string()),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    // Exactly the limit is accepted.
    let at_limit = BlobId([0x46; 32]);
    assert_eq!(
        blob_put(&mut alice, at, at_limit, MAX_BLOB_BYTES, 0, &noise("limit", FULL)).await,
        ServerFrame::BlobStored {
            blob: at_limit,
            index: 0,
            complete: false
        }
    );

    let total = (2 * FULL + 10) as u64;
    let malformed = |frame: &ServerFrame| error_code(frame) == Some(ErrorCode::Malformed);
    // A full chunk one byte short, a last chunk one byte long, an index past the end.
    let short = blob_put(&mut alice, at, BLOB, total, 0, &vec![1; FULL - 1]).await;
    assert!(malformed(&short), "{short:?}");
    assert!(
        matches!(&short, ServerFrame::Error { message, .. } if message.contains(&FULL.to_string())),
        "{short:?}"
    );
    let long = blob_put(&mut alice, at, BLOB, total, 2, &[1; 11]).await;
    assert!(malformed(&long), "{long:?}");
    let past = blob_put(&mut alice, at, BLOB, total, 3, &[]).await;
    assert!(malformed(&past), "{past:?}");
    assert_eq!(
        error_code(&blob_stat(&mut alice, at, BLOB).await),
        Some(ErrorCode::NotFound),
        "refused chunks store nothing"
    );

    // The first chunk fixes the size; a chunk claiming another size is refused.
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 2, &[1; 10]).await,
        stored(2, false)
    );
    let other_total = (2 * FULL + 20) as u64;
    let resized = blob_put(&mut alice, at, BLOB, other_total, 0, &vec![1; FULL]).await;
    assert!(malformed(&resized), "{resized:?}");
    assert!(matches!(
        blob_get(&mut alice, at, BLOB, 3).await,
        ServerFrame::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    assert_eq!(
        blob_stat(&mut alice, at, BLOB).await,
        ServerFrame::BlobState {
            blob: BLOB,
            total_bytes: total,
            have: vec![2]
        }
    );
}

#[tokio::test]
async fn blob_uploads_count_toward_the_device_write_budget() {
    let dir = tempfile::tempdir().unwrap();
    let quota = (FULL + 100) as u64;
    let server = Server::start(dir.path(), &["--device-quota-bytes", &quota.to_string()]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    create_log(&mut alice).await;
    let at = (LOG, CAP);

    // A blob larger than what is left is refused before any of it is stored.
    let too_big = BlobId([0x47; 32]);
    let big_total = (2 * FULL) as u64;
    match blob_put(&mut alice, at, too_big, big_total, 0, &noise("big", FULL)).await {
        ServerFrame::Error {
            code: ErrorCode::QuotaExceeded,
            message,
            ..
        } => assert!(message.contains(&quota.to_string()), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error_code(&blob_stat(&mut alice, at, too_big).await),
        Some(ErrorCode::NotFound)
    );

    // A blob that fits is started; envelopes then eat the rest of the budget.
    let total = (FULL + 50) as u64;
    let chunks = noise_chunks("budget", total);
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 0, &chunks[0]).await,
        stored(0, false)
    );
    assert!(matches!(
        alice.push(vec![envelope(1, &[9; 60])]).await,
        ServerFrame::Pushed { .. }
    ));
    let refused = blob_put(&mut alice, at, BLOB, total, 1, &chunks[1]).await;
    assert_eq!(error_code(&refused), Some(ErrorCode::QuotaExceeded), "{refused:?}");
    assert_eq!(
        blob_stat(&mut alice, at, BLOB).await,
        ServerFrame::BlobState {
            blob: BLOB,
            total_bytes: total,
            have: vec![0]
        }
    );
    // Another device has its own budget and can finish the upload.
    let mut bob = Client::authed(&server.addr, &key(2)).await;
    assert_eq!(
        blob_put(&mut bob, at, BLOB, total, 1, &chunks[1]).await,
        stored(1, true)
    );
    assert_eq!(
        blob_get(&mut bob, at, BLOB, 1).await,
        ServerFrame::BlobChunk {
            blob: BLOB,
            index: 1,
            bytes: chunks[1].clone()
        }
    );
}

#[tokio::test]
async fn blob_frames_before_authentication_are_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    create_log(&mut alice).await;
    let at = (LOG, CAP);
    let mut anon = Client::connect(&server.addr).await;
    for frame in [
        blob_put(&mut anon, at, BLOB, 10, 0, &[1; 10]).await,
        blob_stat(&mut anon, at, BLOB).await,
        blob_get(&mut anon, at, BLOB, 0).await,
    ] {
        assert_eq!(error_code(&frame), Some(ErrorCode::Unauthenticated), "{frame:?}");
    }
    anon.ping(1).await;
    assert_eq!(
        error_code(&blob_stat(&mut alice, at, BLOB).await),
        Some(ErrorCode::NotFound),
        "nothing was stored"
    );
}

#[tokio::test]
async fn deleting_a_log_deletes_its_blobs_and_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    create_log(&mut alice).await;
    let at = (LOG, CAP);
    let total = (FULL + 300) as u64;
    let chunks = noise_chunks("to forget", total);
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 0, &chunks[0]).await,
        stored(0, false)
    );
    assert_eq!(
        blob_put(&mut alice, at, BLOB, total, 1, &chunks[1]).await,
        stored(1, true)
    );
    // The scan sees the blob while it is stored (so it would see a leftover).
    let sample = |index: usize| chunks[index][100..164].to_vec();
    assert!(
        on_disk(dir.path(), &sample(0)).is_some(),
        "blob bytes not found on disk"
    );
    assert!(
        on_disk(dir.path(), &sample(1)).is_some(),
        "blob bytes not found on disk"
    );

    assert_eq!(alice.register().await, ServerFrame::Registered { log: LOG });
    assert_eq!(alice.delete(MANAGE).await, ServerFrame::Deleted { log: LOG });
    // The log cannot be recreated (its id is a tombstone) and holds no blob.
    assert_eq!(error_code(&alice.push(Vec::new()).await), Some(ErrorCode::Forbidden));
    assert_eq!(
        error_code(&blob_stat(&mut alice, at, BLOB).await),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        error_code(&blob_get(&mut alice, at, BLOB, 0).await),
        Some(ErrorCode::NotFound)
    );
    drop(server);
    for index in [0, 1] {
        assert_eq!(on_disk(dir.path(), &sample(index)), None, "chunk {index} left on disk");
    }
}

#[tokio::test]
async fn blob_plaintext_never_reaches_the_data_dir() {
    const MARKER: &[u8] = b"kith-blob-plaintext-marker-5e0d17c2";
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    create_log(&mut alice).await;
    let at = (LOG, CAP);

    // A file of 2.5 chunks full of the marker, each chunk sealed on its own.
    let plaintext = MARKER.repeat(BLOB_CHUNK_BYTES * 5 / 2 / MARKER.len());
    let cipher = XChaCha20Poly1305::new(&[0x42; 32].into());
    let nonce = |index: usize| XNonce::from([index as u8 + 1; 24]);
    let sealed: Vec<Vec<u8>> = plaintext
        .chunks(BLOB_CHUNK_BYTES)
        .enumerate()
        .map(|(index, chunk)| cipher.encrypt(&nonce(index), chunk).unwrap())
        .collect();
    let total: u64 = sealed.iter().map(|c| c.len() as u64).sum();
    assert_eq!(blob_chunk_count(total) as usize, sealed.len());
    for (index, chunk) in sealed.iter().enumerate() {
        let complete = index + 1 == sealed.len();
        assert_eq!(
            blob_put(&mut alice, at, BLOB, total, index as u32, chunk).await,
            stored(index as u32, complete)
        );
    }
    // The key holder gets the file back.
    let mut opened = Vec::new();
    for index in 0..sealed.len() {
        let ServerFrame::BlobChunk { bytes, .. } = blob_get(&mut alice, at, BLOB, index as u32).await else {
            panic!("no chunk {index}");
        };
        opened.extend(cipher.decrypt(&nonce(index), bytes.as_slice()).unwrap());
    }
    assert_eq!(opened, plaintext);

    let check = |when: &str| {
        // The ciphertext is on disk (the WAL counts), so plaintext would be seen.
        assert!(
            on_disk(dir.path(), &sealed[0][..64]).is_some(),
            "{when}: ciphertext not found"
        );
        assert_eq!(on_disk(dir.path(), MARKER), None, "{when}: plaintext found");
    };
    check("while running");
    server.kill9();
    check("after SIGKILL");
}

/// A device whose clock is an hour off signs the time of the server's
/// challenge and gets in; signing its own clock instead it would not (the
/// nonce, fresh per connection, is what stops replays).
#[tokio::test]
async fn a_device_with_a_clock_an_hour_off_authenticates() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p"]);
    let key = key(41);
    let an_hour = 3_600_000;

    let mut client = Client::connect(&server.addr).await;
    let own_clock = client.auth_frame_at(&key, now_ms() + an_hour);
    client.send(&own_clock).await;
    assert_eq!(error_code(&client.recv().await), Some(ErrorCode::Unauthenticated));

    let mut client = Client::connect(&server.addr).await;
    let server_time = client.server_time_ms;
    let echoed = client.auth_frame_at(&key, server_time);
    client.send(&echoed).await;
    assert_eq!(client.recv().await, ServerFrame::Authenticated);

    // The real client does the same, whatever its clock.
    let device = kith_core::identity::DeviceKeys::from_seeds([41; 32], [42; 32]);
    kith_net::RelayConnection::connect(&format!("http://{}", server.addr), &device)
        .await
        .unwrap();
}

/// A server that names itself differently from the host the client dialed
/// could be passing the client's sign-in on to that other server: the
/// client refuses to sign.
#[tokio::test]
async fn the_client_refuses_a_challenge_for_another_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p", "--audience", "other.kith.invalid"]);
    let device = kith_core::identity::DeviceKeys::from_seeds([43; 32], [44; 32]);
    let err = kith_net::RelayConnection::connect(&format!("http://{}", server.addr), &device)
        .await
        .unwrap_err();
    assert!(matches!(err, kith_net::NetError::WrongAudience { .. }), "{err}");
    assert!(err.to_string().contains("--audience"), "{err}");
    // By default a server names itself by the address it listens on.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p"]);
    let client = Client::connect(&server.addr).await;
    assert_eq!(client.audience, server.addr);
}

/// With a metrics token set, `/metrics` wants it even from loopback.
#[tokio::test]
async fn metrics_need_the_token_when_one_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p", "--metrics-token", "s3cret"]);
    for headers in ["", "Authorization: Bearer wrong\r\n", "Authorization: s3cret\r\n"] {
        let response = http_get_with(&server.addr, "/metrics", headers);
        assert!(response.starts_with("HTTP/1.1 403"), "{headers:?}: {response}");
        assert!(!response.contains("kith_connections_open"));
    }
    let response = http_get_with(&server.addr, "/metrics", "Authorization: Bearer s3cret\r\n");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("kith_connections_open"));
}
