//! Peer-to-peer sync end to end: real `kith` processes talking libp2p over
//! real sockets on 127.0.0.1, with and without a real `kith-server`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LOOPBACK: &str = "/ip4/127.0.0.1/tcp/0";

thread_local! {
    /// The log of the last `p2p_once`, for failure messages.
    static LAST_STDERR: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn last_log() -> String {
    LAST_STDERR.with(|last| last.borrow().clone())
}

/// A running `kith sync --p2p --watch --json`.
struct P2pProcess {
    child: Child,
    listening: Vec<String>,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl P2pProcess {
    fn start(profile: &Path, extra: &[&str]) -> P2pProcess {
        let mut args = vec!["--no-mdns"];
        args.extend_from_slice(extra);
        P2pProcess::start_with_mdns(profile, &args)
    }

    fn start_with_mdns(profile: &Path, extra: &[&str]) -> P2pProcess {
        let mut args = vec!["--json", "sync", "--p2p", "--watch", "--timeout-secs", "120"];
        args.extend_from_slice(extra);
        let mut child = kith_cmd(profile, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let first: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("first line {first:?}: {e}"));
        let listening: Vec<String> = first["listening"]
            .as_array()
            .unwrap_or_else(|| panic!("first line has no listening: {first}"))
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(value);
                }
            }
        });
        P2pProcess {
            child,
            listening,
            lines,
        }
    }

    /// Its address with its PeerId.
    fn address(&self, profile: &Path) -> String {
        format!("{}/p2p/{}", self.listening[0], peer_id(profile))
    }

    fn events(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for P2pProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peer_id(profile: &Path) -> String {
    kith_json(profile, &["whoami"])["peer_id"].as_str().unwrap().to_owned()
}

/// `kith sync --p2p --once` dialing `peers`; every printed line.
fn p2p_once(profile: &Path, peers: &[&str]) -> Vec<Value> {
    let mut args = vec!["--json", "sync", "--p2p", "--no-mdns", "--once", "--listen", LOOPBACK];
    for peer in peers {
        args.extend(["--peer", peer]);
    }
    let out = kith_cmd(profile, &args)
        .env("KITH_LOG", "info,kith_client=debug,kith_net=debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kith {args:?} failed: {stderr}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("non-JSON line {l:?}: {e}")))
        .collect();
    assert!(lines[0]["listening"].is_array(), "first line: {}", lines[0]);
    LAST_STDERR.with(|last| *last.borrow_mut() = stderr.into_owned());
    lines
}

fn texts(profile: &Path, chat: &str) -> Vec<String> {
    kith_json(profile, &["messages", chat, "--limit", "1000"])
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect()
}

fn message<'a>(messages: &'a Value, text: &str) -> &'a Value {
    messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == text)
        .unwrap_or_else(|| panic!("no message {text:?} in {messages}"))
}

