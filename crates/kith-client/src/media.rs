//! Turns a file into what an attachment sends. Pictures are decoded with
//! limits (no decompression bombs), turned upright by their EXIF orientation,
//! scaled to at most [`MAX_IMAGE_SIDE`] and re-encoded, which drops every
//! metadata block (location!); each gets a small inline thumbnail. Anything
//! else, and pictures sent "as a file", go byte for byte.

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use kith_core::AttachmentKind;
use kith_core::attachment::{MAX_NAME_BYTES, MAX_THUMBNAIL_BYTES};
use std::io::Cursor;

/// Largest attachment, in bytes (its ciphertext stays under the server's
/// blob limit).
pub const MAX_ATTACHMENT_BYTES: u64 = 48 * 1024 * 1024;
/// Longest side of a sent picture.
pub const MAX_IMAGE_SIDE: u32 = 2048;
/// Longest side of a thumbnail.
const THUMBNAIL_SIDE: u32 = 96;
/// Largest picture dimensions decoded, and memory a decoder may use.
const MAX_INPUT_SIDE: u32 = 12_000;
const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;

/// Why a file cannot be attached.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Over [`MAX_ATTACHMENT_BYTES`].
    #[error("{name} is {size} bytes; attachments are limited to {MAX_ATTACHMENT_BYTES} bytes")]
    TooLarge {
        /// The file's name.
        name: String,
        /// Its size.
        size: u64,
    },
    /// It looks like a picture but does not decode, or is over the size and
    /// memory limits (a decompression bomb).
    #[error("{name} is not a picture this app can read ({reason}); send it as a file instead")]
    BadImage {
        /// The file's name.
        name: String,
        /// What the decoder said.
        reason: String,
    },
    /// Not a video this build can convert (or no video at all).
    #[error("{name} cannot be sent as a video: {reason}")]
    BadVideo {
        /// The file's name.
        name: String,
        /// Why not.
        reason: String,
    },
    /// Not a recording the app can send as a voice note.
    #[error("{name} cannot be sent as a voice note: {reason}")]
    BadVoice {
        /// The file's name.
        name: String,
        /// Why not.
        reason: String,
    },
}

/// An attachment ready to be stored and sent.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// Their MIME type.
    pub mime: String,
    /// The name to show.
    pub name: String,
    /// File, image (with its size) or voice note.
    pub kind: AttachmentKind,
    /// Inline preview.
    pub thumbnail: Option<Vec<u8>>,
}

/// Prepares `bytes` read from a file called `name`. With `as_file` a
/// picture goes unchanged, like any other file.
pub fn prepare(name: &str, bytes: Vec<u8>, as_file: bool) -> Result<Prepared, MediaError> {
    let name = display_name(name);
    let size = bytes.len() as u64;
    if size > MAX_ATTACHMENT_BYTES {
        return Err(MediaError::TooLarge { name, size });
    }
    let format = image::guess_format(&bytes).ok();
    match format {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) if !as_file => prepare_picture(&name, &bytes),
        // A GIF keeps its animation: sent as it is, with a preview.
        Some(ImageFormat::Gif) if !as_file => {
            let picture = decode(&name, &bytes)?;
            Ok(Prepared {
                thumbnail: thumbnail(&picture),
                kind: AttachmentKind::Image {
                    width: picture.width(),
                    height: picture.height(),
                },
                mime: "image/gif".into(),
                name,
                bytes,
            })
        }
        _ => Ok(Prepared {
            mime: mime_of(&name, format),
            name,
            bytes,
            kind: AttachmentKind::File,
            thumbnail: None,
        }),
    }
}

fn prepare_picture(name: &str, bytes: &[u8]) -> Result<Prepared, MediaError> {
    let mut picture = decode(name, bytes)?;
    if picture.width().max(picture.height()) > MAX_IMAGE_SIDE {
        picture = picture.resize(MAX_IMAGE_SIDE, MAX_IMAGE_SIDE, FilterType::Triangle);
    }
    let bad = |err: image::ImageError| MediaError::BadImage {
        name: name.to_owned(),
        reason: err.to_string(),
    };
    // Re-encoding writes pixels only: EXIF (location, camera), XMP and ICC
    // blocks of the original do not survive.
    let mut out = Vec::new();
    let (mime, extension) = if picture.color().has_alpha() {
        picture
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .map_err(bad)?;
        ("image/png", "png")
    } else {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
        picture.to_rgb8().write_with_encoder(encoder).map_err(bad)?;
        ("image/jpeg", "jpg")
    };
    Ok(Prepared {
        thumbnail: thumbnail(&picture),
        kind: AttachmentKind::Image {
            width: picture.width(),
            height: picture.height(),
        },
        mime: mime.into(),
        name: with_extension(name, extension),
        bytes: out,
    })
}

