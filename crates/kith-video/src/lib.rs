//! Videos made ready to send, with the platform's media framework
//! (GStreamer): the source is probed for its size, length and rotation,
//! decoded, turned upright, scaled to at most [`MAX_SIDE`] and re-encoded
//! as WebM (VP8 video, Opus audio) at a bitrate that keeps the result under
//! [`MAX_OUTPUT_BYTES`]; a poster frame is taken on the way. Nothing of the
//! original container survives: its tags (location, camera, dates) are
//! dropped before the muxer, which writes only what it must.
//!
//! Receivers never decode a video here: only the sender's own files go
//! through this crate, and the player is the webview's.

mod error;
mod plan;
mod probe;
mod transcode;

pub use error::VideoError;
pub use plan::{MAX_DURATION_MS, MAX_OUTPUT_BYTES, MAX_SIDE, OutputPlan};
pub use probe::{Probe, probe};
pub use transcode::transcode;

/// The MIME type of every video this crate writes.
pub const OUTPUT_MIME: &str = "video/webm";

/// One decoded picture, 8-bit RGBA, rows without padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

/// A video written by [`transcode`].
#[derive(Clone, Debug)]
pub struct Transcoded {
    /// Width of the written video, upright.
    pub width: u32,
    /// Its height.
    pub height: u32,
    /// Its length in milliseconds.
    pub duration_ms: u32,
    /// Whether it has sound.
    pub has_audio: bool,
    /// A frame from early in the video (about a second in), for a poster.
    pub poster: Option<Frame>,
}
