//! Attachments on this device: blob files under `PROFILE/blobs/` named by
//! the BLAKE3 hash of their plaintext, indexed in SQLite, written atomically
//! (a temporary file, fsync, rename) and checked against their hash before
//! they count as here. Downloads in progress live in `blobs/partial/`.

use crate::error::ClientError;
use crate::hex::hex;
use crate::media::{MAX_ATTACHMENT_BYTES, MediaError, prepare, safe_file_name};
use crate::profile::Profile;
use crate::random::random_bytes;
use crate::views::AttachmentView;
use kith_core::Attachment;
use kith_proto::{ChatId, MessageId};
use kith_store::BlobRow;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// How long a blob no message refers to is kept (it may be waiting in a
/// composer to be sent).
pub const UNREFERENCED_GRACE_MS: u64 = 60 * 60 * 1000;

impl Profile {
    pub(crate) fn partial_path(&self, hash: &[u8; 32]) -> PathBuf {
        self.blobs().dir().join("partial").join(hex(hash))
    }

    /// Held (an OS file lock) by whoever fetches the blob, so two fetches
    /// never write one partial file.
    fn fetch_lock_path(&self, hash: &[u8; 32]) -> PathBuf {
        self.blobs().dir().join("partial").join(format!("{}.lock", hex(hash)))
    }

    /// Stores a prepared attachment's bytes and describes it for a message.
    fn keep_prepared(&self, prepared: crate::media::Prepared) -> Result<Attachment, ClientError> {
        let hash = *blake3::hash(&prepared.bytes).as_bytes();
        self.store_blob(&hash, &prepared.bytes)?;
        Ok(Attachment {
            hash,
            key: random_bytes::<32>()?,
            size: prepared.bytes.len() as u64,
            mime: prepared.mime,
            name: prepared.name,
            kind: prepared.kind,
            thumbnail: prepared.thumbnail,
        })
    }

    /// Writes a blob's file atomically and records it as complete.
    fn store_blob(&self, hash: &[u8; 32], bytes: &[u8]) -> Result<(), ClientError> {
        let dir = self.blobs().dir();
        std::fs::create_dir_all(&dir).map_err(ClientError::io(format!("creating {}", dir.display())))?;
        let target = self.blobs().path(hash);
        if !target.is_file() {
            // A temporary name of its own: the same file attached twice at
            // once (dropped and pasted) must not share one.
            let temp = dir.join(format!(".{}.{}.tmp", hex(hash), hex(&random_bytes::<32>()?)));
            let write = || -> std::io::Result<()> {
                let mut file = std::fs::File::create(&temp)?;
                file.write_all(bytes)?;
                file.sync_all()?;
                std::fs::rename(&temp, &target)
            };
            write().map_err(ClientError::io(format!("writing {}", target.display())))?;
        }
        self.record_blob(hash, bytes.len() as u64, false)
    }

    /// Marks a blob complete (its file is in place and checked).
    pub(crate) fn record_blob(&self, hash: &[u8; 32], size: u64, on_server: bool) -> Result<(), ClientError> {
        let previous = self.store().blob(hash)?;
        let mut txn = self.store().begin_write()?;
        txn.put_blob(&BlobRow {
            hash: *hash,
            size,
            complete: true,
            on_server: on_server || previous.as_ref().is_some_and(|p| p.on_server),
            added_ms: i64::try_from(self.now_ms()).unwrap_or(i64::MAX),
        })?;
        txn.commit()?;
        Ok(())
    }

    /// Moves a downloaded, verified partial file into place.
    pub(crate) fn complete_download(&self, hash: &[u8; 32], size: u64, on_server: bool) -> Result<(), ClientError> {
        let partial = self.partial_path(hash);
        let target = self.blobs().path(hash);
        std::fs::rename(&partial, &target).map_err(ClientError::io(format!("keeping {}", target.display())))?;
        self.record_blob(hash, size, on_server)?;
        self.report_transfer(crate::Progress {
            hash: *hash,
            upload: false,
            done: size,
            total: size,
        });
        Ok(())
    }

    /// Removes a blob's files and index row if no live message refers to it.
    pub(crate) fn forget_blob_if_unreferenced(&self, hash: &[u8; 32]) -> Result<bool, ClientError> {
        if !self.store().blob_chats(hash)?.is_empty() {
            return Ok(false);
        }
        for path in [
            self.blobs().path(hash),
            self.partial_path(hash),
            self.fetch_lock_path(hash),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(ClientError::io(format!("removing {}", path.display()))(err)),
            }
        }
        let mut txn = self.store().begin_write()?;
        txn.delete_blob(hash)?;
        txn.commit()?;
        Ok(true)
    }
}

