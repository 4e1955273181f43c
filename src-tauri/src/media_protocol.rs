//! `kith-media://localhost/HASH`: pictures, voice notes and videos of the
//! profile's messages, straight from their blob files: for `<img>`
//! directly, and fetched by the page for `<audio>` and `<video>`, which
//! play them as `blob:` URLs (WebKitGTK's GStreamer player cannot read a
//! custom scheme; ARCHITECTURE.md, decision 13).
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
    // Only what Kith's own conversion writes: a modified client must not
    // get arbitrary containers parsed by the webview's player.
    "video/webm",
];

/// The app's own page origins (Linux and macOS; Windows, over http and
/// https): the only pages allowed to read these answers with `fetch`.
const APP_ORIGINS: &[&str] = &["tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"];

/// The `Access-Control-Allow-Origin` for a request from `origin`.
fn allowed_origin(origin: Option<&str>) -> Option<&'static str> {
    let origin = origin?;
    APP_ORIGINS.iter().copied().find(|allowed| *allowed == origin)
}

fn status(code: StatusCode) -> Response<Vec<u8>> {
    let mut response = Response::new(Vec::new());
    *response.status_mut() = code;
    response
}

/// The answer while no profile is open.
pub fn respond_without_profile() -> Response<Vec<u8>> {
    status(StatusCode::NOT_FOUND)
}

/// The served type of a blob: from any live message that shows it as a
/// picture or voice note under an allowlisted type (another reference
/// calling the same bytes a file must not hide it).
fn served_type(profile: &Profile, hash: &[u8; 32]) -> Result<Option<String>, String> {
    let store = profile.store();
    for chat in store.blob_chats(hash).map_err(|err| err.to_string())? {
        for message in store.attachment_messages(&chat).map_err(|err| err.to_string())? {
            for attachment in message.attachments.iter().filter(|a| a.hash == *hash) {
                let shown = matches!(
                    attachment.kind,
                    AttachmentKind::Image { .. } | AttachmentKind::Voice { .. } | AttachmentKind::Video { .. }
                );
                if shown && SERVED_TYPES.contains(&attachment.mime.as_str()) {
                    return Ok(Some(attachment.mime.clone()));
                }
            }
        }
    }
    Ok(None)
}

/// Most bytes answered to an open-ended range (`bytes=N-`): media elements
/// ask for more as they play.
const OPEN_RANGE_BYTES: u64 = 1024 * 1024;

/// The answer to a request for `path` (`/HASH`), with an optional `Range`,
/// from a page of `origin`.
pub fn respond(profile: &Profile, path: &str, range: Option<&str>, origin: Option<&str>) -> Response<Vec<u8>> {
    let Some(hash) = parse_hash(path.trim_start_matches('/')) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let mime = match served_type(profile, &hash) {
        Ok(Some(mime)) => mime,
        Ok(None) => return status(StatusCode::FORBIDDEN),
        Err(err) => {
            tracing::warn!(%err, "could not look up an attachment");
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    if !profile.blobs().has(&hash).unwrap_or(false) {
        return status(StatusCode::NOT_FOUND);
    }
    match read(&profile.blobs().path(&hash), range) {
        Ok(Some((code, body, content_range))) => {
            let mut builder = Response::builder()
                .status(code)
                .header(header::CONTENT_TYPE, mime.as_str())
                .header(header::ACCEPT_RANGES, "bytes")
                .header("X-Content-Type-Options", "nosniff")
                .header(header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox")
                // Decrypted content: not kept by the webview once shown.
                .header(header::CACHE_CONTROL, "no-store");
            if let Some(content_range) = content_range {
                builder = builder.header(header::CONTENT_RANGE, content_range);
            }
            if let Some(origin) = allowed_origin(origin) {
                builder = builder
                    .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)
                    .header(header::VARY, "Origin");
            }
            builder
                .body(body)
                .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
        }
        Ok(None) => status(StatusCode::RANGE_NOT_SATISFIABLE),
        Err(err) => {
            tracing::warn!(%err, "could not read an attachment");
            status(StatusCode::NOT_FOUND)
        }
    }
}

/// A status, the bytes, and the `Content-Range` of a partial answer.
type Ranged = (StatusCode, Vec<u8>, Option<String>);

/// The bytes asked for: all of the file, or one range of it (read alone,
/// not the whole file). `None` when the range cannot be satisfied.
fn read(path: &std::path::Path, range: Option<&str>) -> std::io::Result<Option<Ranged>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let total = file.metadata()?.len();
    let Some(range) = range else {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        return Ok(Some((StatusCode::OK, bytes, None)));
    };
    let Some((start, end)) = parse_range(range, total) else {
        return Ok(None);
    };
    let open_ended = range.trim().ends_with('-');
    let end = if open_ended {
        end.min(start + OPEN_RANGE_BYTES - 1)
    } else {
        end
    };
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(end - start + 1).read_to_end(&mut bytes)?;
    let last = start + bytes.len() as u64 - 1;
    Ok(Some((
        StatusCode::PARTIAL_CONTENT,
        bytes,
        Some(format!("bytes {start}-{last}/{total}")),
    )))
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE.decode(text.as_bytes()).ok()?;
    bytes.try_into().ok()
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
    fn only_the_apps_own_pages_may_read_media_with_fetch() {
        assert_eq!(allowed_origin(Some("tauri://localhost")), Some("tauri://localhost"));
        assert_eq!(
            allowed_origin(Some("http://tauri.localhost")),
            Some("http://tauri.localhost")
        );
        assert_eq!(allowed_origin(Some("https://evil.example")), None);
        assert_eq!(allowed_origin(Some("tauri://localhost.evil.example")), None);
        assert_eq!(allowed_origin(Some("null")), None);
        assert_eq!(allowed_origin(None), None);
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

#[cfg(test)]
mod read_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ranges_read_only_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let bytes: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let (code, body, range) = read(&path, None).unwrap().unwrap();
        assert_eq!((code, body.len(), range), (StatusCode::OK, bytes.len(), None));
        let (code, body, range) = read(&path, Some("bytes=10-19")).unwrap().unwrap();
        assert_eq!(code, StatusCode::PARTIAL_CONTENT);
        assert_eq!(body, bytes[10..20]);
        assert_eq!(range.as_deref(), Some("bytes 10-19/3145728"));
        // Open-ended: at most a mebibyte at a time.
        let (_, body, range) = read(&path, Some("bytes=100-")).unwrap().unwrap();
        assert_eq!(body, bytes[100..100 + 1024 * 1024]);
        assert_eq!(range.as_deref(), Some("bytes 100-1048675/3145728"));
        assert!(read(&path, Some("bytes=9999999-")).unwrap().is_none());
    }
}
