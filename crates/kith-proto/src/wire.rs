//! Version 1 of the sync-server protocol: the frames exchanged over a
//! WebSocket, encoded with postcard. See `docs/protocol.md`.

use crate::envelope::{BlobId, Capability, Envelope, EnvelopeId, LogId, ManageKey};
use crate::ids::DeviceId;
use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest encoded frame, in bytes, either direction.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// Largest ciphertext in one envelope, in bytes.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;
/// Most envelopes in one [`ClientFrame::Push`].
pub const MAX_ENVELOPES_PER_PUSH: usize = 1000;
/// Most entries returned by one [`ClientFrame::Pull`]; larger limits are clamped.
pub const MAX_PULL: u32 = 1000;
/// Largest payload of one ephemeral [`ClientFrame::Signal`], in bytes.
pub const MAX_SIGNAL_BYTES: usize = 4 * 1024;
/// Most logs one [`ClientFrame::NudgeByEmail`] may name.
pub const MAX_NUDGE_LOGS: usize = 5000;
/// Longest reason in a [`ClientFrame::Report`], in bytes.
pub const MAX_REPORT_REASON_BYTES: usize = 500;

/// Plaintext bytes in one blob chunk (the last chunk may be shorter).
pub const BLOB_CHUNK_BYTES: usize = 256 * 1024;
/// Bytes an encrypted chunk adds (the AEAD tag).
pub const BLOB_CHUNK_OVERHEAD: usize = 16;
/// Largest blob (ciphertext) the server stores, in bytes.
pub const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024;

/// Chunks of a blob of `total_bytes` ciphertext bytes, and the ciphertext
/// size of chunk `index` (`None` past the end). Every chunk but the last is
/// full; an empty blob has one empty chunk.
pub fn blob_chunk_len(total_bytes: u64, index: u32) -> Option<usize> {
    let full = (BLOB_CHUNK_BYTES + BLOB_CHUNK_OVERHEAD) as u64;
    let count = blob_chunk_count(total_bytes);
    if index >= count {
        return None;
    }
    let before = u64::from(index) * full;
    usize::try_from((total_bytes - before).min(full)).ok()
}

/// How many chunks a blob of `total_bytes` ciphertext bytes has.
pub fn blob_chunk_count(total_bytes: u64) -> u32 {
    let full = (BLOB_CHUNK_BYTES + BLOB_CHUNK_OVERHEAD) as u64;
    u32::try_from(total_bytes.div_ceil(full).max(1)).unwrap_or(u32::MAX)
}

