//! Invite links as people share them, with real `kith` processes and a real
//! `kith-server`: a personal link used by several people, revoked; a
//! one-time link used twice; an expiring link; whoever uses a dead link is
//! told why on their side, and the owner sees the attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn contact_of<'a>(contacts: &'a Value, account: &str) -> &'a Value {
    contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["account_id"] == account)
        .unwrap_or_else(|| panic!("{account} is not in {contacts}"))
}

/// `person` uses `link`; both sides sync (the person twice: the answer
/// comes back on the second pass).
fn use_link(person: &Path, link: &str, owner: &Path, server: &ServerProcess) {
    kith(person, &["contact", "add", link]);
    sync(person, server);
    sync(owner, server);
    sync(person, server);
}

#[test]
fn a_personal_link_serves_three_people_until_revoked_then_says_so() {
    let server_home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_home.path().join("data"));
    let (_a, alice) = new_profile("Alice");
    let link = kith_json(&alice, &["invite", "show"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        kith_json(&alice, &["whoami"])["invite"],
        link.as_str(),
        "whoami shows the personal link"
    );

    let mut homes = Vec::new();
    for name in ["Bob", "Carol", "Dave"] {
        let (home, person) = new_profile(name);
        use_link(&person, &link, &alice, &server);
        let theirs = kith_json(&person, &["contacts"]);
        assert_eq!(contact_of(&theirs, &account_of(&alice))["state"], "accepted", "{name}");
        homes.push((home, person));
    }
    let contacts = kith_json(&alice, &["contacts"]);
    for (_, person) in &homes {
        assert_eq!(contact_of(&contacts, &account_of(person))["state"], "accepted");
    }
    let links = kith_json(&alice, &["invite", "list"]);
    let personal = &links.as_array().unwrap()[0];
    assert_eq!(
        (personal["kind"].as_str(), personal["state"].as_str()),
        (Some("personal"), Some("live"))
    );
    assert_eq!(personal["uses"], 3);

    // Revoked: the fourth person is told so, and Alice sees the attempt.
    let id = personal["id"].as_str().unwrap().to_owned();
    let revoked = kith_json(&alice, &["invite", "revoke", &id]);
    assert_eq!(revoked["state"], "revoked");
    assert!(revoked["link"].is_null(), "a dead link is not shown to be handed out");
    let (_e, erin) = new_profile("Erin");
    use_link(&erin, &link, &alice, &server);
    let seen = kith_json(&erin, &["contacts"]);
    let alice_there = contact_of(&seen, &account_of(&alice));
    assert_eq!(alice_there["state"], "refused", "{seen}");
    assert_eq!(alice_there["refusal"], "this link was revoked");
    assert!(kith(&erin, &["contacts"]).contains("this link was revoked"));
    let links = kith_json(&alice, &["invite", "list"]);
    let old = links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id.as_str())
        .unwrap();
    assert_eq!(old["state"], "revoked");
    let attempts = old["refused_attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{old}");
    assert_eq!(attempts[0]["account"], account_of(&erin).as_str());
    assert_eq!(attempts[0]["reason"], "Revoked");
    assert!(
        kith_json(&alice, &["contacts"])
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["account_id"] != account_of(&erin).as_str())
    );

    // Alice has a new personal link at once; Erin uses it and they connect.
    let fresh = kith_json(&alice, &["invite", "show"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, link);
    use_link(&erin, &fresh, &alice, &server);
    let seen = kith_json(&erin, &["contacts"]);
    assert_eq!(contact_of(&seen, &account_of(&alice))["state"], "accepted", "{seen}");
    assert!(contact_of(&seen, &account_of(&alice))["refusal"].is_null());
}

