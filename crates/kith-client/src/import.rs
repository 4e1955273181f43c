//! Reading documents into a profile from a file rather than from a peer:
//! an export (`kith export`) of this account, or a backup being restored.
//! Every change goes through the same judging as one received from the
//! network: it is applied only when its actor's signature vouches for it and
//! the document's rules allow it, so a file can bring nothing a peer could not.

use crate::archive::Archive;
use crate::error::ClientError;
use crate::export::{EXPORT_FILE, ExportIndexEntry};
use crate::profile::Profile;
use kith_core::ChangeSignature;
use kith_proto::{AccountId, DocId};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What an import read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Documents read.
    pub documents: usize,
    /// Changes accepted (changes this profile already had count as none).
    pub changes: usize,
    /// Documents that could not be read, with the reason.
    pub skipped: Vec<String>,
}

/// Applies one saved document's changes, judged as if received.
pub(crate) fn import_document(
    profile: &Profile,
    id: DocId,
    saved: &[u8],
    signatures: &[ChangeSignature],
) -> Result<usize, ClientError> {
    let doc = kith_core::automerge::Automerge::load(saved)
        .map_err(|err| ClientError::Import(format!("document {id} does not load: {err}")))?;
    profile.docs().apply_changes(id, doc.get_changes(&[]), signatures)
}

/// Where a document comes in the order a restore or import applies them:
/// the account document (certificates, keys), then conversation heads
/// (members), then the rest.
pub(crate) fn apply_rank(id: &DocId) -> u8 {
    match id {
        DocId::Account(_) => 0,
        DocId::Head(_) => 1,
        _ => 2,
    }
}

/// The part of `kith-export.json` an import reads.
#[derive(Deserialize)]
struct ExportHead {
    format: String,
    account_id: AccountId,
    documents: Vec<String>,
    #[serde(default)]
    document_index: Vec<ExportIndexEntry>,
}

impl Archive<'_> {
    /// Reads an export of this account into this profile (for example on a
    /// new machine after `restore` or `recover`, or to merge what another
    /// device wrote offline). Documents that do not load are reported and
    /// skipped; the rest are applied.
    pub fn import_export(self, dir: &Path) -> Result<ImportReport, ClientError> {
        let path = dir.join(EXPORT_FILE);
        let bytes = std::fs::read(&path).map_err(ClientError::io(format!("reading {}", path.display())))?;
        let head: ExportHead = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Import(format!("{} is not a Kith export: {e}", path.display())))?;
        if !head.format.starts_with("kith-export/") {
            return Err(ClientError::Import(format!(
                "{} is a {:?} file, not a Kith export",
                path.display(),
                head.format
            )));
        }
        let me = self.profile.identity().account_id();
        if head.account_id != me {
            return Err(ClientError::Import(format!(
                "this export is of account {}, and this profile is {me}",
                head.account_id
            )));
        }
        // Exports from before the index: ids from the file names.
        let entries: Vec<ExportIndexEntry> = if head.document_index.is_empty() {
            head.documents
                .iter()
                .filter_map(|file| {
                    let stem = Path::new(file).file_stem()?.to_str()?;
                    Some(ExportIndexEntry {
                        id: stem.replace('_', ":"),
                        file: file.clone(),
                        signatures: None,
                    })
                })
                .collect()
        } else {
            head.document_index
        };
        let mut report = ImportReport::default();
        let mut parsed: Vec<(DocId, ExportIndexEntry)> = Vec::new();
        for entry in entries {
            match entry.id.parse::<DocId>() {
                Ok(id) => parsed.push((id, entry)),
                Err(err) => report.skipped.push(format!("{}: {err}", entry.file)),
            }
        }
        parsed.sort_by_key(|(id, _)| apply_rank(id));
        for (id, entry) in &parsed {
            match self.import_entry(dir, *id, entry) {
                Ok(changes) => {
                    report.documents += 1;
                    report.changes += changes;
                }
                Err(err) => report.skipped.push(format!("{}: {err}", entry.file)),
            }
        }
        Ok(report)
    }

    fn import_entry(self, dir: &Path, id: DocId, entry: &ExportIndexEntry) -> Result<usize, ClientError> {
        let inside = |relative: &str| -> Result<std::path::PathBuf, ClientError> {
            // Only files inside the export: a crafted index cannot make us read elsewhere.
            let relative = Path::new(relative);
            if relative.is_absolute()
                || relative
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(ClientError::Import(format!(
                    "{} is outside the export",
                    relative.display()
                )));
            }
            Ok(dir.join(relative))
        };
        let path = inside(&entry.file)?;
        let saved = std::fs::read(&path).map_err(ClientError::io(format!("reading {}", path.display())))?;
        let signatures: Vec<ChangeSignature> = match &entry.signatures {
            Some(file) => {
                let path = inside(file)?;
                let bytes = std::fs::read(&path).map_err(ClientError::io(format!("reading {}", path.display())))?;
                serde_json::from_slice(&bytes).map_err(ClientError::json("change signatures"))?
            }
            None => Vec::new(),
        };
        import_document(self.profile, id, &saved, &signatures)
    }
}
