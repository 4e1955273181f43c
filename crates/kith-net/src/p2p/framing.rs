//! Length-prefixed frames on a peer stream: a 4-byte big-endian length, then
//! the bytes. A length over the limit is refused before anything is
//! allocated, so a hostile peer cannot make us buffer gigabytes.

use super::P2pError;
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use libp2p::Stream;

/// The largest frame either side accepts. An Automerge sync message that
/// carries a whole month of a busy chat fits comfortably.
pub const MAX_PEER_FRAME_BYTES: usize = 32 * 1024 * 1024;

/// The reading half of a peer stream.
pub struct FrameReader {
    inner: ReadHalf<Stream>,
    limit: usize,
}

/// The writing half of a peer stream.
pub struct FrameWriter {
    inner: WriteHalf<Stream>,
}

/// Splits a stream into frame reader and writer.
pub fn split_stream(stream: Stream) -> (FrameReader, FrameWriter) {
    let (read, write) = stream.split();
    (
        FrameReader {
            inner: read,
            limit: MAX_PEER_FRAME_BYTES,
        },
        FrameWriter { inner: write },
    )
}

impl FrameReader {
    /// The next frame; `None` when the peer closed the stream cleanly.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, P2pError> {
        let mut length = [0u8; 4];
        match self.inner.read_exact(&mut length).await {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(err) => return Err(P2pError::Stream(err.to_string())),
        }
        let length = u32::from_be_bytes(length) as usize;
        if length > self.limit {
            return Err(P2pError::Stream(format!(
                "frame of {length} bytes is over the limit of {} bytes",
                self.limit
            )));
        }
        let mut frame = vec![0u8; length];
        self.inner
            .read_exact(&mut frame)
            .await
            .map_err(|err| P2pError::Stream(err.to_string()))?;
        Ok(Some(frame))
    }
}

impl FrameWriter {
    /// Writes one frame and flushes it.
    pub async fn send(&mut self, frame: &[u8]) -> Result<(), P2pError> {
        if frame.len() > MAX_PEER_FRAME_BYTES {
            return Err(P2pError::Stream(format!(
                "refusing to send a frame of {} bytes (limit {MAX_PEER_FRAME_BYTES})",
                frame.len()
            )));
        }
        let length = u32::try_from(frame.len()).map_err(|err| P2pError::Stream(err.to_string()))?;
        self.inner
            .write_all(&length.to_be_bytes())
            .await
            .map_err(|err| P2pError::Stream(err.to_string()))?;
        self.inner
            .write_all(frame)
            .await
            .map_err(|err| P2pError::Stream(err.to_string()))?;
        self.inner
            .flush()
            .await
            .map_err(|err| P2pError::Stream(err.to_string()))
    }

    /// Closes the writing side.
    pub async fn close(mut self) {
        let _ = self.inner.close().await;
    }
}
