//! Attachments: what a message says about the files it carries. The bytes
//! live elsewhere as blobs, content-addressed by the BLAKE3 hash of the
//! plaintext and encrypted under a key of their own; the message (itself
//! end-to-end encrypted) carries the hash, that key and what a preview
//! needs before the blob arrives.

use crate::docs::DocError;
use serde::{Deserialize, Serialize};

/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 10;
/// Largest encoded attachment list of one message (thumbnails included).
pub const MAX_ATTACHMENTS_BYTES: usize = 96 * 1024;
/// Largest inline thumbnail.
pub const MAX_THUMBNAIL_BYTES: usize = 8 * 1024;
/// Longest file name kept, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest MIME type.
pub const MAX_MIME_BYTES: usize = 127;
/// Most waveform samples of a voice note.
pub const MAX_WAVEFORM_SAMPLES: usize = 256;

/// One file attached to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// BLAKE3 of the plaintext: the blob's identity and its integrity check.
    pub hash: [u8; 32],
    /// The blob's own key (chunks are sealed under it).
    pub key: [u8; 32],
    /// Plaintext size in bytes.
    pub size: u64,
    /// MIME type, e.g. `image/jpeg`.
    pub mime: String,
    /// The name it was sent with (made safe again whenever it is saved).
    pub name: String,
    /// What kind of file, with what its preview needs.
    pub kind: AttachmentKind,
    /// A small JPEG shown until the blob is here (images).
    pub thumbnail: Option<Vec<u8>>,
}

/// What an attachment is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachmentKind {
    /// Any file.
    File,
    /// A picture, upright, of this size.
    Image {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A voice note.
    Voice {
        /// Length in milliseconds.
        duration_ms: u32,
        /// Loudness samples 0-255 for drawing.
        waveform: Vec<u8>,
    },
    /// A video, upright, of this size and length; its thumbnail is the
    /// poster frame. (Added within document schema v1: a replica built
    /// before it refuses a message whose attachments include one.)
    Video {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Length in milliseconds.
        duration_ms: u32,
    },
}

impl Attachment {
    /// The hash as lowercase hex (how the CLI and files name a blob).
    pub fn hash_hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn check(&self) -> Result<(), DocError> {
        let invalid = |what: String| Err(DocError::Invalid(what));
        if self.name.len() > MAX_NAME_BYTES {
            return invalid(format!(
                "attachment name is {} bytes; the limit is {MAX_NAME_BYTES}",
                self.name.len()
            ));
        }
        if self.mime.len() > MAX_MIME_BYTES || self.mime.chars().any(char::is_control) {
            return invalid("attachment MIME type is not valid".into());
        }
        if self.thumbnail.as_ref().is_some_and(|t| t.len() > MAX_THUMBNAIL_BYTES) {
            return invalid(format!("thumbnail over {MAX_THUMBNAIL_BYTES} bytes"));
        }
        if let AttachmentKind::Voice { waveform, .. } = &self.kind
            && waveform.len() > MAX_WAVEFORM_SAMPLES
        {
            return invalid(format!("waveform over {MAX_WAVEFORM_SAMPLES} samples"));
        }
        Ok(())
    }
}

/// Encodes a message's attachments (checked) for its document.
pub fn encode_attachments(attachments: &[Attachment]) -> Result<Vec<u8>, DocError> {
    check_list(attachments)?;
    let bytes = postcard::to_stdvec(attachments).map_err(|err| DocError::Invalid(err.to_string()))?;
    if bytes.len() > MAX_ATTACHMENTS_BYTES {
        return Err(DocError::Invalid(format!(
            "attachment descriptions are {} bytes; the limit is {MAX_ATTACHMENTS_BYTES}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Decodes and checks a message's attachments, as written by another device.
pub fn decode_attachments(bytes: &[u8]) -> Result<Vec<Attachment>, DocError> {
    if bytes.len() > MAX_ATTACHMENTS_BYTES {
        return Err(DocError::Invalid("attachment descriptions too large".into()));
    }
    let (attachments, rest): (Vec<Attachment>, &[u8]) =
        postcard::take_from_bytes(bytes).map_err(|err| DocError::Invalid(format!("attachments: {err}")))?;
    if !rest.is_empty() {
        return Err(DocError::Invalid("trailing bytes after attachments".into()));
    }
    check_list(&attachments)?;
    Ok(attachments)
}

fn check_list(attachments: &[Attachment]) -> Result<(), DocError> {
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(DocError::Invalid(format!(
            "{} attachments; at most {MAX_ATTACHMENTS} per message",
            attachments.len()
        )));
    }
    attachments.iter().try_for_each(Attachment::check)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn picture() -> Attachment {
        Attachment {
            hash: [1; 32],
            key: [2; 32],
            size: 1234,
            mime: "image/jpeg".into(),
            name: "cat.jpg".into(),
            kind: AttachmentKind::Image {
                width: 640,
                height: 480,
            },
            thumbnail: Some(vec![0xff, 0xd8, 0xff]),
        }
    }

    #[test]
    fn attachments_round_trip() {
        let list = vec![
            picture(),
            Attachment {
                kind: AttachmentKind::File,
                thumbnail: None,
                ..picture()
            },
        ];
        assert_eq!(decode_attachments(&encode_attachments(&list).unwrap()).unwrap(), list);
    }

    #[test]
    fn bad_attachment_lists_are_refused() {
        assert!(encode_attachments(&vec![picture(); MAX_ATTACHMENTS + 1]).is_err());
        let long_name = Attachment {
            name: "x".repeat(MAX_NAME_BYTES + 1),
            ..picture()
        };
        assert!(encode_attachments(&[long_name]).is_err());
        let big_thumb = Attachment {
            thumbnail: Some(vec![0; MAX_THUMBNAIL_BYTES + 1]),
            ..picture()
        };
        assert!(encode_attachments(&[big_thumb]).is_err());
        let bytes = encode_attachments(&[picture()]).unwrap();
        assert!(decode_attachments(&bytes[..bytes.len() - 3]).is_err(), "truncated");
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode_attachments(&trailing).is_err(), "trailing");
        assert!(decode_attachments(&[0xff; 40]).is_err(), "garbage");
    }
}
