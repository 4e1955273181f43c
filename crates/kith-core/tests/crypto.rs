//! Envelopes and lockboxes: what opens, and everything that must not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kith_core::Identity;
use kith_core::crypto::{
    CryptoError, EpochKey, Stream, open_envelope, open_lockbox, open_sealed, seal_envelope, seal_lockbox,
    seal_to_device,
};
use kith_proto::ChatId;

fn person(n: u8) -> Identity {
    Identity::create([[n; 32], [n + 100; 32], [n + 200; 32]], 0)
}

fn segment(n: u8) -> Stream {
    Stream::Chat(ChatId::from_bytes([n; 16]))
}

#[test]
fn an_envelope_opens_with_its_key_and_context_only() {
    let alice = person(1);
    let key = EpochKey::from_bytes([7; 32]);
    let doc = segment(1);
    let env = seal_envelope(
        &key,
        3,
        &doc,
        b"change-hash",
        alice.device_keys(),
        b"automerge bytes",
        [9; 24],
    )
    .unwrap();
    assert!(
        !env.ciphertext.windows(15).any(|w| w == b"automerge bytes"),
        "no plaintext in the envelope"
    );
    let opened = open_envelope(&key, &doc, &env).unwrap();
    assert_eq!(opened.plaintext, b"automerge bytes");
    assert_eq!(opened.sender, alice.device_id());

    // Wrong key, other document, other epoch: refused.
    assert!(matches!(
        open_envelope(&EpochKey::from_bytes([8; 32]), &doc, &env),
        Err(CryptoError::Decrypt(_))
    ));
    assert!(open_envelope(&key, &segment(2), &env).is_err());
    let mut other_epoch = env.clone();
    other_epoch.epoch = 4;
    assert!(open_envelope(&key, &doc, &other_epoch).is_err());

    // Tampering anywhere is caught.
    for at in [0, 40, 70, env.ciphertext.len() - 1] {
        let mut tampered = env.clone();
        tampered.ciphertext[at] ^= 1;
        assert!(open_envelope(&key, &doc, &tampered).is_err(), "flip at {at}");
    }
    let mut short = env.clone();
    short.ciphertext.truncate(50);
    assert!(matches!(
        open_envelope(&key, &doc, &short),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn a_device_cannot_sign_as_another() {
    let (alice, mallory) = (person(1), person(3));
    let key = EpochKey::from_bytes([7; 32]);
    let doc = segment(1);
    let mut env = seal_envelope(&key, 1, &doc, b"h", mallory.device_keys(), b"forged", [1; 24]).unwrap();
    // Claim Alice as the sender: the signature no longer verifies.
    env.ciphertext[..32].copy_from_slice(alice.device_id().as_bytes());
    assert!(matches!(
        open_envelope(&key, &doc, &env),
        Err(CryptoError::BadSignature)
    ));
}

#[test]
fn derived_ids_are_stable_per_stream_and_unlinkable_across_epochs() {
    let (k1, k2) = (EpochKey::from_bytes([1; 32]), EpochKey::from_bytes([2; 32]));
    let (a, b) = (segment(1), segment(2));
    assert_eq!(k1.log_id(&a), k1.log_id(&a));
    assert_ne!(k1.log_id(&a), k1.log_id(&b));
    assert_ne!(k1.log_id(&a), k2.log_id(&a));
    assert_ne!(k1.log_id(&a).0, k1.capability(&a).0, "the capability is not the log id");
    assert_eq!(
        k1.envelope_id(&a, b"x"),
        k1.envelope_id(&a, b"x"),
        "same change, same id on every device"
    );
    assert_ne!(k1.envelope_id(&a, b"x"), k1.envelope_id(&a, b"y"));
}

#[test]
fn a_lockbox_opens_for_its_device_only() {
    let (bob, carol) = (person(2), person(3));
    let key = EpochKey::from_bytes([42; 32]);
    let bob_public = bob.device_keys().sealing_public();
    let lockbox = seal_lockbox(&key, 5, &bob_public, [11; 32], [12; 24]).unwrap();
    assert_eq!(
        open_lockbox(bob.device_keys(), 5, &lockbox).unwrap().as_bytes(),
        key.as_bytes()
    );
    assert!(
        open_lockbox(carol.device_keys(), 5, &lockbox).is_err(),
        "another device cannot open it"
    );
    assert!(
        open_lockbox(bob.device_keys(), 6, &lockbox).is_err(),
        "bound to its epoch"
    );
    let mut tampered = lockbox.clone();
    tampered.sealed[0] ^= 1;
    assert!(open_lockbox(bob.device_keys(), 5, &tampered).is_err());
}

#[test]
fn sealed_bytes_open_for_their_device_and_context_only() {
    let (alice, bob) = (person(1), person(2));
    let sealed = seal_to_device(
        &bob.certificate().sealing_key,
        b"connect",
        b"hello bob",
        [5; 32],
        [6; 24],
    )
    .unwrap();
    assert_eq!(
        open_sealed(bob.device_keys(), b"connect", &sealed).unwrap(),
        b"hello bob"
    );
    assert!(open_sealed(alice.device_keys(), b"connect", &sealed).is_err());
    assert!(open_sealed(bob.device_keys(), b"other", &sealed).is_err());
    assert_ne!(
        EpochKey::derive("a", b"s").as_bytes(),
        EpochKey::derive("b", b"s").as_bytes(),
        "derived keys are separated by context"
    );
}
