//! Several `kith-server` gateways on one PostgreSQL database (a throwaway
//! server this test starts): a client may use any of them and sees the
//! same logs, sequence numbers and rights.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::postgres::Postgres;
use common::*;
use kith_proto::{ErrorCode, ServerFrame};

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
