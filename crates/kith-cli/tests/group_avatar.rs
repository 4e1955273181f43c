//! Group pictures end to end: real `kith` processes and a real `kith-server`
//! on 127.0.0.1. The owner sets one, a member receives it as a clean 256 px
//! JPEG, a member cannot change it, and a bad file changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::path::Path;

/// `kith chat avatar-get`, returning the saved bytes.
fn saved_picture(profile: &Path, chat: &str, out: &Path) -> Vec<u8> {
    let saved = kith_json(profile, &["chat", "avatar-get", chat, out.to_str().unwrap()]);
    let bytes = std::fs::read(out).unwrap();
    assert_eq!(saved["bytes"], bytes.len(), "{saved}");
    assert_eq!(saved["out"], out.to_str().unwrap(), "{saved}");
    bytes
}

#[test]
fn an_owner_sets_the_group_picture_members_get_a_256_px_jpeg_and_cannot_change_it() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_dir.path().join("data"));
    let (home, alice) = new_profile("Alice");
    let (_bob_home, bob) = new_profile("Bob");
    befriend(&alice, &bob, &server);
    let bob_id = account_of(&bob);
    let chat = kith_json(&alice, &["chat", "new", "--name", "Club", "--member", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(chat_row(&alice, &chat)["has_avatar"], false);

    // A wide picture with metadata-free pixels; it is cropped and scaled.
    let picture = home.path().join("club.png");
    image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]))
        .save(&picture)
        .unwrap();
    let set = kith_json(&alice, &["chat", "avatar", &chat, picture.to_str().unwrap()]);
    assert_eq!(set, serde_json::json!({"ok": true}));
    assert_eq!(chat_row(&alice, &chat)["has_avatar"], true);
    let alice_copy = saved_picture(&alice, &chat, &home.path().join("alice.jpg"));

    sync(&alice, &server);
    sync(&bob, &server);
    assert_eq!(chat_row(&bob, &chat)["has_avatar"], true);
    let bob_copy = saved_picture(&bob, &chat, &home.path().join("bob.jpg"));
    assert_eq!(bob_copy, alice_copy, "every member holds the same picture");
    assert_eq!(image::guess_format(&bob_copy).unwrap(), image::ImageFormat::Jpeg);
    let decoded = image::load_from_memory(&bob_copy).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 256));

    // Bob is a plain member: refused, with a clear reason, and nothing changes.
    let other = home.path().join("other.png");
    image::RgbImage::from_fn(300, 300, |_, _| image::Rgb([0, 200, 0]))
        .save(&other)
        .unwrap();
    let refused = kith_fails(&bob, &["chat", "avatar", &chat, other.to_str().unwrap()]);
    assert!(
        refused.contains("only admins and owners can change the group picture"),
        "{refused}"
    );
    let refused = kith_fails(&bob, &["chat", "avatar", &chat, "--remove"]);
    assert!(refused.contains("only admins and owners"), "{refused}");
    assert_eq!(saved_picture(&bob, &chat, &home.path().join("bob2.jpg")), alice_copy);

    // A file that is not a picture is a clear error and changes nothing.
    let not_a_picture = home.path().join("notes.png");
    std::fs::write(&not_a_picture, "just words, not pixels").unwrap();
    let refused = kith_fails(&alice, &["chat", "avatar", &chat, not_a_picture.to_str().unwrap()]);
    assert!(refused.contains("cannot use this picture"), "{refused}");
    assert_eq!(
        saved_picture(&alice, &chat, &home.path().join("alice2.jpg")),
        alice_copy
    );
    sync(&bob, &server);
    sync(&alice, &server);
    sync(&bob, &server);
    assert_eq!(
        saved_picture(&bob, &chat, &home.path().join("bob3.jpg")),
        alice_copy,
        "nothing bob or a bad file did reached anyone"
    );

    // A direct chat has no picture, even for its owners.
    let direct = kith_json(&alice, &["chat", "direct", &bob_id])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = kith_fails(&alice, &["chat", "avatar", &direct, picture.to_str().unwrap()]);
    assert!(refused.contains("only groups have a picture"), "{refused}");
    assert_eq!(chat_row(&alice, &direct)["has_avatar"], false);

    // The owner removes it; members see it gone.
    assert_eq!(
        kith_json(&alice, &["chat", "avatar", &chat, "--remove"]),
        serde_json::json!({"ok": true})
    );
    sync(&alice, &server);
    sync(&bob, &server);
    assert_eq!(chat_row(&bob, &chat)["has_avatar"], false);
    let missing = kith_fails(
        &bob,
        &[
            "chat",
            "avatar-get",
            &chat,
            home.path().join("gone.jpg").to_str().unwrap(),
        ],
    );
    assert!(missing.contains("this chat has no picture"), "{missing}");
}