/// A frame sent by a client.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ClientFrame {
    /// Optional announcement of the client's protocol version. No reply unless
    /// the version is unsupported ([`ErrorCode::UnsupportedVersion`]).
    Hello {
        /// The client's protocol version.
        version: u32,
    },
    /// Answer to the server's [`ServerFrame::Challenge`].
    Auth {
        /// The device's Ed25519 public key.
        device: DeviceId,
        /// The client's clock, in milliseconds since the Unix epoch.
        timestamp_ms: u64,
        /// The nonce from this connection's challenge.
        nonce: [u8; 32],
        /// Ed25519 signature (64 bytes) over [`crate::auth_message`].
        signature: Vec<u8>,
    },
    /// Append envelopes to a log.
    Push {
        /// The log.
        log: LogId,
        /// The log's capability; the first push to a log sets it.
        capability: Capability,
        /// Envelopes to append, in order.
        envelopes: Vec<Envelope>,
    },
    /// Read entries after a cursor.
    Pull {
        /// The log.
        log: LogId,
        /// The log's capability.
        capability: Capability,
        /// Return entries with a sequence number greater than this (0 = from the start).
        after_seq: u64,
        /// Most entries wanted; clamped to [`MAX_PULL`].
        limit: u32,
    },
    /// Receive [`ServerFrame::Appended`] whenever the log grows.
    Subscribe {
        /// The log.
        log: LogId,
        /// The log's capability.
        capability: Capability,
    },
    /// Liveness check; answered with [`ServerFrame::Pong`].
    Ping {
        /// Echoed back.
        id: u64,
    },
    /// Deletes a log and everything in it (account deletion). Answered with
    /// [`ServerFrame::Deleted`]. Only the log's manager may: the capability
    /// is not enough.
    Delete {
        /// The log.
        log: LogId,
        /// The log's manage key (its hash was registered).
        manage: ManageKey,
    },
    /// Marks every entry up to `through_seq` superseded: the client pushed a
    /// snapshot of the log's documents after them. Superseded entries are
    /// deleted after the server's grace period. Answered with
    /// [`ServerFrame::Compacted`].
    Compact {
        /// The log.
        log: LogId,
        /// The log's manage key: compaction deletes entries, so it is the
        /// manager's right, as deletion is.
        manage: ManageKey,
        /// The last entry the snapshot covers.
        through_seq: u64,
    },
    /// An ephemeral signal (typing, presence) for the log's other
    /// subscribers: forwarded to connected subscribers, never stored.
    /// Answered with [`ServerFrame::SignalSent`].
    Signal {
        /// The log whose subscribers get it.
        log: LogId,
        /// The log's capability (the log must exist).
        capability: Capability,
        /// Opaque sealed bytes, at most [`MAX_SIGNAL_BYTES`].
        payload: Vec<u8>,
    },
    /// Stores one encrypted chunk of a blob, kept with the log (whose
    /// capability proves membership). The first chunk stored fixes the
    /// blob's log and size; chunks may come in any order and again (resume).
    /// Answered with [`ServerFrame::BlobStored`].
    BlobPut {
        /// The log the blob belongs to (it must exist).
        log: LogId,
        /// The log's capability.
        capability: Capability,
        /// The blob.
        blob: BlobId,
        /// The blob's whole ciphertext size, at most [`MAX_BLOB_BYTES`].
        total_bytes: u64,
        /// Which chunk.
        index: u32,
        /// Its ciphertext: exactly [`blob_chunk_len`] bytes.
        bytes: Vec<u8>,
    },
    /// What the server holds of a blob (to resume an upload, or to learn
    /// whether a download can start). Answered with [`ServerFrame::BlobState`].
    BlobStat {
        /// The log the blob belongs to.
        log: LogId,
        /// The log's capability.
        capability: Capability,
        /// The blob.
        blob: BlobId,
    },
    /// One chunk of a complete blob. Answered with [`ServerFrame::BlobChunk`].
    BlobGet {
        /// The log the blob belongs to.
        log: LogId,
        /// The log's capability.
        capability: Capability,
        /// The blob.
        blob: BlobId,
        /// Which chunk.
        index: u32,
    },
    /// Registers the hash of the log's [`ManageKey`], creating the log
    /// (empty) if it does not exist yet. The first registration wins: a
    /// log's creator registers before it hands out the capability. The
    /// same hash again is accepted; another is `Forbidden`. Answered with
    /// [`ServerFrame::Registered`].
    Register {
        /// The log.
        log: LogId,
        /// The log's capability (it becomes the log's, if the log is new).
        capability: Capability,
        /// `BLAKE3(manage key)`.
        manager: [u8; 32],
    },
    /// Claims a username: `lookup` is [`crate::Username::lookup`] (the
    /// server never sees the name), `record` the sealed answer to give
    /// whoever looks it up (at most [`crate::MAX_NAME_RECORD_BYTES`]),
    /// `manager` the hash of the key that may change or release it. The
    /// same manager may claim again (a new record); another one gets
    /// [`ErrorCode::Taken`]. Answered with [`ServerFrame::NameClaimed`].
    ClaimName {
        /// Hash of the canonical name.
        lookup: [u8; 32],
        /// The sealed record.
        record: Vec<u8>,
        /// `BLAKE3(manage key)`.
        manager: [u8; 32],
    },
    /// Looks a username up (exact match only; rate-limited per device and
    /// per address with [`ErrorCode::Limited`]). Answered with
    /// [`ServerFrame::NameFound`], or `NotFound`.
    FindName {
        /// Hash of the canonical name.
        lookup: [u8; 32],
    },
    /// Gives a username up, with its manage key. Answered with
    /// [`ServerFrame::NameReleased`].
    ReleaseName {
        /// Hash of the canonical name.
        lookup: [u8; 32],
        /// The key whose hash claimed it.
        manage: ManageKey,
    },
    /// Makes `log` this device's request inbox (creating it with
    /// `capability`, which only this device knows): strangers may then
    /// append to it with [`ClientFrame::Request`] without the capability.
    /// Answered with [`ServerFrame::InboxOpened`].
    OpenInbox {
        /// The inbox log.
        log: LogId,
        /// Its capability (reads it; set when the log is created).
        capability: Capability,
    },
    /// Leaves a message request in `device`'s inbox: rate-limited per
    /// sender device and per address ([`ErrorCode::Limited`]), refused for a
    /// suspended sender ([`ErrorCode::Suspended`]). Answered with
    /// [`ServerFrame::RequestPosted`], or `NotFound` when the device has no
    /// inbox here.
    Request {
        /// Whose inbox.
        device: DeviceId,
        /// The sealed request.
        envelope: Envelope,
    },
    /// Reports a device for abuse: only its id and a short reason (at most
    /// [`MAX_REPORT_REASON_BYTES`]) reach the operator. Answered with
    /// [`ServerFrame::Reported`].
    Report {
        /// The device reported.
        device: DeviceId,
        /// Why, in the reporter's words.
        reason: String,
    },
    /// Asks for one short email to `address` when this device has been
    /// away `after_secs` (at least the server's minimum) and a new entry is
    /// in one of `logs` (at most [`MAX_NUDGE_LOGS`]); again only after it
    /// was back. Replaces an earlier registration. `Forbidden` when the
    /// server sends no email. Answered with [`ServerFrame::NudgeSet`].
    NudgeByEmail {
        /// Where to write (at most 254 bytes, one `@`).
        address: String,
        /// How long away first.
        after_secs: u64,
        /// The logs that count.
        logs: Vec<LogId>,
        /// Only update a registration that exists (a device keeping its
        /// list of logs current): after an unsubscribe link was used, the
        /// answer is `NudgesStopped { was_set: false }` and nothing is set.
        renew: bool,
    },
    /// No more email nudges for this device. Answered with
    /// [`ServerFrame::NudgesStopped`].
    StopNudges,
}

