//! One authenticated conversation with one peer device, without IO: frames
//! in, frames out. The driver (`driver.rs`) owns the sockets.

use super::frame::{AUTH_PROTOCOL, PeerFrame, PeerSignal};
use super::identity::PeerIdentity;
use crate::ephemeral::Ephemeral;
use crate::error::ClientError;
use crate::profile::Profile;
use kith_core::DeviceCertificate;
use kith_core::docs::contact::ContactState;
use kith_net::p2p::{PeerId, Route, peer_id_of_device};
use kith_proto::{AccountId, ChatId, DeviceId, DocId};
use std::collections::{BTreeMap, BTreeSet};

/// What handling one input produced.
#[derive(Debug, Default)]
pub struct Step {
    /// Frames to send, in order.
    pub send: Vec<PeerFrame>,
    /// Close the stream after sending, with this reason.
    pub close: Option<String>,
    /// Changes accepted into documents.
    pub applied: usize,
    /// Typing and presence received.
    pub signals: Vec<Ephemeral>,
    /// The peer became authorised with this input.
    pub authorised: Option<PeerIdentity>,
    /// Sync frames from the peer that were ignored (not authorised, not a
    /// document it may write).
    pub refused: usize,
    /// Blob chunks the peer sent (for the driver's downloads).
    pub blob_chunks: Vec<([u8; 32], u32, Vec<u8>)>,
    /// Blobs the peer said it cannot give.
    pub blob_missing: Vec<[u8; 32]>,
}

/// The state of one peer stream.
#[derive(Debug)]
pub struct PeerSession {
    peer: PeerId,
    identity: Option<PeerIdentity>,
    /// A verified hello from someone who is not a contact (yet): they may
    /// still present our invite.
    hello_from: Option<(DeviceCertificate, Option<String>)>,
    welcomed_them: bool,
    welcomed_us: bool,
    /// The documents the peer said it has, and their heads.
    their_docs: BTreeSet<DocId>,
    last_digest_sent: Option<[u8; 32]>,
    last_resync: Option<([u8; 32], [u8; 32])>,
    /// Sync frames received since the last digest: a digest that arrives
    /// while the exchange is moving is stale, not a sign of a lost frame.
    syncs_since_digest: usize,
    /// How frames of this peer's new messages are recorded.
    route: Route,
}

impl PeerSession {
    /// A fresh session: the sync state with this peer is reset (never resume
    /// in-flight state after a reconnect).
    pub fn new(profile: &Profile, peer: PeerId, route: Route) -> PeerSession {
        profile.docs().reset_sync(&sync_key(&peer));
        PeerSession {
            peer,
            identity: None,
            hello_from: None,
            welcomed_them: false,
            welcomed_us: false,
            their_docs: BTreeSet::new(),
            last_digest_sent: None,
            last_resync: None,
            syncs_since_digest: 0,
            route,
        }
    }

    /// The peer, once authorised.
    pub fn identity(&self) -> Option<PeerIdentity> {
        self.identity.filter(|_| self.authorised())
    }

    /// Whether documents may flow.
    pub fn authorised(&self) -> bool {
        self.welcomed_them && self.welcomed_us && self.identity.is_some()
    }

    /// Updates the route recorded for messages that arrive from now on.
    pub fn set_route(&mut self, route: Route) {
        self.route = route;
    }

    /// The first frame: who we are.
    pub fn hello(&self, profile: &Profile) -> Result<PeerFrame, ClientError> {
        let me = profile.identity().account_id();
        Ok(PeerFrame::Hello {
            protocol: AUTH_PROTOCOL.into(),
            certificate: profile.identity().certificate().to_bytes(),
            name: profile.store().profile_name(&me)?,
        })
    }

