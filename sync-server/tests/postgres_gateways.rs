//! Several `kith-server` gateways on one PostgreSQL database (a throwaway
//! server this test starts): a client may use any of them and sees the
//! same logs, sequence numbers and rights.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kith_proto::{ErrorCode, ServerFrame};
use kith_testkit::Postgres;

fn error_code(frame: &ServerFrame) -> Option<ErrorCode> {
    match frame {
        ServerFrame::Error { code, .. } => Some(*code),
        _ => None,
    }
}

fn seqs(entries: &[(u64, kith_proto::Envelope)]) -> Vec<u64> {
    entries.iter().map(|(seq, _)| *seq).collect()
}

#[tokio::test]
async fn two_gateways_on_one_database_serve_the_same_logs() {
    let postgres = Postgres::start();
    let url = postgres.new_database("gateways");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut gateway_a = Server::start(dir_a.path(), &["--no-p2p", "--database", &url]);
    let gateway_b = Server::start(dir_b.path(), &["--no-p2p", "--database", &url]);

    let mut alice = Client::authed(&gateway_a.addr, &key(1)).await;
    let mut bob = Client::authed(&gateway_b.addr, &key(2)).await;
    let pushed = alice
        .push(vec![envelope(1, b"one"), envelope(2, b"two"), envelope(3, b"three")])
        .await;
    assert!(matches!(pushed, ServerFrame::Pushed { .. }), "{pushed:?}");
    assert_eq!(
        seqs(&bob.pull_all().await),
        vec![1, 2, 3],
        "gateway B reads what A stored"
    );
    assert!(matches!(
        bob.push(vec![envelope(4, b"four")]).await,
        ServerFrame::Pushed { .. }
    ));
    assert_eq!(seqs(&alice.pull_all().await), vec![1, 2, 3, 4]);
    // The same envelope pushed through the other gateway keeps its number.
    match bob.push(vec![envelope(2, b"two")]).await {
        ServerFrame::Pushed { results, .. } => assert_eq!(results[0].1, 2),
        other => panic!("{other:?}"),
    }

    // A gateway killed and started again loses nothing: the database holds it.
    gateway_a.kill9();
    let gateway_a = Server::start(dir_a.path(), &["--no-p2p", "--database", &url]);
    let mut alice = Client::authed(&gateway_a.addr, &key(1)).await;
    assert_eq!(seqs(&alice.pull_all().await), vec![1, 2, 3, 4]);

    // Rights hold across gateways: registered on A, the capability alone
    // deletes nothing on B, the manage key does, and the tombstone is seen
    // everywhere.
    assert_eq!(alice.register().await, ServerFrame::Registered { log: LOG });
    assert_eq!(
        error_code(&bob.delete(kith_proto::ManageKey(CAP.0)).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(bob.delete(MANAGE).await, ServerFrame::Deleted { log: LOG });
    assert_eq!(
        error_code(&alice.push(vec![envelope(5, b"five")]).await),
        Some(ErrorCode::Forbidden)
    );
    assert!(
        !dir_a.path().join("server.db").exists() && !dir_b.path().join("server.db").exists(),
        "no SQLite file beside the gateways"
    );
    drop(gateway_b);
}

/// The next `Appended` poke for [`LOG`] at or past `seq`, within `wait`.
async fn poked(client: &mut Client, seq: u64, wait: std::time::Duration) -> bool {
    tokio::time::timeout(wait, async {
        loop {
            match client.recv().await {
                ServerFrame::Appended { log, seq: at } if log == LOG && at >= seq => return,
                _ => continue,
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_push_on_one_gateway_pokes_subscribers_on_another_through_nats_or_by_polling_without_it() {
    use kith_testkit::Nats;
    use std::time::Duration;
    let postgres = Postgres::start();
    let url = postgres.new_database("live");
    let mut nats = Nats::start();
    let nats_url = nats.url();
    let args = ["--no-p2p", "--database", url.as_str(), "--nats", nats_url.as_str()];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let gateway_a = Server::start(dir_a.path(), &args);
    let gateway_b = Server::start(dir_b.path(), &args);
    let mut alice = Client::authed(&gateway_a.addr, &key(1)).await;
    assert!(matches!(
        alice.push(vec![envelope(1, b"first")]).await,
        ServerFrame::Pushed { .. }
    ));
    let mut bob = Client::authed(&gateway_b.addr, &key(2)).await;
    bob.send(&kith_proto::ClientFrame::Subscribe {
        log: LOG,
        capability: CAP,
    })
    .await;
    assert_eq!(bob.recv().await, ServerFrame::Subscribed { log: LOG, last_seq: 1 });
    // B's interest reaches NATS, then what A stores pokes bob at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(matches!(
        alice.push(vec![envelope(2, b"live")]).await,
        ServerFrame::Pushed { .. }
    ));
    assert!(
        poked(&mut bob, 2, Duration::from_secs(5)).await,
        "no poke crossed the gateways"
    );

    // NATS goes down: both gateways keep serving, and bob still hears of
    // new entries (his gateway polls the database every second).
    nats.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(matches!(
        alice.push(vec![envelope(3, b"no nats")]).await,
        ServerFrame::Pushed { .. }
    ));
    assert!(
        poked(&mut bob, 3, Duration::from_secs(10)).await,
        "no poke while NATS was down"
    );
    let mut reader = Client::authed(&gateway_b.addr, &key(3)).await;
    assert_eq!(seqs(&reader.pull_all().await), vec![1, 2, 3]);
    // And it comes back.
    nats.resume();
    assert!(matches!(
        alice.push(vec![envelope(4, b"back")]).await,
        ServerFrame::Pushed { .. }
    ));
    assert!(
        poked(&mut bob, 4, Duration::from_secs(15)).await,
        "no poke after NATS came back"
    );
}

#[tokio::test]
async fn twenty_appenders_on_two_gateways_get_gapless_numbers_and_every_reader_sees_each_entry_once() {
    use std::collections::BTreeSet;
    let postgres = Postgres::start();
    let url = postgres.new_database("appenders");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let gateway_a = Server::start(dir_a.path(), &["--no-p2p", "--database", &url]);
    let gateway_b = Server::start(dir_b.path(), &["--no-p2p", "--database", &url]);
    let tasks: Vec<_> = (0..20u8)
        .map(|writer| {
            let addr = if writer % 2 == 0 {
                gateway_a.addr.clone()
            } else {
                gateway_b.addr.clone()
            };
            tokio::spawn(async move {
                let mut client = Client::authed(&addr, &key(100 + writer)).await;
                for n in 0..10u32 {
                    let id = u32::from(writer) * 1000 + n;
                    let pushed = client.push(vec![envelope(id, &id.to_be_bytes())]).await;
                    assert!(matches!(pushed, ServerFrame::Pushed { .. }), "{pushed:?}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let expected: BTreeSet<Vec<u8>> = (0..20u32)
        .flat_map(|writer| (0..10u32).map(move |n| (writer * 1000 + n).to_be_bytes().to_vec()))
        .collect();
    for addr in [&gateway_a.addr, &gateway_b.addr] {
        let mut reader = Client::authed(addr, &key(99)).await;
        let entries = reader.pull_all().await;
        assert_eq!(seqs(&entries), (1..=200).collect::<Vec<u64>>(), "gapless, in order");
        let bodies: Vec<Vec<u8>> = entries.into_iter().map(|(_, e)| e.ciphertext).collect();
        assert_eq!(bodies.len(), 200);
        assert_eq!(
            bodies.into_iter().collect::<BTreeSet<_>>(),
            expected,
            "each entry exactly once"
        );
    }
}

#[tokio::test]
async fn a_gateway_killed_during_a_burst_loses_no_acknowledged_send_and_the_client_finishes_on_another() {
    let postgres = Postgres::start();
    let url = postgres.new_database("burst");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut gateway_a = Server::start(dir_a.path(), &["--no-p2p", "--database", &url]);
    let gateway_b = Server::start(dir_b.path(), &["--no-p2p", "--database", &url]);
    const SENDS: u32 = 300;
    let addr_a = gateway_a.addr.clone();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let burst = {
        let acked = acked.clone();
        tokio::spawn(async move {
            let mut alice = Client::authed(&addr_a, &key(1)).await;
            for n in 0..SENDS {
                alice
                    .send(&kith_proto::ClientFrame::Push {
                        log: LOG,
                        capability: CAP,
                        envelopes: vec![envelope(n, &n.to_be_bytes())],
                    })
                    .await;
                match alice.try_recv().await {
                    Some(ServerFrame::Pushed { .. }) => acked.lock().unwrap().push(n),
                    Some(ServerFrame::Error { .. }) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                    _ => return,
                }
            }
        })
    };
    while acked.lock().unwrap().len() < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    gateway_a.kill9();
    let _ = burst.await;
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50 && acked.len() < SENDS as usize,
        "killed mid-burst: {} acked",
        acked.len()
    );
    // The client goes on through gateway B: every send again (what is
    // stored already keeps its number).
    let mut alice = Client::authed(&gateway_b.addr, &key(1)).await;
    for n in 0..SENDS {
        loop {
            match alice.push(vec![envelope(n, &n.to_be_bytes())]).await {
                ServerFrame::Pushed { .. } => break,
                ServerFrame::Error { retryable: true, .. } => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    let mut bob = Client::authed(&gateway_b.addr, &key(2)).await;
    let entries = bob.pull_all().await;
    assert_eq!(seqs(&entries), (1..=u64::from(SENDS)).collect::<Vec<u64>>());
    let bodies: Vec<u32> = entries
        .iter()
        .map(|(_, e)| u32::from_be_bytes(e.ciphertext[..4].try_into().unwrap()))
        .collect();
    for n in &acked {
        assert_eq!(
            bodies.iter().filter(|b| *b == n).count(),
            1,
            "acknowledged send {n} stored once"
        );
    }
    assert_eq!(bodies.len(), SENDS as usize, "every send stored exactly once");
}

/// `GET /p2p` of a gateway, as JSON.
async fn p2p_answer(addr: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /p2p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap()
}

/// The PeerIds `GET /p2p` lists as the service's gateways.
fn listed_gateways(answer: &serde_json::Value) -> Vec<String> {
    answer["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .map(|gateway| gateway["peer_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Each gateway runs its own libp2p side (rendezvous, relay); any one of
/// them tells a client every gateway's PeerId and addresses, itself first,
/// so the client registers at all of them and finds contacts whichever
/// gateway they use.
#[tokio::test]
async fn every_gateway_lists_the_libp2p_side_of_every_other() {
    let postgres = Postgres::start();
    let url = postgres.new_database("p2p_gateways");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let gateway_a = Server::start(dir_a.path(), &["--database", &url]);
    let gateway_b = Server::start(dir_b.path(), &["--database", &url]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (a, b) = loop {
        let (a, b) = (p2p_answer(&gateway_a.addr).await, p2p_answer(&gateway_b.addr).await);
        if listed_gateways(&a).len() == 2 && listed_gateways(&b).len() == 2 {
            break (a, b);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateways never listed each other: {a} / {b}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let (peer_a, peer_b) = (a["peer_id"].as_str().unwrap(), b["peer_id"].as_str().unwrap());
    assert_ne!(peer_a, peer_b, "each gateway has its own libp2p identity");
    assert_eq!(listed_gateways(&a), vec![peer_a.to_owned(), peer_b.to_owned()]);
    assert_eq!(listed_gateways(&b), vec![peer_b.to_owned(), peer_a.to_owned()]);
    // What A says of B is what B says of itself.
    assert_eq!(a["gateways"][1]["addresses"], b["addresses"]);
    for address in b["addresses"].as_array().unwrap() {
        assert!(address.as_str().unwrap().ends_with(&format!("/p2p/{peer_b}")));
    }
}

/// The cost of a new device key is counted in the database: an address
/// that used its new keys on one gateway gets none more on another.
#[tokio::test]
async fn new_device_keys_are_counted_across_gateways() {
    let postgres = Postgres::start();
    let url = postgres.new_database("new_devices");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = [
        "--no-p2p",
        "--database",
        url.as_str(),
        "--new-devices-per-address-per-hour",
        "2",
    ];
    let gateway_a = Server::start(dir_a.path(), &args);
    let gateway_b = Server::start(dir_b.path(), &args);
    let sign_in = |addr: String, source: &'static str, seed: u8| async move {
        let mut client = Client::connect_from(&addr, source).await;
        let auth = client.auth_frame(&key(seed));
        client.send(&auth).await;
        client.recv().await
    };
    assert_eq!(
        sign_in(gateway_a.addr.clone(), "127.0.0.1", 1).await,
        ServerFrame::Authenticated
    );
    assert_eq!(
        sign_in(gateway_b.addr.clone(), "127.0.0.1", 2).await,
        ServerFrame::Authenticated
    );
    for addr in [&gateway_a.addr, &gateway_b.addr] {
        let third = sign_in(addr.clone(), "127.0.0.1", 3).await;
        assert_eq!(error_code(&third), Some(ErrorCode::RateLimited), "{third:?}");
    }
    // Known keys still sign in on either gateway; another address has its own bucket.
    assert_eq!(
        sign_in(gateway_b.addr.clone(), "127.0.0.1", 1).await,
        ServerFrame::Authenticated
    );
    assert_eq!(
        sign_in(gateway_a.addr.clone(), "127.0.0.2", 3).await,
        ServerFrame::Authenticated
    );
}
