//! Why a video could not be prepared.

/// Why a video could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// GStreamer, or an element this crate needs, is not installed.
    #[error("video conversion is not available on this system: {0}")]
    Unavailable(String),
    /// The file is a container without pictures (audio only).
    #[error("it has no video stream")]
    NoVideoStream,
    /// The file is not a video GStreamer can decode.
    #[error("not a video that can be read: {0}")]
    Unreadable(String),
    /// Longer than [`crate::MAX_DURATION_MS`].
    #[error("the video lasts {duration_ms} ms; videos are limited to {} minutes", crate::MAX_DURATION_MS / 60_000)]
    TooLong {
        /// Its length.
        duration_ms: u64,
    },
    /// Decoding or encoding failed part way, or took too long.
    #[error("the video could not be converted: {0}")]
    Failed(String),
}