/// Decodes a picture within the limits and turns it upright.
fn decode(name: &str, bytes: &[u8]) -> Result<DynamicImage, MediaError> {
    let bad = |reason: String| MediaError::BadImage {
        name: name.to_owned(),
        reason,
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE);
    limits.max_image_height = Some(MAX_INPUT_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|err| bad(err.to_string()))?;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|err| bad(err.to_string()))?;
    let orientation = decoder.orientation().map_err(|err| bad(err.to_string()))?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(|err| bad(err.to_string()))?;
    picture.apply_orientation(orientation);
    if picture.width() == 0 || picture.height() == 0 {
        return Err(bad("the picture is empty".into()));
    }
    Ok(picture)
}

/// A JPEG of at most [`THUMBNAIL_SIDE`] px that fits in a message.
fn thumbnail(picture: &DynamicImage) -> Option<Vec<u8>> {
    let small = picture.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8();
    for quality in [70, 50, 30] {
        let mut out = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
        if small.write_with_encoder(encoder).is_ok() && out.len() <= MAX_THUMBNAIL_BYTES {
            return Some(out);
        }
    }
    None
}

/// The name as shown: its last path component, without control characters,
/// at most [`MAX_NAME_BYTES`]. (Saving makes it safe for the file system
/// again: see `safe_file_name`.)
pub(crate) fn display_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut out: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_direction_mark(*c))
        .collect();
    while out.len() > MAX_NAME_BYTES {
        out.pop();
    }
    if out.trim().is_empty() { "file".into() } else { out }
}

pub(crate) fn with_extension(name: &str, extension: &str) -> String {
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    };
    let mut out = format!("{stem}.{extension}");
    while out.len() > MAX_NAME_BYTES {
        out.remove(0);
    }
    out
}

fn mime_of(name: &str, format: Option<ImageFormat>) -> String {
    if let Some(format) = format {
        return format.to_mime_type().to_owned();
    }
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "txt" | "md" => "text/plain",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "json" => "application/json",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "webm" => "audio/webm",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
    .to_owned()
}

/// Characters that change the direction text is shown in: in a file name
/// they make `photo\u{202E}gpj.exe` read as `photoexe.jpg`.
fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A file name that is safe to create in a directory on any of the three
/// systems: no path separators or traversal, no control or reserved
/// characters, no Windows device names, no trailing dots or spaces, not
/// hidden, not empty, not too long.
pub fn safe_file_name(name: &str) -> String {
    const RESERVED: &[&str] = &[
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1",
        "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() || is_direction_mark(c) => '_',
            c => c,
        })
        .collect();
    let mut out = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace()).to_owned();
    let stem = out.split('.').next().unwrap_or("").trim().to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        out.insert(0, '_');
    }
    while out.len() > 200 {
        out.remove(0);
    }
    if out.is_empty() { "file".into() } else { out }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn hostile_names_become_safe() {
        for (hostile, safe) in [
            ("../../etc/passwd", "_.._etc_passwd"),
            ("..\\..\\win.ini", "_.._win.ini"),
            ("CON", "_CON"),
            ("con.txt", "_con.txt"),
            ("lpt1.tar.gz", "_lpt1.tar.gz"),
            ("name. ", "name"),
            (".bashrc", "bashrc"),
            ("photo\u{202E}gpj.exe", "photo_gpj.exe"),
            ("", "file"),
            ("..", "file"),
            ("a\u{0}b\nc", "a_b_c"),
            ("what?.txt", "what_.txt"),
            ("ok.pdf", "ok.pdf"),
        ] {
            assert_eq!(safe_file_name(hostile), safe, "{hostile:?}");
        }
        assert!(safe_file_name(&"x".repeat(1000)).len() <= 200);
    }

    #[test]
    fn shown_names_lose_their_directories() {
        assert_eq!(display_name("/home/me/cat.jpg"), "cat.jpg");
        assert_eq!(display_name("C:\\Users\\me\\cat.jpg"), "cat.jpg");
        assert_eq!(display_name("dir/"), "file");
        assert_eq!(with_extension("cat.png", "jpg"), "cat.jpg");
        assert_eq!(with_extension("noext", "jpg"), "noext.jpg");
    }

    #[test]
    fn oversize_and_corrupt_are_refused_but_files_are_not_judged() {
        let big = vec![0u8; MAX_ATTACHMENT_BYTES as usize + 1];
        assert!(matches!(
            prepare("big.bin", big, true),
            Err(MediaError::TooLarge { .. })
        ));
        let mut corrupt = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        corrupt.extend_from_slice(&[0xff; 64]);
        assert!(matches!(
            prepare("broken.png", corrupt.clone(), false),
            Err(MediaError::BadImage { .. })
        ));
        let as_file = prepare("broken.png", corrupt.clone(), true).unwrap();
        assert_eq!(as_file.bytes, corrupt);
        assert_eq!(as_file.kind, AttachmentKind::File);
        let text = prepare("notes.txt", b"hello".to_vec(), false).unwrap();
        assert_eq!((text.mime.as_str(), text.kind), ("text/plain", AttachmentKind::File));
    }
}
