//! Attachment commands: staging a file in the composer, fetching, opening
//! and saving what arrived.

use super::{Reply, blocking, chat_id, message_id, on_own_runtime};
use crate::backend::Backend;
use crate::convert;
use crate::error::IntoApi;
use kith_api::*;
use kith_client::{Attachment, ChatId, MessageId, Profile};
use std::path::PathBuf;
use std::sync::Arc;
use tauri::State;
use tauri::ipc::{InvokeBody, Request};

/// `stage_attachment`: the body is [`kith_api::raw_body`] framed.
#[tauri::command]
pub async fn stage_attachment(backend: State<'_, Arc<Backend>>, request: Request<'_>) -> Reply<StageAttachment> {
    let InvokeBody::Raw(body) = request.body() else {
        return Err(ApiError::invalid("The file did not arrive as bytes."));
    };
    let (args, bytes) = raw_body::split::<StageAttachment>(body)?;
    if bytes.is_empty() {
        return Err(ApiError::invalid(format!("{} is empty.", args.name)));
    }
    let bytes = bytes.to_vec();
    let profile = backend.profile()?;
    let attachment = blocking(move || {
        match args.voice_duration_ms {
            Some(duration) => profile
                .blobs()
                .attach_voice(&args.name, bytes, Some((duration, args.voice_waveform))),
            None => profile.blobs().attach_bytes(&args.name, bytes, args.as_file),
        }
        .api()
    })
    .await?;
    let dto = convert::attachment(0, &attachment, true);
    let token = backend.stage(attachment)?;
    Ok(DraftAttachment {
        token,
        name: dto.name,
        mime: dto.mime,
        size: dto.size,
        kind: dto.kind,
        thumbnail: dto.thumbnail,
    })
}

/// `unstage_attachment`
#[tauri::command]
pub async fn unstage_attachment(backend: State<'_, Arc<Backend>>, args: UnstageAttachment) -> Reply<UnstageAttachment> {
    // Its blob stays until garbage collection (the grace period covers a
    // composer that sends it after all).
    backend.unstage(&args.token);
    Ok(())
}

/// The attachment a command names, with its chat.
fn find(
    backend: &Backend,
    chat: &str,
    message: &str,
    index: u32,
) -> Result<(Arc<Profile>, ChatId, MessageId, Attachment), ApiError> {
    let profile = backend.profile()?;
    let chat = chat_id(chat)?;
    let message = message_id(message)?;
    let index = usize::try_from(index).map_err(|_| ApiError::invalid("no such attachment"))?;
    let attachment = profile.blobs().attachment(&chat, &message, index).api()?;
    Ok((profile, chat, message, attachment))
}

/// `download_attachment`: from the sync server (peers send wanted files by
/// themselves whenever one is reachable).
#[tauri::command]
pub async fn download_attachment(
    backend: State<'_, Arc<Backend>>,
    args: DownloadAttachment,
) -> Reply<DownloadAttachment> {
    let found = {
        let backend = Arc::clone(&backend);
        blocking(move || {
            let (profile, chat, _, attachment) = find(&backend, &args.chat_id, &args.message_id, args.index)?;
            let held = profile.blobs().has(&attachment.hash).api()?;
            Ok((profile, chat, attachment, held))
        })
        .await?
    };
    let (profile, chat, attachment, held) = found;
    if held {
        return Ok(());
    }
    let Some(server) = backend.shared.settings().server_url else {
        return Err(ApiError::new(
            ApiErrorKind::Network,
            format!(
                "{} arrives from a device that has it once one is reachable (no sync server is set).",
                attachment.name
            ),
        ));
    };
    blocking(move || {
        on_own_runtime(async {
            // Through the profile: its pinned server certificate applies.
            let connection = profile
                .relay()
                .connect(&server)
                .await
                .map_err(crate::error::api_error)?;
            match profile
                .blobs()
                .fetch(&connection, chat, &attachment, None, &mut |_| {})
                .await
            {
                // The sync loop or a peer has it in hand: its progress shows,
                // and its end reloads the chat.
                Ok(_) | Err(kith_client::ClientError::BlobBusy(_)) => Ok(()),
                Err(err) => Err(crate::error::api_error(err)),
            }
        })
    })
    .await
}

/// Extensions the app opens with the system's default app: documents,
/// pictures, sound and video, archives. Anything else (programs, scripts,
/// shortcuts, disk images, installers, and whatever a list of dangerous
/// types would miss) can only be saved.
const OPENABLE: &[&str] = &[
    "txt", "md", "csv", "json", "pdf", "rtf", "odt", "ods", "odp", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "epub",
    "png", "jpg", "jpeg", "gif", "webp", "heic", "bmp", "tif", "tiff", "mp3", "m4a", "ogg", "oga", "opus", "wav",
    "flac", "webm", "mp4", "mov", "mkv", "avi", "zip", "7z", "tar", "gz",
];

