//! Limits that hold against a stranger: the real `kith-server` on 127.0.0.1
//! with slow and silent clients and a flood of connections from one
//! address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Client, Server, key};
use kith_proto::{ErrorCode, ServerFrame};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Reads until the server closes the connection; returns how long that
/// took, or `None` if it was still open after `bound`.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(tokio::time::Instant::from_std(started + bound), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

/// A connection from source address `from` (any 127.0.0.0/8 address is
/// this machine).
async fn connect_from(from: &str, server: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(server.parse::<SocketAddr>().unwrap()).await.unwrap()
}

async fn healthz(mut stream: TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer)).await;
    answer
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p", "--header-timeout-secs", "1"]);
    let mut slow = TcpStream::connect(&server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: local").await.unwrap();
    // Meanwhile everyone else is served.
    let answer = healthz(TcpStream::connect(&server.addr).await.unwrap()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let took = closed_within(&mut slow, Duration::from_secs(8)).await;
    assert!(took.is_some(), "the slow client is still connected");
}

#[tokio::test]
async fn a_websocket_stuck_in_a_partial_frame_before_authenticating_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p", "--auth-timeout-secs", "1"]);
    let mut stream = TcpStream::connect(&server.addr).await.unwrap();
    stream
        .write_all(
            b"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    // The start of a masked binary frame that claims a 16-bit length, and
    // then nothing.
    stream.write_all(&[0x82, 0xFE, 0x01]).await.unwrap();
    let took = closed_within(&mut stream, Duration::from_secs(8)).await;
    assert!(took.is_some(), "the stuck WebSocket is still open");
}

#[tokio::test]
async fn a_connection_flood_from_one_address_is_capped_while_another_address_connects() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p", "--max-connections-per-address", "4"]);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from("127.0.0.1", &server.addr).await);
    }
    // The fifth from the same address is closed at once.
    let mut fifth = connect_from("127.0.0.1", &server.addr).await;
    assert!(
        closed_within(&mut fifth, Duration::from_secs(5)).await.is_some(),
        "the fifth connection from one address stayed open"
    );
    // Another address still gets in.
    let answer = healthz(connect_from("127.0.0.2", &server.addr).await).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A freed place can be taken again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = healthz(connect_from("127.0.0.1", &server.addr).await).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the freed place was not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_global_cap_holds_for_every_address() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p", "--max-connections", "2"]);
    let _one = connect_from("127.0.0.1", &server.addr).await;
    let _two = connect_from("127.0.0.2", &server.addr).await;
    let mut third = connect_from("127.0.0.3", &server.addr).await;
    assert!(closed_within(&mut third, Duration::from_secs(5)).await.is_some());
}

/// Fresh device keys are free to make, so each address may sign in with
/// only so many new ones an hour; known keys and other addresses are not
/// held back.
#[tokio::test]
async fn new_device_keys_from_one_address_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p", "--new-devices-per-address-per-hour", "3"]);
    let sign_in = |source: &'static str, seed: u8| {
        let addr = server.addr.clone();
        async move {
            let mut client = Client::connect_from(&addr, source).await;
            let auth = client.auth_frame(&key(seed));
            client.send(&auth).await;
            client.recv().await
        }
    };
    for seed in 1..=3 {
        assert_eq!(sign_in("127.0.0.1", seed).await, ServerFrame::Authenticated);
    }
    match sign_in("127.0.0.1", 4).await {
        ServerFrame::Error { code, retryable, .. } => {
            assert_eq!(code, ErrorCode::RateLimited);
            assert!(retryable);
        }
        other => panic!("a fourth new key got {other:?}"),
    }
    assert_eq!(sign_in("127.0.0.1", 1).await, ServerFrame::Authenticated, "a known key");
    assert_eq!(
        sign_in("127.0.0.2", 4).await,
        ServerFrame::Authenticated,
        "another address"
    );
}