/// A download in progress: the partial file, appended chunk by chunk in
/// order, checked against the attachment's hash at the end.
pub(crate) struct PartialBlob {
    /// Locked for as long as this download lives, through to the rename.
    _lock: std::fs::File,
    file: std::fs::File,
    path: PathBuf,
    attachment: Attachment,
    count: u32,
    next: u32,
}

impl PartialBlob {
    /// Opens (or resumes) the partial file of `attachment`; `None` when the
    /// blob is complete already. Only whole chunks count: the tail of a
    /// chunk cut off by a crash is fetched again. Fails with
    /// [`ClientError::BlobBusy`] while another fetch of it runs.
    pub(crate) fn open(profile: &Profile, attachment: &Attachment) -> Result<Option<PartialBlob>, ClientError> {
        use std::io::{Seek, SeekFrom};
        let path = profile.partial_path(&attachment.hash);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(ClientError::io(format!("creating {}", dir.display())))?;
        }
        let lock_path = profile.fetch_lock_path(&attachment.hash);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(ClientError::io(format!("opening {}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(ClientError::BlobBusy(attachment.name.clone())),
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(ClientError::io(format!("locking {}", lock_path.display()))(err));
            }
        }
        // The fetch that held the lock before may have finished it.
        if profile.blobs().has(&attachment.hash)? {
            return Ok(None);
        }
        let io = |what: &str| ClientError::io(format!("{what} {}", path.display()));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io("opening"))?;
        let count = kith_core::crypto::plaintext_chunks(attachment.size);
        let on_disk = file.metadata().map_err(io("reading"))?.len().min(attachment.size);
        let next = u32::try_from(on_disk / kith_proto::BLOB_CHUNK_BYTES as u64)
            .unwrap_or(0)
            .min(count - 1);
        let resume = u64::from(next) * kith_proto::BLOB_CHUNK_BYTES as u64;
        file.set_len(resume).map_err(io("truncating"))?;
        file.seek(SeekFrom::Start(resume)).map_err(io("seeking in"))?;
        Ok(Some(PartialBlob {
            _lock: lock,
            file,
            path,
            attachment: attachment.clone(),
            count,
            next,
        }))
    }

    /// The next chunk wanted.
    pub(crate) fn next(&self) -> u32 {
        self.next
    }

    /// How many chunks the blob has.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// Plaintext bytes on disk.
    pub(crate) fn done(&self) -> u64 {
        (u64::from(self.next) * kith_proto::BLOB_CHUNK_BYTES as u64).min(self.attachment.size)
    }

    /// How far the download is.
    pub(crate) fn progress(&self) -> crate::Progress {
        crate::Progress {
            hash: self.attachment.hash,
            upload: false,
            done: self.done(),
            total: self.attachment.size,
        }
    }

    /// Opens and appends the next chunk.
    pub(crate) fn append(&mut self, index: u32, sealed: &[u8]) -> Result<(), ClientError> {
        if index != self.next || index >= self.count {
            return Err(ClientError::Blob(format!(
                "chunk {index} out of order (want {})",
                self.next
            )));
        }
        let plain = kith_core::crypto::open_chunk(&self.attachment.key, index, self.count, sealed)
            .map_err(|err| ClientError::Blob(format!("{}: {err}", self.attachment.name)))?;
        self.file
            .write_all(&plain)
            .map_err(ClientError::io(format!("writing {}", self.path.display())))?;
        if index % 8 == 7 {
            self.file
                .sync_data()
                .map_err(ClientError::io(format!("writing {}", self.path.display())))?;
        }
        self.next += 1;
        Ok(())
    }

    /// Whether every chunk is here.
    pub(crate) fn is_whole(&self) -> bool {
        self.next == self.count
    }

    /// Checks the hash and moves the file into place.
    pub(crate) fn finish(self, profile: &Profile, on_server: bool) -> Result<(), ClientError> {
        self.file
            .sync_all()
            .map_err(ClientError::io(format!("writing {}", self.path.display())))?;
        drop(self.file);
        if file_hash(&self.path)? != self.attachment.hash {
            // A lying sender: the chunks open, but are not this content.
            let _ = std::fs::remove_file(&self.path);
            return Err(ClientError::Blob(format!(
                "{} does not match its hash; discarded",
                self.attachment.name
            )));
        }
        profile.complete_download(&self.attachment.hash, self.attachment.size, on_server)
    }
}

