//! Videos: re-encoded before sending (smaller, playable everywhere, no
//! location or camera metadata) with a poster frame, size and length.
//!
//! The conversion is GStreamer's (`kith-video`), built on Linux, where
//! WebKitGTK already depends on it. Elsewhere, or where GStreamer cannot
//! read the file, the video is refused with a clear error: sending it
//! unchanged "as a file" stays possible and keeps its metadata, which is
//! why it is never done silently.

use crate::error::ClientError;
use crate::media::{MediaError, Prepared, display_name, with_extension};
use image::{DynamicImage, RgbaImage};
use kith_core::AttachmentKind;
use kith_core::attachment::MAX_THUMBNAIL_BYTES;
use std::path::{Path, PathBuf};

/// Largest source video read (it is re-encoded well under the attachment
/// limit; phones record a minute of 4K in a few hundred MB).
pub const MAX_SOURCE_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Longest side of a poster frame, tried largest first until one fits in
/// a message's thumbnail.
const POSTER_SIDES: [u32; 3] = [320, 240, 160];

/// Whether the first bytes of a file say it is a video container: ISO
/// media (MP4, MOV, 3GP) that is not audio-only or a still image, WebM or
/// Matroska, or AVI.
pub fn looks_like_video(head: &[u8]) -> bool {
    if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        return true;
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"AVI " {
        return true;
    }
    match head.get(4..8) {
        Some(b"ftyp") => {
            let brand = head.get(8..12).unwrap_or_default();
            const NOT_VIDEO: [&[u8]; 12] = [
                b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif",
                b"avis",
            ];
            !NOT_VIDEO.contains(&brand)
        }
        // QuickTime files from before `ftyp`.
        Some(b"moov" | b"mdat" | b"wide") => true,
        _ => false,
    }
}

/// Removes the scratch files however preparation ends.
struct Scratch(Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Scratch files older than this are left over from a conversion that
/// never finished (the app was quit): removed before the next one.
const STALE_SCRATCH: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// Makes the scratch directory and removes what an interrupted conversion
/// left (not fresh files: another process may be converting right now).
fn scratch_ready(scratch_dir: &Path) -> Result<(), ClientError> {
    std::fs::create_dir_all(scratch_dir).map_err(ClientError::io(format!("creating {}", scratch_dir.display())))?;
    if let Ok(entries) = std::fs::read_dir(scratch_dir) {
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok())
                .is_some_and(|age| age > STALE_SCRATCH);
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// Prepares the video at `source` (called `name`), using `scratch_dir`
/// (inside the private profile directory) for the converted file. `None`
/// when the container holds no pictures (audio only): the caller sends it
/// as a file, as before videos were converted.
pub(crate) fn prepare_video(name: &str, source: &Path, scratch_dir: &Path) -> Result<Option<Prepared>, ClientError> {
    let name = display_name(name);
    let size = std::fs::metadata(source)
        .map_err(ClientError::io(format!("reading {}", source.display())))?
        .len();
    if size > MAX_SOURCE_BYTES {
        return Err(MediaError::TooLarge { name, size }.into());
    }
    scratch_ready(scratch_dir)?;
    let token: [u8; 12] = crate::random::random_bytes()?;
    let output = scratch_dir.join(format!("{}.webm", crate::hex::hex(&token)));
    let _cleanup = Scratch(vec![output.clone()]);
    let Some(converted) = convert(&name, source, &output)? else {
        return Ok(None);
    };
    let bytes = std::fs::read(&output).map_err(ClientError::io(format!("reading {}", output.display())))?;
    let thumbnail = converted.poster.as_ref().and_then(poster_jpeg);
    Ok(Some(Prepared {
        name: with_extension(&name, "webm"),
        mime: converted.mime.to_owned(),
        bytes,
        kind: AttachmentKind::Video {
            width: converted.width,
            height: converted.height,
            duration_ms: converted.duration_ms,
        },
        thumbnail,
    }))
}

/// [`prepare_video`] for bytes in memory (the app's file picker).
pub(crate) fn prepare_video_bytes(
    name: &str,
    bytes: &[u8],
    scratch_dir: &Path,
) -> Result<Option<Prepared>, ClientError> {
    let size = bytes.len() as u64;
    if size > MAX_SOURCE_BYTES {
        return Err(MediaError::TooLarge {
            name: display_name(name),
            size,
        }
        .into());
    }
    // `prepare_video` tidies the directory; here it only has to exist.
    std::fs::create_dir_all(scratch_dir).map_err(ClientError::io(format!("creating {}", scratch_dir.display())))?;
    let token: [u8; 12] = crate::random::random_bytes()?;
    let source = scratch_dir.join(format!("{}.source", crate::hex::hex(&token)));
    let _cleanup = Scratch(vec![source.clone()]);
    crate::secrets::write_private_file(&source, bytes)?;
    prepare_video(name, &source, scratch_dir)
}

/// What the converter wrote.
struct Converted {
    mime: &'static str,
    width: u32,
    height: u32,
    duration_ms: u32,
    poster: Option<DynamicImage>,
}

#[cfg(target_os = "linux")]
fn convert(name: &str, source: &Path, output: &Path) -> Result<Option<Converted>, MediaError> {
    let video = match kith_video::transcode(source, output) {
        Ok(video) => video,
        Err(kith_video::VideoError::NoVideoStream) => return Ok(None),
        Err(err) => {
            return Err(MediaError::BadVideo {
                name: name.to_owned(),
                reason: err.to_string(),
            });
        }
    };
    let poster = video
        .poster
        .and_then(|frame| RgbaImage::from_raw(frame.width, frame.height, frame.rgba))
        .map(DynamicImage::ImageRgba8);
    Ok(Some(Converted {
        mime: kith_video::OUTPUT_MIME,
        width: video.width,
        height: video.height,
        duration_ms: video.duration_ms,
        poster,
    }))
}

#[cfg(not(target_os = "linux"))]
fn convert(name: &str, _source: &Path, _output: &Path) -> Result<Option<Converted>, MediaError> {
    // Keeps the import used on every platform.
    let _: Option<RgbaImage> = None;
    Err(MediaError::BadVideo {
        name: name.to_owned(),
        reason: "videos are converted only by the Linux build so far; send it as a file to send it unchanged \
                 (with its metadata)"
            .into(),
    })
}

/// The poster as a JPEG small enough to travel inside the message.
fn poster_jpeg(poster: &DynamicImage) -> Option<Vec<u8>> {
    for side in POSTER_SIDES {
        let small = poster.thumbnail(side, side).to_rgb8();
        for quality in [70, 50] {
            let mut out = Vec::new();
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
            if small.write_with_encoder(encoder).is_ok() && out.len() <= MAX_THUMBNAIL_BYTES {
                return Some(out);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_told_apart_by_their_first_bytes() {
        assert!(looks_like_video(b"\0\0\0\x18ftypmp42\0\0\0\0"));
        assert!(looks_like_video(b"\0\0\0\x14ftypqt  \0\0\0\0"));
        assert!(looks_like_video(&[0x1a, 0x45, 0xdf, 0xa3, 1, 2]));
        assert!(looks_like_video(b"RIFF\0\0\0\0AVI LIST"));
        assert!(!looks_like_video(b"\0\0\0\x18ftypM4A \0\0\0\0"), "audio");
        assert!(!looks_like_video(b"\0\0\0\x18ftypheic\0\0\0\0"), "a still picture");
        assert!(!looks_like_video(b"RIFF\0\0\0\0WAVEfmt "), "a WAV");
        assert!(!looks_like_video(b"%PDF-1.7"));
        assert!(!looks_like_video(b""));
    }
}