/// The server's peak resident memory (VmHWM) in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A log of 1000 maximum-size entries (250 MiB) is pulled page by page:
/// the server reads one frame's worth at a time (its peak memory grows by
/// less than 64 MiB while it serves all of it), and another device's pushes
/// go on meanwhile (the pull reads on a connection of its own).
#[tokio::test]
async fn pulling_a_log_of_maximum_size_entries_is_bounded_and_blocks_no_pushes() {
    use common::{CAP, LOG, envelope};
    use kith_proto::{Capability, ClientFrame, LogId, MAX_ENVELOPE_BYTES};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--no-p2p",
            "--quota-bytes",
            "1000000000",
            "--device-quota-bytes",
            "1000000000",
            "--rate-per-sec",
            "100000",
            "--rate-burst",
            "100000",
            // This test measures memory, not the serving rate.
            "--serve-bytes-per-sec",
            "1000000000000",
        ],
    );
    let pid = server.child.id();
    let mut writer = Client::authed(&server.addr, &key(61)).await;
    let body = vec![0xAB; MAX_ENVELOPE_BYTES];
    for batch in 0..334u32 {
        // Three to a push (one frame), 1000 in all.
        let count = if batch == 333 { 1 } else { 3 };
        let envelopes = (0..count).map(|i| envelope(batch * 3 + i, &body)).collect();
        assert!(matches!(writer.push(envelopes).await, ServerFrame::Pushed { .. }));
    }
    // Only what the pulls take from here on counts.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let before = peak_rss_kib(pid);

    let done = Arc::new(AtomicBool::new(false));
    let pushes = Arc::new(AtomicUsize::new(0));
    let other = {
        let (addr, done, pushes) = (server.addr.clone(), done.clone(), pushes.clone());
        tokio::spawn(async move {
            let mut client = Client::authed(&addr, &key(62)).await;
            let mut n = 0u32;
            while !done.load(Ordering::SeqCst) {
                client
                    .send(&ClientFrame::Push {
                        log: LogId([0x44; 32]),
                        capability: Capability([0x45; 32]),
                        envelopes: vec![envelope(n, b"small")],
                    })
                    .await;
                assert!(matches!(client.recv().await, ServerFrame::Pushed { .. }));
                pushes.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
        })
    };
    let mut reader = Client::authed(&server.addr, &key(63)).await;
    let (mut after, mut got, mut pushes_during) = (0, 0usize, 0usize);
    loop {
        let seen = pushes.load(Ordering::SeqCst);
        match reader.pull(LOG, CAP, after).await {
            ServerFrame::Entries { entries, more, .. } => {
                got += entries.len();
                if let Some((seq, _)) = entries.last() {
                    after = *seq;
                }
                if pushes.load(Ordering::SeqCst) > seen {
                    pushes_during += 1;
                }
                if !more {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    done.store(true, Ordering::SeqCst);
    other.await.unwrap();
    assert_eq!(got, 1000);
    let grown_mib = peak_rss_kib(pid).saturating_sub(before) / 1024;
    println!(
        "server peak RSS grew by {grown_mib} MiB over the whole pull; {pushes_during} pulls saw another device's push finish"
    );
    assert!(grown_mib < 64, "the server's peak memory grew by {grown_mib} MiB");
    assert!(
        pushes_during >= 10,
        "only {pushes_during} of the pulls overlapped a finished push"
    );
}

#[tokio::test]
async fn a_device_pulling_large_entries_over_and_over_is_slowed_and_nobody_else_is() {
    use common::envelope;
    use kith_proto::{Capability, ClientFrame, LogId, MAX_ENVELOPE_BYTES};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let dir = tempfile::tempdir().unwrap();
    // 1 MB a second per device (a burst of 4 MB), twice that per address.
    let server = Server::start(dir.path(), &["--no-p2p", "--serve-bytes-per-sec", "1000000"]);
    let mut writer = Client::authed(&server.addr, &key(71)).await;
    let body = vec![0xCD; MAX_ENVELOPE_BYTES];
    for batch in 0..8u32 {
        let envelopes = (0..3).map(|i| envelope(batch * 3 + i, &body)).collect();
        assert!(matches!(writer.push(envelopes).await, ServerFrame::Pushed { .. }));
    }
    let small = (LogId([0x46; 32]), Capability([0x47; 32]));
    writer
        .send(&ClientFrame::Push {
            log: small.0,
            capability: small.1,
            envelopes: vec![envelope(99, b"small")],
        })
        .await;
    assert!(matches!(writer.recv().await, ServerFrame::Pushed { .. }));

    // Another device, from another address, pulls a small log meanwhile.
    let done = Arc::new(AtomicBool::new(false));
    let pulls = Arc::new(AtomicUsize::new(0));
    let other = {
        let (addr, done, pulls) = (server.addr.clone(), done.clone(), pulls.clone());
        tokio::spawn(async move {
            let mut client = Client::connect_from(&addr, "127.0.0.2").await;
            let auth = client.auth_frame(&key(72));
            client.send(&auth).await;
            assert_eq!(client.recv().await, ServerFrame::Authenticated);
            while !done.load(Ordering::SeqCst) {
                match client.pull(small.0, small.1, 0).await {
                    ServerFrame::Entries { entries, .. } => assert_eq!(entries.len(), 1),
                    other => panic!("{other:?}"),
                }
                pulls.fetch_add(1, Ordering::SeqCst);
                // Within the frame rate limit (200 a second).
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let mut hog = Client::authed(&server.addr, &key(73)).await;
    let started = Instant::now();
    let entries = hog.pull_all().await;
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let pulled_meanwhile = pulls.load(Ordering::SeqCst);
    other.await.unwrap();
    assert_eq!(entries.len(), 24, "every entry is served: slowed, never refused");
    // 6.3 MB at 1 MB a second after a 4 MB burst: at least 2.3 s of waiting.
    assert!(took >= Duration::from_millis(2_000), "the pull took only {took:?}");
    assert!(
        pulled_meanwhile >= 20,
        "the other device pulled only {pulled_meanwhile} times while the hog was slowed"
    );
    let mut metrics = std::net::TcpStream::connect(&server.addr).unwrap();
    std::io::Write::write_all(
        &mut metrics,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut metrics, &mut text).unwrap();
    let paced = text
        .lines()
        .find_map(|line| line.strip_prefix("kith_paced_total "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap();
    assert!(paced >= 1, "{text}");
}

/// A WebSocket upgrade from `source`, with `X-Forwarded-For: forwarded`
/// when given.
async fn upgrade_from(
    server: &str,
    source: &str,
    forwarded: Option<&str>,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let tcp = connect_from(source, server).await;
    let mut request = format!("ws://{server}/v1/ws").into_client_request()?;
    if let Some(forwarded) = forwarded {
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
    }
    let (ws, _) = tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await?;
    Ok(Client::from_socket(ws).await)
}

/// Forged sign-ins until the server turns the upgrade away; returns how
/// many were refused first (at most `tries`).
async fn forge_until_turned_away(server: &str, source: &str, forwarded: Option<&str>, tries: usize) -> usize {
    let mut refused = 0;
    for _ in 0..tries {
        let mut client = match upgrade_from(server, source, forwarded).await {
            Ok(client) => client,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 429);
                return refused;
            }
            Err(other) => panic!("{other}"),
        };
        let mut frame = client.auth_frame(&key(81));
        if let kith_proto::ClientFrame::Auth { signature, .. } = &mut frame {
            signature.fill(0);
        }
        client.send(&frame).await;
        assert!(matches!(
            client.recv().await,
            ServerFrame::Error {
                code: ErrorCode::Unauthenticated,
                ..
            }
        ));
        refused += 1;
    }
    refused
}

#[tokio::test]
async fn an_address_that_keeps_failing_to_sign_in_is_turned_away_before_the_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p"]);
    // A burst of 20 failures, then one more puts the address in debt; the
    // next upgrade is answered 429, with no socket, challenge or signature.
    assert_eq!(forge_until_turned_away(&server.addr, "127.0.0.3", None, 30).await, 21);
    // A header naming another client changes nothing: no proxy is trusted.
    assert_eq!(
        forge_until_turned_away(&server.addr, "127.0.0.3", Some("192.0.2.9"), 1).await,
        0
    );
    // Another address signs in as usual.
    let mut other = Client::connect_from(&server.addr, "127.0.0.4").await;
    let auth = other.auth_frame(&key(82));
    other.send(&auth).await;
    assert_eq!(other.recv().await, ServerFrame::Authenticated);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_limits_apply_per_forwarded_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p", "--trusted-proxy", "127.0.0.5"]);
    let proxy = "127.0.0.5";
    assert_eq!(
        forge_until_turned_away(&server.addr, proxy, Some("203.0.113.7, 192.0.2.1"), 30).await,
        21
    );
    // The proxy's other clients are not held back by that one.
    let mut other = upgrade_from(&server.addr, proxy, Some("192.0.2.2")).await.unwrap();
    let auth = other.auth_frame(&key(83));
    other.send(&auth).await;
    assert_eq!(other.recv().await, ServerFrame::Authenticated);
    // And the client cannot pick its address by writing the header itself:
    // the proxy's own hop (the last) counts.
    assert_eq!(
        forge_until_turned_away(&server.addr, proxy, Some("192.0.2.2, 192.0.2.1"), 1).await,
        0
    );
}
