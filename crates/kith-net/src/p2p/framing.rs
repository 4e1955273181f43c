//! Length-prefixed frames on a peer stream: a 4-byte big-endian length, then
//! the bytes. A length over the limit is refused before anything is
//! allocated, so a hostile peer cannot make us buffer gigabytes.
//!
//! One task owns the whole stream and reads and writes it from the same
//! poll. Splitting it into a reading and a writing task deadlocks under
//! Yamux: a read that has to send a window update and a write share one
//! command channel to the connection, and that channel keeps only the last
//! waker, so the reader can sleep through the moment its window update could
//! go out while both peers wait for credit (rust-libp2p issue 5410; here it
//! hung the 10k converge benchmark whenever both sides sent big sync
//! messages at once).

use super::P2pError;
use futures::StreamExt;
use futures::channel::mpsc as bounded;
use futures::io::{AsyncRead, AsyncWrite};
use libp2p::Stream;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The largest frame either side accepts. An Automerge sync message that
/// carries a whole month of a busy chat fits comfortably.
pub const MAX_PEER_FRAME_BYTES: usize = 32 * 1024 * 1024;

/// The most bytes queued for a peer that has not read them yet: past this
/// the peer is not reading (a few small requests can ask for megabytes of
/// blob chunks), and sending fails, which ends the link.
pub const MAX_QUEUED_BYTES: usize = 2 * MAX_PEER_FRAME_BYTES;

/// Whole frames read from the peer that the application has not taken yet.
/// When they are there, the stream is not read: the peer's flow-control
/// window fills and it waits.
const INCOMING_FRAMES: usize = 4;

/// Queues frames for the peer. Dropping it closes the stream's writing side
/// once the queued frames are out.
#[derive(Debug)]
pub struct FrameSender {
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes queued and not written yet (see [`MAX_QUEUED_BYTES`]).
    queued: Arc<AtomicUsize>,
}

/// Frames from the peer, in order.
#[derive(Debug)]
pub struct FrameReceiver {
    incoming: bounded::Receiver<Result<Vec<u8>, P2pError>>,
}

/// Hands a stream to its own task and returns the two ends the application
/// uses. Must be called within a tokio runtime.
pub fn spawn_framed(stream: Stream) -> (FrameSender, FrameReceiver) {
    spawn_framed_with_limit(stream, MAX_PEER_FRAME_BYTES)
}

fn spawn_framed_with_limit<S>(stream: S, limit: usize) -> (FrameSender, FrameReceiver)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (outgoing_tx, outgoing_rx) = mpsc::unbounded_channel();
    // A futures channel: its sender can wait for room inside the pump's poll.
    let (incoming_tx, incoming_rx) = bounded::channel(INCOMING_FRAMES);
    let queued = Arc::new(AtomicUsize::new(0));
    let mut pump = Pump {
        stream,
        outgoing: outgoing_rx,
        queued: queued.clone(),
        incoming: Some(incoming_tx),
        writing: None,
        needs_flush: false,
        write_closed: false,
        decoder: Decoder::new(limit),
    };
    tokio::spawn(async move { poll_fn(|cx| pump.poll(cx)).await });
    (
        FrameSender {
            outgoing: outgoing_tx,
            queued,
        },
        FrameReceiver { incoming: incoming_rx },
    )
}

impl FrameSender {
    /// Queues one frame. Fails when it is over the limit, when the peer has
    /// left [`MAX_QUEUED_BYTES`] unread, or when the stream has ended.
    pub fn send(&self, frame: &[u8]) -> Result<(), P2pError> {
        if frame.len() > MAX_PEER_FRAME_BYTES {
            return Err(P2pError::Stream(format!(
                "refusing to send a frame of {} bytes (limit {MAX_PEER_FRAME_BYTES})",
                frame.len()
            )));
        }
        let length = u32::try_from(frame.len()).map_err(|err| P2pError::Stream(err.to_string()))?;
        let waiting = self.queued.load(Ordering::Acquire);
        if waiting.saturating_add(4 + frame.len()) > MAX_QUEUED_BYTES {
            return Err(P2pError::Stream(format!(
                "the peer is not reading: {waiting} bytes wait for it (limit {MAX_QUEUED_BYTES})"
            )));
        }
        let mut bytes = Vec::with_capacity(4 + frame.len());
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(frame);
        self.queued.fetch_add(bytes.len(), Ordering::AcqRel);
        self.outgoing
            .send(bytes)
            .map_err(|_| P2pError::Stream("the stream has ended".into()))
    }
}

