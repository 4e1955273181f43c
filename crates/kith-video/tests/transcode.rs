//! A phone-like clip (QuickTime, MJPEG + PCM, a location tag) becomes a
//! WebM with the right size, length and a poster, and no location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kith_testkit::video::{LOCATION, write_clip};
use kith_video::{VideoError, probe, transcode};

#[test]
fn a_clip_becomes_webm_with_a_poster_and_without_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clip.mov");
    write_clip(&input, 2, 640, 360).unwrap();
    let original = std::fs::read(&input).unwrap();
    assert!(contains(&original, LOCATION.as_bytes()), "the fixture has its location");

    let found = probe(&input).unwrap();
    assert_eq!((found.width, found.height, found.has_audio), (640, 360, true));
    assert!((1900..=2100).contains(&found.duration_ms), "{} ms", found.duration_ms);

    let output = dir.path().join("out.webm");
    let video = transcode(&input, &output).unwrap();
    assert_eq!((video.width, video.height), (640, 360));
    assert!((1900..=2100).contains(&video.duration_ms));
    assert!(video.has_audio);
    let poster = video.poster.expect("a poster frame");
    assert_eq!((poster.width, poster.height), (640, 360));
    assert_eq!(poster.rgba.len(), 640 * 360 * 4);
    assert!(
        poster.rgba.chunks(4).any(|p| p[..3] != poster.rgba[..3]),
        "the poster is a picture, not one colour"
    );

    let written = std::fs::read(&output).unwrap();
    assert!(written.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]), "EBML (WebM)");
    assert!(!contains(&written, LOCATION.as_bytes()), "the location is gone");
    // Nothing textual of the source container is copied either (its
    // handler names, its brand).
    for source_text in [&b"qt  "[..], b"moov", b"udta"] {
        assert!(
            !contains(&written, source_text),
            "{:?} survived",
            String::from_utf8_lossy(source_text)
        );
    }
    // The result is itself a readable video of the same length.
    let again = probe(&output).unwrap();
    assert_eq!((again.width, again.height), (640, 360));
    assert!((1800..=2200).contains(&again.duration_ms), "{} ms", again.duration_ms);
}

#[test]
fn sound_alone_is_not_a_video() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("song.webm");
    kith_testkit::video::write_audio_only(&input, 1).unwrap();
    assert!(matches!(probe(&input), Err(VideoError::NoVideoStream)));
    let err = transcode(&input, &dir.path().join("out.webm")).unwrap_err();
    assert!(matches!(err, VideoError::NoVideoStream), "{err:?}");
}

#[test]
fn what_is_not_a_video_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.mp4");
    std::fs::write(&input, b"\0\0\0\x18ftypmp42 this is not a video at all").unwrap();
    let err = transcode(&input, &dir.path().join("out.webm")).unwrap_err();
    assert!(matches!(err, VideoError::Unreadable(_)), "{err:?}");
    assert!(
        !dir.path().join("out.webm").exists() || std::fs::metadata(dir.path().join("out.webm")).unwrap().len() == 0
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
