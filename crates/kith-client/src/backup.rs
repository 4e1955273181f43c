//! Encrypted backup files: everything a profile holds (the account key, the
//! account stream keys, every document with its change signatures, and the
//! attachments on this device) in one file sealed with a passphrase, and
//! restoring a profile from one with no server at all.
//!
//! The file is a header and numbered frames (kith_core::crypto::BackupKey);
//! inside, length-prefixed records run across frame boundaries, so a large
//! document or attachment never has to fit in one frame. A restore builds
//! the profile in a staging directory and moves it into place only after
//! the last frame opened: a damaged, cut-off or wrongly-keyed file leaves
//! nothing behind.

use crate::archive::Archive;
use crate::clock::system_now_ms;
use crate::error::ClientError;
use crate::import::{apply_rank, import_document};
use crate::profile::Profile;
use crate::random::random_bytes;
use kith_core::ChangeSignature;
use kith_core::Identity;
use kith_core::crypto::{BACKUP_HEADER_LEN, BackupHeader, BackupKey, MAX_FRAME_PLAINTEXT};
use kith_core::recovery::KitStreamKey;
use kith_proto::DocId;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Attachment bytes per record.
const BLOB_PART: usize = 512 * 1024;
/// Largest record a reader accepts (a document saved whole).
const MAX_RECORD: usize = 256 * 1024 * 1024;

/// One record of a backup.
#[derive(Serialize, Deserialize)]
enum Record {
    /// First: the account key and account stream keys, and what follows.
    Keys {
        account_seed: [u8; 32],
        stream_keys: Vec<KitStreamKey>,
        documents: u64,
        blobs: u64,
    },
    /// One document, saved whole, with every signature held for it.
    Document {
        id: String,
        saved: Vec<u8>,
        signatures: Vec<ChangeSignature>,
    },
    /// The next bytes of an attachment.
    BlobPart { hash: [u8; 32], bytes: Vec<u8> },
    /// An attachment is whole.
    BlobDone { hash: [u8; 32], size: u64, on_server: bool },
    /// Last: nothing follows.
    End,
}

/// How far a backup or restore is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BackupProgress {
    /// Documents and attachments done.
    pub done: u64,
    /// Documents and attachments in all.
    pub total: u64,
}

/// What a restore brought back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// Documents read.
    pub documents: u64,
    /// Changes accepted into them.
    pub changes: u64,
    /// Attachments restored.
    pub attachments: u64,
}

fn backup_error(reason: impl Into<String>) -> ClientError {
    ClientError::Backup(reason.into())
}

/// Writes records into sealed frames.
struct Writer {
    file: std::io::BufWriter<std::fs::File>,
    key: BackupKey,
    index: u64,
    pending: Vec<u8>,
}

impl Writer {
    fn record(&mut self, record: &Record) -> Result<(), ClientError> {
        let bytes = Zeroizing::new(postcard::to_stdvec(record).map_err(|e| backup_error(e.to_string()))?);
        let len = u32::try_from(bytes.len()).map_err(|_| backup_error("a record is too large"))?;
        self.pending.extend_from_slice(&len.to_be_bytes());
        self.pending.extend_from_slice(&bytes);
        while self.pending.len() > MAX_FRAME_PLAINTEXT {
            let rest = self.pending.split_off(MAX_FRAME_PLAINTEXT);
            let frame = std::mem::replace(&mut self.pending, rest);
            self.frame(false, &frame)?;
        }
        Ok(())
    }

    fn frame(&mut self, last: bool, plaintext: &[u8]) -> Result<(), ClientError> {
        let sealed = self
            .key
            .seal_frame(self.index, last, plaintext)
            .map_err(ClientError::crypto("sealing a backup frame"))?;
        self.index += 1;
        let len = u32::try_from(sealed.len()).map_err(|_| backup_error("frame too large"))?;
        self.file
            .write_all(&len.to_be_bytes())
            .and_then(|()| self.file.write_all(&sealed))
            .map_err(ClientError::io("writing the backup"))
    }

