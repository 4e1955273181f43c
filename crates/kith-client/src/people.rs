//! People you may know: members of this account's groups who are not its
//! contacts, ranked by how many groups it shares with them, then by how
//! recently they wrote. Computed from what the device already holds;
//! nothing is asked of the server.

use crate::contacts::Contacts;
use crate::error::ClientError;
use kith_core::ChatKind;
use kith_proto::{AccountId, ChatId};
use serde::Serialize;
use std::collections::BTreeMap;

/// One suggested person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PersonSuggestion {
    /// Their account.
    pub account_id: AccountId,
    /// Their display name, when known.
    pub name: Option<String>,
    /// The groups both are in, by name (the reason shown).
    pub shared_groups: Vec<String>,
    /// When they last wrote in one of those groups, ms since the Unix epoch.
    pub last_wrote_ms: Option<u64>,
}

#[derive(Default)]
struct Tally {
    groups: Vec<(ChatId, String)>,
    last_wrote_ms: Option<u64>,
}

impl Contacts<'_> {
    /// Up to `limit` people to suggest, best first. Anyone with a contact
    /// record (accepted, pending, blocked or deleted) is never suggested.
    pub fn suggested_people(&self, limit: usize) -> Result<Vec<PersonSuggestion>, ClientError> {
        let me = self.profile.identity().account_id();
        let known = self.records()?;
        let store = self.profile.store();
        let mut tallies: BTreeMap<AccountId, Tally> = BTreeMap::new();
        for entry in store.chat_list(&me)? {
            let chat = &entry.chat;
            if chat.kind != ChatKind::Group || !chat.members.contains_key(&me) {
                continue;
            }
            let strangers: Vec<AccountId> = chat
                .members
                .keys()
                .filter(|member| **member != me && !known.contains_key(*member))
                .copied()
                .collect();
            if strangers.is_empty() {
                continue;
            }
            let last_written = store.last_written_by_author(&chat.chat)?;
            for member in strangers {
                let tally = tallies.entry(member).or_default();
                tally.groups.push((chat.chat, chat.name.clone()));
                if let Some(ts) = last_written.get(&member) {
                    tally.last_wrote_ms = tally.last_wrote_ms.max(Some(ts.millis()));
                }
            }
        }
        let mut ranked: Vec<(AccountId, Tally)> = tallies.into_iter().collect();
        // More shared groups first, then the more recent writer; the account
        // id keeps the order stable.
        ranked.sort_by(|(a, x), (b, y)| {
            y.groups
                .len()
                .cmp(&x.groups.len())
                .then(y.last_wrote_ms.cmp(&x.last_wrote_ms))
                .then(a.cmp(b))
        });
        ranked
            .into_iter()
            .take(limit)
            .map(|(account_id, tally)| {
                Ok(PersonSuggestion {
                    account_id,
                    name: store.profile_name(&account_id)?,
                    shared_groups: tally.groups.into_iter().map(|(_, name)| name).collect(),
                    last_wrote_ms: tally.last_wrote_ms,
                })
            })
            .collect()
    }
}
