//! Moving blobs through the sync server: chunks sealed under the blob's own
//! key, kept with the conversation's log (whose capability proves
//! membership). Uploads resume from what the server says it has; downloads
//! resume from the chunks already in the partial file.

use crate::blobs::{Blobs, PartialBlob};
use crate::error::ClientError;
use crate::hex::hex;
use crate::profile::Profile;
use crate::streams::{Followed, StreamKey};
use kith_core::Attachment;
use kith_core::crypto::{Stream, blob_locator, plaintext_chunks, sealed_size};
use kith_net::{NetError, RelayConnection};
use kith_proto::{BLOB_CHUNK_BYTES, ChatId, ErrorCode};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Attachments up to this size are fetched by every sync; larger ones when
/// they are opened or saved.
pub const AUTO_DOWNLOAD_BYTES: u64 = 16 * 1024 * 1024;

/// How far one transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The blob (BLAKE3 of its plaintext).
    #[serde(serialize_with = "hex_hash")]
    pub hash: [u8; 32],
    /// Up (true) or down.
    pub upload: bool,
    /// Plaintext bytes done.
    pub done: u64,
    /// Plaintext bytes in all.
    pub total: u64,
}

fn hex_hash<S: serde::Serializer>(hash: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex(hash))
}

/// What one download did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TransferReport {
    /// Bytes that were already here from an interrupted download.
    pub resumed_from: u64,
    /// Bytes fetched now.
    pub fetched: u64,
}

/// A progress consumer.
pub type OnProgress<'a> = dyn FnMut(Progress) + Send + 'a;

/// Paces a transfer to at most `per_second` bytes a second.
struct Pace {
    per_second: Option<u64>,
    started: Instant,
    moved: u64,
}

impl Pace {
    async fn moved(&mut self, bytes: u64) {
        self.moved += bytes;
        if let Some(rate) = self.per_second.filter(|r| *r > 0) {
            let due = Duration::from_secs_f64(self.moved as f64 / rate as f64);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
    }
}

impl Profile {
    /// The conversation's streams this device holds a committed key for,
    /// newest epoch first (uploads use the first; downloads try each).
    fn blob_streams(&self, chat: ChatId) -> Result<Vec<StreamKey>, ClientError> {
        let held = self.relay().chat_keys()?;
        let mut keys = self.committed_keys(chat, &held)?;
        keys.reverse();
        Ok(keys
            .into_iter()
            .map(|(epoch, key)| StreamKey::new(Followed::Chat(chat), Stream::Chat(chat), epoch, key))
            .collect())
    }

    /// Uploads one blob; `false` when this device has no key to reach the
    /// server with for its chat.
    async fn upload_blob(
        &self,
        connection: &RelayConnection,
        chat: ChatId,
        attachment: &Attachment,
        on_progress: &mut OnProgress<'_>,
    ) -> Result<bool, ClientError> {
        // A chat this device knows only from peers has no key for the
        // server yet: its blobs go up once a key holder grants one.
        let Some(stream) = self.blob_streams(chat)?.into_iter().next() else {
            return Ok(false);
        };
        let (log, capability) = (stream.log(), stream.capability());
        let locator = blob_locator(&attachment.key);
        let total = sealed_size(attachment.size);
        let count = plaintext_chunks(attachment.size);
        let have = match connection.blob_stat(log, capability, locator).await? {
            Some((size, have)) if size == total => have,
            _ => Vec::new(),
        };
        let mut done = 0u64;
        for index in 0..count {
            if have.binary_search(&index).is_err() {
                let sealed = self.sealed_chunk(attachment, index)?;
                connection
                    .blob_put(log, capability, locator, total, index, sealed)
                    .await?;
            }
            done = (done + BLOB_CHUNK_BYTES as u64).min(attachment.size);
            let progress = Progress {
                hash: attachment.hash,
                upload: true,
                done,
                total: attachment.size,
            };
            on_progress(progress);
            if done < attachment.size {
                self.report_transfer(progress);
            }
        }
        self.record_blob(&attachment.hash, attachment.size, true)?;
        // The watcher hears "all done" once the server has all of it.
        self.report_transfer(Progress {
            hash: attachment.hash,
            upload: true,
            done: attachment.size,
            total: attachment.size,
        });
        Ok(true)
    }
}

impl Blobs<'_> {
    /// Uploads every blob here that the server lacks and a live message
    /// refers to (sent from here or learned from a peer). Returns how many
    /// were completed; one that fails is logged and tried at the next sync.
    pub async fn upload(
        self,
        connection: &RelayConnection,
        on_progress: &mut OnProgress<'_>,
    ) -> Result<usize, ClientError> {
        let mut uploaded = 0;
        for blob in self.profile.store().blobs()? {
            if !blob.complete || blob.on_server {
                continue;
            }
            let Some((chat, _, attachment)) = self.find_attachment(&blob.hash)? else {
                continue;
            };
            match self
                .profile
                .upload_blob(connection, chat, &attachment, on_progress)
                .await
            {
                Ok(true) => uploaded += 1,
                Ok(false) => {}
                Err(ClientError::Relay(err)) if !err.is_transient() => {
                    tracing::warn!(blob = hex(&blob.hash), %err, "the server refused an attachment");
                }
                Err(err) => return Err(err),
            }
        }
        Ok(uploaded)
    }

