//! Export: a readable JSON of everything plus every document as a standard
//! `.automerge` file that any Automerge implementation can load.

use crate::error::ClientError;
use crate::profile::Profile;
use crate::views::MessageView;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct ExportedChat {
    chat_id: kith_proto::ChatId,
    name: String,
    kind: kith_core::ChatKind,
    members: Vec<ExportedMember>,
    pinned: bool,
    muted: bool,
    archived: bool,
    messages: Vec<MessageView>,
}

#[derive(Serialize)]
struct ExportedMember {
    account_id: kith_proto::AccountId,
    name: Option<String>,
    role: kith_core::Role,
}

/// The export's JSON file.
pub(crate) const EXPORT_FILE: &str = "kith-export.json";

/// One document of an export: its id, its `.automerge` file and the file
/// of its change signatures (which an import needs to accept the changes).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct ExportIndexEntry {
    pub(crate) id: String,
    pub(crate) file: String,
    pub(crate) signatures: Option<String>,
}

#[derive(Serialize)]
struct Export {
    format: &'static str,
    exported_at_ms: u64,
    account_id: kith_proto::AccountId,
    device_id: kith_proto::DeviceId,
    name: String,
    devices: Vec<crate::views::DeviceView>,
    /// Contacts, with their state (pending, accepted, blocked, deleted).
    contacts: Vec<crate::views::ContactView>,
    /// Everyone else who appears in a chat.
    people: Vec<ExportedMember>,
    chats: Vec<ExportedChat>,
    documents: Vec<String>,
    document_index: Vec<ExportIndexEntry>,
}

/// Messages read per page while exporting a chat.
const EXPORT_PAGE: usize = 1000;

/// Writes `kith-export.json`, `documents/*.automerge` and
/// `signatures/*.json` (each document's change signatures) into `out_dir`.
/// Returns the number of documents written.
pub fn export_profile(profile: &Profile, out_dir: &Path) -> Result<usize, ClientError> {
    let docs_dir = out_dir.join("documents");
    std::fs::create_dir_all(&docs_dir).map_err(ClientError::io(format!("creating {}", docs_dir.display())))?;
    let signatures_dir = out_dir.join("signatures");
    std::fs::create_dir_all(&signatures_dir)
        .map_err(ClientError::io(format!("creating {}", signatures_dir.display())))?;
    let store = profile.store();
    let info = profile.info()?;
    let mut chats = Vec::new();
    let mut everyone = std::collections::BTreeSet::new();
    for summary in profile.chats().list()? {
        // Everything, blocked people's messages included: the export is the
        // user's copy of their data, not what the chat view shows.
        let nobody = std::collections::BTreeSet::new();
        let mut messages = Vec::new();
        let mut before = None;
        loop {
            let page = profile
                .messages()
                .page(&summary.chat_id, EXPORT_PAGE, before.as_ref(), &nobody)?;
            let Some(first) = page.first().map(|m| m.id) else { break };
            let full = page.len() == EXPORT_PAGE;
            messages.splice(0..0, page);
            if !full {
                break;
            }
            before = Some(first);
        }
        let mut members = Vec::new();
        for (account_id, role) in &summary.members {
            everyone.insert(*account_id);
            members.push(ExportedMember {
                account_id: *account_id,
                name: store.profile_name(account_id)?,
                role: *role,
            });
        }
        chats.push(ExportedChat {
            chat_id: summary.chat_id,
            name: summary.name,
            kind: summary.kind,
            members,
            pinned: summary.pinned,
            muted: summary.muted,
            archived: summary.archived,
            messages,
        });
    }
    everyone.remove(&info.account_id);
    let people = everyone
        .into_iter()
        .map(|account_id| {
            Ok(ExportedMember {
                account_id,
                name: store.profile_name(&account_id)?,
                role: kith_core::Role::Member,
            })
        })
        .collect::<Result<Vec<_>, ClientError>>()?;
    let mut documents = Vec::new();
    let mut document_index = Vec::new();
    for id in store.doc_ids()? {
        let mut doc = profile.docs().load(id)?;
        let stem = id.to_string().replace(':', "_");
        let path = docs_dir.join(format!("{stem}.automerge"));
        std::fs::write(&path, doc.save()).map_err(ClientError::io(format!("writing {}", path.display())))?;
        let signatures = serde_json::to_vec(&store.change_signatures(&id)?).map_err(ClientError::json("signatures"))?;
        let signatures_path = signatures_dir.join(format!("{stem}.json"));
        std::fs::write(&signatures_path, signatures)
            .map_err(ClientError::io(format!("writing {}", signatures_path.display())))?;
        documents.push(format!("documents/{stem}.automerge"));
        document_index.push(ExportIndexEntry {
            id: id.to_string(),
            file: format!("documents/{stem}.automerge"),
            signatures: Some(format!("signatures/{stem}.json")),
        });
    }
    let export = Export {
        format: "kith-export/1",
        exported_at_ms: profile.now_ms(),
        account_id: info.account_id,
        device_id: info.device_id,
        name: info.name,
        devices: profile.devices().list()?,
        contacts: profile.contacts().list()?,
        people,
        chats,
        documents,
        document_index,
    };
    let json = serde_json::to_vec_pretty(&export).map_err(ClientError::json("the export"))?;
    let path = out_dir.join(EXPORT_FILE);
    std::fs::write(&path, json).map_err(ClientError::io(format!("writing {}", path.display())))?;
    Ok(export.documents.len())
}