    fn finish(mut self) -> Result<std::fs::File, ClientError> {
        self.record(&Record::End)?;
        let rest = std::mem::take(&mut self.pending);
        self.frame(true, &rest)?;
        self.file
            .into_inner()
            .map_err(|e| ClientError::io("writing the backup")(e.into_error()))
    }
}

/// Reads records out of sealed frames.
struct Reader {
    file: std::io::BufReader<std::fs::File>,
    key: BackupKey,
    index: u64,
    buffer: Zeroizing<Vec<u8>>,
    last_seen: bool,
}

impl Reader {
    fn open(path: &Path, passphrase: &str) -> Result<Reader, ClientError> {
        let file = std::fs::File::open(path).map_err(ClientError::io(format!("opening {}", path.display())))?;
        let mut file = std::io::BufReader::new(file);
        let mut header = [0u8; BACKUP_HEADER_LEN];
        file.read_exact(&mut header)
            .map_err(|_| backup_error(format!("{} is not a Kith backup file", path.display())))?;
        let header = BackupHeader::decode(&header).map_err(|e| backup_error(format!("{}: {e}", path.display())))?;
        let key = header
            .key(passphrase)
            .map_err(|e| backup_error(format!("deriving the backup key: {e}")))?;
        Ok(Reader {
            file,
            key,
            index: 0,
            buffer: Zeroizing::new(Vec::new()),
            last_seen: false,
        })
    }

    fn next_frame(&mut self) -> Result<(), ClientError> {
        if self.last_seen {
            return Err(backup_error("the backup ends in the middle of a record"));
        }
        let mut len = [0u8; 4];
        self.file
            .read_exact(&mut len)
            .map_err(|_| backup_error("the backup is cut off: its last part is missing"))?;
        let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
        if len > MAX_FRAME_PLAINTEXT + 16 {
            return Err(backup_error("the backup is damaged (a frame length is out of range)"));
        }
        let mut sealed = vec![0u8; len];
        self.file
            .read_exact(&mut sealed)
            .map_err(|_| backup_error("the backup is cut off: its last part is missing"))?;
        let (plaintext, last) = self.key.open_frame(self.index, &sealed).map_err(|_| {
            if self.index == 0 {
                backup_error("wrong passphrase, or the backup is damaged")
            } else {
                backup_error(format!("the backup is damaged (part {} does not open)", self.index + 1))
            }
        })?;
        self.index += 1;
        self.last_seen = last;
        self.buffer.extend_from_slice(&plaintext);
        Ok(())
    }

    fn record(&mut self) -> Result<Record, ClientError> {
        while self.buffer.len() < 4 {
            self.next_frame()?;
        }
        let len = self
            .buffer
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX);
        if len > MAX_RECORD {
            return Err(backup_error("the backup is damaged (a record is too large)"));
        }
        while self.buffer.len() < 4 + len {
            self.next_frame()?;
        }
        let record = postcard::from_bytes(self.buffer.get(4..4 + len).unwrap_or_default())
            .map_err(|e| backup_error(format!("the backup is damaged: {e}")))?;
        self.buffer.drain(..4 + len);
        Ok(record)
    }
}

