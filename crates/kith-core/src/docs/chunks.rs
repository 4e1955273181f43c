//! Splitting Automerge storage bytes into their chunks.
//!
//! Automerge's incremental load skips what it cannot use with only a log
//! line: a whole-document sync payload followed by "orphan" change chunks
//! (changes whose dependencies the sender lacked, which `save()` appends) is
//! dropped entirely. Received bytes are therefore split here and each chunk
//! handled on its own, so nothing a peer sends disappears silently.

/// The four bytes every Automerge chunk starts with.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// What one chunk holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkKind {
    /// A whole document (all its changes, compressed columnar).
    Document,
    /// One change.
    Change,
    /// One DEFLATE-compressed change.
    CompressedChange,
    /// Several changes.
    Bundle,
}

/// Why bytes are not a sequence of Automerge chunks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The bytes do not start with Automerge's magic number.
    #[error("not an Automerge chunk at byte {0}")]
    BadMagic(usize),
    /// The header names a chunk type this build does not know.
    #[error("unknown chunk type {kind} at byte {offset}")]
    UnknownKind {
        /// The type byte.
        kind: u8,
        /// Where the chunk starts.
        offset: usize,
    },
    /// The header or the data is cut short.
    #[error("truncated chunk at byte {0}")]
    Truncated(usize),
    /// A compressed change inflates to more than [`MAX_INFLATED_CHANGE`]
    /// bytes (a document's columns past [`MAX_INFLATED_DOCUMENT`]), or its
    /// DEFLATE data is damaged.
    #[error("compressed data inflates past its limit or is damaged")]
    Inflation,
    /// Not a change chunk.
    #[error("expected a change, found a {0:?} chunk")]
    NotAChange(ChunkKind),
    /// Automerge refused the change.
    #[error("malformed change: {0}")]
    Malformed(String),
}

/// The most bytes one received change may inflate to. A message is at most
/// 64 KiB of text and a picture 256 KiB: a change far larger is a
/// decompression bomb (Automerge itself inflates without a bound).
pub const MAX_INFLATED_CHANGE: usize = 4 * 1024 * 1024;

/// A change received from the network: one change chunk, a compressed one
/// only after it is shown to inflate to at most [`MAX_INFLATED_CHANGE`]
/// bytes (counted into a sink, never held).
pub fn change_from_network(chunk: &[u8]) -> Result<automerge::Change, ChunkError> {
    let parts = split_chunks(chunk)?;
    let [(kind, whole)] = parts.as_slice() else {
        return Err(ChunkError::Truncated(0));
    };
    match kind {
        ChunkKind::Change => {}
        ChunkKind::CompressedChange => {
            let data_start = 9 + read_uleb(&whole[9..]).ok_or(ChunkError::Truncated(0))?.1;
            let limit = u64::try_from(MAX_INFLATED_CHANGE).unwrap_or(u64::MAX) + 1;
            let mut decoder = std::io::Read::take(flate2::bufread::DeflateDecoder::new(&whole[data_start..]), limit);
            let inflated = std::io::copy(&mut decoder, &mut std::io::sink()).map_err(|_| ChunkError::Inflation)?;
            if inflated >= limit {
                return Err(ChunkError::Inflation);
            }
        }
        other => return Err(ChunkError::NotAChange(*other)),
    }
    automerge::Change::from_bytes(whole.to_vec()).map_err(|err| ChunkError::Malformed(err.to_string()))
}

/// The most bytes the compressed columns of one received whole document
/// may inflate to, in all. A month of a busy chat is a few MiB.
pub const MAX_INFLATED_DOCUMENT: u64 = 64 * 1024 * 1024;

/// Refuses a whole-document chunk from the network whose compressed
/// columns inflate past [`MAX_INFLATED_DOCUMENT`] bytes: Automerge inflates
/// them without a bound when it loads the document. Each column is
/// inflated into a sink, never held.
pub fn check_document_inflation(chunk: &[u8]) -> Result<(), ChunkError> {
    let truncated = || ChunkError::Truncated(0);
    let (_, leb) = read_uleb(chunk.get(9..).ok_or_else(truncated)?).ok_or_else(truncated)?;
    let data = chunk.get(9 + leb..).ok_or_else(truncated)?;
    let mut at = 0usize;
    let next = |at: &mut usize| -> Result<u64, ChunkError> {
        let (value, used) = read_uleb(data.get(*at..).ok_or_else(truncated)?).ok_or_else(truncated)?;
        *at += used;
        Ok(value)
    };
    let skip = |at: &mut usize, len: u64| -> Result<(), ChunkError> {
        let len = usize::try_from(len).map_err(|_| truncated())?;
        *at = at
            .checked_add(len)
            .filter(|end| *end <= data.len())
            .ok_or_else(truncated)?;
        Ok(())
    };
    // Actors (length-prefixed ids), heads (32 bytes each): skipped.
    for _ in 0..next(&mut at)? {
        let len = next(&mut at)?;
        skip(&mut at, len)?;
    }
    let heads = next(&mut at)?;
    skip(&mut at, heads.checked_mul(32).ok_or_else(truncated)?)?;
    // Column metadata of the changes, then of the operations: (spec, length).
    let mut columns = Vec::new();
    for _ in 0..2 {
        for _ in 0..next(&mut at)? {
            let spec = next(&mut at)?;
            let len = next(&mut at)?;
            columns.push((spec, len));
            // Each entry takes at least two bytes, so this loop is bounded
            // by the chunk's size.
            if at > data.len() {
                return Err(truncated());
            }
        }
    }
    let mut inflated: u64 = 0;
    for (spec, len) in columns {
        let start = at;
        skip(&mut at, len)?;
        if spec & DEFLATE_COLUMN == 0 {
            continue;
        }
        let left = MAX_INFLATED_DOCUMENT - inflated + 1;
        let column = data.get(start..at).ok_or_else(truncated)?;
        let mut decoder = std::io::Read::take(flate2::bufread::DeflateDecoder::new(column), left);
        inflated += std::io::copy(&mut decoder, &mut std::io::sink()).map_err(|_| ChunkError::Inflation)?;
        if inflated > MAX_INFLATED_DOCUMENT {
            return Err(ChunkError::Inflation);
        }
    }
    Ok(())
}

