//! Contacts: add, block, unblock, the list, and the peers this profile syncs with.

use crate::args::ContactCommand;
use crate::ids::account_id;
use crate::outcome::Outcome;
use kith_client::Profile;
use serde_json::json;

/// `kith contact ...`.
pub(crate) fn contact(profile: &Profile, command: ContactCommand) -> anyhow::Result<Outcome> {
    let contacts = profile.contacts();
    match command {
        ContactCommand::Add { invite } => {
            let account = contacts.add(&invite)?;
            let text = format!("added {account}; you become contacts once both of you have synced");
            Ok(Outcome::show(&json!({ "account_id": account, "state": "pending" }), text)?.wrote())
        }
        ContactCommand::Block { account } => {
            contacts.set_blocked(&account_id(&account)?, true)?;
            Ok(Outcome::ok("blocked")?.wrote())
        }
        ContactCommand::Unblock { account } => {
            contacts.set_blocked(&account_id(&account)?, false)?;
            Ok(Outcome::ok("unblocked")?.wrote())
        }
    }
}

/// `kith contacts`.
pub(crate) fn list(profile: &Profile) -> anyhow::Result<Outcome> {
    let contacts = profile.contacts().list()?;
    let text = if contacts.is_empty() {
        "no contacts yet: share the invite from `kith whoami`".to_owned()
    } else {
        crate::output::lines(&contacts, |c| {
            format!(
                "{}  {:<9} {}",
                c.account_id,
                c.state,
                c.name.as_deref().unwrap_or("(no name yet)")
            )
        })
    };
    Outcome::show(&contacts, text)
}

/// `kith peers`: devices this profile syncs with and how each is reached.
pub(crate) fn peers(profile: &Profile) -> anyhow::Result<Outcome> {
    let peers = profile.peers()?;
    let text = if peers.is_empty() {
        "no peers yet: link a device or add a contact".to_owned()
    } else {
        crate::output::lines(&peers, |peer| {
            format!(
                "{:<11} {} {} ({}){}",
                peer.route.as_str(),
                peer.peer_id,
                peer.name.as_deref().unwrap_or("?"),
                if peer.own { "your device" } else { "contact" },
                peer.address.as_ref().map(|a| format!(" at {a}")).unwrap_or_default()
            )
        })
    };
    Outcome::show(&peers, text)
}