impl FrameReceiver {
    /// The next frame; `None` when the peer closed the stream cleanly.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, P2pError> {
        match self.incoming.next().await {
            Some(Ok(frame)) => Ok(Some(frame)),
            Some(Err(err)) => Err(err),
            None => Ok(None),
        }
    }
}

/// How much more room a frame's body gets each time the bytes read so far
/// fill it: memory follows what the peer sent, not the length it claimed.
const BODY_GROWTH: usize = 64 * 1024;

/// Reads frames incrementally: the 4-byte length, then the body.
struct Decoder {
    limit: usize,
    header: [u8; 4],
    header_filled: usize,
    body: Vec<u8>,
    body_filled: usize,
    /// The length the header announced.
    expected: usize,
    in_body: bool,
}

impl Decoder {
    fn new(limit: usize) -> Self {
        Decoder {
            limit,
            header: [0; 4],
            header_filled: 0,
            body: Vec::new(),
            body_filled: 0,
            expected: 0,
            in_body: false,
        }
    }

    /// Whether nothing of a frame has been read (a clean place to end).
    fn between_frames(&self) -> bool {
        !self.in_body && self.header_filled == 0
    }

    /// Reads what is available; `Ready(Ok(Some(frame)))` for a whole frame,
    /// `Ready(Ok(None))` at the end of the stream.
    fn poll_frame<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Vec<u8>>, P2pError>> {
        loop {
            if self.in_body && self.body_filled == self.expected {
                self.in_body = false;
                self.header_filled = 0;
                self.body_filled = 0;
                return Poll::Ready(Ok(Some(std::mem::take(&mut self.body))));
            }
            if self.in_body && self.body_filled == self.body.len() {
                let grow = (self.expected - self.body.len()).min(BODY_GROWTH);
                self.body.resize(self.body.len() + grow, 0);
            }
            let buf = if self.in_body {
                &mut self.body[self.body_filled..]
            } else {
                &mut self.header[self.header_filled..]
            };
            let n = match Pin::new(&mut *stream).poll_read(cx, buf) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(P2pError::Stream(err.to_string()))),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(if self.between_frames() {
                    Ok(None)
                } else {
                    Err(P2pError::Stream("the stream ended in the middle of a frame".into()))
                });
            }
            if self.in_body {
                self.body_filled += n;
                continue;
            }
            self.header_filled += n;
            if self.header_filled == 4 {
                let length = u32::from_be_bytes(self.header) as usize;
                if length > self.limit {
                    return Poll::Ready(Err(P2pError::Stream(format!(
                        "frame of {length} bytes is over the limit of {} bytes",
                        self.limit
                    ))));
                }
                self.expected = length;
                self.body = Vec::new();
                self.in_body = true;
            }
        }
    }
}