/// Whether the file at `path` (as written, after its name was made safe)
/// may be opened.
fn is_openable(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|extension| OPENABLE.contains(&extension.to_ascii_lowercase().as_str()))
}

/// Where copies handed to other apps go (cleared at the next start).
pub const OPENED_DIR: &str = "opened";

/// `open_attachment`: a copy under the profile, opened by the system.
#[tauri::command]
pub async fn open_attachment(backend: State<'_, Arc<Backend>>, args: OpenAttachment) -> Reply<OpenAttachment> {
    let backend = Arc::clone(&backend);
    let path = blocking(move || {
        let (profile, _, message, attachment) = find(&backend, &args.chat_id, &args.message_id, args.index)?;
        // Judged on the name as it will be written (made safe: no trailing
        // dots or spaces, no direction marks hiding the real extension).
        let dir = backend.profile_dir().join(OPENED_DIR).join(message.to_string());
        let target = dir.join(kith_client::safe_file_name(&attachment.name));
        if !is_openable(&target) {
            return Err(ApiError::invalid(format!(
                "Kith opens documents, pictures, sound and video only; {} could be a program. Save it and check it first.",
                attachment.name
            )));
        }
        std::fs::create_dir_all(&dir).map_err(|err| ApiError::internal(format!("{}: {err}", dir.display())))?;
        profile.blobs().save_attachment(&attachment, &target).api()
    })
    .await?;
    crate::open::with_default_app(&path)
        .map_err(|err| ApiError::internal(format!("No app could open {}: {err}", path.display())))
}

/// `save_attachment`: into the Downloads folder, never over an existing file.
#[tauri::command]
pub async fn save_attachment(backend: State<'_, Arc<Backend>>, args: SaveAttachment) -> Reply<SaveAttachment> {
    let downloads = downloads_dir(&backend);
    let backend = Arc::clone(&backend);
    blocking(move || {
        let (profile, _, _, attachment) = find(&backend, &args.chat_id, &args.message_id, args.index)?;
        std::fs::create_dir_all(&downloads)
            .map_err(|err| ApiError::internal(format!("{}: {err}", downloads.display())))?;
        let target = free_name(&downloads, &kith_client::safe_file_name(&attachment.name));
        let written = profile.blobs().save_attachment(&attachment, &target).api()?;
        Ok(written.display().to_string())
    })
    .await
}

/// The user's Downloads folder (`KITH_DOWNLOADS` overrides it, for tests).
fn downloads_dir(backend: &Backend) -> PathBuf {
    std::env::var_os("KITH_DOWNLOADS")
        .map(PathBuf::from)
        .or_else(|| directories::UserDirs::new().and_then(|dirs| dirs.download_dir().map(PathBuf::from)))
        .unwrap_or_else(|| backend.profile_dir().join("downloads"))
}

/// `name`, or `name (2)`, `name (3)`... whichever does not exist yet.
fn free_name(dir: &std::path::Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
        _ => (name, String::new()),
    };
    (2..)
        .map(|n| dir.join(format!("{stem} ({n}){extension}")))
        .find(|path| !path.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_documents_and_media_are_opened() {
        let opened = |name: &str| is_openable(&std::path::Path::new("/o").join(kith_client::safe_file_name(name)));
        for name in [
            "setup.exe",
            "SETUP.EXE",
            "run.sh",
            "x.desktop",
            "a.tar.js",
            "invoice.pdf.scr",
            "setup.exe.",
            "setup.exe ",
            "photo\u{202E}gpj.exe",
            "console.msc",
            "disk.iso",
            "README",
        ] {
            assert!(!opened(name), "{name}");
        }
        for name in ["photo.jpg", "notes.txt", "report.PDF", "archive.zip"] {
            assert!(opened(name), "{name}");
        }
    }

    #[test]
    fn saving_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(free_name(dir.path(), "a.txt"), dir.path().join("a.txt"));
        std::fs::write(dir.path().join("a.txt"), "1").unwrap();
        std::fs::write(dir.path().join("a (2).txt"), "2").unwrap();
        assert_eq!(free_name(dir.path(), "a.txt"), dir.path().join("a (3).txt"));
        std::fs::write(dir.path().join("README"), "1").unwrap();
        assert_eq!(free_name(dir.path(), "README"), dir.path().join("README (2)"));
    }
}