/// A frame sent by the server.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ServerFrame {
    /// First frame on every connection.
    Challenge {
        /// The server's protocol version.
        version: u32,
        /// Fresh random nonce for this connection.
        nonce: [u8; 32],
        /// The server's clock, in milliseconds since the Unix epoch.
        server_time_ms: u64,
        /// The audience string the signature must cover.
        audience: String,
    },
    /// The [`ClientFrame::Auth`] was accepted.
    Authenticated,
    /// A request failed.
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// Whether the same request may succeed later.
        retryable: bool,
    },
    /// Answer to [`ClientFrame::Push`]: the sequence number of every envelope,
    /// in the order pushed.
    Pushed {
        /// The log.
        log: LogId,
        /// `(envelope id, sequence number)`; a re-pushed id keeps its original number.
        results: Vec<(EnvelopeId, u64)>,
    },
    /// Answer to [`ClientFrame::Pull`].
    Entries {
        /// The log.
        log: LogId,
        /// `(sequence number, envelope)` in ascending order.
        entries: Vec<(u64, Envelope)>,
        /// Whether more entries follow the last one returned.
        more: bool,
    },
    /// Answer to [`ClientFrame::Subscribe`].
    Subscribed {
        /// The log.
        log: LogId,
        /// The log's current last sequence number.
        last_seq: u64,
    },
    /// A subscribed log grew; pull after your cursor.
    Appended {
        /// The log.
        log: LogId,
        /// The log's new last sequence number.
        seq: u64,
    },
    /// Answer to [`ClientFrame::Ping`].
    Pong {
        /// The ping's id.
        id: u64,
    },
    /// Answer to [`ClientFrame::Delete`].
    Deleted {
        /// The log, now gone.
        log: LogId,
    },
    /// Answer to [`ClientFrame::Compact`].
    Compacted {
        /// The log.
        log: LogId,
        /// Entries up to here are superseded.
        through_seq: u64,
    },
    /// Answer to [`ClientFrame::Signal`]: handed to every connected
    /// subscriber of the log (there may be none).
    SignalSent {
        /// The log.
        log: LogId,
    },
    /// An ephemeral signal from another connection on a subscribed log.
    Signal {
        /// The log.
        log: LogId,
        /// The opaque payload.
        payload: Vec<u8>,
    },
    /// Answer to [`ClientFrame::BlobPut`].
    BlobStored {
        /// The blob.
        blob: BlobId,
        /// The chunk stored.
        index: u32,
        /// Whether every chunk is now there.
        complete: bool,
    },
    /// Answer to [`ClientFrame::BlobStat`] (a blob the server does not hold
    /// is [`ErrorCode::NotFound`]).
    BlobState {
        /// The blob.
        blob: BlobId,
        /// Its whole ciphertext size.
        total_bytes: u64,
        /// The chunks stored, ascending.
        have: Vec<u32>,
    },
    /// Answer to [`ClientFrame::BlobGet`].
    BlobChunk {
        /// The blob.
        blob: BlobId,
        /// The chunk.
        index: u32,
        /// Its ciphertext.
        bytes: Vec<u8>,
    },
    /// Answer to [`ClientFrame::Register`]: the hash is the log's manager.
    Registered {
        /// The log.
        log: LogId,
    },
    /// Answer to [`ClientFrame::ClaimName`].
    NameClaimed {
        /// The name's lookup.
        lookup: [u8; 32],
    },
    /// Answer to [`ClientFrame::FindName`].
    NameFound {
        /// The name's lookup.
        lookup: [u8; 32],
        /// The sealed record its owner left.
        record: Vec<u8>,
    },
    /// Answer to [`ClientFrame::ReleaseName`].
    NameReleased {
        /// The name's lookup.
        lookup: [u8; 32],
    },
    /// Answer to [`ClientFrame::OpenInbox`].
    InboxOpened {
        /// The inbox log.
        log: LogId,
    },
    /// Answer to [`ClientFrame::Request`].
    RequestPosted {
        /// Whose inbox.
        device: DeviceId,
    },
    /// Answer to [`ClientFrame::Report`].
    Reported,
    /// Answer to [`ClientFrame::NudgeByEmail`].
    NudgeSet {
        /// How long away, as the server will apply it.
        after_secs: u64,
    },
    /// Answer to [`ClientFrame::StopNudges`].
    NudgesStopped {
        /// Whether a registration was removed.
        was_set: bool,
    },
}

