//! The one text encoding of binary identifiers: lowercase base32hex without padding.
//!
//! base32hex keeps byte order, so ids that start with a timestamp sort by time as
//! text too (SQLite `ORDER BY`, file listings).

use data_encoding::{Encoding, Specification};
use std::sync::OnceLock;

fn encoding() -> &'static Encoding {
    static ENCODING: OnceLock<Encoding> = OnceLock::new();
    ENCODING.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str("0123456789abcdefghijklmnopqrstuv");
        // The specification above is a constant that is known to be valid.
        #[allow(clippy::expect_used)]
        spec.encoding().expect("valid base32hex specification")
    })
}

/// Encodes bytes as lowercase base32hex without padding.
pub fn encode_id(bytes: &[u8]) -> String {
    encoding().encode(bytes)
}

/// Decodes lowercase (or uppercase) base32hex without padding.
pub fn decode_id(text: &str) -> Option<Vec<u8>> {
    encoding().decode(text.to_ascii_lowercase().as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_order() {
        let a = encode_id(&[0, 1, 2, 3, 4]);
        let b = encode_id(&[0, 1, 2, 3, 5]);
        assert!(a < b);
        assert_eq!(decode_id(&a), Some(vec![0, 1, 2, 3, 4]));
        assert_eq!(decode_id("not base32!"), None);
    }
}