    /// Handles one frame from the peer.
    pub fn on_frame(&mut self, profile: &Profile, bytes: &[u8]) -> Result<Step, ClientError> {
        let mut step = Step::default();
        let frame = match PeerFrame::decode(bytes) {
            Ok(frame) => frame,
            Err(err) => {
                step.close = Some(format!("malformed frame: {err}"));
                return Ok(step);
            }
        };
        tracing::trace!(peer = %self.peer, kind = frame.kind(), len = bytes.len(), "frame in");
        match frame {
            PeerFrame::Hello {
                protocol,
                certificate,
                name,
            } => self.on_hello(profile, &protocol, &certificate, name, &mut step)?,
            PeerFrame::Connect(offer) => {
                let Some((cert, name)) = self.hello_from.take() else {
                    step.close = Some("connect without a pending hello".into());
                    return Ok(step);
                };
                match profile.accept_connect(&cert, &offer.invite_secret, offer.channel_secret, name) {
                    Ok(true) => self.welcome(profile, cert.account, cert.device, &mut step)?,
                    Ok(false) => self.refuse("not a contact".into(), &mut step),
                    Err(err) => self.refuse(err.to_string(), &mut step),
                }
            }
            PeerFrame::Welcome { name } => {
                if self.welcomed_us {
                    step.close = Some("second welcome".into());
                    return Ok(step);
                }
                self.welcomed_us = true;
                if let Some(identity) = self.identity
                    && !identity.own
                    && profile.pending_connect(&identity.account)?.is_some()
                {
                    profile.connect_answered(&identity.account, name)?;
                }
                self.maybe_start(profile, &mut step)?;
            }
            PeerFrame::Refused { reason } => {
                step.close = Some(format!("the peer refused us: {reason}"));
            }
            _ if !self.authorised() => {
                // Nothing but the authentication exchange before both welcomes.
                step.refused += 1;
                step.close = Some("document frames before authentication".into());
            }
            PeerFrame::Heads { docs, resync } => {
                if resync {
                    profile.docs().reset_sync(&sync_key(&self.peer));
                }
                let theirs = parse_heads(&docs);
                self.their_docs = theirs.keys().copied().collect();
                self.offer(profile, Some(&theirs), &mut step)?;
            }
            PeerFrame::Digest { digest } => self.on_digest(profile, digest, &mut step)?,
            PeerFrame::Sync { doc, message } => {
                self.syncs_since_digest += 1;
                self.on_sync(profile, &doc, &message, &mut step)?
            }
            PeerFrame::BlobWant { hash, first, count } => {
                let identity = self
                    .identity
                    .ok_or_else(|| ClientError::Blob("not authenticated".into()))?;
                match super::blobs::serve(profile, &identity, hash, first, count) {
                    Ok(frames) => step.send.extend(frames),
                    // A blob this device cannot serve (damaged, shorter than
                    // its message says) costs this request, not the session.
                    Err(err) => {
                        tracing::warn!(%err, "could not serve a wanted blob");
                        step.send.push(PeerFrame::BlobMissing { hash });
                    }
                }
            }
            PeerFrame::BlobChunk { hash, index, bytes } => step.blob_chunks.push((hash, index, bytes)),
            PeerFrame::BlobMissing { hash } => step.blob_missing.push(hash),
            PeerFrame::Signal { signal, ttl_ms } => self.on_signal(profile, signal, ttl_ms, &mut step)?,
        }
        Ok(step)
    }

    /// The peer's digest of what it holds: when it differs from ours
    /// although nothing moved since the last one, both start over from
    /// heads (once per pair of digests).
    fn on_digest(&mut self, profile: &Profile, digest: [u8; 32], step: &mut Step) -> Result<(), ClientError> {
        let progressed = std::mem::take(&mut self.syncs_since_digest) > 0;
        let mine = self.announced(profile)?;
        let ours = digest_of(&mine);
        if ours != digest && !progressed && self.last_resync != Some((digest, ours)) {
            self.last_resync = Some((digest, ours));
            profile.docs().reset_sync(&sync_key(&self.peer));
            step.send.push(heads_frame(&mine, true));
        }
        Ok(())
    }

