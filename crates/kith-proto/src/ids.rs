//! Identifiers of accounts, devices, chats, messages and documents.

use crate::encoding::{decode_id, encode_id};
use crate::hlc::Hlc;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Why a text could not be read as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text is not lowercase base32hex.
    #[error("{kind} id {text:?} is not valid base32hex")]
    Encoding {
        /// Which kind of id was expected.
        kind: &'static str,
        /// The offending text (truncated).
        text: String,
    },
    /// The decoded id has the wrong number of bytes.
    #[error("{kind} id {text:?} has {got} bytes, expected {expected}")]
    Length {
        /// Which kind of id was expected.
        kind: &'static str,
        /// The offending text (truncated).
        text: String,
        /// Bytes decoded.
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// A document id that is not `acct:`, `head:` or `seg:`.
    #[error("document id {0:?} is not of the form acct:ID, head:CHAT or seg:CHAT:YYYYMM")]
    DocId(String),
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

fn parse_fixed<const N: usize>(kind: &'static str, text: &str) -> Result<[u8; N], IdError> {
    let bytes = decode_id(text).ok_or_else(|| IdError::Encoding {
        kind,
        text: shorten(text),
    })?;
    let got = bytes.len();
    bytes.try_into().map_err(|_| IdError::Length {
        kind,
        text: shorten(text),
        got,
        expected: N,
    })
}

macro_rules! fixed_id {
    ($(#[$meta:meta])* $name:ident, $len:expr, $kind:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Number of bytes in this id.
            pub const LEN: usize = $len;

            /// Wraps raw bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Reads raw bytes of any length, checking it.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
                let got = bytes.len();
                <[u8; $len]>::try_from(bytes).map(Self).map_err(|_| IdError::Length {
                    kind: $kind,
                    text: encode_id(bytes),
                    got,
                    expected: $len,
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&encode_id(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                parse_fixed::<$len>($kind, text.trim()).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&self.to_string())
                } else {
                    serializer.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    text.parse().map_err(serde::de::Error::custom)
                } else {
                    let bytes = <Vec<u8>>::deserialize(deserializer)?;
                    Self::from_slice(&bytes).map_err(serde::de::Error::custom)
                }
            }
        }
    };
}

fixed_id!(
    /// A person's account: the Ed25519 public key of the account key.
    AccountId, 32, "account"
);
fixed_id!(
    /// One device of an account: the Ed25519 public key of the device's signing
    /// key. It is also the device's Automerge actor id and libp2p PeerId key.
    DeviceId, 32, "device"
);
fixed_id!(
    /// A conversation: the first 16 bytes of BLAKE3(creator account || nonce), so
    /// only the creator's devices can write the conversation's first change.
    ChatId, 16, "chat"
);
fixed_id!(
    /// A message: its HLC timestamp (8 bytes, big-endian) followed by the first 8
    /// bytes of the sending device's id. Sorts by time; names its device.
    MessageId, 16, "message"
);

impl MessageId {
    /// Builds the id of a message sent by `device` at `ts`.
    pub fn new(ts: Hlc, device: &DeviceId) -> MessageId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&ts.to_packed().to_be_bytes());
        bytes[8..].copy_from_slice(&device.as_bytes()[..8]);
        MessageId(bytes)
    }

    /// The HLC timestamp at which the message was sent.
    pub fn ts(&self) -> Hlc {
        let mut packed = [0u8; 8];
        packed.copy_from_slice(&self.0[..8]);
        Hlc::from_packed(u64::from_be_bytes(packed))
    }

    /// Whether the id was minted by `device` (its last 8 bytes are the device's first 8).
    pub fn minted_by(&self, device: &DeviceId) -> bool {
        self.0[8..] == device.as_bytes()[..8]
    }
}

/// A calendar month in UTC, as `YYYYMM` (for example 202611).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Month(u32);

impl Month {
    /// The month that contains `millis` since the Unix epoch (UTC).
    pub fn from_millis(millis: u64) -> Month {
        let days = i64::try_from(millis / 86_400_000).unwrap_or(i64::MAX);
        let (year, month, _) = civil_from_days(days);
        Month(u32::try_from(year).unwrap_or(0) * 100 + month)
    }

    /// The month of an HLC timestamp.
    pub fn of(ts: Hlc) -> Month {
        Month::from_millis(ts.millis())
    }

