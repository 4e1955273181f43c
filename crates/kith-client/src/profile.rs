//! One profile: identity, store and the documents it writes.

use crate::clock::{hlc_from_meta, system_now_ms};
use crate::doc_cache::DocCache;
use crate::error::ClientError;
use crate::random::random_bytes;
use crate::secrets::{self, SecretStorage};
use crate::views::ProfileInfo;
use kith_core::docs::{account, head};
use kith_core::{DeviceCertificate, Doc, Identity, ReadModelUpdate, SyncSession, apply_remote, commit_local};
use kith_proto::{AccountId, ChatId, DocId, Hlc, HlcClock};
use kith_store::{SqliteStore, Store, StoreDirectory, WriteTxn};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

const IDENTITY_FILE: &str = "identity.json";
const DATABASE_FILE: &str = "kith.db";
const HLC_META: &str = "hlc";
/// Documents with more stored chunks than this are compacted into a snapshot.
pub const COMPACT_AFTER_CHUNKS: u64 = 256;

/// Public identity facts kept beside the database (the secrets are elsewhere).
#[derive(Serialize, Deserialize)]
struct IdentityFile {
    version: u32,
    account_id: AccountId,
    device_id: kith_proto::DeviceId,
    certificate: String,
    secret_storage: SecretStorage,
}

/// An open profile.
pub struct Profile {
    dir: PathBuf,
    identity: Identity,
    secret_storage: SecretStorage,
    store: Arc<dyn Store>,
    docs: Mutex<DocCache>,
    sessions: Mutex<HashMap<(String, DocId), SyncSession>>,
    now: Box<dyn Fn() -> u64 + Send + Sync>,
    /// Woken after every local write of this process, so sync loops offer it
    /// at once (writes of other processes are noticed by polling the store).
    local_writes: Arc<tokio::sync::Notify>,
    /// Told how every attachment transfer of this process goes (the app's
    /// progress bars), whichever loop moves the bytes.
    transfer_watcher: Mutex<Option<Arc<TransferWatcher>>>,
    /// How many quarantined documents this process has retried (see
    /// [`Profile::quarantine_retries`]).
    quarantine_retries: std::sync::atomic::AtomicU64,
}

/// What [`Profile::watch_transfers`] installs.
pub type TransferWatcher = dyn Fn(crate::Progress) + Send + Sync;

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The state of one write: the transaction, the fresh timestamp and the
/// documents touched so far.
pub(crate) struct WriteCtx<'p> {
    txn: Box<dyn WriteTxn + 'p>,
    /// The write's fresh timestamp.
    pub(crate) ts: Hlc,
    touched: Vec<(DocId, Vec<automerge::ChangeHash>)>,
    docs: MutexGuard<'p, DocCache>,
    device: kith_proto::DeviceId,
    certificate: &'p DeviceCertificate,
}

impl WriteCtx<'_> {
    /// Queues relay mail in the same transaction.
    pub(crate) fn queue_mail(&mut self, mail: &kith_store::PendingMail, payload: &[u8]) -> Result<(), ClientError> {
        Ok(self.txn.queue_mail(mail, payload)?)
    }

    /// The document, up to date with everything committed by any process.
    pub(crate) fn doc(&mut self, id: DocId) -> Result<&mut Doc, ClientError> {
        let chunks = self.txn.doc_chunks(&id, self.docs.seq(&id))?;
        let mut source: &mut dyn WriteTxn = self.txn.as_mut();
        let doc = self.docs.refreshed(id, &self.device, chunks, &mut source)?;
        if !self.touched.iter().any(|(t, _)| *t == id) {
            self.touched.push((id, doc.heads()));
            // A member who changes a head publishes its certificate there
            // first, so that every member can attribute the change whoever
            // else it knows (a member who never wrote a message may still
            // leave). Published before the change: after a departure it
            // would no longer be accepted.
            if matches!(id, DocId::Head(_))
                && !head::has_device(doc, &self.device)
                && head::role_of(doc, &self.certificate.account).is_some()
            {
                head::add_device(doc, self.certificate)?;
            }
        }
        Ok(doc)
    }
}

