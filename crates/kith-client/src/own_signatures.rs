//! Signatures for this device's changes written before changes were signed
//! (store schema 8): made once, when such a profile is first opened, so the
//! device vouches for its own history wherever the history travels next.

use crate::error::ClientError;
use crate::profile::Profile;
use kith_core::ChangeSignature;

/// Meta key set once this device has signed its history.
const SIGNED_META: &str = "signatures/own-history";

impl Profile {
    /// Signs the newest change of this device in every document that has no
    /// signature of it yet (once per profile).
    pub(crate) fn sign_own_history(&self) -> Result<(), ClientError> {
        if self.store().meta(SIGNED_META)?.is_some() {
            return Ok(());
        }
        let device = self.identity().device_id();
        let keys = self.identity().device_keys();
        let mut signed = Vec::new();
        for doc_id in self.store().doc_ids()? {
            if self
                .store()
                .change_signatures(&doc_id)?
                .iter()
                .any(|s| s.device == device)
            {
                continue;
            }
            let mut doc = self.docs().load(doc_id)?;
            let newest = doc
                .changes_since(&[])
                .into_iter()
                .filter(|c| kith_core::docs::device_of(c.actor_id()) == Some(device))
                .max_by_key(|c| c.seq());
            if let Some(change) = newest {
                signed.push((doc_id, ChangeSignature::sign(keys, &doc_id, &change)));
            }
        }
        let mut txn = self.store().begin_write()?;
        for (doc_id, signature) in &signed {
            txn.keep_change_signatures(doc_id, std::slice::from_ref(signature))?;
        }
        txn.set_meta(SIGNED_META, b"1")?;
        txn.commit()?;
        if !signed.is_empty() {
            tracing::info!(documents = signed.len(), "signed this device's earlier changes");
        }
        Ok(())
    }
}