    /// Reads `YYYYMM`, checking the month is 1..=12.
    pub fn from_yyyymm(value: u32) -> Option<Month> {
        let month = value % 100;
        (1..=12).contains(&month).then_some(Month(value))
    }

    /// The `YYYYMM` number.
    pub fn yyyymm(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Which Automerge document: one per unit of sharing and growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocId {
    /// The account document, shared by one person's devices only.
    Account(AccountId),
    /// A conversation's head: kind, name, members and roles.
    Head(ChatId),
    /// A conversation's messages of one calendar month.
    Segment(ChatId, Month),
}

impl DocId {
    /// The conversation this document belongs to, if any.
    pub fn chat(&self) -> Option<ChatId> {
        match self {
            DocId::Account(_) => None,
            DocId::Head(chat) | DocId::Segment(chat, _) => Some(*chat),
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocId::Account(account) => write!(f, "acct:{account}"),
            DocId::Head(chat) => write!(f, "head:{chat}"),
            DocId::Segment(chat, month) => write!(f, "seg:{chat}:{month}"),
        }
    }
}

impl FromStr for DocId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<DocId, IdError> {
        let bad = || IdError::DocId(shorten(text));
        let mut parts = text.split(':');
        let doc = match (parts.next(), parts.next(), parts.next()) {
            (Some("acct"), Some(id), None) => DocId::Account(id.parse()?),
            (Some("head"), Some(id), None) => DocId::Head(id.parse()?),
            (Some("seg"), Some(id), Some(month)) => {
                let month = month.parse::<u32>().ok().and_then(Month::from_yyyymm).ok_or_else(bad)?;
                DocId::Segment(id.parse()?, month)
            }
            _ => return Err(bad()),
        };
        match parts.next() {
            None => Ok(doc),
            Some(_) => Err(bad()),
        }
    }
}

impl Serialize for DocId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DocId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn month_of_known_dates() {
        assert_eq!(Month::from_millis(0).yyyymm(), 197001);
        // 2026-11-21T12:00:00Z
        assert_eq!(Month::from_millis(1_795_262_400_000).yyyymm(), 202611);
        // 2024-02-29T23:59:59Z, a leap day
        assert_eq!(Month::from_millis(1_709_251_199_000).yyyymm(), 202402);
        assert_eq!(Month::from_millis(1_709_251_200_000).yyyymm(), 202403);
    }

    #[test]
    fn bad_ids_are_clear_errors() {
        assert!(matches!("xyz!".parse::<ChatId>(), Err(IdError::Encoding { .. })));
        assert!(matches!("00".parse::<ChatId>(), Err(IdError::Length { .. })));
        assert!("head:00".parse::<DocId>().is_err());
        assert!("seg:0000000000000000000000000:202613".parse::<DocId>().is_err());
        assert!("nope".parse::<DocId>().is_err());
    }

    #[test]
    fn message_ids_sort_by_time_and_name_their_device() {
        let device = DeviceId::from_bytes([7; 32]);
        let other = DeviceId::from_bytes([8; 32]);
        let a = MessageId::new(Hlc::new(1_000, 0), &device);
        let b = MessageId::new(Hlc::new(1_000, 1), &other);
        assert!(a < b && a.to_string() < b.to_string());
        assert!(a.minted_by(&device) && !a.minted_by(&other));
        assert_eq!(b.ts(), Hlc::new(1_000, 1));
    }

    proptest! {
        #[test]
        fn doc_ids_round_trip(chat in any::<[u8; 16]>(), account in any::<[u8; 32]>(), yyyymm in 197001u32..300012) {
            let chat = ChatId::from_bytes(chat);
            let ids = [DocId::Account(AccountId::from_bytes(account)), DocId::Head(chat)];
            for id in ids {
                prop_assert_eq!(id.to_string().parse::<DocId>().ok(), Some(id));
            }
            if let Some(month) = Month::from_yyyymm(yyyymm) {
                let id = DocId::Segment(chat, month);
                prop_assert_eq!(id.to_string().parse::<DocId>().ok(), Some(id));
            }
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".{0,80}") {
            let _ = text.parse::<DocId>();
            let _ = text.parse::<AccountId>();
        }
    }
}