impl Archive<'_> {
    /// Writes an encrypted backup of this profile to `path` (through a
    /// temporary file: an interrupted backup leaves no half file).
    pub fn backup(
        self,
        path: &Path,
        passphrase: &str,
        on_progress: &dyn Fn(BackupProgress),
    ) -> Result<BackupProgress, ClientError> {
        if passphrase.chars().count() < 8 {
            return Err(backup_error("choose a passphrase of at least 8 characters"));
        }
        let header = BackupHeader::new(random_bytes::<16>()?, random_bytes::<16>()?);
        let key = header
            .key(passphrase)
            .map_err(|e| backup_error(format!("deriving the backup key: {e}")))?;
        let temp = path.with_extension("kith-backup-partial");
        // A leftover of a killed backup is of no use.
        let _ = std::fs::remove_file(&temp);
        let mut file = crate::secrets::create_private_file(&temp)?;
        file.write_all(&header.encode())
            .map_err(ClientError::io(format!("writing {}", temp.display())))?;
        let mut ids = self.profile.store().doc_ids()?;
        ids.sort_by_key(apply_rank);
        let blobs: Vec<_> = self
            .profile
            .store()
            .blobs()?
            .into_iter()
            .filter(|b| b.complete)
            .collect();
        let total = ids.len() as u64 + blobs.len() as u64;
        let stream_keys = self.profile.kit_stream_keys()?;
        let mut writer = Writer {
            file: std::io::BufWriter::new(file),
            key,
            index: 0,
            pending: Vec::new(),
        };
        let written = (|| {
            writer.record(&Record::Keys {
                account_seed: self.profile.identity().account_seed(),
                stream_keys,
                documents: ids.len() as u64,
                blobs: blobs.len() as u64,
            })?;
            let mut done = 0;
            for id in ids {
                let saved = self.profile.docs().load(id)?.save();
                let signatures = self.profile.store().change_signatures(&id)?;
                writer.record(&Record::Document {
                    id: id.to_string(),
                    saved,
                    signatures,
                })?;
                done += 1;
                on_progress(BackupProgress { done, total });
            }
            for blob in blobs {
                let path = self.profile.blobs().path(&blob.hash);
                let mut file =
                    std::fs::File::open(&path).map_err(ClientError::io(format!("reading {}", path.display())))?;
                let mut part = vec![0u8; BLOB_PART];
                loop {
                    let n = file
                        .read(&mut part)
                        .map_err(ClientError::io(format!("reading {}", path.display())))?;
                    if n == 0 {
                        break;
                    }
                    writer.record(&Record::BlobPart {
                        hash: blob.hash,
                        bytes: part.get(..n).unwrap_or_default().to_vec(),
                    })?;
                }
                writer.record(&Record::BlobDone {
                    hash: blob.hash,
                    size: blob.size,
                    on_server: blob.on_server,
                })?;
                done += 1;
                on_progress(BackupProgress { done, total });
            }
            let file = writer.finish()?;
            file.sync_all()
                .map_err(ClientError::io(format!("writing {}", temp.display())))?;
            Ok(BackupProgress { done, total })
        })();
        match written {
            Ok(progress) => {
                std::fs::rename(&temp, path).map_err(ClientError::io(format!("writing {}", path.display())))?;
                Ok(progress)
            }
            Err(err) => {
                let _ = std::fs::remove_file(&temp);
                Err(err)
            }
        }
    }
}

