//! Finding people and answering strangers: `kith username ...`,
//! `kith contact find`, `kith contact request`, `kith requests` and
//! `kith request ...`. Everything that asks the server connects to the
//! given one (or the one this profile last synced with).

use crate::args::{EmailCommand, RequestCommand, UsernameCommand};
use crate::ids::{account_id, server_for};
use crate::outcome::Outcome;
use kith_client::{Profile, RequestTo};
use serde_json::json;

/// `kith username ...`.
pub(crate) fn username(profile: &Profile, command: UsernameCommand) -> anyhow::Result<Outcome> {
    let directory = profile.directory();
    match command {
        UsernameCommand::Show => {
            let name = directory.username()?;
            let text = match &name {
                Some(name) => format!("@{name}"),
                None => "no username: claim one with `kith username set NAME`".to_owned(),
            };
            Outcome::show(&json!({ "username": name }), text)
        }
        UsernameCommand::Set { name, server } => {
            let server = server_for(profile, server)?;
            let claimed = crate::sync::runtime()?.block_on(async {
                let connection = profile.relay().connect(&server).await?;
                directory.claim(&connection, &name).await
            })?;
            let text = format!("you are @{claimed}: people who know it can send you a request");
            Ok(Outcome::show(&json!({ "username": claimed }), text)?.wrote())
        }
        UsernameCommand::Release { server } => {
            let server = server_for(profile, server)?;
            let released = crate::sync::runtime()?.block_on(async {
                let connection = profile.relay().connect(&server).await?;
                directory.release(&connection).await
            })?;
            let text = format!("released @{released}");
            Ok(Outcome::show(&json!({ "released": released }), text)?.wrote())
        }
    }
}

/// `kith contact find NAME`.
pub(crate) fn find(profile: &Profile, name: &str, server: Option<String>) -> anyhow::Result<Outcome> {
    let server = server_for(profile, server)?;
    let found = crate::sync::runtime()?.block_on(async {
        let connection = profile.relay().connect(&server).await?;
        profile.directory().find(&connection, name).await
    })?;
    let Some(person) = found else {
        anyhow::bail!("nobody has the username {name:?} on this server");
    };
    let text = format!(
        "@{}  {}  ({})\nsend a request: kith contact request {} --message \"...\"",
        person.username, person.account_id, person.relation, person.username
    );
    Outcome::show(&person, text)
}

/// `kith contact request WHO --message TEXT`: WHO is a username, or the
/// account id of someone in one of your groups.
pub(crate) fn request(profile: &Profile, who: &str, message: &str, server: Option<String>) -> anyhow::Result<Outcome> {
    let server = server_for(profile, server)?;
    let directory = profile.directory();
    let account = crate::sync::runtime()?.block_on(async {
        let connection = profile.relay().connect(&server).await?;
        let to = match who.parse() {
            Ok(account) => RequestTo::Member(account),
            Err(_) => match directory.find(&connection, who).await? {
                Some(person) => RequestTo::Found(Box::new(person)),
                None => anyhow::bail!("nobody has the username {who:?} on this server"),
            },
        };
        let account = directory.send_request(&connection, to, message).await?;
        // The first message goes up with the chat it starts.
        profile
            .relay()
            .sync(&connection, kith_client::RelayOptions::default())
            .await?;
        anyhow::Ok(account)
    })?;
    let text =
        format!("request sent to {account}: they see it in their Requests, and you become contacts if they accept");
    Ok(Outcome::show(&json!({ "account_id": account, "state": "pending" }), text)?.wrote())
}

/// `kith requests`: message requests waiting for an answer.
pub(crate) fn list(profile: &Profile) -> anyhow::Result<Outcome> {
    let requests = profile.contacts().requests()?;
    let text = if requests.is_empty() {
        "no message requests".to_owned()
    } else {
        crate::output::lines(&requests, |r| {
            let why = if r.spam.reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", r.spam.reasons.join(", "))
            };
            format!(
                "{}  {}  via {}  spam {:.0}%{why}\n    {}",
                r.account_id,
                r.name.as_deref().unwrap_or("(no name)"),
                r.via,
                r.spam.score * 100.0,
                r.text
            )
        })
    };
    Outcome::show(&requests, text)
}

/// `kith request accept|ignore|block ACCOUNT`.
pub(crate) fn answer(profile: &Profile, command: RequestCommand) -> anyhow::Result<Outcome> {
    let contacts = profile.contacts();
    match command {
        RequestCommand::Accept { account } => {
            let account = account_id(&account)?;
            contacts.accept_request(&account)?;
            Ok(Outcome::ok(format!("accepted {account}: you are contacts once you sync"))?.wrote())
        }
        RequestCommand::Ignore { account } => {
            let account = account_id(&account)?;
            contacts.ignore_request(&account)?;
            Ok(Outcome::ok(format!("ignored {account}: they are not told"))?.wrote())
        }
        RequestCommand::Block {
            account,
            report,
            server,
        } => {
            let account = account_id(&account)?;
            let device = contacts.block_request(&account)?;
            let reported = match report {
                Some(reason) => {
                    let server = server_for(profile, server)?;
                    crate::sync::runtime()?.block_on(async {
                        let connection = profile.relay().connect(&server).await?;
                        profile.directory().report(&connection, &device, &reason).await
                    })?;
                    true
                }
                None => false,
            };
            let text = if reported {
                format!("blocked {account} and reported their device {device}")
            } else {
                format!("blocked {account}")
            };
            Ok(Outcome::show(
                &json!({ "account_id": account, "device_id": device, "reported": reported }),
                text,
            )?
            .wrote())
        }
    }
}

/// `kith email ...`.
pub(crate) fn email(profile: &Profile, command: EmailCommand) -> anyhow::Result<Outcome> {
    let directory = profile.directory();
    match command {
        EmailCommand::Show => {
            let nudge = directory.email_nudge()?;
            let text = match &nudge {
                Some(n) => format!("emails go to {} after {} s away", n.address, n.after_secs),
                None => "no email nudges".to_owned(),
            };
            Outcome::show(&nudge, text)
        }
        EmailCommand::Set { address, after, server } => {
            let server = server_for(profile, server)?;
            let nudge = crate::sync::runtime()?.block_on(async {
                let connection = profile.relay().connect(&server).await?;
                directory.set_email_nudge(&connection, &address, after / 1000).await
            })?;
            let text = format!(
                "one email to {} when this device has been away {} s and something waits (no sender, no text)",
                nudge.address, nudge.after_secs
            );
            Ok(Outcome::show(&nudge, text)?.wrote())
        }
        EmailCommand::Off { server } => {
            let server = server_for(profile, server)?;
            let was_set = crate::sync::runtime()?.block_on(async {
                let connection = profile.relay().connect(&server).await?;
                directory.stop_email_nudge(&connection).await
            })?;
            let text = if was_set {
                "no more emails"
            } else {
                "there were no emails to stop"
            };
            Ok(Outcome::show(&json!({ "stopped": was_set }), text)?.wrote())
        }
    }
}