#[test]
fn a_one_time_link_works_once_and_an_expired_link_says_it_expired() {
    let server_home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_home.path().join("data"));
    let (_a, alice) = new_profile("Alice");
    let once = kith_json(&alice, &["invite", "new", "--once"]);
    assert_eq!(
        (once["kind"].as_str(), once["state"].as_str()),
        (Some("one-time"), Some("live"))
    );
    let once_link = once["link"].as_str().unwrap().to_owned();

    let (_f, frank) = new_profile("Frank");
    use_link(&frank, &once_link, &alice, &server);
    assert_eq!(
        contact_of(&kith_json(&frank, &["contacts"]), &account_of(&alice))["state"],
        "accepted"
    );
    let (_g, grace) = new_profile("Grace");
    use_link(&grace, &once_link, &alice, &server);
    let seen = contact_of(&kith_json(&grace, &["contacts"]), &account_of(&alice)).clone();
    assert_eq!(seen["state"], "refused");
    assert_eq!(seen["refusal"], "this one-time link was already used");
    let links = kith_json(&alice, &["invite", "list"]);
    let used = links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == once["id"])
        .unwrap();
    assert_eq!((used["state"].as_str(), used["uses"].as_u64()), (Some("used"), Some(1)));
    assert_eq!(used["refused_attempts"].as_array().unwrap().len(), 1);

    // A link that expires: it works before its time...
    let hour = kith_json(&alice, &["invite", "new", "--once", "--expires-in", "1h"]);
    let (_i, ivan) = new_profile("Ivan");
    use_link(&ivan, hour["link"].as_str().unwrap(), &alice, &server);
    assert_eq!(
        contact_of(&kith_json(&ivan, &["contacts"]), &account_of(&alice))["state"],
        "accepted"
    );
    // ...and not after.
    let short = kith_json(&alice, &["invite", "new", "--once", "--expires-in", "2s"]);
    let short_link = short["link"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (_h, heidi) = new_profile("Heidi");
    use_link(&heidi, &short_link, &alice, &server);
    let seen = contact_of(&kith_json(&heidi, &["contacts"]), &account_of(&alice)).clone();
    assert_eq!(
        (seen["state"].as_str(), seen["refusal"].as_str()),
        (Some("refused"), Some("this link has expired"))
    );

    // Bad input is refused clearly.
    assert!(kith_fails(&alice, &["invite", "revoke", "nosuchlink"]).contains("no invite link"));
    assert!(kith_fails(&alice, &["invite", "new", "--expires-in", "soon"]).contains("not a duration"));
    // The personal link kept working through all of this.
    assert_eq!(
        kith_json(&alice, &["invite", "list"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["kind"] == "personal" && l["state"] == "live")
            .count(),
        1
    );
}

#[test]
fn a_late_refusal_of_an_older_link_does_not_undo_a_newer_request() {
    let server_home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_home.path().join("data"));
    let (_a, alice) = new_profile("Alice");
    let old = kith_json(&alice, &["invite", "new", "--once"]);
    let old_link = old["link"].as_str().unwrap().to_owned();
    kith_json(&alice, &["invite", "revoke", old["id"].as_str().unwrap()]);
    let fresh = kith_json(&alice, &["invite", "new", "--once"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    // Erin tries the revoked link, then the fresh one, before Alice syncs:
    // Alice's device answers the first with a refusal and accepts the second.
    let (_e, erin) = new_profile("Erin");
    kith(&erin, &["contact", "add", &old_link]);
    sync(&erin, &server);
    kith(&erin, &["contact", "add", &fresh]);
    sync(&erin, &server);
    sync(&alice, &server);
    sync(&erin, &server);
    let seen = kith_json(&erin, &["contacts"]);
    let alice_there = contact_of(&seen, &account_of(&alice));
    assert_eq!(alice_there["state"], "accepted", "{seen}");
    assert!(alice_there["refusal"].is_null());
    let links = kith_json(&alice, &["invite", "list"]);
    let refused: usize = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["refused_attempts"].as_array().unwrap().len())
        .sum();
    assert_eq!(refused, 1, "the revoked link's attempt is listed: {links}");
}
