//! The bytes a device signs to authenticate to the sync server.

/// Domain separator prefixed to every signed authentication message.
pub const AUTH_DOMAIN: &[u8] = b"kith/auth/v1";

/// Allowed difference between the signed timestamp and the server clock.
pub const AUTH_MAX_SKEW_MS: u64 = 5 * 60 * 1000;

/// Builds the exact byte string a device signs with its Ed25519 key:
///
/// `b"kith/auth/v1" || audience (UTF-8) || nonce (32 bytes) || u64_be(timestamp_ms)`.
///
/// The nonce and timestamp have fixed sizes, so the audience is recovered from
/// the total length and no two (audience, nonce, timestamp) triples collide.
pub fn auth_message(audience: &str, nonce: &[u8; 32], timestamp_ms: u64) -> Vec<u8> {
    let audience = audience.as_bytes();
    let mut out = Vec::with_capacity(AUTH_DOMAIN.len() + audience.len() + 32 + 8);
    out.extend_from_slice(AUTH_DOMAIN);
    out.extend_from_slice(audience);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_exact() {
        let msg = auth_message("ab", &[7; 32], 0x0102_0304_0506_0708);
        let mut expected = b"kith/auth/v1".to_vec();
        expected.extend_from_slice(b"ab");
        expected.extend_from_slice(&[7; 32]);
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(msg, expected);
    }

    #[test]
    fn audience_and_nonce_do_not_collide() {
        assert_ne!(auth_message("a", &[0; 32], 1), auth_message("b", &[0; 32], 1));
        assert_ne!(auth_message("a", &[0; 32], 1), auth_message("a", &[1; 32], 1));
        assert_ne!(auth_message("a", &[0; 32], 1), auth_message("a", &[0; 32], 2));
    }
}
