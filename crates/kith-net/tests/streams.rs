#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Two devices that find each other at the same moment dial each other at
//! once. Dialing from the listening ports made one TCP connection by
//! simultaneous open on which both sides failed the handshake (seen in CI
//! with mDNS); with fresh ports there are two connections, one is closed as
//! the duplicate, and both sides must still end up with a sync stream.

use kith_net::p2p::{
    FrameReceiver, FrameSender, Multiaddr, NodeCommand, NodeConfig, NodeEvent, P2pNode, Protocol, spawn_framed,
};
use libp2p::identity::Keypair;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

fn loopback_node() -> (P2pNode, UnboundedReceiver<NodeEvent>) {
    let config = NodeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        mdns: false,
        discover_every: Duration::from_secs(60),
    };
    P2pNode::start(Keypair::generate_ed25519(), config).unwrap()
}

async fn listening_address(events: &mut UnboundedReceiver<NodeEvent>) -> Multiaddr {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(NodeEvent::Listening(address))) => return address,
            Ok(Some(_)) => {}
            other => panic!("no listening address: {other:?}"),
        }
    }
}

/// Waits until a stream is handed over; the stream is kept open (returned)
/// so the other side's stream stays up too.
async fn stream_within(events: &mut UnboundedReceiver<NodeEvent>, limit: Duration) -> Option<libp2p::Stream> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(NodeEvent::Stream { stream, .. })) => return Some(stream),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_still_give_both_sides_a_stream() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("KITH_LOG"))
        .with_test_writer()
        .try_init();
    for round in 0..20 {
        let (a, mut a_events) = loopback_node();
        let (b, mut b_events) = loopback_node();
        let mut a_address = listening_address(&mut a_events).await;
        a_address.push(Protocol::P2p(a.local_peer()));
        let mut b_address = listening_address(&mut b_events).await;
        b_address.push(Protocol::P2p(b.local_peer()));
        a.command(NodeCommand::Dial(b_address)).unwrap();
        b.command(NodeCommand::Dial(a_address)).unwrap();
        let a_stream = stream_within(&mut a_events, Duration::from_secs(10)).await;
        let b_stream = stream_within(&mut b_events, Duration::from_secs(10)).await;
        assert!(
            a_stream.is_some() && b_stream.is_some(),
            "round {round}: a has a stream: {}, b has a stream: {}",
            a_stream.is_some(),
            b_stream.is_some()
        );
    }
}

/// Two connected nodes with their sync streams, split into frames.
async fn connected_pair() -> (
    P2pNode,
    P2pNode,
    (FrameSender, FrameReceiver),
    (FrameSender, FrameReceiver),
) {
    let (a, mut a_events) = loopback_node();
    let (b, mut b_events) = loopback_node();
    let mut b_address = listening_address(&mut b_events).await;
    b_address.push(Protocol::P2p(b.local_peer()));
    let _ = listening_address(&mut a_events).await;
    a.command(NodeCommand::Dial(b_address)).unwrap();
    let a_stream = stream_within(&mut a_events, Duration::from_secs(10)).await.unwrap();
    let b_stream = stream_within(&mut b_events, Duration::from_secs(10)).await.unwrap();
    (a, b, spawn_framed(a_stream), spawn_framed(b_stream))
}

/// Both sides write big frames at the same moment (two devices that each
/// hold 10k messages the other lacks), the writer and the reader of each
/// side are separate tasks, and each reader is slow (applying what it got
/// blocks the thread). Every frame must arrive. With the stream split into a
/// reading and a writing half this deadlocked under Yamux (a lost wake-up
/// of the reader's window update): the 10k converge benchmark hung.
#[tokio::test(flavor = "current_thread")]
async fn big_frames_written_both_ways_at_once_all_arrive() {
    const FRAMES: usize = 4;
    const FRAME_BYTES: usize = 320 * 1024;
    for round in 0..3 {
        let (_a, _b, (a_writer, a_reader), (b_writer, b_reader)) = connected_pair().await;
        let write = |writer: FrameSender, fill: u8| async move {
            for _ in 0..FRAMES {
                writer.send(&vec![fill; FRAME_BYTES]).unwrap();
                tokio::task::yield_now().await;
            }
            writer
        };
        let read = |mut reader: FrameReceiver, fill: u8| async move {
            for _ in 0..FRAMES {
                let frame = reader.next().await.unwrap().expect("stream closed early");
                assert!(frame.len() == FRAME_BYTES && frame.iter().all(|b| *b == fill));
                // Applying a big sync message holds the thread.
                std::thread::sleep(Duration::from_millis(150));
            }
            reader
        };
        let all = async {
            let tasks = (
                tokio::spawn(write(a_writer, 0xA)),
                tokio::spawn(write(b_writer, 0xB)),
                tokio::spawn(read(a_reader, 0xB)),
                tokio::spawn(read(b_reader, 0xA)),
            );
            (
                tasks.0.await.unwrap(),
                tasks.1.await.unwrap(),
                tasks.2.await.unwrap(),
                tasks.3.await.unwrap(),
            )
        };
        let (a_writer, b_writer, mut a_reader, mut b_reader) = tokio::time::timeout(Duration::from_secs(30), all)
            .await
            .unwrap_or_else(|_| panic!("round {round}: frames written both ways at once did not all arrive"));
        // Dropping the senders closes each side cleanly: the other reads the end.
        drop((a_writer, b_writer));
        assert_eq!(a_reader.next().await.unwrap(), None);
        assert_eq!(b_reader.next().await.unwrap(), None);
    }
}
