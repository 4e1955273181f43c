//! Contacts: add, block, unblock, the list, and the peers this profile syncs with.

use crate::args::{ContactCommand, InviteCommand};
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
        ContactCommand::Find { name, server } => crate::commands::people::find(profile, &name, server),
        ContactCommand::Request { who, message, server } => {
            crate::commands::people::request(profile, &who, &message, server)
        }
        ContactCommand::Suggestions { limit } => {
            let people = contacts.suggested_people(limit)?;
            let text = if people.is_empty() {
                "no suggestions: everyone in your groups is a contact already".to_owned()
            } else {
                crate::output::lines(&people, |p| {
                    format!(
                        "{}  {}  (in {})",
                        p.account_id,
                        p.name.as_deref().unwrap_or("(no name)"),
                        p.shared_groups.join(", ")
                    )
                })
            };
            Outcome::show(&people, text)
        }
    }
}

/// `kith invite ...`.
pub(crate) fn invite(profile: &Profile, command: InviteCommand) -> anyhow::Result<Outcome> {
    let contacts = profile.contacts();
    let describe = |link: &kith_client::InviteLinkView| {
        let tried = match link.refused_attempts.len() {
            0 => String::new(),
            n => format!(", {n} tried it since"),
        };
        format!(
            "{}  {:<8} {:<8} used {}{}{}",
            link.id,
            link.kind,
            link.state,
            link.uses,
            tried,
            link.link.as_deref().map(|l| format!("\n    {l}")).unwrap_or_default()
        )
    };
    match command {
        InviteCommand::Show => {
            let invite = contacts.invite()?.link();
            Outcome::show(&json!({ "link": invite }), invite.clone())
        }
        InviteCommand::List => {
            let links = contacts.list_links()?;
            let text = crate::output::lines(&links, describe);
            Outcome::show(&links, text)
        }
        InviteCommand::New { once, expires_in } => {
            let kind = if once {
                kith_client::InviteKind::OneTime
            } else {
                kith_client::InviteKind::Personal
            };
            let link = contacts.new_link(kind, expires_in)?;
            let text = describe(&link);
            Ok(Outcome::show(&link, text)?.wrote())
        }
        InviteCommand::Revoke { id } => {
            let link = contacts.revoke_link(&id)?;
            let text = format!("revoked {}; whoever uses it is told so", link.id);
            Ok(Outcome::show(&link, text)?.wrote())
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
                "{}  {:<9} {}{}",
                c.account_id,
                c.state,
                c.name.as_deref().unwrap_or("(no name yet)"),
                c.refusal.as_deref().map(|why| format!(" ({why})")).unwrap_or_default()
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