/// The bit of a column specification that says its data is DEFLATE-compressed.
const DEFLATE_COLUMN: u64 = 0b1000;

/// Splits `bytes` into `(kind, whole chunk including its header)`.
pub fn split_chunks(bytes: &[u8]) -> Result<Vec<(ChunkKind, &[u8])>, ChunkError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        if rest.len() < MAGIC.len() + 5 {
            return Err(ChunkError::Truncated(offset));
        }
        if rest[..4] != MAGIC {
            return Err(ChunkError::BadMagic(offset));
        }
        // magic (4) | checksum (4) | type (1) | data length (uLEB128) | data
        let kind = match rest[8] {
            0 => ChunkKind::Document,
            1 => ChunkKind::Change,
            2 => ChunkKind::CompressedChange,
            3 => ChunkKind::Bundle,
            other => return Err(ChunkError::UnknownKind { kind: other, offset }),
        };
        let (len, leb_size) = read_uleb(&rest[9..]).ok_or(ChunkError::Truncated(offset))?;
        let total = usize::try_from(len)
            .ok()
            .and_then(|len| len.checked_add(9 + leb_size))
            .ok_or(ChunkError::Truncated(offset))?;
        if total > rest.len() {
            return Err(ChunkError::Truncated(offset));
        }
        out.push((kind, &rest[..total]));
        offset += total;
    }
    Ok(out)
}

fn read_uleb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (index, byte) in bytes.iter().enumerate().take(10) {
        let part = u64::from(byte & 0x7f);
        value |= part.checked_shl(7 * index as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    /// A compressed change that inflates to 64 MiB (from a few tens of KiB)
    /// is refused before Automerge sees it; an ordinary one passes.
    #[test]
    fn a_deflate_bomb_is_refused_before_automerge_inflates_it() {
        use std::io::Read;
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "text", "x".repeat(2_000)).unwrap();
        doc.commit();
        let mut change = doc.get_last_local_change().unwrap().clone();
        let bytes = change.bytes().to_vec();
        assert_eq!(split_chunks(&bytes).unwrap()[0].0, ChunkKind::CompressedChange);
        assert!(change_from_network(&bytes).is_ok(), "an honest compressed change");
        let raw = change.raw_bytes().to_vec();
        assert!(change_from_network(&raw).is_ok(), "an uncompressed one");

        let zeros = std::io::repeat(0).take(64 * 1024 * 1024);
        let mut deflated = Vec::new();
        flate2::bufread::DeflateEncoder::new(std::io::BufReader::new(zeros), flate2::Compression::best())
            .read_to_end(&mut deflated)
            .unwrap();
        let mut bomb = MAGIC.to_vec();
        bomb.extend_from_slice(&[0, 0, 0, 0, 2]);
        let mut len = deflated.len() as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                bomb.push(byte);
                break;
            }
            bomb.push(byte | 0x80);
        }
        bomb.extend_from_slice(&deflated);
        assert!(bomb.len() < 256 * 1024, "fits in one envelope: {}", bomb.len());
        assert!(matches!(change_from_network(&bomb), Err(ChunkError::Inflation)));
        assert!(change_from_network(b"garbage").is_err());
    }

    #[test]
    fn splits_a_document_and_its_changes() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "a", 1).unwrap();
        let mut bytes = doc.save();
        doc.put(ROOT, "b", "x".repeat(500)).unwrap();
        bytes.extend(doc.save_incremental());
        let chunks = split_chunks(&bytes).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].0, ChunkKind::Document);
        assert!(matches!(chunks[1].0, ChunkKind::Change | ChunkKind::CompressedChange));
        assert_eq!(chunks.iter().map(|c| c.1.len()).sum::<usize>(), bytes.len());
    }

    #[test]
    fn refuses_garbage_and_truncation() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "a", 1).unwrap();
        let bytes = doc.save();
        assert!(matches!(
            split_chunks(&bytes[..bytes.len() - 1]),
            Err(ChunkError::Truncated(0))
        ));
        assert!(matches!(
            split_chunks(b"not automerge at all"),
            Err(ChunkError::BadMagic(0))
        ));
        let mut odd = bytes.clone();
        odd[8] = 9;
        assert!(matches!(
            split_chunks(&odd),
            Err(ChunkError::UnknownKind { kind: 9, .. })
        ));
    }
}
