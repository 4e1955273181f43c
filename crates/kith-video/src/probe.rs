//! What a source video is: size, length, rotation, sound.

use crate::VideoError;
use crate::plan::MAX_DURATION_MS;
use gstreamer as gst;
use gstreamer_pbutils::prelude::*;
use gstreamer_pbutils::{Discoverer, DiscovererInfo};
use std::path::Path;

/// How long probing may take.
const PROBE_TIMEOUT_SECONDS: u64 = 15;

/// A source video's properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Width as stored.
    pub width: u32,
    /// Height as stored.
    pub height: u32,
    /// Whether it is shown a quarter turn from how it is stored (phones
    /// record upright video sideways and say so in a tag).
    pub rotated: bool,
    /// Length in milliseconds.
    pub duration_ms: u64,
    /// Whether it has an audio stream.
    pub has_audio: bool,
}

/// Initialises GStreamer once; fails where it is not installed.
pub(crate) fn init() -> Result<(), VideoError> {
    gst::init().map_err(|err| VideoError::Unavailable(err.to_string()))
}

/// The `file://` URI of a path.
pub(crate) fn uri_of(path: &Path) -> Result<String, VideoError> {
    let absolute = std::path::absolute(path).map_err(|err| VideoError::Unreadable(err.to_string()))?;
    gst::glib::filename_to_uri(&absolute, None)
        .map(|uri| uri.to_string())
        .map_err(|err| VideoError::Unreadable(err.to_string()))
}

/// Probes the video at `path`.
pub fn probe(path: &Path) -> Result<Probe, VideoError> {
    init()?;
    let discoverer = Discoverer::new(gst::ClockTime::from_seconds(PROBE_TIMEOUT_SECONDS))
        .map_err(|err| VideoError::Unavailable(err.to_string()))?;
    let info = discoverer
        .discover_uri(&uri_of(path)?)
        .map_err(|err| VideoError::Unreadable(err.to_string()))?;
    of_info(&info)
}

fn of_info(info: &DiscovererInfo) -> Result<Probe, VideoError> {
    match info.result() {
        gstreamer_pbutils::DiscovererResult::Ok => {}
        gstreamer_pbutils::DiscovererResult::MissingPlugins => {
            return Err(VideoError::Unavailable(
                "a GStreamer plugin to read it is missing (Debian: gstreamer1.0-libav, gstreamer1.0-plugins-good)"
                    .into(),
            ));
        }
        other => {
            return Err(VideoError::Unreadable(format!(
                "GStreamer could not read it ({other:?})"
            )));
        }
    }
    let Some(video) = info.video_streams().into_iter().find(|stream| !stream.is_image()) else {
        // Sound alone is a recording sent as a file; nothing readable at
        // all is not a video.
        return Err(if info.audio_streams().is_empty() {
            VideoError::Unreadable("it has no stream GStreamer can read".into())
        } else {
            VideoError::NoVideoStream
        });
    };
    let duration_ms = info.duration().map(gst::ClockTime::mseconds).unwrap_or(0);
    if duration_ms == 0 {
        return Err(VideoError::Unreadable("its length is unknown".into()));
    }
    if duration_ms > MAX_DURATION_MS {
        return Err(VideoError::TooLong { duration_ms });
    }
    let orientation = video.tags().or_else(|| info.tags()).and_then(|tags| {
        tags.get::<gst::tags::ImageOrientation>()
            .map(|value| value.get().to_owned())
    });
    let rotated = orientation.is_some_and(|o| o.ends_with("rotate-90") || o.ends_with("rotate-270"));
    Ok(Probe {
        width: video.width(),
        height: video.height(),
        rotated,
        duration_ms,
        has_audio: !info.audio_streams().is_empty(),
    })
}
