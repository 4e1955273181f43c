//! People you may know, from what the device holds, through a real server:
//! someone in two of Alice's groups comes before someone in one; a contact
//! is never suggested.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[test]
fn group_members_who_are_not_contacts_are_suggested_by_shared_groups() {
    let server_home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_home.path().join("data"));
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    let (_c, carol) = new_profile("Carol");
    let (_d, dave) = new_profile("Dave");
    for other in [&alice, &carol, &dave] {
        befriend(&bob, other, &server);
    }
    let group = |name: &str, members: &[&std::path::Path]| {
        let mut args = vec![
            "chat".to_owned(),
            "new".to_owned(),
            "--name".to_owned(),
            name.to_owned(),
        ];
        for member in members {
            args.push("--member".to_owned());
            args.push(account_of(member));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kith_json(&bob, &args)["chat_id"].as_str().unwrap().to_owned()
    };
    let hike = group("Hike", &[&alice, &carol, &dave]);
    let books = group("Books", &[&alice, &carol]);
    sync(&bob, &server);
    for person in [&carol, &dave] {
        sync(person, &server);
    }
    send(&dave, &hike, "I'll bring the map");
    send(&carol, &books, "Chapter three is great");
    for person in [&carol, &dave, &bob, &alice] {
        sync(person, &server);
    }

    let suggested = kith_json(&alice, &["contact", "suggestions"]);
    let list = suggested.as_array().unwrap();
    let accounts: Vec<&str> = list.iter().map(|p| p["account_id"].as_str().unwrap()).collect();
    assert_eq!(accounts, vec![account_of(&carol), account_of(&dave)], "{suggested}");
    // Names of members who are not contacts are not known yet (a group does
    // not carry its members' names): the account id is what is shown.
    let mut groups: Vec<&str> = list[0]["shared_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    groups.sort();
    assert_eq!(groups, vec!["Books", "Hike"]);
    assert!(list[1]["last_wrote_ms"].as_u64().unwrap() > 0, "Dave wrote in Hike");
    assert!(
        !accounts.contains(&account_of(&bob).as_str()),
        "a contact is never suggested"
    );
    assert!(kith(&alice, &["contact", "suggestions"]).contains("(in "));

    // Once Carol is a contact she is not suggested any more.
    befriend(&carol, &alice, &server);
    let after = kith_json(&alice, &["contact", "suggestions"]);
    let accounts: Vec<&str> = after
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, vec![account_of(&dave)], "{after}");
}
