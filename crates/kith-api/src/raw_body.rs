//! Commands that carry bytes (a file to attach) send them as the raw request
//! body rather than inside JSON, where every byte would become a number of
//! up to four characters. The body is: the arguments' JSON length (4 bytes,
//! big-endian), the arguments as JSON, then the bytes.

use crate::{ApiError, Command};

/// Longest arguments accepted before the bytes.
pub const MAX_ARGS_BYTES: usize = 64 * 1024;

/// The part of the body before the bytes: length and arguments.
pub fn header<C: Command>(args: &C) -> Result<Vec<u8>, ApiError> {
    let json =
        serde_json::to_vec(args).map_err(|err| ApiError::internal(format!("could not encode {}: {err}", C::NAME)))?;
    if json.len() > MAX_ARGS_BYTES {
        return Err(ApiError::invalid("The file's name is too long."));
    }
    let length = u32::try_from(json.len()).map_err(|_| ApiError::invalid("The file's name is too long."))?;
    let mut out = Vec::with_capacity(4 + json.len());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

/// Splits a body into the arguments and the bytes after them.
pub fn split<C: Command>(body: &[u8]) -> Result<(C, &[u8]), ApiError> {
    let malformed = |why: &str| ApiError::invalid(format!("The request to {} was malformed: {why}.", C::NAME));
    let (length, rest) = body
        .split_first_chunk::<4>()
        .ok_or_else(|| malformed("it is too short"))?;
    let length = usize::try_from(u32::from_be_bytes(*length)).map_err(|_| malformed("bad length"))?;
    if length > MAX_ARGS_BYTES || length > rest.len() {
        return Err(malformed("the arguments' length is wrong"));
    }
    let (json, bytes) = rest.split_at(length);
    let args = serde_json::from_slice(json).map_err(|err| malformed(&format!("{err}")))?;
    Ok((args, bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::StageAttachment;

    fn args() -> StageAttachment {
        StageAttachment {
            name: "Fotos vom Strand ☀.jpg".to_owned(),
            as_file: false,
            voice_duration_ms: None,
            voice_waveform: Vec::new(),
        }
    }

    #[test]
    fn arguments_and_bytes_come_back_apart() {
        let mut body = header(&args()).unwrap();
        body.extend_from_slice(&[0xff, 0xd8, 0xff, 0x00]);
        let (back, bytes) = split::<StageAttachment>(&body).unwrap();
        assert_eq!(back, args());
        assert_eq!(bytes, &[0xff, 0xd8, 0xff, 0x00]);
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_reason() {
        let whole = header(&args()).unwrap();
        for body in [
            Vec::new(),
            vec![0, 0],
            // Claims more arguments than the body holds.
            [&[0, 0, 1, 0][..], b"{}"].concat(),
            // Claims more than the limit.
            [&u32::MAX.to_be_bytes()[..], b"{}"].concat(),
            // Not the arguments' JSON.
            [&3u32.to_be_bytes()[..], b"{x}"].concat(),
            whole[..whole.len() - 1].to_vec(),
        ] {
            let err = split::<StageAttachment>(&body).unwrap_err();
            assert!(err.message.contains("malformed"), "{err}");
        }
    }
}
