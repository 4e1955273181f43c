//! `kith-media://localhost/HASH`: pictures and voice notes of the profile's
//! messages, straight from their blob files, for `<img>` and `<audio>`.
//!
//! Only attachments a message of this profile refers to are served, only
//! when their kind is picture or voice note, and only under an allowlisted
//! type: a sender chooses the MIME type it claims, and an `image/svg+xml`
//! or `text/html` "picture" must never become a document in the app.

use kith_client::{AttachmentKind, Profile};
use tauri::http::{Response, StatusCode, header};

/// The scheme's name.
pub const SCHEME: &str = "kith-media";

/// Types served as themselves; anything else is refused.
const SERVED_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "audio/webm",
    "audio/ogg",
    "audio/mp4",
    "audio/mpeg",
    "audio/wav",
];

fn status(code: StatusCode) -> Response<Vec<u8>> {
    let mut response = Response::new(Vec::new());
    *response.status_mut() = code;
    response
}

/// The answer while no profile is open.
pub fn respond_without_profile() -> Response<Vec<u8>> {
    status(StatusCode::NOT_FOUND)
}

/// The answer to a request for `path` (`/HASH`), with an optional `Range`.
pub fn respond(profile: &Profile, path: &str, range: Option<&str>) -> Response<Vec<u8>> {
    let Some(hash) = parse_hash(path.trim_start_matches('/')) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let attachment = match profile.find_attachment(&hash) {
        Ok(Some((_, _, attachment))) => attachment,
        Ok(None) => return status(StatusCode::NOT_FOUND),
        Err(err) => {
            tracing::warn!(%err, "could not look up an attachment");
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let shown = matches!(
        attachment.kind,
        AttachmentKind::Image { .. } | AttachmentKind::Voice { .. }
    );
    if !shown || !SERVED_TYPES.contains(&attachment.mime.as_str()) {
        return status(StatusCode::FORBIDDEN);
    }
    if !profile.has_blob(&hash).unwrap_or(false) {
        return status(StatusCode::NOT_FOUND);
    }
    let bytes = match std::fs::read(profile.blob_path(&hash)) {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::warn!(%err, "could not read an attachment");
            return status(StatusCode::NOT_FOUND);
        }
    };
    let total = bytes.len() as u64;
    let (code, body, content_range) = match range.map(|r| parse_range(r, total)) {
        None => (StatusCode::OK, bytes, None),
        Some(None) => {
            let mut refused = status(StatusCode::RANGE_NOT_SATISFIABLE);
            if let Ok(value) = format!("bytes */{total}").parse() {
                refused.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return refused;
        }
        Some(Some((start, end))) => {
            let slice = bytes
                .get(usize::try_from(start).unwrap_or(usize::MAX)..=usize::try_from(end).unwrap_or(usize::MAX))
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            (
                StatusCode::PARTIAL_CONTENT,
                slice,
                Some(format!("bytes {start}-{end}/{total}")),
            )
        }
    };
    let mut builder = Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, attachment.mime.as_str())
        .header(header::ACCEPT_RANGES, "bytes")
        .header("X-Content-Type-Options", "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox")
        // Content-addressed: the bytes under a hash never change.
        .header(header::CACHE_CONTROL, "private, max-age=31536000, immutable");
    if let Some(content_range) = content_range {
        builder = builder.header(header::CONTENT_RANGE, content_range);
    }
    builder
        .body(body)
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// One `bytes=` range as inclusive (start, end) within `total`; `None`
/// when it cannot be satisfied.
fn parse_range(range: &str, total: u64) -> Option<(u64, u64)> {
    let spec = range.trim().strip_prefix("bytes=")?;
    // Several ranges are not asked for by media elements; refused.
    if spec.contains(',') || total == 0 {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let last = total - 1;
    match (start.trim(), end.trim()) {
        ("", suffix) => {
            let suffix: u64 = suffix.parse().ok()?;
            (suffix > 0).then(|| (total.saturating_sub(suffix), last))
        }
        (start, "") => {
            let start: u64 = start.parse().ok()?;
            (start <= last).then_some((start, last))
        }
        (start, end) => {
            let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            (start <= end && start <= last).then_some((start, end.min(last)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_media_elements_send_them() {
        assert_eq!(parse_range("bytes=0-", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=10-19", 100), Some((10, 19)));
        assert_eq!(parse_range("bytes=90-200", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=x-1", 100), None);
        assert_eq!(parse_range("bytes=0-", 0), None);
    }

    #[test]
    fn only_whole_hashes_name_a_blob() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_hash(&hex), Some([0xab; 32]));
        assert_eq!(parse_hash(&hex[..62]), None);
        assert_eq!(parse_hash(&"zz".repeat(32)), None);
        assert_eq!(parse_hash(&format!("../{}", &hex[3..])), None);
    }
}
