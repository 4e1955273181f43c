//! The directory frames against the real `kith-server` binary: what a
//! stranger can make the server hold or answer. Oversize records and
//! reasons are refused, a request to a device with no inbox is not found,
//! nobody can open another device's inbox or read one without its
//! capability, requests hit their hourly limit, and a suspended device
//! stops at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kith_proto::{
    Capability, ClientFrame, ErrorCode, LogId, MAX_NAME_RECORD_BYTES, MAX_REPORT_REASON_BYTES, ServerFrame,
};

fn code(frame: &ServerFrame) -> Option<ErrorCode> {
    match frame {
        ServerFrame::Error { code, .. } => Some(*code),
        _ => None,
    }
}

async fn ask(client: &mut Client, frame: ClientFrame) -> ServerFrame {
    client.send(&frame).await;
    client.recv().await
}

#[tokio::test]
async fn strangers_get_clear_refusals_and_cannot_touch_anothers_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p", "--requests-per-hour", "3"]);
    let mut alice = Client::authed(&server.addr, &key(1)).await;
    let mut mallory = Client::authed(&server.addr, &key(2)).await;

    let oversize = ask(
        &mut mallory,
        ClientFrame::ClaimName {
            lookup: [1; 32],
            record: vec![0; MAX_NAME_RECORD_BYTES + 1],
            manager: [2; 32],
        },
    )
    .await;
    assert_eq!(code(&oversize), Some(ErrorCode::TooLarge), "{oversize:?}");
    let missing = ask(&mut mallory, ClientFrame::FindName { lookup: [1; 32] }).await;
    assert_eq!(
        code(&missing),
        Some(ErrorCode::NotFound),
        "nothing was kept: {missing:?}"
    );

    // No inbox yet: a request is not found, and nothing is stored.
    let nobody = ask(
        &mut mallory,
        ClientFrame::Request {
            device: device(&key(1)),
            envelope: envelope(1, b"spam"),
        },
    )
    .await;
    assert_eq!(code(&nobody), Some(ErrorCode::NotFound), "{nobody:?}");

    // Alice's inbox: Mallory cannot re-point it (she can only open her
    // own), nor read it without the capability, but can leave requests.
    let inbox = LogId([40; 32]);
    let opened = ask(
        &mut alice,
        ClientFrame::OpenInbox {
            log: inbox,
            capability: Capability([41; 32]),
        },
    )
    .await;
    assert!(matches!(opened, ServerFrame::InboxOpened { .. }), "{opened:?}");
    let stolen = ask(
        &mut mallory,
        ClientFrame::OpenInbox {
            log: inbox,
            capability: Capability([42; 32]),
        },
    )
    .await;
    assert_eq!(code(&stolen), Some(ErrorCode::Forbidden), "{stolen:?}");
    let peek = mallory.pull(inbox, Capability([42; 32]), 0).await;
    assert_eq!(code(&peek), Some(ErrorCode::Forbidden), "{peek:?}");
    // The request to nobody counted too: probing costs the same.
    for n in 0..2 {
        let posted = ask(
            &mut mallory,
            ClientFrame::Request {
                device: device(&key(1)),
                envelope: envelope(n, b"hello?"),
            },
        )
        .await;
        assert!(matches!(posted, ServerFrame::RequestPosted { .. }), "{posted:?}");
    }
    let over = ask(
        &mut mallory,
        ClientFrame::Request {
            device: device(&key(1)),
            envelope: envelope(9, b"and again"),
        },
    )
    .await;
    assert_eq!(code(&over), Some(ErrorCode::Limited), "{over:?}");
    let ServerFrame::Entries { entries, .. } = alice.pull(inbox, Capability([41; 32]), 0).await else {
        panic!("alice reads her inbox");
    };
    assert_eq!(entries.len(), 2, "two requests kept, the one over the limit refused");

    let long = ask(
        &mut alice,
        ClientFrame::Report {
            device: device(&key(2)),
            reason: "x".repeat(MAX_REPORT_REASON_BYTES + 1),
        },
    )
    .await;
    assert_eq!(code(&long), Some(ErrorCode::TooLarge), "{long:?}");
}

#[tokio::test]
async fn a_device_suspended_while_connected_stops_at_once_and_cannot_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-p2p"]);
    let mut spammer = Client::authed(&server.addr, &key(3)).await;
    let found = ask(&mut spammer, ClientFrame::FindName { lookup: [5; 32] }).await;
    assert_eq!(code(&found), Some(ErrorCode::NotFound));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kith-server"))
        .args(["--data", &dir.path().display().to_string(), "admin", "suspend-device"])
        .arg(device(&key(3)).to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let refused = ask(&mut spammer, ClientFrame::FindName { lookup: [5; 32] }).await;
    assert_eq!(code(&refused), Some(ErrorCode::Suspended), "{refused:?}");
    let mut again = Client::connect(&server.addr).await;
    let auth = again.auth_frame(&key(3));
    let answer = ask(&mut again, auth).await;
    assert_eq!(code(&answer), Some(ErrorCode::Suspended), "{answer:?}");
}
