//! Email nudges with real `kith` processes, a real `kith-server` and a real
//! SMTP sink (aiosmtpd) on 127.0.0.1: a device away past its threshold with
//! a message waiting gets exactly one email, naming no sender and holding no
//! text; none while nothing new waits; after the unsubscribe link (or
//! `kith email off`) none at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kith_testkit::SmtpSink;
use std::time::{Duration, Instant};

/// Waits until the sink holds `count` messages (panics after 20 s).
fn wait_for_mail(sink: &SmtpSink, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mail = sink.messages();
        if mail.len() >= count {
            return mail;
        }
        assert!(Instant::now() < deadline, "{} emails, not {count}", mail.len());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_device_away_with_a_message_waiting_gets_one_email_until_it_unsubscribes() {
    let sink = SmtpSink::start();
    let server_home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        &server_home.path().join("data"),
        &[
            "--smtp",
            &sink.address(),
            "--smtp-from",
            "kith@server.example",
            "--nudge-check-secs",
            "1",
            "--min-nudge-after-secs",
            "1",
        ],
    );
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    befriend(&alice, &bob, &server);
    let direct = kith_json(&bob, &["chat", "direct", &account_of(&alice)])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&bob, &server);
    sync(&alice, &server);
    let set = kith_json(
        &alice,
        &[
            "email",
            "set",
            "alice@mail.example",
            "--after",
            "2s",
            "--server",
            &server.url,
        ],
    );
    assert_eq!(
        (set["address"].as_str(), set["after_secs"].as_u64()),
        (Some("alice@mail.example"), Some(2))
    );

    // Away, with nothing new: no email.
    std::thread::sleep(Duration::from_secs(4));
    assert!(sink.messages().is_empty(), "nothing waited");
    // A message waits: exactly one email, however many more arrive.
    send(&bob, &direct, "Secret plans for Saturday");
    sync(&bob, &server);
    let mail = wait_for_mail(&sink, 1);
    send(&bob, &direct, "More secret plans");
    sync(&bob, &server);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(sink.messages().len(), 1, "one email per absence");
    let email = &mail[0];
    assert!(
        email.contains("alice@mail.example") && email.contains("You have new messages in Kith"),
        "{email}"
    );
    for secret in ["Secret plans", "Saturday", "Bob", "Alice"] {
        assert!(!email.contains(secret), "the email names {secret:?}: {email}");
    }

    // Back (a sync), away again, something new: a second email.
    sync(&alice, &server);
    send(&bob, &direct, "Are you there?");
    sync(&bob, &server);
    let mail = wait_for_mail(&sink, 2);

    // The link in the email unsubscribes in one click.
    let link = mail[1]
        .lines()
        .find(|line| line.contains("/unsubscribe?token="))
        .unwrap()
        .trim()
        .to_owned();
    let path = link.split_once("127.0.0.1").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    let answer = http_get(&server.url, path);
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("no more emails"),
        "{answer}"
    );
    sync(&alice, &server);
    send(&bob, &direct, "Hello?");
    sync(&bob, &server);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(sink.messages().len(), 2, "no email after unsubscribing");

    // `kith email off` stops them too (after setting them again).
    kith(
        &alice,
        &[
            "email",
            "set",
            "alice@mail.example",
            "--after",
            "2s",
            "--server",
            &server.url,
        ],
    );
    let off = kith_json(&alice, &["email", "off", "--server", &server.url]);
    assert_eq!(off["stopped"], true);
    send(&bob, &direct, "Still there?");
    sync(&bob, &server);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(sink.messages().len(), 2, "no email after `email off`");
}

#[test]
fn a_server_without_smtp_refuses_nudges_and_a_bad_address_is_refused() {
    let server_home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_home.path().join("data"));
    let (_a, alice) = new_profile("Alice");
    sync(&alice, &server);
    let refused = kith_fails(&alice, &["email", "set", "alice@mail.example", "--server", &server.url]);
    assert!(refused.contains("sends no email"), "{refused}");
    let sink = SmtpSink::start();
    let mailing_home = tempfile::tempdir().unwrap();
    let mailing = ServerProcess::start_with(
        &mailing_home.path().join("data"),
        &["--smtp", &sink.address(), "--smtp-from", "kith@server.example"],
    );
    sync(&alice, &mailing);
    let bad = kith_fails(
        &alice,
        &[
            "email",
            "set",
            "alice@mail.example\r\nBcc: all@x.example",
            "--server",
            &mailing.url,
        ],
    );
    assert!(bad.contains("not an email address"), "{bad}");
    // The server's minimum wins over a shorter wish.
    let set = kith_json(
        &alice,
        &[
            "email",
            "set",
            "alice@mail.example",
            "--after",
            "5s",
            "--server",
            &mailing.url,
        ],
    );
    assert_eq!(set["after_secs"], 600);
}

/// A plain HTTP GET of `path` on the server at `url`.
fn http_get(url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}