/// Why a request failed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The frame could not be decoded (or was a text frame).
    Malformed,
    /// A frame, an envelope or a push exceeded a limit.
    TooLarge,
    /// Not authenticated, or the authentication was refused.
    Unauthenticated,
    /// The capability does not match the log's.
    Forbidden,
    /// The log does not exist.
    NotFound,
    /// Too many frames; slow down and retry.
    RateLimited,
    /// The log's storage quota would be exceeded.
    QuotaExceeded,
    /// The protocol version is not supported.
    UnsupportedVersion,
    /// The server failed; retry later.
    Internal,
    /// The username belongs to someone else.
    Taken,
    /// The operator suspended this device (or the name).
    Suspended,
    /// Too many lookups or requests from this device or address for now:
    /// not retried at once (unlike [`ErrorCode::RateLimited`]).
    Limited,
}

/// Why bytes could not be turned into a frame, or a frame into bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input is larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the frame.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a valid frame.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Bytes were left over after a complete frame.
    #[error("malformed frame: {0} trailing bytes")]
    TrailingBytes(usize),
}

fn encode<T: Serialize>(frame: &T) -> Result<Vec<u8>, WireError> {
    let bytes = postcard::to_stdvec(frame).map_err(|e| WireError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    Ok(bytes)
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WireError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    let (frame, rest) = postcard::take_from_bytes(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes(rest.len()));
    }
    Ok(frame)
}

impl ClientFrame {
    /// Encodes the frame, refusing frames larger than [`MAX_FRAME_BYTES`].
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        encode(self)
    }

    /// Decodes one whole frame; never panics on arbitrary input.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode(bytes)
    }
}