/// Waits until `profile` shows `text` in `chat`.
fn wait_for_text(profile: &Path, chat: &str, text: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if texts(profile, chat).iter().any(|t| t == text) {
            return;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    panic!(
        "{text:?} never reached {}: {:?}",
        profile.display(),
        texts(profile, chat)
    );
}

#[test]
fn two_devices_and_a_contact_converge_with_no_server() {
    // Linking a device needs the pairing rendezvous of a server; after that
    // the server is gone for good.
    let (_a1_tmp, a1) = new_profile("Alice");
    let a2_tmp = tempfile::tempdir().unwrap();
    let a2 = a2_tmp.path().join("p");
    {
        let server_dir = tempfile::tempdir().unwrap();
        let server = ServerProcess::start(server_dir.path());
        link_device(&a1, &a2, &server);
    }
    let (_b_tmp, bob) = new_profile("Bob");
    // Bob uses Alice's invite; they become contacts on a direct connection.
    let invite = kith_json(&a1, &["whoami"])["invite"].as_str().unwrap().to_owned();
    kith(&bob, &["contact", "add", &invite]);

    let alice1 = P2pProcess::start(&a1, &["--listen", LOOPBACK]);
    let lines = p2p_once(&bob, &[&alice1.address(&a1)]);
    let peer = lines.iter().find(|l| l["event"] == "peer").expect("bob met alice");
    assert_eq!(peer["own"], false);
    assert_eq!(peer["route"], "lan");
    let contacts = kith_json(&bob, &["contacts"]);
    assert_eq!(contacts[0]["state"], "accepted", "{contacts}");
    let contacts = kith_json(&a1, &["contacts"]);
    assert_eq!(contacts[0]["name"], "Bob", "{contacts}");

    // Alice's first device starts a group with Bob; her second device
    // learns it (and her account document) from the first.
    let bob_account = account_of(&bob);
    let chat = kith_json(&a1, &["chat", "new", "--name", "Trip", "--member", &bob_account])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    kith(&a1, &["send", &chat, "from alice's laptop"]);
    let lines = p2p_once(&a2, &[&alice1.address(&a1)]);
    assert!(
        lines.iter().any(|l| l["event"] == "peer" && l["own"] == true),
        "{lines:?}"
    );
    assert!(texts(&a2, &chat).contains(&"from alice's laptop".to_owned()));
    kith(&a2, &["send", &chat, "from alice's phone"]);

    // The phone keeps running, connected to the laptop.
    let alice2 = P2pProcess::start(&a2, &["--listen", LOOPBACK, "--peer", &alice1.address(&a1)]);
    // Bob meets both devices; the phone is Alice's too, so it is served.
    let lines = p2p_once(&bob, &[&alice1.address(&a1), &alice2.address(&a2)]);
    assert_eq!(
        lines.iter().filter(|l| l["event"] == "peer").count(),
        2,
        "{lines:?}\n{}",
        last_log()
    );
    let seen = texts(&bob, &chat);
    assert!(seen.contains(&"from alice's laptop".to_owned()), "{seen:?}");
    assert!(seen.contains(&"from alice's phone".to_owned()), "{seen:?}");
    let messages = kith_json(&bob, &["messages", &chat]);
    assert_eq!(message(&messages, "from alice's phone")["route"], "lan");

    // Bob answers while only the laptop is dialed: the laptop passes it on
    // to the phone over their own connection.
    kith(&bob, &["send", &chat, "see you both"]);
    p2p_once(&bob, &[&alice1.address(&a1)]);
    wait_for_text(&a1, &chat, "see you both", Duration::from_secs(10));
    wait_for_text(&a2, &chat, "see you both", Duration::from_secs(10));
    // Everyone holds the same conversation.
    assert_eq!(texts(&a1, &chat), texts(&bob, &chat));
    assert_eq!(texts(&a2, &chat), texts(&bob, &chat));

    // `peers` tells how each device is connected right now.
    let peers = kith_json(&a1, &["peers"]);
    let phone = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_id"] == peer_id(&a2).as_str())
        .unwrap_or_else(|| panic!("no phone in {peers}"));
    assert_eq!(phone["own"], true);
    assert_eq!(phone["route"], "lan", "{peers}");
    let bob_entry = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_id"] == peer_id(&bob).as_str())
        .unwrap_or_else(|| panic!("no bob in {peers}"));
    // Bob's one-shot sync has ended; no server either.
    assert_eq!(bob_entry["route"], "offline", "{peers}");
    drop(alice2);
    drop(alice1);
}

/// Whether multicast works here: a datagram sent to the mDNS group comes
/// back to a socket that joined it.
fn multicast_works() -> Result<(), String> {
    use std::net::{Ipv4Addr, UdpSocket};
    let group = Ipv4Addr::new(224, 0, 0, 251);
    let receiver = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| e.to_string())?;
    receiver
        .join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED)
        .map_err(|e| format!("cannot join the mDNS group: {e}"))?;
    receiver
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let port = receiver.local_addr().map_err(|e| e.to_string())?.port();
    let sender = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| e.to_string())?;
    sender.set_multicast_loop_v4(true).map_err(|e| e.to_string())?;
    sender
        .send_to(b"kith", (group, port))
        .map_err(|e| format!("cannot send to the mDNS group: {e}"))?;
    let mut buf = [0u8; 16];
    receiver
        .recv_from(&mut buf)
        .map(|_| ())
        .map_err(|e| format!("a multicast datagram did not come back: {e}"))
}

