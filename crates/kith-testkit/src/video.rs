//! Test videos as a phone would make them: a QuickTime file with moving
//! pictures, a tone, and the place it was filmed in `moov/udta/©xyz`.
//! Written by `gst-launch-1.0` (Debian `gstreamer1.0-tools`, installed by
//! `cargo xtask setup`) with elements of the base and good plugin sets.

use std::path::Path;
use std::process::Command;

/// The location written into every clip: searched for in what is sent.
pub const LOCATION: &str = "+48.8582+002.2945/";

/// Writes a `seconds` long `width` × `height` clip with sound and a
/// location to `path`.
pub fn write_clip(path: &Path, seconds: u32, width: u32, height: u32) -> std::io::Result<()> {
    let frames = seconds * 15;
    let samples = seconds * 22_050;
    let pipeline = format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width={width},height={height},framerate=15/1 \
         ! jpegenc ! qtmux name=m ! filesink location={location} \
         audiotestsrc num-buffers={buffers} samplesperbuffer=2205 \
         ! audio/x-raw,rate=22050,channels=1,format=S16LE ! m.",
        location = path.display(),
        buffers = samples / 2205,
    );
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!("gst-launch-1.0 failed: {status}")));
    }
    let bytes = std::fs::read(path)?;
    std::fs::write(path, with_location(&bytes)?)
}

/// Writes `seconds` of a tone as WebM with Opus and no pictures to `path`.
pub fn write_audio_only(path: &Path, seconds: u32) -> std::io::Result<()> {
    let pipeline = format!(
        "audiotestsrc num-buffers={buffers} samplesperbuffer=2400 ! audio/x-raw,rate=48000,channels=1 \
         ! audioconvert ! opusenc ! webmmux ! filesink location={location}",
        buffers = seconds * 20,
        location = path.display(),
    );
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("gst-launch-1.0 failed: {status}")))
    }
}

/// Reads a big-endian box size and type at `at`.
fn box_at(bytes: &[u8], at: usize) -> Option<(usize, [u8; 4])> {
    let size = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
    let kind = bytes.get(at + 4..at + 8)?.try_into().ok()?;
    Some((size, kind))
}

/// The file with `udta/©xyz` appended to its `moov`, which must be the
/// last top-level box (as `qtmux` writes it), so no offset moves.
fn with_location(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut at = 0;
    let mut moov = None;
    while let Some((size, kind)) = box_at(bytes, at) {
        if size < 8 {
            break;
        }
        if &kind == b"moov" {
            moov = Some((at, size));
        }
        at += size;
    }
    let Some((moov_at, moov_size)) = moov.filter(|(start, size)| start + size == bytes.len()) else {
        return Err(std::io::Error::other("moov is not the last box"));
    };
    let text = LOCATION.as_bytes();
    // ©xyz: 16-bit length, 16-bit language, the text.
    let mut xyz = Vec::new();
    xyz.extend_from_slice(&((8 + 4 + text.len()) as u32).to_be_bytes());
    xyz.extend_from_slice(b"\xa9xyz");
    xyz.extend_from_slice(&(text.len() as u16).to_be_bytes());
    xyz.extend_from_slice(&0x15c7u16.to_be_bytes());
    xyz.extend_from_slice(text);
    let mut udta = Vec::new();
    udta.extend_from_slice(&((8 + xyz.len()) as u32).to_be_bytes());
    udta.extend_from_slice(b"udta");
    udta.extend_from_slice(&xyz);
    let mut out = bytes.to_vec();
    out.extend_from_slice(&udta);
    let new_size = (moov_size + udta.len()) as u32;
    out[moov_at..moov_at + 4].copy_from_slice(&new_size.to_be_bytes());
    Ok(out)
}