impl Profile {
    /// Chunk `index` of a blob here, sealed under its key (what the server
    /// stores and what peers send).
    pub(crate) fn sealed_chunk(&self, attachment: &Attachment, index: u32) -> Result<Vec<u8>, ClientError> {
        use std::io::{Read, Seek, SeekFrom};
        let count = kith_core::crypto::plaintext_chunks(attachment.size);
        let chunk = kith_proto::BLOB_CHUNK_BYTES as u64;
        let start = u64::from(index) * chunk;
        if index >= count {
            return Err(ClientError::Blob(format!("{} has no chunk {index}", attachment.name)));
        }
        let len = usize::try_from(attachment.size.saturating_sub(start).min(chunk)).unwrap_or(0);
        let path = self.blobs().path(&attachment.hash);
        let mut buffer = vec![0u8; len];
        let mut file = std::fs::File::open(&path).map_err(ClientError::io(format!("reading {}", path.display())))?;
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut buffer))
            .map_err(ClientError::io(format!("reading {}", path.display())))?;
        kith_core::crypto::seal_chunk(&attachment.key, index, count, &buffer)
            .map_err(|err| ClientError::Blob(err.to_string()))
    }
}

/// BLAKE3 of a file, read in pieces.
pub(crate) fn file_hash(path: &std::path::Path) -> Result<[u8; 32], ClientError> {
    let mut file = std::fs::File::open(path).map_err(ClientError::io(format!("reading {}", path.display())))?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(ClientError::io(format!("reading {}", path.display())))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Attachments: the blob files on this device, attaching, saving and moving them.
#[derive(Clone, Copy, Debug)]
pub struct Blobs<'p> {
    pub(crate) profile: &'p Profile,
}

impl Profile {
    /// Attachments of this profile.
    pub fn blobs(&self) -> Blobs<'_> {
        Blobs { profile: self }
    }
}

