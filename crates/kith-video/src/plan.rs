//! What a video is turned into: its size and bitrate, from the source's
//! probe alone (pure arithmetic, tested without GStreamer).

/// Longest side of a sent video, in pixels.
pub const MAX_SIDE: u32 = 1280;
/// Longest video accepted.
pub const MAX_DURATION_MS: u64 = 30 * 60 * 1000;
/// Largest written video: room under the client's 48 MiB attachment limit
/// for the encoder overshooting its target.
pub const MAX_OUTPUT_BYTES: u64 = 40 * 1024 * 1024;
/// Audio bitrate, bits per second.
pub const AUDIO_BITRATE: u32 = 64_000;
/// The bitrate a short video gets; longer ones get less so they fit.
const MAX_VIDEO_BITRATE: u32 = 1_500_000;
/// Below this the picture is mush; the length limit keeps us above it.
const MIN_VIDEO_BITRATE: u32 = 100_000;

/// Size and bitrate of the written video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputPlan {
    /// Width, even, upright.
    pub width: u32,
    /// Height, even, upright.
    pub height: u32,
    /// Video bitrate in bits per second.
    pub video_bitrate: u32,
}

impl OutputPlan {
    /// The plan for a source of `width` × `height` (as stored, before
    /// `rotated` turns it a quarter), lasting `duration_ms`.
    pub fn for_source(width: u32, height: u32, rotated: bool, duration_ms: u64, has_audio: bool) -> Self {
        let (width, height) = if rotated { (height, width) } else { (width, height) };
        let (width, height) = (width.max(2), height.max(2));
        let longest = width.max(height);
        let (width, height) = if longest > MAX_SIDE {
            let scale = f64::from(MAX_SIDE) / f64::from(longest);
            (
                (f64::from(width) * scale).round() as u32,
                (f64::from(height) * scale).round() as u32,
            )
        } else {
            (width, height)
        };
        // VP8 in I420 wants even sides.
        let even = |side: u32| (side & !1).max(2);
        let seconds = (duration_ms.max(1000) as f64) / 1000.0;
        let audio = if has_audio { f64::from(AUDIO_BITRATE) } else { 0.0 };
        let fitting = (MAX_OUTPUT_BYTES as f64 * 8.0 * 0.9) / seconds - audio;
        let video_bitrate = fitting.clamp(f64::from(MIN_VIDEO_BITRATE), f64::from(MAX_VIDEO_BITRATE)) as u32;
        Self {
            width: even(width),
            height: even(height),
            video_bitrate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_videos_are_scaled_to_even_sides_within_the_limit() {
        let plan = OutputPlan::for_source(1920, 1080, false, 10_000, true);
        assert_eq!((plan.width, plan.height), (1280, 720));
        let odd = OutputPlan::for_source(3001, 1999, false, 10_000, true);
        assert!(odd.width <= MAX_SIDE && odd.width.is_multiple_of(2) && odd.height.is_multiple_of(2));
        let small = OutputPlan::for_source(321, 241, false, 10_000, false);
        assert_eq!((small.width, small.height), (320, 240));
    }

    #[test]
    fn a_quarter_turn_swaps_the_sides() {
        let plan = OutputPlan::for_source(1920, 1080, true, 10_000, true);
        assert_eq!((plan.width, plan.height), (720, 1280));
    }

    #[test]
    fn long_videos_get_a_bitrate_that_fits_the_limit() {
        let short = OutputPlan::for_source(1280, 720, false, 30_000, true);
        assert_eq!(short.video_bitrate, MAX_VIDEO_BITRATE);
        let long_ms = 20 * 60 * 1000;
        let long = OutputPlan::for_source(1280, 720, false, long_ms, true);
        assert!(long.video_bitrate < short.video_bitrate);
        let bytes = (u64::from(long.video_bitrate) + u64::from(AUDIO_BITRATE)) * long_ms / 1000 / 8;
        assert!(bytes < MAX_OUTPUT_BYTES, "{bytes} bytes");
    }
}