impl ServerFrame {
    /// Encodes the frame, refusing frames larger than [`MAX_FRAME_BYTES`].
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        encode(self)
    }

    /// Decodes one whole frame; never panics on arbitrary input.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode(bytes)
    }

    /// Shorthand for an [`ServerFrame::Error`].
    pub fn error(code: ErrorCode, message: impl Into<String>, retryable: bool) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            retryable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_chunks_cover_the_blob_exactly() {
        let full = BLOB_CHUNK_BYTES + BLOB_CHUNK_OVERHEAD;
        assert_eq!(blob_chunk_count(0), 1);
        assert_eq!(blob_chunk_len(0, 0), Some(0));
        assert_eq!(blob_chunk_len(0, 1), None);
        let total = (2 * full + 10) as u64;
        assert_eq!(blob_chunk_count(total), 3);
        assert_eq!(blob_chunk_len(total, 0), Some(full));
        assert_eq!(blob_chunk_len(total, 2), Some(10));
        assert_eq!(blob_chunk_len(total, 3), None);
        assert_eq!(blob_chunk_count(full as u64), 1);
        let sum: usize = (0..blob_chunk_count(total))
            .filter_map(|i| blob_chunk_len(total, i))
            .sum();
        assert_eq!(sum as u64, total);
        // A full chunk and its frame fit in one frame.
        assert!(full + 200 < MAX_FRAME_BYTES);
    }
    use proptest::prelude::*;

    fn envelope(n: u8, len: usize) -> Envelope {
        Envelope {
            id: EnvelopeId([n; 16]),
            epoch: u32::from(n),
            ciphertext: vec![n; len],
        }
    }

    #[test]
    fn client_frames_round_trip() {
        let frames = vec![
            ClientFrame::Hello { version: 1 },
            ClientFrame::Auth {
                device: DeviceId::from_bytes([1; 32]),
                timestamp_ms: 1_700_000_000_000,
                nonce: [2; 32],
                signature: vec![3; 64],
            },
            ClientFrame::Push {
                log: LogId([4; 32]),
                capability: Capability([5; 32]),
                envelopes: vec![envelope(1, 10), envelope(2, 0)],
            },
            ClientFrame::Pull {
                log: LogId([4; 32]),
                capability: Capability([5; 32]),
                after_seq: 7,
                limit: 100,
            },
            ClientFrame::Subscribe {
                log: LogId([4; 32]),
                capability: Capability([5; 32]),
            },
            ClientFrame::Ping { id: 9 },
        ];
        for frame in frames {
            let bytes = frame.encode().unwrap();
            assert_eq!(ClientFrame::decode(&bytes).unwrap(), frame);
        }
    }

    #[test]
    fn server_frames_round_trip() {
        let frames = vec![
            ServerFrame::Challenge {
                version: PROTOCOL_VERSION,
                nonce: [1; 32],
                server_time_ms: 5,
                audience: "kith-server".into(),
            },
            ServerFrame::Authenticated,
            ServerFrame::error(ErrorCode::RateLimited, "slow down", true),
            ServerFrame::Pushed {
                log: LogId([1; 32]),
                results: vec![(EnvelopeId([1; 16]), 1)],
            },
            ServerFrame::Entries {
                log: LogId([1; 32]),
                entries: vec![(1, envelope(1, 3))],
                more: false,
            },
            ServerFrame::Subscribed {
                log: LogId([1; 32]),
                last_seq: 3,
            },
            ServerFrame::Appended {
                log: LogId([1; 32]),
                seq: 4,
            },
            ServerFrame::Pong { id: 1 },
        ];
        for frame in frames {
            let bytes = frame.encode().unwrap();
            assert_eq!(ServerFrame::decode(&bytes).unwrap(), frame);
        }
    }

    #[test]
    fn oversize_is_refused_both_ways() {
        let big = ClientFrame::Push {
            log: LogId([0; 32]),
            capability: Capability([0; 32]),
            envelopes: vec![envelope(1, MAX_FRAME_BYTES)],
        };
        assert!(matches!(big.encode(), Err(WireError::TooLarge { .. })));
        let bytes = vec![0u8; MAX_FRAME_BYTES + 1];
        assert!(matches!(ClientFrame::decode(&bytes), Err(WireError::TooLarge { .. })));
    }

    #[test]
    fn malformed_and_trailing_are_refused() {
        assert!(matches!(ClientFrame::decode(&[]), Err(WireError::Malformed(_))));
        assert!(matches!(ClientFrame::decode(&[200]), Err(WireError::Malformed(_))));
        let mut bytes = ClientFrame::Ping { id: 1 }.encode().unwrap();
        bytes.push(0);
        assert_eq!(ClientFrame::decode(&bytes), Err(WireError::TrailingBytes(1)));
    }

    #[test]
    fn short_device_id_is_malformed() {
        // Auth variant (1), then a device id claiming 3 bytes.
        let bytes = [1u8, 3, 1, 2, 3];
        assert!(matches!(ClientFrame::decode(&bytes), Err(WireError::Malformed(_))));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = ClientFrame::decode(&bytes);
            let _ = ServerFrame::decode(&bytes);
        }

        #[test]
        fn decoding_mutated_frames_never_panics(flip in 0usize..200, value in any::<u8>()) {
            let frame = ClientFrame::Push {
                log: LogId([4; 32]),
                capability: Capability([5; 32]),
                envelopes: vec![envelope(1, 50), envelope(2, 50)],
            };
            let mut bytes = frame.encode().unwrap();
            let index = flip % bytes.len();
            bytes[index] = value;
            let _ = ClientFrame::decode(&bytes);
        }
    }
}