impl Blobs<'_> {
    /// Where this profile keeps blobs.
    pub fn dir(&self) -> PathBuf {
        self.profile.dir().join("blobs")
    }

    /// The file of a complete blob.
    pub fn path(&self, hash: &[u8; 32]) -> PathBuf {
        self.dir().join(hex(hash))
    }

    /// Where videos are converted: inside the private profile directory.
    fn scratch_dir(&self) -> PathBuf {
        self.profile.dir().join("scratch")
    }

    /// Whether a blob's bytes are on this device.
    pub fn has(&self, hash: &[u8; 32]) -> Result<bool, ClientError> {
        Ok(self.profile.store().blob(hash)?.is_some_and(|b| b.complete) && self.path(hash).is_file())
    }

    /// Reads a file and keeps it as a blob ready to be sent: pictures are
    /// cleaned and scaled and videos converted (unless `as_file`). Returns
    /// what a message carries.
    pub fn attach(&self, path: &Path, as_file: bool) -> Result<Attachment, ClientError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !as_file
            && crate::video::looks_like_video(&file_head(path)?)
            // Converted from the file itself: the source may be far larger
            // than an attachment. Audio only goes on as a file.
            && let Some(prepared) = crate::video::prepare_video(&name, path, &self.scratch_dir())?
        {
            return self.profile.keep_prepared(prepared);
        }
        let size = std::fs::metadata(path)
            .map_err(ClientError::io(format!("reading {}", path.display())))?
            .len();
        // Refused before reading a huge file into memory.
        if size > MAX_ATTACHMENT_BYTES {
            return Err(MediaError::TooLarge { name, size }.into());
        }
        let bytes = std::fs::read(path).map_err(ClientError::io(format!("reading {}", path.display())))?;
        self.attach_bytes(&name, bytes, as_file)
    }

    /// [`Blobs::attach`] for bytes in memory (pasted, recorded, dropped).
    pub fn attach_bytes(&self, name: &str, bytes: Vec<u8>, as_file: bool) -> Result<Attachment, ClientError> {
        let video = if !as_file && crate::video::looks_like_video(&bytes) {
            crate::video::prepare_video_bytes(name, &bytes, &self.scratch_dir())?
        } else {
            None
        };
        let prepared = match video {
            Some(video) => video,
            None => prepare(name, bytes, as_file)?,
        };
        self.profile.keep_prepared(prepared)
    }

    /// Keeps a voice note ready to be sent; `measured` is the recorder's
    /// (length in ms, waveform), computed here for a WAV file without it.
    pub fn attach_voice(
        &self,
        name: &str,
        bytes: Vec<u8>,
        measured: Option<(u32, Vec<u8>)>,
    ) -> Result<Attachment, ClientError> {
        let prepared = crate::voice::prepare_voice(name, bytes, measured)?;
        self.profile.keep_prepared(prepared)
    }

    /// The attachments of a chat, oldest message first.
    pub fn attachments(&self, chat: &ChatId) -> Result<Vec<AttachmentView>, ClientError> {
        self.profile.require_chat(chat)?;
        let mut out = Vec::new();
        for message in self.profile.store().attachment_messages(chat)? {
            for (index, attachment) in message.attachments.iter().enumerate() {
                out.push(AttachmentView::of(
                    message.id,
                    index,
                    attachment,
                    self.has(&attachment.hash)?,
                ));
            }
        }
        Ok(out)
    }

    /// One attachment of a message.
    pub fn attachment(&self, chat: &ChatId, message: &MessageId, index: usize) -> Result<Attachment, ClientError> {
        let row = self
            .profile
            .store()
            .message(chat, message)?
            .ok_or_else(|| ClientError::NoSuchMessage(message.to_string()))?;
        row.attachments
            .get(index)
            .cloned()
            .ok_or_else(|| ClientError::Blob(format!("message {message} has no attachment {index}")))
    }

    /// The message and attachment that refer to a blob, in a chat this
    /// profile is in.
    pub fn find_attachment(&self, hash: &[u8; 32]) -> Result<Option<(ChatId, MessageId, Attachment)>, ClientError> {
        for chat in self.profile.store().blob_chats(hash)? {
            for message in self.profile.store().attachment_messages(&chat)? {
                if let Some(attachment) = message.attachments.iter().find(|a| a.hash == *hash) {
                    return Ok(Some((chat, message.id, attachment.clone())));
                }
            }
        }
        Ok(None)
    }

    /// Copies a downloaded attachment to `out`; a directory gets the
    /// attachment's name made safe. Returns the path written.
    pub fn save_attachment(&self, attachment: &Attachment, out: &Path) -> Result<PathBuf, ClientError> {
        if !self.has(&attachment.hash)? {
            return Err(ClientError::Blob(format!(
                "{} is not on this device yet (sync to fetch it)",
                attachment.name
            )));
        }
        let target = if out.is_dir() {
            out.join(safe_file_name(&attachment.name))
        } else {
            out.to_path_buf()
        };
        let source = self.path(&attachment.hash);
        // Checked again: a file damaged on disk is not handed out as good.
        let bytes = std::fs::read(&source).map_err(ClientError::io(format!("reading {}", source.display())))?;
        if *blake3::hash(&bytes).as_bytes() != attachment.hash {
            return Err(ClientError::Blob(format!(
                "the stored copy of {} is damaged; it will be fetched again",
                attachment.name
            )));
        }
        let temp = target.with_extension("kith-partial");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, &target)
        };
        write().map_err(ClientError::io(format!("writing {}", target.display())))?;
        Ok(target)
    }

    /// Deletes blobs no live message refers to (after a grace period for
    /// ones waiting to be sent), and stray partial downloads. Returns how
    /// many were removed.
    pub fn collect_garbage(&self) -> Result<usize, ClientError> {
        let now = i64::try_from(self.profile.now_ms()).unwrap_or(i64::MAX);
        let grace = i64::try_from(UNREFERENCED_GRACE_MS).unwrap_or(i64::MAX);
        let mut removed = 0;
        for blob in self.profile.store().blobs()? {
            if now.saturating_sub(blob.added_ms) >= grace && self.profile.forget_blob_if_unreferenced(&blob.hash)? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The first bytes of a file, enough to tell its container.
fn file_head(path: &Path) -> Result<Vec<u8>, ClientError> {
    use std::io::Read;
    let mut head = Vec::with_capacity(16);
    std::fs::File::open(path)
        .and_then(|file| file.take(16).read_to_end(&mut head))
        .map_err(ClientError::io(format!("reading {}", path.display())))?;
    Ok(head)
}