impl Profile {
    /// Brings a profile back from the backup file `file` into the new
    /// directory `dir`, as a new device of the backed-up account. Needs no
    /// server; the next sync tells the account's other devices.
    pub fn restore(
        dir: &Path,
        file: &Path,
        passphrase: &str,
        on_progress: &dyn Fn(BackupProgress),
    ) -> Result<(Profile, RestoreReport), ClientError> {
        if dir.join("identity.json").exists() {
            return Err(ClientError::AlreadyInitialised(dir.display().to_string()));
        }
        let mut reader = Reader::open(file, passphrase)?;
        let Record::Keys {
            account_seed,
            stream_keys,
            documents,
            blobs,
        } = reader.record()?
        else {
            return Err(backup_error("the backup is damaged (it does not start with its keys)"));
        };
        let staging = staging_dir(dir)?;
        let identity = Identity::join(
            account_seed,
            [random_bytes::<32>()?, random_bytes::<32>()?],
            system_now_ms(),
        );
        let profile = Profile::create(&staging, identity, None)?;
        let restored = (|| {
            for key in &stream_keys {
                profile.keep_account_key(
                    key.epoch,
                    &kith_core::crypto::EpochKey::from_bytes(key.key),
                    &kith_proto::DeviceId::from_bytes(key.started_by),
                )?;
            }
            restore_records(&profile, &mut reader, documents + blobs, on_progress)
        })();
        let report = match restored {
            Ok(report) => report,
            Err(err) => {
                // Nothing of a failed restore stays: not the directory, not the keys.
                if let Err(cleanup) = profile.erase_local() {
                    tracing::warn!("could not remove the half-restored profile: {cleanup}");
                }
                return Err(err);
            }
        };
        drop(profile);
        if dir.exists() {
            // Empty (checked above that it holds no profile); rename needs it gone.
            std::fs::remove_dir(dir).map_err(ClientError::io(format!(
                "{} is not empty; restore into a new directory",
                dir.display()
            )))?;
        }
        std::fs::rename(&staging, dir).map_err(ClientError::io(format!("moving the profile to {}", dir.display())))?;
        Ok((Profile::open(dir)?, report))
    }
}

/// A fresh staging directory beside `dir` (a leftover of a killed restore
/// is removed first).
fn staging_dir(dir: &Path) -> Result<PathBuf, ClientError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".into());
    let staging = dir.with_file_name(format!(".{name}.restoring"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(ClientError::io(format!("removing {}", staging.display())))?;
    }
    Ok(staging)
}

fn restore_records(
    profile: &Profile,
    reader: &mut Reader,
    total: u64,
    on_progress: &dyn Fn(BackupProgress),
) -> Result<RestoreReport, ClientError> {
    let mut report = RestoreReport {
        documents: 0,
        changes: 0,
        attachments: 0,
    };
    let mut blob: Option<(PathBuf, std::fs::File, blake3::Hasher, [u8; 32])> = None;
    let partial_dir = profile.blobs().dir().join("partial");
    loop {
        match reader.record()? {
            Record::Keys { .. } => return Err(backup_error("the backup is damaged (keys twice)")),
            Record::Document { id, saved, signatures } => {
                let id: DocId = id
                    .parse()
                    .map_err(|_| backup_error(format!("the backup names an unknown document {id:?}")))?;
                report.changes += import_document(profile, id, &saved, &signatures)? as u64;
                report.documents += 1;
            }
            Record::BlobPart { hash, bytes } => {
                if blob.as_ref().is_some_and(|(_, _, _, h)| *h != hash) {
                    return Err(backup_error("the backup is damaged (attachments interleaved)"));
                }
                if blob.is_none() {
                    std::fs::create_dir_all(&partial_dir)
                        .map_err(ClientError::io(format!("creating {}", partial_dir.display())))?;
                    let path = profile.partial_path(&hash);
                    let file = crate::secrets::create_private_file(&path)?;
                    blob = Some((path, file, blake3::Hasher::new(), hash));
                }
                if let Some((path, file, hasher, _)) = blob.as_mut() {
                    hasher.update(&bytes);
                    file.write_all(&bytes)
                        .map_err(ClientError::io(format!("writing {}", path.display())))?;
                }
            }
            Record::BlobDone { hash, size, on_server } => {
                let Some((path, file, hasher, expected)) = blob.take() else {
                    return Err(backup_error("the backup is damaged (an attachment without bytes)"));
                };
                if expected != hash || *hasher.finalize().as_bytes() != hash {
                    return Err(backup_error(
                        "the backup is damaged (an attachment does not match its hash)",
                    ));
                }
                file.sync_all()
                    .map_err(ClientError::io(format!("writing {}", path.display())))?;
                profile.complete_download(&hash, size, on_server)?;
                report.attachments += 1;
            }
            Record::End => return Ok(report),
        }
        on_progress(BackupProgress {
            done: report.documents + report.attachments,
            total,
        });
    }
}