/// The task that owns one stream.
struct Pump<S> {
    stream: S,
    outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    /// Shared with the sender: bytes queued and not written yet.
    queued: Arc<AtomicUsize>,
    /// `None` once reading has ended (the receiver was told).
    incoming: Option<bounded::Sender<Result<Vec<u8>, P2pError>>>,
    /// The frame being written and how much of it is out.
    writing: Option<(Vec<u8>, usize)>,
    needs_flush: bool,
    write_closed: bool,
    decoder: Decoder,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pump<S> {
    /// Ends when both directions have: the peer's side is read to its end
    /// (or failed, or nobody listens), and ours is closed after the sender
    /// was dropped (or writing failed).
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let wrote = self.poll_write_side(cx);
            let read = self.poll_read_side(cx);
            if self.write_closed && self.incoming.is_none() {
                return Poll::Ready(());
            }
            if !wrote && !read {
                return Poll::Pending;
            }
        }
    }

    /// Makes what progress it can on writing; true when something moved.
    fn poll_write_side(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        loop {
            if self.write_closed {
                return progress;
            }
            if self.writing.is_none() {
                match self.outgoing.poll_recv(cx) {
                    Poll::Ready(Some(bytes)) => self.writing = Some((bytes, 0)),
                    Poll::Ready(None) => {
                        // The application is done with the stream.
                        match Pin::new(&mut self.stream).poll_close(cx) {
                            Poll::Ready(_) => {
                                self.write_closed = true;
                                return true;
                            }
                            Poll::Pending => return progress,
                        }
                    }
                    Poll::Pending => {
                        if self.needs_flush {
                            match Pin::new(&mut self.stream).poll_flush(cx) {
                                Poll::Ready(Ok(())) => self.needs_flush = false,
                                Poll::Ready(Err(err)) => return self.write_failed(err),
                                Poll::Pending => {}
                            }
                        }
                        return progress;
                    }
                }
            }
            let Some((bytes, written)) = self.writing.as_mut() else {
                continue;
            };
            match Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => {
                    return self.write_failed(std::io::Error::from(std::io::ErrorKind::WriteZero));
                }
                Poll::Ready(Ok(n)) => {
                    progress = true;
                    *written += n;
                    if *written == bytes.len() {
                        self.queued.fetch_sub(bytes.len(), Ordering::AcqRel);
                        self.writing = None;
                        self.needs_flush = true;
                    }
                }
                Poll::Ready(Err(err)) => return self.write_failed(err),
                Poll::Pending => return progress,
            }
        }
    }

    fn write_failed(&mut self, err: std::io::Error) -> bool {
        tracing::info!("peer stream write failed: {err}");
        self.write_closed = true;
        self.writing = None;
        // Frames queued later go nowhere; the reader reports the end.
        self.outgoing.close();
        true
    }

    /// Reads what is there and hands whole frames on; true when something
    /// moved.
    fn poll_read_side(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Some(incoming) = &mut self.incoming {
            // Read only when the application has room for another frame:
            // a peer cannot make us buffer what nobody takes.
            match incoming.poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => {
                    // Nobody listens any more.
                    self.incoming = None;
                    return true;
                }
                Poll::Pending => return progress,
            }
            match self.decoder.poll_frame(&mut self.stream, cx) {
                Poll::Ready(Ok(Some(frame))) => {
                    progress = true;
                    let _ = incoming.start_send(Ok(frame));
                }
                Poll::Ready(Ok(None)) => {
                    self.incoming = None;
                    return true;
                }
                Poll::Ready(Err(err)) => {
                    let _ = incoming.start_send(Err(err));
                    self.incoming = None;
                    return true;
                }
                Poll::Pending => return progress,
            }
        }
        progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    fn framed(bytes: Vec<u8>, limit: usize) -> FrameReceiver {
        let (sender, receiver) = spawn_framed_with_limit(Cursor::new(bytes), limit);
        drop(sender);
        receiver
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[tokio::test]
    async fn frames_come_out_whole_and_in_order() {
        let mut bytes = frame(b"first");
        bytes.extend(frame(b""));
        bytes.extend(frame(&vec![7; 200_000]));
        let mut receiver = framed(bytes, 1 << 20);
        assert_eq!(receiver.next().await.unwrap().unwrap(), b"first");
        assert_eq!(receiver.next().await.unwrap().unwrap(), b"");
        assert_eq!(
            receiver.next().await.unwrap().unwrap(),
            vec![7; 200_000],
            "several growth steps"
        );
        assert_eq!(receiver.next().await.unwrap(), None, "a clean end");
    }

    #[tokio::test]
    async fn a_length_over_the_limit_is_refused_before_allocating() {
        let mut receiver = framed(u32::MAX.to_be_bytes().to_vec(), 1024);
        let err = receiver.next().await.unwrap_err().to_string();
        assert!(err.contains("over the limit"), "{err}");
        assert_eq!(receiver.next().await.unwrap(), None, "nothing after the error");
    }

    /// A header that claims 32 MiB followed by a few bytes costs the
    /// bytes received (one growth step), not the claimed length.
    #[test]
    fn a_claimed_length_is_not_allocated_before_its_bytes_arrive() {
        let mut bytes = (MAX_PEER_FRAME_BYTES as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[1; 100]);
        let mut stream = Cursor::new(bytes);
        let mut decoder = Decoder::new(MAX_PEER_FRAME_BYTES);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let polled = decoder.poll_frame(&mut stream, &mut cx);
        assert!(matches!(polled, Poll::Ready(Err(_))), "the stream ended mid-frame");
        assert_eq!(decoder.body_filled, 100);
        assert!(decoder.body.capacity() <= BODY_GROWTH, "{}", decoder.body.capacity());
    }

    #[tokio::test]
    async fn an_end_in_the_middle_of_a_frame_is_an_error() {
        let mut bytes = frame(b"whole");
        bytes.extend(&frame(b"cut short")[..7]);
        let mut receiver = framed(bytes, 1024);
        assert_eq!(receiver.next().await.unwrap().unwrap(), b"whole");
        let err = receiver.next().await.unwrap_err().to_string();
        assert!(err.contains("middle of a frame"), "{err}");
        let mut header_only = framed(vec![0, 0], 1024);
        assert!(header_only.next().await.is_err(), "half a length is not a clean end");
    }

    #[test]
    fn an_oversize_frame_is_not_sent() {
        let (outgoing, _rx) = mpsc::unbounded_channel();
        let sender = FrameSender {
            outgoing,
            queued: Arc::default(),
        };
        let err = sender.send(&vec![0; MAX_PEER_FRAME_BYTES + 1]).unwrap_err().to_string();
        assert!(err.contains("refusing to send"), "{err}");
    }

    /// A stream whose peer never reads and never writes.
    struct Stuck;

    impl AsyncRead for Stuck {
        fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut [u8]) -> Poll<std::io::Result<usize>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for Stuck {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<std::io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
    }

    /// Replies to a peer that never reads stop at `MAX_QUEUED_BYTES` with
    /// a clear error (which ends the link), not at the memory's end.
    #[tokio::test]
    async fn a_peer_that_never_reads_is_not_queued_for_without_bound() {
        let (sender, _receiver) = spawn_framed_with_limit(Stuck, MAX_PEER_FRAME_BYTES);
        let chunk = vec![1u8; 1 << 20];
        let mut sent = 0usize;
        let err = loop {
            match sender.send(&chunk) {
                Ok(()) => sent += chunk.len(),
                Err(err) => break err.to_string(),
            }
            assert!(sent <= MAX_QUEUED_BYTES, "queued {sent} bytes");
        };
        assert!(err.contains("not reading"), "{err}");
        assert!(sent >= MAX_QUEUED_BYTES - 2 * chunk.len(), "{sent}");
    }

    /// Counts the bytes read out of a stream.
    struct Counting {
        inner: Cursor<Vec<u8>>,
        read: Arc<AtomicUsize>,
    }

    impl AsyncRead for Counting {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
            let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
            if let Poll::Ready(Ok(n)) = polled {
                self.read.fetch_add(n, Ordering::SeqCst);
            }
            polled
        }
    }

    impl AsyncWrite for Counting {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// While the application takes no frames, the stream is read only a
    /// few frames ahead; taking them reads on.
    #[tokio::test]
    async fn frames_nobody_takes_are_not_read_ahead() {
        let body = vec![5u8; 10_000];
        let bytes: Vec<u8> = (0..100).flat_map(|_| frame(&body)).collect();
        let read = Arc::new(AtomicUsize::new(0));
        let stream = Counting {
            inner: Cursor::new(bytes),
            read: read.clone(),
        };
        let (_sender, mut receiver) = spawn_framed_with_limit(stream, 1 << 20);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let ahead = read.load(Ordering::SeqCst);
        assert!(
            ahead <= (INCOMING_FRAMES + 3) * (body.len() + 4),
            "read {ahead} bytes ahead"
        );
        for _ in 0..100 {
            assert_eq!(receiver.next().await.unwrap().unwrap().len(), body.len());
        }
        assert_eq!(receiver.next().await.unwrap(), None);
    }
}