impl Profile {
    /// Erases this profile from this device only (other devices and the server
    /// keep theirs): secret keys (keyring or file),
    /// then the whole profile directory.
    pub fn erase_local(self) -> Result<(), ClientError> {
        let dir = self.dir.clone();
        secrets::delete_secret(&dir, &self.identity.device_id().to_string(), self.secret_storage)?;
        drop(self);
        if dir.as_os_str().is_empty() {
            return Ok(());
        }
        std::fs::remove_dir_all(&dir).map_err(ClientError::io(format!("removing {}", dir.display())))
    }

    /// The newest timestamp this profile's clock has issued or observed.
    pub(crate) fn stored_hlc(&self) -> Result<Hlc, ClientError> {
        Ok(hlc_from_meta(self.store.meta(HLC_META)?).unwrap_or(Hlc::ZERO))
    }
}

/// The profile's clock as last stored by any process.
fn stored_clock(txn: &mut dyn WriteTxn) -> Result<HlcClock, ClientError> {
    Ok(HlcClock::resume(
        hlc_from_meta(txn.meta(HLC_META)?).unwrap_or(Hlc::ZERO),
    ))
}

impl Profile {
    /// The default profile directory (the OS data dir).
    pub fn default_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("org", "kith", "Kith").map(|dirs| dirs.data_dir().to_path_buf())
    }

    /// Creates a new account with this directory as its first device.
    pub fn init(dir: &Path, name: &str) -> Result<Profile, ClientError> {
        let identity = Identity::create([random_bytes()?, random_bytes()?, random_bytes()?], system_now_ms());
        Profile::create(dir, identity, Some(name))
    }

    /// Creates a profile in `dir` for an identity: a new account's first
    /// device (with its display name) or a device that joined an account.
    pub(crate) fn create(dir: &Path, identity: Identity, name: Option<&str>) -> Result<Profile, ClientError> {
        std::fs::create_dir_all(dir).map_err(ClientError::io(format!("creating {}", dir.display())))?;
        make_private_dir(dir)?;
        let identity_path = dir.join(IDENTITY_FILE);
        if identity_path.exists() {
            return Err(ClientError::AlreadyInitialised(dir.display().to_string()));
        }
        let secret_storage = secrets::store_secret(dir, &identity.device_id().to_string(), &identity.secret_bytes())?;
        let file = IdentityFile {
            version: 1,
            account_id: identity.account_id(),
            device_id: identity.device_id(),
            certificate: kith_proto::encode_id(&identity.certificate().to_bytes()),
            secret_storage,
        };
        let json = serde_json::to_vec_pretty(&file).map_err(ClientError::json("the identity file"))?;
        // Write the identity file last and atomically: a profile either has one or is empty.
        let tmp = dir.join(format!("{IDENTITY_FILE}.tmp"));
        // Left over from a creation that crashed: nothing refers to it.
        match std::fs::remove_file(&tmp) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(ClientError::io(format!("removing {}", tmp.display()))(err));
            }
            _ => {}
        }
        secrets::write_private_file(&tmp, &json)?;
        let store = SqliteStore::open(&dir.join(DATABASE_FILE))?;
        let profile = Profile::from_parts(dir, identity, file.secret_storage, Arc::new(store));
        let me = profile.identity.account_id();
        profile.write(|ctx| {
            let id = DocId::Account(me);
            let cert = profile.identity.certificate().clone();
            let doc = ctx.doc(id)?;
            if let Some(name) = name {
                account::set_name(doc, name)?;
            }
            account::add_device(doc, &cert)?;
            Ok(())
        })?;
        std::fs::rename(&tmp, &identity_path)
            .map_err(ClientError::io(format!("writing {}", identity_path.display())))?;
        // The rename is durable only once the directory is on disk too.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(ClientError::io(format!("syncing {}", dir.display())))?;
        Ok(profile)
    }

    /// Opens an existing profile.
    pub fn open(dir: &Path) -> Result<Profile, ClientError> {
        let identity_path = dir.join(IDENTITY_FILE);
        let json = match std::fs::read(&identity_path) {
            Ok(json) => json,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClientError::NoProfile(dir.display().to_string()));
            }
            Err(err) => return Err(ClientError::io(format!("reading {}", identity_path.display()))(err)),
        };
        let file: IdentityFile = serde_json::from_slice(&json)
            .map_err(|e| ClientError::Identity(format!("{} is damaged: {e}", identity_path.display())))?;
        let cert_bytes = kith_proto::decode_id(&file.certificate)
            .ok_or_else(|| ClientError::Identity("certificate is not base32hex".into()))?;
        let cert = DeviceCertificate::from_bytes(&cert_bytes)?;
        let secret = secrets::load_secret(dir, &file.device_id.to_string(), file.secret_storage)?;
        let identity = Identity::restore(&secret, cert)?;
        make_private_dir(dir)?;
        let store = SqliteStore::open(&dir.join(DATABASE_FILE))?;
        let profile = Profile::from_parts(dir, identity, file.secret_storage, Arc::new(store));
        profile.sign_own_history()?;
        Ok(profile)
    }

    /// A profile over any store, with a given identity (simulations, tests, benchmarks).
    pub fn with_store(identity: Identity, store: Arc<dyn Store>, name: &str) -> Result<Profile, ClientError> {
        let profile = Profile::from_parts(Path::new(""), identity, SecretStorage::File, store);
        let me = profile.identity.account_id();
        profile.write(|ctx| {
            let id = DocId::Account(me);
            let cert = profile.identity.certificate().clone();
            let doc = ctx.doc(id)?;
            account::set_name(doc, name)?;
            account::add_device(doc, &cert)?;
            Ok(())
        })?;
        Ok(profile)
    }

    fn from_parts(dir: &Path, identity: Identity, secret_storage: SecretStorage, store: Arc<dyn Store>) -> Profile {
        Profile {
            dir: dir.to_path_buf(),
            identity,
            secret_storage,
            store,
            docs: Mutex::new(DocCache::default()),
            sessions: Mutex::new(HashMap::new()),
            local_writes: Arc::new(tokio::sync::Notify::new()),
            now: Box::new(system_now_ms),
            transfer_watcher: Mutex::new(None),
            quarantine_retries: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Calls `watcher` with the progress of every attachment upload and
    /// download this process makes from now on (server and peers alike).
    pub fn watch_transfers(&self, watcher: impl Fn(crate::Progress) + Send + Sync + 'static) {
        let watcher: Arc<TransferWatcher> = Arc::new(watcher);
        *self.transfer_watcher.lock().unwrap_or_else(PoisonError::into_inner) = Some(watcher);
    }

    /// Tells the transfer watcher, if any.
    pub(crate) fn report_transfer(&self, progress: crate::Progress) {
        let watcher = self
            .transfer_watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(watcher) = watcher {
            watcher(progress);
        }
    }

    /// Replaces the wall clock (simulations and tests). Everything this
    /// profile does reads it, including the signed timestamp of a server
    /// login: a clock more than a few minutes off is refused by the server.
    pub fn set_clock(&mut self, now: impl Fn() -> u64 + Send + Sync + 'static) {
        self.now = Box::new(now);
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The profile's clock (ms since the Unix epoch).
    pub(crate) fn now_ms(&self) -> u64 {
        (self.now)()
    }

    /// The profile directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs one write: `f` gets a context with a fresh HLC timestamp and
    /// up-to-date documents; every document it touched is committed and its
    /// change bytes and read-model rows stored in one transaction.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let now = (self.now)();
        let mut txn = self.store.begin_write()?;
        let mut clock = stored_clock(txn.as_mut())?;
        let ts = clock.tick(now);
        txn.set_meta(HLC_META, &ts.to_packed().to_be_bytes())?;
        let mut ctx = WriteCtx {
            txn,
            ts,
            touched: Vec::new(),
            docs: lock(&self.docs),
            device: self.identity.device_id(),
            certificate: self.identity.certificate(),
        };
        let result = f(&mut ctx);
        let value = match result {
            Ok(value) => value,
            Err(err) => {
                // Uncommitted operations may sit in the cached documents: drop them.
                ctx.docs.forget(ctx.touched.iter().map(|(id, _)| id));
                return Err(err);
            }
        };
        let touched = std::mem::take(&mut ctx.touched);
        let stored = Self::store_touched(&mut ctx, &touched, now, &self.identity);
        let WriteCtx { txn, mut docs, .. } = ctx;
        let committed = stored.and_then(|new_seqs| txn.commit().map(|()| new_seqs).map_err(ClientError::from));
        let new_seqs = match committed {
            Ok(new_seqs) => new_seqs,
            Err(err) => {
                // The cached documents are ahead of the store: forget them.
                docs.forget(touched.iter().map(|(id, _)| id));
                return Err(err);
            }
        };
        for (id, seq) in new_seqs {
            docs.stored(&id, seq);
        }
        drop(docs);
        self.local_writes.notify_waiters();
        Ok(value)
    }

    /// Resolves after the next local write of this process.
    pub async fn local_write(&self) {
        self.local_writes.notified().await;
    }

    /// Commits every touched document and stores its bytes and rows.
    fn store_touched(
        ctx: &mut WriteCtx<'_>,
        touched: &[(DocId, Vec<automerge::ChangeHash>)],
        now: u64,
        identity: &Identity,
    ) -> Result<Vec<(DocId, i64)>, ClientError> {
        let mut new_seqs = Vec::new();
        for (id, before) in touched {
            let Some(doc) = ctx.docs.get_mut(id) else { continue };
            let delta = commit_local(
                doc,
                before,
                i64::try_from(now).unwrap_or(i64::MAX),
                identity.device_keys(),
            );
            if !delta.chunk.is_empty() {
                let seq = ctx.txn.append_chunk(id, &delta.chunk)?;
                new_seqs.push((*id, seq));
            }
            ctx.txn.apply(&delta.updates)?;
            ctx.txn.keep_change_signatures(id, &delta.signatures)?;
        }
        Ok(new_seqs)
    }

    /// What `whoami` shows.
    pub fn info(&self) -> Result<ProfileInfo, ClientError> {
        let account_id = self.identity.account_id();
        Ok(ProfileInfo {
            account_id,
            device_id: self.identity.device_id(),
            name: self.store.profile_name(&account_id)?.unwrap_or_default(),
            invite: self.contacts().invite()?.link(),
            secret_storage: self.secret_storage,
            peer_id: kith_net::p2p::peer_id_of_device(&self.identity.device_id()).map(|p| p.to_string())?,
        })
    }

    pub(crate) fn require_chat(&self, chat: &ChatId) -> Result<kith_core::ChatRow, ClientError> {
        self.store
            .chat(chat)?
            .ok_or_else(|| ClientError::NoSuchChat(chat.to_string()))
    }

    /// Fails unless this account is a member of `chat`.
    pub(crate) fn require_member(&self, chat: &ChatId) -> Result<(), ClientError> {
        let row = self.require_chat(chat)?;
        if row.members.contains_key(&self.identity.account_id()) {
            Ok(())
        } else {
            Err(kith_core::DocError::NotAllowed("you are not a member of this chat".into()).into())
        }
    }

    /// Changes the display name.
    pub fn set_name(&self, name: &str) -> Result<(), ClientError> {
        let me = self.identity.account_id();
        self.write(|ctx| {
            account::set_name(ctx.doc(DocId::Account(me))?, name)?;
            Ok(())
        })
    }

    /// Compacts documents that have piled up more than `COMPACT_AFTER_CHUNKS`
    /// chunks, logging (not returning) a failure: the sync loops and the app
    /// call it between their work, where nobody waits for it.
    pub fn compact_when_due(&self) {
        match self.compact(COMPACT_AFTER_CHUNKS) {
            Ok(0) => {}
            Ok(n) => tracing::debug!("compacted {n} documents"),
            Err(err) => tracing::warn!("compaction failed: {err}"),
        }
    }

    /// Compacts documents whose chunks have piled up. Call off the hot path.
    pub fn compact(&self, min_chunks: u64) -> Result<usize, ClientError> {
        let mut compacted = 0;
        for id in self.store.doc_ids()? {
            let (chunks, _) = self.store.doc_size(&id)?;
            if chunks <= min_chunks {
                continue;
            }
            // The snapshot is built outside the write transaction: loading and
            // saving a large document must not hold the store (sends, sync and
            // the window's reads wait for its lock).
            let stored = self.store.doc_chunks(&id, 0)?;
            let Some(last) = stored.last().map(|c| c.seq) else {
                continue;
            };
            let mut doc = Doc::load(
                id,
                &self.identity.device_id(),
                stored.iter().map(|c| c.bytes.as_slice()),
            )?;
            let snapshot = doc.save();
            let mut txn = self.store.begin_write()?;
            if !txn.doc_chunks(&id, last)?.is_empty() {
                // Written meanwhile: a snapshot must not be ordered after newer
                // chunks. Next time.
                continue;
            }
            let seq = txn.replace_with_snapshot(&id, last, &snapshot)?;
            txn.commit()?;
            // A cached copy that was up to date holds what the snapshot holds:
            // it need not load the snapshot again.
            lock(&self.docs).snapshotted(&id, last, seq);
            compacted += 1;
        }
        Ok(compacted)
    }

    /// Runs `use_session` on the sync session with `peer` for `doc` (the
    /// session cache stays locked meanwhile).
    pub(crate) fn with_session<T>(
        &self,
        peer: &str,
        doc: DocId,
        use_session: impl FnOnce(&mut SyncSession) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut sessions = lock(&self.sessions);
        let session = self.session(&mut sessions, peer, doc)?;
        use_session(session)
    }

    /// Drops the in-memory sync sessions with `peer`.
    pub(crate) fn forget_sessions(&self, peer: &str) {
        lock(&self.sessions).retain(|(p, _), _| p != peer);
    }

    /// The session with `peer` for `doc`: the one in memory, or a new one that
    /// starts from the heads last known to be shared (persisted per peer and
    /// document, so a reconnect does not rediscover them).
    fn session<'s>(
        &self,
        sessions: &'s mut HashMap<(String, DocId), SyncSession>,
        peer: &str,
        doc: DocId,
    ) -> Result<&'s mut SyncSession, ClientError> {
        let key = (peer.to_owned(), doc);
        if !sessions.contains_key(&key) {
            let restored = match self.store.sync_state(peer, &doc)? {
                // A damaged state only costs a longer first exchange.
                Some(bytes) => SyncSession::restore(&bytes).unwrap_or_default(),
                None => SyncSession::new(),
            };
            sessions.insert(key.clone(), restored);
        }
        sessions
            .get_mut(&key)
            .ok_or_else(|| ClientError::Identity("sync session cache lost an entry".into()))
    }

    /// Runs `use_doc` on a document of the in-memory cache, brought up to date
    /// with whatever any process committed (lock order as in `write`: the
    /// store's chunks are read before the cache is taken) (much cheaper than
    /// [`Docs::load`], which rebuilds the document from every stored
    /// chunk). `use_doc` must not commit operations: writes go through `write`.
    pub(crate) fn with_cached_doc<T>(
        &self,
        doc_id: DocId,
        use_doc: impl FnOnce(&mut Doc) -> T,
    ) -> Result<T, ClientError> {
        let known = lock(&self.docs).seq(&doc_id);
        let chunks = self.store.doc_chunks(&doc_id, known)?;
        let mut docs = lock(&self.docs);
        let mut source: &dyn Store = self.store.as_ref();
        let doc = docs.refreshed(doc_id, &self.identity.device_id(), chunks, &mut source)?;
        Ok(use_doc(doc))
    }

    /// How many times this process retried a quarantined document: what a
    /// sync pass costs beyond the changes it received, which junk in the
    /// quarantine must not multiply (diagnostics and tests).
    pub fn quarantine_retries(&self) -> u64 {
        self.quarantine_retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reads a document through the cache (see `with_cached_doc`).
    pub(crate) fn read_doc<T>(&self, doc_id: DocId, read: impl FnOnce(&Doc) -> T) -> Result<T, ClientError> {
        self.with_cached_doc(doc_id, |doc| read(doc))
    }

    /// Runs `receive` on the up-to-date document in one transaction, then
    /// stores what was accepted, quarantines what cannot be judged yet and
    /// retries quarantined changes that may now be judged.
    pub(crate) fn receive_into(
        &self,
        doc_id: DocId,
        route: Option<&str>,
        receive: impl FnOnce(&mut dyn WriteTxn, &mut Doc) -> Result<kith_core::ApplyOutcome, ClientError>,
    ) -> Result<usize, ClientError> {
        let mut txn = self.store.begin_write()?;
        let mut docs = lock(&self.docs);
        let device = self.identity.device_id();
        let chunks = txn.doc_chunks(&doc_id, docs.seq(&doc_id))?;
        let doc = {
            let mut source: &mut dyn WriteTxn = txn.as_mut();
            docs.refreshed(doc_id, &device, chunks, &mut source)?
        };
        let outcome = match receive(txn.as_mut(), doc) {
            Ok(outcome) => outcome,
            Err(err) => {
                docs.forget([&doc_id]);
                return Err(err);
            }
        };
        let stored = self.store_received(txn.as_mut(), &mut docs, doc_id, route, outcome);
        let (accepted, seqs) = match stored.and_then(|done| txn.commit().map(|()| done).map_err(ClientError::from)) {
            Ok(done) => done,
            Err(err) => {
                // Cached copies may hold what the store now does not.
                docs.clear();
                return Err(err);
            }
        };
        for (id, seq) in seqs {
            docs.stored(&id, seq);
        }
        drop(docs);
        if let (DocId::Head(chat), true) = (doc_id, accepted > 0)
            && let Err(err) = self.rotate_if_someone_left(&chat)
        {
            tracing::warn!(%chat, "could not start a new key epoch after a member left: {err}");
        }
        Ok(accepted)
    }

    /// Stores what `receive_into` accepted in `txn`: the chunk, read-model
    /// rows, routes, the clock, quarantine, and retries of quarantined
    /// changes. Returns the changes accepted and the new chunk of each
    /// document.
    fn store_received(
        &self,
        txn: &mut dyn WriteTxn,
        docs: &mut DocCache,
        doc_id: DocId,
        route: Option<&str>,
        outcome: kith_core::ApplyOutcome,
    ) -> Result<(usize, Vec<(DocId, i64)>), ClientError> {
        let mut accepted = outcome.accepted;
        let mut seqs = Vec::new();
        // Later local messages must order after what we just received.
        let newest = outcome
            .delta
            .updates
            .iter()
            .filter_map(|u| match u {
                ReadModelUpdate::Message(row) => Some(row.ts),
                _ => None,
            })
            .max();
        if let Some(remote) = newest {
            let mut clock = stored_clock(txn)?;
            clock.observe(remote, (self.now)());
            txn.set_meta(HLC_META, &clock.last().to_packed().to_be_bytes())?;
        }
        if !outcome.delta.chunk.is_empty() {
            seqs.push((doc_id, txn.append_chunk(&doc_id, &outcome.delta.chunk)?));
        }
        txn.apply(&outcome.delta.updates)?;
        if let Some(route) = route {
            let me = self.identity.device_id();
            for update in &outcome.delta.updates {
                if let ReadModelUpdate::Message(row) = update
                    && row.device != me
                {
                    txn.record_message_route(&row.chat, &row.id, route)?;
                }
            }
        }
        txn.keep_change_signatures(&doc_id, &outcome.delta.signatures)?;
        let deferred_any = !outcome.deferred.is_empty();
        quarantine(
            txn,
            &doc_id,
            outcome.deferred,
            &outcome.deferred_signatures,
            (self.now)(),
        )?;
        for rejection in &outcome.rejected {
            tracing::warn!(doc = %doc_id, hash = %rejection.hash, "refused change: {}", rejection.reason);
        }
        // Changes that only waited unblock nothing by themselves (what they
        // wait for has not come); an accepted change or a signature may.
        let unblocks = outcome.accepted > 0 || (deferred_any && !outcome.deferred_signatures.is_empty());
        let retry = RetryScope::after(doc_id, &outcome.delta.updates, unblocks);
        if retry != RetryScope::Nothing {
            let (retried, retried_seqs) = self.retry_quarantined(txn, docs, &retry)?;
            accepted += retried;
            seqs.extend(retried_seqs);
        }
        Ok((accepted, seqs))
    }

    /// Applies again the quarantined changes of the documents `scope`
    /// names. A document whose retry fails keeps its changes in quarantine
    /// and does not stop the others. (The store's read methods must not be
    /// used here: the open transaction holds its connection.)
    fn retry_quarantined(
        &self,
        txn: &mut dyn WriteTxn,
        docs: &mut DocCache,
        scope: &RetryScope,
    ) -> Result<(usize, Vec<(DocId, i64)>), ClientError> {
        let device = self.identity.device_id();
        let mut accepted = 0;
        let mut seqs = Vec::new();
        let quarantined: Vec<DocId> = txn
            .quarantined_docs()?
            .into_iter()
            .filter(|doc| scope.includes(doc))
            .collect();
        self.quarantine_retries
            .fetch_add(quarantined.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for other in quarantined {
            let quarantined = txn.take_quarantined(&other)?;
            let changes: Vec<automerge::Change> = quarantined
                .iter()
                .filter_map(|bytes| automerge::Change::from_bytes(bytes.clone()).ok())
                .collect();
            if changes.is_empty() {
                continue;
            }
            let signatures = txn.take_quarantined_signatures(&other)?;
            let chunks = txn.doc_chunks(&other, docs.seq(&other))?;
            let target = {
                let mut source: &mut dyn WriteTxn = txn;
                docs.refreshed(other, &device, chunks, &mut source)?
            };
            let retried = {
                let directory = StoreDirectory::new(txn);
                apply_remote(target, changes.clone(), &signatures, &directory)
            };
            let retried = match retried {
                Ok(retried) => retried,
                Err(err) => {
                    tracing::warn!(doc = %other, %err, "quarantined changes could not be applied; kept for later");
                    docs.forget([&other]);
                    quarantine(txn, &other, changes, &signatures, (self.now)())?;
                    continue;
                }
            };
            accepted += retried.accepted;
            if !retried.delta.chunk.is_empty() {
                seqs.push((other, txn.append_chunk(&other, &retried.delta.chunk)?));
            }
            txn.apply(&retried.delta.updates)?;
            txn.keep_change_signatures(&other, &retried.delta.signatures)?;
            quarantine(
                txn,
                &other,
                retried.deferred,
                &retried.deferred_signatures,
                (self.now)(),
            )?;
        }
        Ok((accepted, seqs))
    }
}

/// Which quarantined documents a receive may have unblocked. Retrying
/// every document after every accepted change would make one sync pass cost
/// as much as the whole quarantine, which a contact can fill with junk.
#[derive(Debug, PartialEq, Eq)]
enum RetryScope {
    /// Nothing new that a waiting change could need.
    Nothing,
    /// These documents: the one that received changes (a dependency or a
    /// signature may have arrived) and every document of a conversation
    /// whose membership may have changed.
    Docs {
        doc: Option<DocId>,
        chats: BTreeSet<ChatId>,
    },
    /// New certificates: a change of any document may have waited for them.
    Everything,
}

impl RetryScope {
    fn after(doc: DocId, updates: &[ReadModelUpdate], doc_changed: bool) -> RetryScope {
        if updates.iter().any(|u| matches!(u, ReadModelUpdate::Device(_))) {
            return RetryScope::Everything;
        }
        let chats: BTreeSet<ChatId> = updates
            .iter()
            .filter_map(|u| match u {
                ReadModelUpdate::Chat(row) => Some(row.chat),
                _ => None,
            })
            .collect();
        if !doc_changed && chats.is_empty() {
            return RetryScope::Nothing;
        }
        RetryScope::Docs {
            doc: doc_changed.then_some(doc),
            chats,
        }
    }

    fn includes(&self, candidate: &DocId) -> bool {
        match self {
            RetryScope::Nothing => false,
            RetryScope::Everything => true,
            RetryScope::Docs { doc, chats } => {
                doc.as_ref() == Some(candidate) || candidate.chat().is_some_and(|chat| chats.contains(&chat))
            }
        }
    }
}

/// Narrows a profile directory to its owner (0700): it holds the database
/// and, without a keyring, the device's secret keys.
fn make_private_dir(dir: &Path) -> Result<(), ClientError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(ClientError::io(format!("making {} private", dir.display())))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Keeps changes that cannot be judged yet, with the signatures that may
/// vouch for them, to retry when membership, certificates or signatures
/// arrive; when the quarantine is full they are dropped (a peer or the
/// server can send them again).
fn quarantine(
    txn: &mut dyn WriteTxn,
    doc: &DocId,
    changes: Vec<automerge::Change>,
    signatures: &[kith_core::ChangeSignature],
    now_ms: u64,
) -> Result<(), ClientError> {
    if changes.is_empty() {
        return Ok(());
    }
    let now_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let expired = txn.expire_quarantine(now_ms)?;
    if expired > 0 {
        tracing::info!(expired, "dropped quarantined changes nobody could judge for 30 days");
    }
    for mut change in changes {
        if !txn.quarantine(doc, change.hash().as_ref(), &change.bytes(), now_ms)? {
            tracing::warn!(doc = %doc, "quarantine full: dropped a change that cannot be judged yet");
        }
    }
    txn.quarantine_signatures(doc, signatures)?;
    Ok(())
}