#[test]
fn devices_on_one_lan_find_each_other_with_mdns() {
    if let Err(reason) = multicast_works() {
        eprintln!("SKIPPED devices_on_one_lan_find_each_other_with_mdns: no multicast in this sandbox ({reason})");
        return;
    }
    let (_a_tmp, alice) = new_profile("Alice");
    let (_b_tmp, bob) = new_profile("Bob");
    let invite = kith_json(&alice, &["whoami"])["invite"].as_str().unwrap().to_owned();
    kith(&bob, &["contact", "add", &invite]);
    let chat = kith_json(&alice, &["chat", "new", "--name", "LAN", "--member", &account_of(&bob)])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    kith(&alice, &["send", &chat, "found you on the LAN"]);
    let _running = P2pProcess::start_with_mdns(&alice, &["--listen", "/ip4/0.0.0.0/tcp/0"]);
    // No address given: Bob finds Alice by mDNS.
    let out = kith(
        &bob,
        &["--json", "sync", "--p2p", "--once", "--listen", "/ip4/0.0.0.0/tcp/0"],
    );
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        lines.iter().any(|l| l["event"] == "discovered" && l["via"] == "mdns"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l["event"] == "peer"), "{lines:?}");
    wait_for_text(&bob, &chat, "found you on the LAN", Duration::from_secs(10));
}

#[test]
fn a_stranger_gets_nothing_and_gives_nothing() {
    let (_a_tmp, alice) = new_profile("Alice");
    let (_s_tmp, stranger) = new_profile("Mallory");
    let chat = new_chat(&alice, "Private");
    kith(&alice, &["send", &chat, "secret plans"]);
    let mallory_chat = new_chat(&stranger, "Spam");
    kith(&stranger, &["send", &mallory_chat, "buy now"]);

    let running = P2pProcess::start(&alice, &["--listen", LOOPBACK]);
    let lines = p2p_once(&stranger, &[&running.address(&alice)]);
    assert!(!lines.iter().any(|l| l["event"] == "peer"), "{lines:?}");
    assert!(lines.iter().any(|l| l["event"] == "refused"), "{lines:?}");
    let report = &lines.last().unwrap()["report"];
    assert_eq!(report["peers"], 0, "{report}");
    assert_eq!(report["applied"], 0, "{report}");
    // Nothing crossed in either direction.
    assert_eq!(kith_json(&stranger, &["chats"]).as_array().unwrap().len(), 1);
    assert!(
        kith_json(&stranger, &["search", "secret"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(kith_json(&alice, &["chats"]).as_array().unwrap().len(), 1);
    assert!(kith_json(&alice, &["search", "buy"]).as_array().unwrap().is_empty());
    assert!(
        running.events().iter().any(|e| e["event"] == "refused"),
        "alice reports the refusal: {:?}",
        running.events()
    );
}

#[test]
fn contacts_reach_each_other_through_the_servers_relay() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(server_dir.path());
    let relay = server.p2p.clone().expect("the server prints its p2p address");
    let (_a_tmp, alice) = new_profile("Alice");
    let (_c_tmp, carol) = new_profile("Carol");
    befriend(&alice, &carol, &server);
    let carol_account = account_of(&carol);
    let chat = kith_json(&alice, &["chat", "new", "--name", "Relay", "--member", &carol_account])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    kith(&alice, &["send", &chat, "through the relay"]);

    // Both listen only on circuits of the server's relay.
    let circuit = format!("{relay}/p2p-circuit");
    let running = P2pProcess::start(&alice, &["--listen", &circuit]);
    assert!(
        running.listening.iter().all(|a| a.contains("/p2p-circuit")),
        "{:?}",
        running.listening
    );
    let alice_via_relay = format!("{circuit}/p2p/{}", peer_id(&alice));
    let out = kith(
        &carol,
        &[
            "--json",
            "sync",
            "--p2p",
            "--no-mdns",
            "--once",
            "--listen",
            &circuit,
            "--peer",
            &alice_via_relay,
        ],
    );
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let peer = lines
        .iter()
        .find(|l| l["event"] == "peer")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(peer["route"], "relayed", "{peer}");
    let messages = kith_json(&carol, &["messages", &chat]);
    assert_eq!(message(&messages, "through the relay")["route"], "relayed");
    // The server relayed Noise-encrypted bytes: its data holds no plaintext.
    for (path, bytes) in read_all_files(server_dir.path()) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("through the relay"),
            "{} holds plaintext",
            path.display()
        );
    }
}