    /// Typing or presence from an authenticated peer, for at most two
    /// minutes; typing only about chats the peer is in.
    fn on_signal(
        &self,
        profile: &Profile,
        signal: PeerSignal,
        ttl_ms: u32,
        step: &mut Step,
    ) -> Result<(), ClientError> {
        if let Some(identity) = self.identity
            && ttl_ms > 0
        {
            let until_ms = profile.now_ms().saturating_add(u64::from(ttl_ms.min(120_000)));
            match signal {
                PeerSignal::Presence => step.signals.push(Ephemeral::Presence {
                    account: identity.account,
                    until_ms,
                }),
                PeerSignal::Typing { chat } => {
                    if let Ok(chat_id) = chat.parse::<ChatId>()
                        && (identity.own || profile.store().was_member(&chat_id, &identity.account)?)
                    {
                        step.signals.push(Ephemeral::Typing {
                            chat_id,
                            account: identity.account,
                            until_ms,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn on_hello(
        &mut self,
        profile: &Profile,
        protocol: &str,
        certificate: &[u8],
        name: Option<String>,
        step: &mut Step,
    ) -> Result<(), ClientError> {
        if self.identity.is_some() || self.hello_from.is_some() {
            step.close = Some("second hello".into());
            return Ok(());
        }
        if protocol != AUTH_PROTOCOL {
            self.refuse(format!("unsupported protocol {protocol:?}"), step);
            return Ok(());
        }
        let cert = match self.verify(profile, certificate) {
            Ok(cert) => cert,
            Err(reason) => {
                self.refuse(reason, step);
                return Ok(());
            }
        };
        // We used their invite: prove it (they may not know us yet).
        if let Some(offer) = profile.pending_connect(&cert.account)? {
            step.send.push(PeerFrame::Connect(offer));
        }
        let me = profile.identity().account_id();
        if cert.account == me {
            profile.docs().learn_certificate(&cert)?;
            return self.welcome(profile, cert.account, cert.device, step);
        }
        match profile.contacts().get(&cert.account)? {
            Some(record) if record.blocked => self.refuse("blocked".into(), step),
            Some(record)
                if record.state == ContactState::Accepted || profile.pending_connect(&cert.account)?.is_some() =>
            {
                profile.docs().learn_certificate(&cert)?;
                self.welcome(profile, cert.account, cert.device, step)?;
            }
            // Not a contact (yet): nothing is served unless an invite follows.
            _ => self.hello_from = Some((cert, name)),
        }
        Ok(())
    }

    fn welcome(
        &mut self,
        profile: &Profile,
        account: AccountId,
        device: DeviceId,
        step: &mut Step,
    ) -> Result<(), ClientError> {
        let me = profile.identity().account_id();
        self.identity = Some(PeerIdentity {
            account,
            device,
            own: account == me,
        });
        self.welcomed_them = true;
        step.send.push(PeerFrame::Welcome {
            name: profile.store().profile_name(&me)?,
        });
        self.maybe_start(profile, step)
    }

    fn refuse(&self, reason: String, step: &mut Step) {
        tracing::info!(peer = %self.peer, "refused a peer: {reason}");
        step.send.push(PeerFrame::Refused { reason: reason.clone() });
        step.close = Some(reason);
    }

    /// The peer's certificate, if it verifies, names the connected device
    /// and was not revoked.
    fn verify(&self, profile: &Profile, certificate: &[u8]) -> Result<DeviceCertificate, String> {
        let cert = DeviceCertificate::from_bytes(certificate).map_err(|err| format!("bad certificate: {err}"))?;
        cert.verify()
            .map_err(|err| format!("certificate does not verify: {err}"))?;
        let expected = peer_id_of_device(&cert.device).map_err(|err| err.to_string())?;
        if expected != self.peer {
            return Err("the certificate is not of the connected device".into());
        }
        let revoked = profile
            .store()
            .devices(&cert.account)
            .map_err(|err| err.to_string())?
            .iter()
            .any(|d| d.cert.device == cert.device && d.revoked_at.is_some());
        if revoked {
            return Err("the device was revoked".into());
        }
        Ok(cert)
    }

    /// Once both sides welcomed each other: announce our heads.
    fn maybe_start(&mut self, profile: &Profile, step: &mut Step) -> Result<(), ClientError> {
        if !self.authorised() {
            return Ok(());
        }
        step.authorised = self.identity;
        let mine = self.announced(profile)?;
        step.send.push(heads_frame(&mine, false));
        Ok(())
    }

    /// Our documents shared with the peer, and their heads.
    fn announced(&self, profile: &Profile) -> Result<DocHeads, ClientError> {
        let account = self
            .identity
            .map(|i| i.account)
            .ok_or_else(|| ClientError::Identity("peer not authenticated".into()))?;
        let mut out = BTreeMap::new();
        for doc in profile.docs().shared_with(&account)? {
            let heads = profile.docs().heads(doc)?;
            out.insert(doc, heads.iter().map(|h| h.0).collect());
        }
        Ok(out)
    }

    /// Starts or continues the sync of every document that differs (all
    /// shared ones when `theirs` is `None`).
    fn offer(
        &mut self,
        profile: &Profile,
        theirs: Option<&BTreeMap<DocId, Vec<[u8; 32]>>>,
        step: &mut Step,
    ) -> Result<(), ClientError> {
        let mine = self.announced(profile)?;
        let mut docs: BTreeSet<DocId> = mine.keys().copied().collect();
        if let Some(theirs) = theirs {
            for doc in theirs.keys() {
                if self.may_receive(profile, *doc)? && self.may_answer(profile, *doc)? {
                    docs.insert(*doc);
                }
            }
        }
        for doc in docs {
            if let Some(theirs) = theirs
                && mine.get(&doc) == theirs.get(&doc)
            {
                continue;
            }
            if let Some(message) = profile.docs().sync_generate(&sync_key(&self.peer), doc)? {
                step.send.push(PeerFrame::Sync {
                    doc: doc.to_string(),
                    message,
                });
            }
        }
        Ok(())
    }

    /// Whether the peer may send us changes of `doc`.
    fn may_receive(&self, profile: &Profile, doc: DocId) -> Result<bool, ClientError> {
        let Some(identity) = self.identity else {
            return Ok(false);
        };
        let me = profile.identity().account_id();
        Ok(match doc {
            DocId::Account(owner) => identity.own && owner == me,
            DocId::Head(chat) | DocId::Segment(chat, _) => {
                if identity.own {
                    true
                } else if profile.store().chat(&chat)?.is_some() {
                    // Messages only of chats both are in (not of one a
                    // contact pushed at us); a head may yet add us.
                    profile.store().was_member(&chat, &identity.account)?
                        && (matches!(doc, DocId::Head(_)) || profile.store().was_member(&chat, &me)?)
                } else {
                    // A conversation we do not know yet: its head first, which
                    // says who the members are; every change is still judged.
                    matches!(doc, DocId::Head(_))
                }
            }
        })
    }

    /// Whether our sync messages for `doc` may go to the peer: documents we
    /// share with it, and documents we do not hold (asking for them shows
    /// nothing of ours).
    fn may_answer(&self, profile: &Profile, doc: DocId) -> Result<bool, ClientError> {
        let Some(identity) = self.identity else {
            return Ok(false);
        };
        Ok(profile.docs().shares(&identity.account, doc)? || profile.docs().heads(doc)?.is_empty())
    }

    fn on_sync(&mut self, profile: &Profile, doc: &str, message: &[u8], step: &mut Step) -> Result<(), ClientError> {
        let Ok(doc_id) = doc.parse::<DocId>() else {
            step.refused += 1;
            return Ok(());
        };
        if !self.may_receive(profile, doc_id)? {
            tracing::info!(peer = %self.peer, doc, "ignored a document the peer may not write");
            step.refused += 1;
            return Ok(());
        }
        let key = sync_key(&self.peer);
        let applied = match profile
            .docs()
            .sync_receive_via(&key, doc_id, message, Some(self.route.as_str()))
        {
            Ok(applied) => applied,
            Err(ClientError::Sync(err)) => {
                tracing::warn!(peer = %self.peer, doc, "bad sync message: {err}");
                step.refused += 1;
                return Ok(());
            }
            Err(err) => return Err(err),
        };
        step.applied += applied;
        if !self.may_answer(profile, doc_id)? {
            // Their changes are welcome (each was judged), ours are not theirs.
            return Ok(());
        }
        if let Some(reply) = profile.docs().sync_generate(&key, doc_id)? {
            step.send.push(PeerFrame::Sync {
                doc: doc.to_owned(),
                message: reply,
            });
        }
        // A new conversation's head arrived: its segments may now be synced.
        if applied > 0 && matches!(doc_id, DocId::Head(_)) {
            let pending: Vec<DocId> = self
                .their_docs
                .iter()
                .copied()
                .filter(|d| d.chat() == doc_id.chat() && matches!(d, DocId::Segment(..)))
                .collect();
            for segment in pending {
                if self.may_receive(profile, segment)?
                    && self.may_answer(profile, segment)?
                    && let Some(message) = profile.docs().sync_generate(&key, segment)?
                {
                    step.send.push(PeerFrame::Sync {
                        doc: segment.to_string(),
                        message,
                    });
                }
            }
        }
        Ok(())
    }

    /// Something changed locally (or arrived from another peer): offer it.
    pub fn on_local_change(&mut self, profile: &Profile) -> Result<Step, ClientError> {
        let mut step = Step::default();
        if self.authorised() {
            self.offer(profile, None, &mut step)?;
        }
        Ok(step)
    }

    /// The stream has been quiet: send a digest of our heads if it changed,
    /// so a lost frame is noticed.
    pub fn on_quiet(&mut self, profile: &Profile) -> Result<Step, ClientError> {
        let mut step = Step::default();
        if !self.authorised() {
            return Ok(step);
        }
        let mine = self.announced(profile)?;
        let digest = digest_of(&mine);
        // Once per quiet spell (the driver calls this once until frames flow
        // again); again with the same digest only if frames came in since,
        // so two peers in sync fall silent.
        if self.last_digest_sent != Some(digest) || self.syncs_since_digest > 0 {
            self.last_digest_sent = Some(digest);
            step.send.push(PeerFrame::Digest { digest });
        }
        Ok(step)
    }
}

/// Each shared document's heads.
type DocHeads = BTreeMap<DocId, Vec<[u8; 32]>>;

/// The key sync state with a peer is kept under.
pub fn sync_key(peer: &PeerId) -> String {
    format!("p2p:{peer}")
}

fn heads_frame(mine: &BTreeMap<DocId, Vec<[u8; 32]>>, resync: bool) -> PeerFrame {
    PeerFrame::Heads {
        docs: mine
            .iter()
            .map(|(doc, heads)| (doc.to_string(), heads.clone()))
            .collect(),
        resync,
    }
}

fn parse_heads(docs: &[(String, Vec<[u8; 32]>)]) -> BTreeMap<DocId, Vec<[u8; 32]>> {
    docs.iter()
        .filter_map(|(doc, heads)| doc.parse::<DocId>().ok().map(|d| (d, heads.clone())))
        .collect()
}

fn digest_of(mine: &BTreeMap<DocId, Vec<[u8; 32]>>) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for (doc, heads) in mine {
        hasher.update(doc.to_string().as_bytes());
        hasher.update(&[0]);
        for head in heads {
            hasher.update(head);
        }
        hasher.update(&[0xff]);
    }
    *hasher.finalize().as_bytes()
}
