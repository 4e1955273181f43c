//! Voice notes: recorded audio with its length and a waveform to draw.
//!
//! The app's recorder measures both while recording (the webview's
//! `MediaRecorder` gives WebM/Opus, Ogg/Opus or MP4/AAC, none of which this
//! crate decodes); for a PCM WAV file, as the CLI sends, both are computed
//! here.

use crate::media::{MAX_ATTACHMENT_BYTES, MediaError, Prepared};
use kith_core::AttachmentKind;
use kith_core::attachment::MAX_WAVEFORM_SAMPLES;

/// Longest voice note.
pub const MAX_VOICE_MS: u32 = 30 * 60 * 1000;
/// Bars of a waveform computed here.
const WAVEFORM_BARS: usize = 64;

/// The audio container, from the file's first bytes.
fn audio_mime(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        Some("audio/webm")
    } else if bytes.starts_with(b"OggS") {
        Some("audio/ogg")
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        Some("audio/mp4")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WAVE" {
        Some("audio/wav")
    } else if bytes.starts_with(b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xff && bytes[1] & 0xe0 == 0xe0) {
        Some("audio/mpeg")
    } else {
        None
    }
}

/// Prepares a voice note. `measured` is the recorder's (length, waveform);
/// without it the file must be a PCM WAV, measured here.
pub fn prepare_voice(name: &str, bytes: Vec<u8>, measured: Option<(u32, Vec<u8>)>) -> Result<Prepared, MediaError> {
    let bad = |reason: &str| MediaError::BadVoice {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    let size = bytes.len() as u64;
    if size > MAX_ATTACHMENT_BYTES {
        return Err(MediaError::TooLarge {
            name: name.to_owned(),
            size,
        });
    }
    let mime = audio_mime(&bytes).ok_or_else(|| bad("it is not a recording in a format the app plays"))?;
    let (duration_ms, mut waveform) = match measured {
        Some(measured) => measured,
        None => wav_summary(&bytes).ok_or_else(|| bad("its length is unknown (send a PCM WAV file)"))?,
    };
    if duration_ms == 0 || duration_ms > MAX_VOICE_MS {
        return Err(bad("a voice note lasts between a moment and 30 minutes"));
    }
    waveform.truncate(MAX_WAVEFORM_SAMPLES);
    let extension = match mime {
        "audio/webm" => "webm",
        "audio/ogg" => "ogg",
        "audio/mp4" => "m4a",
        "audio/wav" => "wav",
        _ => "mp3",
    };
    Ok(Prepared {
        name: format!("Voice note.{extension}"),
        mime: mime.to_owned(),
        bytes,
        kind: AttachmentKind::Voice { duration_ms, waveform },
        thumbnail: None,
    })
}

/// Length and waveform of a 16-bit PCM WAV file.
pub fn wav_summary(bytes: &[u8]) -> Option<(u32, Vec<u8>)> {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let (mut channels, mut rate, mut bits, mut data) = (0u16, 0u32, 0u16, None);
    let mut at = 12usize;
    while at + 8 <= bytes.len() {
        let id = bytes.get(at..at + 4)?;
        let len = usize::try_from(u32_at(at + 4)?).ok()?;
        let body = at + 8;
        match id {
            b"fmt " => {
                if u16_at(body)? != 1 {
                    return None; // not PCM
                }
                channels = u16_at(body + 2)?;
                rate = u32_at(body + 4)?;
                bits = u16_at(body + 14)?;
            }
            b"data" => data = Some(bytes.get(body..body.checked_add(len)?.min(bytes.len()))?),
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body.checked_add(len)?.checked_add(len % 2)?;
    }
    let data = data?;
    if bits != 16 || channels == 0 || rate == 0 {
        return None;
    }
    let frame = usize::from(channels) * 2;
    let frames = data.len() / frame;
    let duration_ms = u32::try_from(frames as u64 * 1000 / u64::from(rate)).ok()?;
    let per_bar = frames.div_ceil(WAVEFORM_BARS).max(1);
    let mut waveform = Vec::with_capacity(WAVEFORM_BARS);
    for bar in data.chunks(per_bar * frame) {
        let mut peak = 0u16;
        for sample in bar.chunks_exact(2) {
            peak = peak.max(i16::from_le_bytes([sample[0], sample[1]]).unsigned_abs());
        }
        waveform.push(u8::try_from(u32::from(peak) * 255 / 32768).unwrap_or(u8::MAX));
    }
    Some((duration_ms, waveform))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A mono 16-bit WAV: `seconds` of a tone getting louder.
    pub(crate) fn wav(rate: u32, seconds: u32) -> Vec<u8> {
        let frames = rate * seconds;
        let mut data = Vec::new();
        for i in 0..frames {
            let loudness = f64::from(i) / f64::from(frames);
            let sample = (loudness * 30000.0 * (f64::from(i) * 0.05).sin()) as i16;
            data.extend_from_slice(&sample.to_le_bytes());
        }
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn a_wav_file_is_measured() {
        let (duration, waveform) = wav_summary(&wav(8000, 3)).unwrap();
        assert_eq!(duration, 3000);
        assert_eq!(waveform.len(), WAVEFORM_BARS);
        // It gets louder: the last bars are higher than the first.
        assert!(waveform[60] > waveform[3] + 100, "{waveform:?}");
    }

    #[test]
    fn a_recording_keeps_the_recorders_measure() {
        let mut webm = vec![0x1a, 0x45, 0xdf, 0xa3];
        webm.extend_from_slice(&[0; 100]);
        let prepared = prepare_voice("rec", webm, Some((4200, vec![9; 300]))).unwrap();
        assert_eq!(prepared.mime, "audio/webm");
        assert_eq!(prepared.name, "Voice note.webm");
        let AttachmentKind::Voice { duration_ms, waveform } = prepared.kind else {
            panic!("not a voice note")
        };
        assert_eq!(duration_ms, 4200);
        assert_eq!(waveform.len(), MAX_WAVEFORM_SAMPLES);
    }

    #[test]
    fn what_is_not_a_recording_is_refused() {
        for (bytes, measured) in [
            (b"plain text".to_vec(), Some((1000, vec![]))),
            // A WebM without a measure cannot be measured here.
            (vec![0x1a, 0x45, 0xdf, 0xa3, 0, 0], None),
            // A truncated WAV.
            (wav(8000, 1)[..30].to_vec(), None),
            // Too long.
            (wav(8000, 1), Some((MAX_VOICE_MS + 1, vec![]))),
            (wav(8000, 1), Some((0, vec![]))),
        ] {
            let err = prepare_voice("x", bytes, measured).unwrap_err();
            assert!(matches!(err, MediaError::BadVoice { .. }), "{err}");
        }
    }
}