#[test]
fn a_change_travels_peer_to_peer_and_then_reaches_the_server() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(server_dir.path());
    let (_a1_tmp, a1) = new_profile("Alice");
    let a2_tmp = tempfile::tempdir().unwrap();
    let a2 = a2_tmp.path().join("p");
    link_device(&a1, &a2, &server);
    let (_b_tmp, bob) = new_profile("Bob");
    let (_c_tmp, carol) = new_profile("Carol");
    befriend(&a1, &bob, &server);
    befriend(&a1, &carol, &server);
    let chat = kith_json(
        &a1,
        &[
            "chat",
            "new",
            "--name",
            "Three",
            "--member",
            &account_of(&bob),
            "--member",
            &account_of(&carol),
        ],
    )["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for profile in [&a1, &a2, &bob, &carol, &a1, &a2, &bob, &carol] {
        sync(profile, &server);
    }

    // The laptop writes while off the server; it reaches Bob through the
    // phone (laptop -> phone -> Bob), never touching the server.
    kith(&a1, &["send", &chat, "hop by hop"]);
    let bob_running = P2pProcess::start(&bob, &["--listen", LOOPBACK]);
    let phone = P2pProcess::start(
        &a2,
        &[
            "--listen",
            LOOPBACK,
            "--peer",
            &bob_running.address(&bob),
            "--server",
            &server.url,
        ],
    );
    p2p_once(&a1, &[&phone.address(&a2)]);
    wait_for_text(&bob, &chat, "hop by hop", Duration::from_secs(15));
    let messages = kith_json(&bob, &["messages", &chat]);
    assert_eq!(message(&messages, "hop by hop")["route"], "lan");

    // The phone also talks to the server: what it learned goes up, and
    // Carol, who only ever uses the server, gets it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        sync(&carol, &server);
        if texts(&carol, &chat).contains(&"hop by hop".to_owned()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never reached the server: {:?}",
            texts(&carol, &chat)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let messages = kith_json(&carol, &["messages", &chat]);
    assert_eq!(message(&messages, "hop by hop")["route"], "server");
    drop(phone);
    drop(bob_running);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn typing_and_presence_reach_connected_members_only() {
    let (_a_tmp, alice) = new_profile("Alice");
    let (_b_tmp, bob) = new_profile("Bob");
    let invite = kith_json(&alice, &["whoami"])["invite"].as_str().unwrap().to_owned();
    kith(&bob, &["contact", "add", &invite]);
    let bob_account = account_of(&bob);
    let shared = kith_json(&alice, &["chat", "new", "--name", "Us", "--member", &bob_account])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let private = kith_json(&alice, &["chat", "new", "--name", "Notes to self"])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_running = P2pProcess::start(&bob, &["--listen", LOOPBACK]);
    let bob_address = bob_running.address(&bob);
    // Bob learns the shared chat (and Alice becomes his contact).
    p2p_once(&alice, &[&bob_address]);
    let chats = kith_json(&bob, &["chats"]);
    assert!(
        chats
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["chat_id"] == shared.as_str()),
        "{chats}"
    );

    // Alice types in her notes, then in the chat with Bob: one-shot
    // commands that tell the peers they reach, with no server anywhere.
    let before = now_ms();
    for chat in [&private, &shared] {
        let told = kith_json(&alice, &["typing", chat, "--p2p", "--no-mdns", "--peer", &bob_address]);
        assert_eq!(told["typing"], chat.as_str());
        assert_eq!(told["peers"], 1, "{told}");
    }
    let alice_account = account_of(&alice);
    let deadline = Instant::now() + Duration::from_secs(10);
    let typing = loop {
        let typing: Vec<Value> = bob_running
            .events()
            .into_iter()
            .filter(|e| e["event"] == "typing")
            .collect();
        if !typing.is_empty() {
            break typing;
        }
        assert!(
            Instant::now() < deadline,
            "no typing reached bob: {:?}",
            bob_running.events()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Only the chat Bob is in: typing in a chat is for its members.
    assert_eq!(typing.len(), 1, "{typing:?}");
    assert_eq!(typing[0]["chat_id"], shared.as_str());
    assert_eq!(typing[0]["account"], alice_account.as_str());
    // It counts for a few seconds, not for ever.
    let until = typing[0]["until_ms"].as_u64().unwrap();
    assert!(until > before, "{until} <= {before}");
    assert!(
        until <= now_ms() + kith_client::TYPING_TTL_MS,
        "{until} is too far ahead"
    );
    // Each connection also told Bob that Alice is online, for a while.
    let presence: Vec<Value> = bob_running
        .events()
        .into_iter()
        .filter(|e| e["event"] == "presence" && e["account"] == alice_account.as_str())
        .collect();
    assert!(!presence.is_empty(), "{:?}", bob_running.events());
    assert!(presence[0]["until_ms"].as_u64().unwrap() > before);
    drop(bob_running);
}

/// Alice sends a `size` picture and a `big_len`-byte file of noise in one
/// message; returns its id and the file's bytes.
fn send_picture_and_file(alice: &Path, chat: &str, dir: &Path, size: (u32, u32), big_len: usize) -> (String, Vec<u8>) {
    let picture = image::RgbImage::from_fn(size.0, size.1, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let picture_path = dir.join("picture.png");
    picture.save(&picture_path).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let big: Vec<u8> = (0..big_len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let big_path = dir.join("big.bin");
    std::fs::write(&big_path, &big).unwrap();
    let message = kith_json(
        alice,
        &[
            "send",
            chat,
            "two files",
            "--attach",
            picture_path.to_str().unwrap(),
            "--attach",
            big_path.to_str().unwrap(),
        ],
    )["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (message, big)
}

/// Bob fetches both of Alice's files from her running device; returns it.
fn fetch_both_from(bob: &Path, alice: &Path) -> P2pProcess {
    let alice_running = P2pProcess::start(alice, &["--listen", LOOPBACK]);
    let lines = p2p_once(bob, &[&alice_running.address(alice)]);
    let totals = lines.iter().find(|l| l["event"] == "p2p-synced").expect("totals");
    assert_eq!(totals["report"]["blobs_fetched"], 2, "{totals}\n{}", last_log());
    alice_running
}

#[test]
fn attachments_travel_peer_to_peer_with_no_server() {
    let (_a_tmp, alice) = new_profile("Alice");
    let (_b_tmp, bob) = new_profile("Bob");
    let invite = kith_json(&alice, &["whoami"])["invite"].as_str().unwrap().to_owned();
    kith(&bob, &["contact", "add", &invite]);
    let chat = kith_json(&alice, &["chat", "new", "--name", "Us", "--member", &account_of(&bob)])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let files = tempfile::tempdir().unwrap();
    // A wide picture (scaled to 2048 px on send) and a 20 MB file.
    let (message, big) = send_picture_and_file(&alice, &chat, files.path(), (3000, 1500), 20 * 1024 * 1024);

    let alice_running = fetch_both_from(&bob, &alice);
    let listed = kith_json(&bob, &["attachments", &chat]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|a| a["downloaded"] == true), "{listed:?}");
    assert_eq!(
        (listed[0]["width"].as_u64(), listed[0]["height"].as_u64()),
        (Some(2048), Some(1024))
    );
    assert_eq!(listed[0]["mime"], "image/jpeg");
    // Saved with no server anywhere: it is already here, byte for byte.
    let out = tempfile::tempdir().unwrap();
    let saved = kith_json(
        &bob,
        &["save", &chat, &message, "--index", "1", out.path().to_str().unwrap()],
    );
    assert_eq!(saved["fetched"], 0);
    let bytes = std::fs::read(saved["path"].as_str().unwrap()).unwrap();
    assert_eq!(blake3::hash(&bytes), blake3::hash(&big));
    drop(alice_running);
}

#[test]
fn an_attachment_learned_peer_to_peer_reaches_the_server_from_the_device_that_learned_it() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(server_dir.path());
    let (_a_tmp, alice) = new_profile("Alice");
    let (_b_tmp, bob) = new_profile("Bob");
    befriend(&alice, &bob, &server);
    let chat = kith_json(&alice, &["chat", "new", "--name", "Us", "--member", &account_of(&bob)])["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for profile in [&alice, &bob, &alice, &bob] {
        sync(profile, &server);
    }
    // Alice sends a picture and a 17 MB file, then only ever talks to Bob
    // directly.
    let files = tempfile::tempdir().unwrap();
    let (message, big) = send_picture_and_file(&alice, &chat, files.path(), (900, 600), 17 * 1024 * 1024);
    let alice_running = fetch_both_from(&bob, &alice);
    drop(alice_running);

    // Bob syncs with the server: the message and both files go up from him.
    let report = sync(&bob, &server);
    assert_eq!(report["report"]["blobs_uploaded"], 2, "{report}");
    // His new laptop, which only knows the server, gets them from it.
    let laptop_tmp = tempfile::tempdir().unwrap();
    let laptop = laptop_tmp.path().join("p");
    link_device(&bob, &laptop, &server);
    sync(&laptop, &server);
    let listed = kith_json(&laptop, &["attachments", &chat]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    // The picture comes with the sync; the big file when asked for.
    assert_eq!(listed[0]["downloaded"], true, "{listed:?}");
    assert_eq!(listed[1]["downloaded"], false, "{listed:?}");
    let out = tempfile::tempdir().unwrap();
    let saved = kith_json(
        &laptop,
        &[
            "save",
            &chat,
            &message,
            "--index",
            "1",
            "--server",
            &server.url,
            out.path().to_str().unwrap(),
        ],
    );
    assert_eq!(saved["fetched"], big.len() as u64);
    let bytes = std::fs::read(saved["path"].as_str().unwrap()).unwrap();
    assert_eq!(blake3::hash(&bytes), blake3::hash(&big));
}

/// Each gateway of a service on one database keeps its own rendezvous
/// registrations. `GET /p2p` on any gateway lists all of them and a client
/// registers at every one, so Bob, who only knows gateway 2, finds Alice,
/// who only knows gateway 1, peer to peer (no mDNS, no address given).
#[test]
fn contacts_on_two_gateways_find_each_other_through_the_rendezvous_points() {
    let postgres = kith_testkit::Postgres::start();
    let url = postgres.new_database("rendezvous");
    let homes = tempfile::tempdir().unwrap();
    let args = ["--database", url.as_str()];
    let gateway_1 = ServerProcess::start_with(&homes.path().join("gw1"), &args);
    let gateway_2 = ServerProcess::start_with(&homes.path().join("gw2"), &args);
    let (_a, alice) = new_profile("Alice");
    let (_b, bob) = new_profile("Bob");
    befriend_across(&alice, &gateway_1, &bob, &gateway_2);
    // Give both gateways time to announce themselves to each other.
    std::thread::sleep(Duration::from_secs(1));

    let alice_running = P2pProcess::start(&alice, &["--listen", LOOPBACK, "--server", &gateway_1.url]);
    let bob_running = P2pProcess::start(&bob, &["--listen", LOOPBACK, "--server", &gateway_2.url]);
    let alice_peer = peer_id(&alice);
    let bob_peer = peer_id(&bob);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = bob_running
            .events()
            .iter()
            .any(|event| event["event"] == "peer" && event["peer_id"] == alice_peer.as_str());
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Bob never met Alice peer to peer: {:?} / {:?}",
            bob_running.events(),
            alice_running.events()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        alice_running
            .events()
            .iter()
            .any(|event| event["event"] == "peer" && event["peer_id"] == bob_peer.as_str()),
        "{:?}",
        alice_running.events()
    );
}
