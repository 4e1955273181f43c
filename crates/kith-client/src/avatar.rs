//! Profile pictures: decoded with limits (no decompression bombs), turned
//! upright by their EXIF orientation, cropped square, scaled to 256 px and
//! re-encoded as JPEG, which drops every metadata block (location!).

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use std::io::Cursor;

/// Side of a stored avatar, in pixels.
pub const AVATAR_SIDE: u32 = 256;
/// Largest input file accepted.
pub const MAX_AVATAR_INPUT_BYTES: usize = 20 * 1024 * 1024;
use kith_core::schema::MAX_AVATAR_BYTES;
/// Largest input dimensions, and memory a decoder may use.
const MAX_INPUT_SIDE: u32 = 12_000;
const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;

/// Why a picture cannot be an avatar.
#[derive(Debug, thiserror::Error)]
pub enum AvatarError {
    /// The file is larger than [`MAX_AVATAR_INPUT_BYTES`].
    #[error("the picture is {0} bytes; the limit is {MAX_AVATAR_INPUT_BYTES} bytes")]
    TooLarge(usize),
    /// Not a picture this build reads (JPEG, PNG, GIF, WebP), or damaged, or
    /// over the size and memory limits.
    #[error("cannot use this picture: {0}")]
    Unreadable(String),
}

/// Turns a picture into a stored avatar: JPEG, 256 x 256, no metadata.
pub fn prepare_avatar(input: &[u8]) -> Result<Vec<u8>, AvatarError> {
    if input.len() > MAX_AVATAR_INPUT_BYTES {
        return Err(AvatarError::TooLarge(input.len()));
    }
    let unreadable = |err: image::ImageError| AvatarError::Unreadable(err.to_string());
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE);
    limits.max_image_height = Some(MAX_INPUT_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .map_err(|err| AvatarError::Unreadable(err.to_string()))?;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let orientation = decoder.orientation().map_err(unreadable)?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    picture.apply_orientation(orientation);
    let side = picture.width().min(picture.height());
    if side == 0 {
        return Err(AvatarError::Unreadable("the picture is empty".into()));
    }
    let square = picture.crop_imm((picture.width() - side) / 2, (picture.height() - side) / 2, side, side);
    let scaled = square
        .resize_exact(AVATAR_SIDE, AVATAR_SIDE, FilterType::Lanczos3)
        .to_rgb8();
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    scaled.write_with_encoder(encoder).map_err(unreadable)?;
    if out.len() > MAX_AVATAR_BYTES {
        return Err(AvatarError::Unreadable(
            "the encoded picture is unexpectedly large".into(),
        ));
    }
    Ok(out)
}

/// Whether stored bytes look like what [`prepare_avatar`] makes: a JPEG whose
/// header says 256 x 256. Only the header is read, so checking a picture
/// another device wrote costs nothing and cannot be made to cost much.
pub(crate) fn is_stored_avatar(bytes: &[u8]) -> bool {
    if !matches!(image::guess_format(bytes), Ok(image::ImageFormat::Jpeg)) {
        return false;
    }
    ImageReader::with_format(Cursor::new(bytes), image::ImageFormat::Jpeg)
        .into_dimensions()
        .is_ok_and(|size| size == (AVATAR_SIDE, AVATAR_SIDE))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use image::{ImageFormat, Rgb, RgbImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = RgbImage::from_fn(width, height, |x, _| {
            if x < width / 2 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_wide_picture_becomes_a_square_256_px_jpeg() {
        let avatar = prepare_avatar(&png(800, 400)).unwrap();
        assert!(avatar.len() <= MAX_AVATAR_BYTES);
        let decoded = image::load_from_memory(&avatar).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (AVATAR_SIDE, AVATAR_SIDE));
        assert_eq!(image::guess_format(&avatar).unwrap(), ImageFormat::Jpeg);
        // The centre crop keeps both halves: red on the left, blue on the right.
        let rgb = decoded.to_rgb8();
        assert!(rgb.get_pixel(10, 128)[0] > 200 && rgb.get_pixel(245, 128)[2] > 200);
    }

    #[test]
    fn only_a_256_px_jpeg_counts_as_a_stored_avatar() {
        assert!(is_stored_avatar(&prepare_avatar(&png(300, 200)).unwrap()));
        assert!(!is_stored_avatar(&png(256, 256)), "a PNG");
        assert!(!is_stored_avatar(b"\xff\xd8\xff not really"));
        let mut big = Vec::new();
        RgbImage::new(512, 512)
            .write_to(&mut Cursor::new(&mut big), ImageFormat::Jpeg)
            .unwrap();
        assert!(!is_stored_avatar(&big), "another size");
    }

    #[test]
    fn garbage_damage_and_decompression_bombs_are_clear_errors() {
        assert!(matches!(
            prepare_avatar(b"not a picture"),
            Err(AvatarError::Unreadable(_))
        ));
        let mut damaged = png(64, 64);
        damaged.truncate(damaged.len() / 2);
        assert!(matches!(prepare_avatar(&damaged), Err(AvatarError::Unreadable(_))));
        // A tiny PNG whose header claims 100 000 x 100 000 pixels.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(matches!(prepare_avatar(&bomb), Err(AvatarError::Unreadable(_))));
        assert!(matches!(
            prepare_avatar(&vec![0; MAX_AVATAR_INPUT_BYTES + 1]),
            Err(AvatarError::TooLarge(_))
        ));
    }
}