    /// Fetches the wanted blobs up to `max_size` each (see
    /// [`AUTO_DOWNLOAD_BYTES`]). Returns how many arrived; one the server
    /// does not have (yet) is tried again at the next sync.
    pub async fn download_wanted(
        self,
        connection: &RelayConnection,
        max_size: u64,
        on_progress: &mut OnProgress<'_>,
    ) -> Result<usize, ClientError> {
        let mut downloaded = 0;
        for blob in self.profile.store().blobs()? {
            if blob.complete || blob.size > max_size {
                continue;
            }
            let Some((chat, _, attachment)) = self.find_attachment(&blob.hash)? else {
                continue;
            };
            match self.fetch(connection, chat, &attachment, None, on_progress).await {
                Ok(_) => downloaded += 1,
                Err(ClientError::Relay(err)) if !err.is_transient() => {
                    tracing::debug!(blob = hex(&blob.hash), %err, "attachment not fetched");
                }
                Err(ClientError::Blob(reason) | ClientError::BlobBusy(reason)) => {
                    tracing::debug!(blob = hex(&blob.hash), reason, "attachment not fetched");
                }
                Err(err) => return Err(err),
            }
        }
        Ok(downloaded)
    }

    /// Fetches one attachment from the server, resuming an interrupted
    /// download, at most `rate` bytes a second when given. The bytes count
    /// only once their hash matches.
    pub async fn fetch(
        self,
        connection: &RelayConnection,
        chat: ChatId,
        attachment: &Attachment,
        rate: Option<u64>,
        on_progress: &mut OnProgress<'_>,
    ) -> Result<TransferReport, ClientError> {
        if self.has(&attachment.hash)? {
            return Ok(TransferReport::default());
        }
        let locator = blob_locator(&attachment.key);
        let total = sealed_size(attachment.size);
        let count = plaintext_chunks(attachment.size);
        let mut source = None;
        for stream in self.profile.blob_streams(chat)? {
            match connection.blob_stat(stream.log(), stream.capability(), locator).await? {
                Some((size, have)) if size == total && have.len() == count as usize => {
                    source = Some(stream);
                    break;
                }
                Some(_) => {
                    return Err(ClientError::Blob(format!(
                        "{} is still being uploaded",
                        attachment.name
                    )));
                }
                None => continue,
            }
        }
        let Some(stream) = source else {
            return Err(ClientError::Blob(format!("{} is not on the server", attachment.name)));
        };
        let Some(mut partial) = PartialBlob::open(self.profile, attachment)? else {
            return Ok(TransferReport::default());
        };
        let resumed_from = partial.done();
        let mut pace = Pace {
            per_second: rate,
            started: Instant::now(),
            moved: 0,
        };
        while !partial.is_whole() {
            let index = partial.next();
            let sealed = match connection
                .blob_get(stream.log(), stream.capability(), locator, index)
                .await
            {
                Ok(sealed) => sealed,
                Err(NetError::Server {
                    code: ErrorCode::NotFound,
                    ..
                }) => return Err(ClientError::Blob(format!("{} left the server", attachment.name))),
                Err(err) => return Err(err.into()),
            };
            partial.append(index, &sealed)?;
            let progress = Progress {
                hash: attachment.hash,
                upload: false,
                done: partial.done(),
                total: attachment.size,
            };
            on_progress(progress);
            // The last one is reported once the file is in place.
            if !partial.is_whole() {
                self.profile.report_transfer(progress);
            }
            pace.moved(sealed.len() as u64).await;
        }
        partial.finish(self.profile, true)?;
        Ok(TransferReport {
            resumed_from,
            fetched: attachment.size - resumed_from,
        })
    }
}
