//! The real desktop app, driven through WebDriver (tauri-driver in front of
//! WebKitWebDriver) in a real WebKitGTK window: onboarding, a group, sending
//! with a tick, a message from a `kith` CLI profile through a real
//! `kith-server`, reactions, replies, search, themes, hostile content.
//! Screenshots of each step go to `target/ui-screenshots/`.
//!
//! Needs a display (`cargo xtask test` runs it under `xvfb-run` and
//! `dbus-run-session`) and `tauri-driver` with `WebKitWebDriver` on PATH.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Context, Result};
use kith_e2e::processes::{Running, Server, binary, free_port, kith, wait_for};
use kith_e2e::webdriver::{ENTER, ESCAPE, Session};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// One app at a time: the tests share one virtual display and the test
/// harness runs them on parallel threads.
static ONE_APP: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for the display (a failed test before this one still lets it go).
fn one_app() -> std::sync::MutexGuard<'static, ()> {
    ONE_APP.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("KITH_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            kith_e2e::processes::bin_dir()
                .unwrap()
                .parent()
                .unwrap()
                .join("ui-screenshots")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// tauri-driver on free ports, killed at the end. The app it starts saves
/// attachments into `downloads`.
fn start_driver(downloads: &std::path::Path) -> Result<(Running, u16)> {
    let port = free_port()?;
    let native = free_port()?;
    let child = Command::new("tauri-driver")
        .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
        // The app inherits this: its keys stay in the temp profile, not the keyring.
        .env("KITH_SECRET_STORAGE", "file")
        .env("KITH_DOWNLOADS", downloads)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("tauri-driver is not installed (cargo xtask setup installs it)")?;
    let running = Running::new(child);
    wait_for("tauri-driver to listen", WAIT, || {
        Ok(std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ()))
    })?;
    Ok((running, port))
}

/// A tauri-driver and a session of the app under it. The driver's two
/// ports are picked free and then bound by the driver, so a test running
/// beside another can lose one of them to it: then the session cannot
/// start, and a fresh driver on fresh ports is tried (three times).
fn driven_app(downloads: &std::path::Path, desktop: &std::path::Path, args: &[String]) -> (Running, Session) {
    let mut last = None;
    for _ in 0..3 {
        let (driver, port) = start_driver(downloads).unwrap();
        match Session::start(port, desktop, args) {
            Ok(session) => return (driver, session),
            Err(err) => {
                eprintln!("the app session did not start ({err:#}); trying a fresh driver");
                last = Some(err);
            }
        }
    }
    panic!("no app session after three drivers: {last:?}");
}

struct App {
    session: Session,
    shots: PathBuf,
    /// Screenshot names start with it (one per test).
    prefix: String,
    step: usize,
}

impl App {
    /// Saves what the window shows, then fails with `err`.
    fn fail(&self, err: anyhow::Error) -> ! {
        let path = self.shots.join(format!("{}-failure.png", self.prefix));
        let _ = self.session.screenshot(&path);
        panic!("{err:#} (window saved to {})", path.display());
    }

    fn shot(&mut self, name: &str) {
        self.step += 1;
        let path = self.shots.join(format!("{}-{:02}-{name}.png", self.prefix, self.step));
        self.session.screenshot(&path).unwrap();
    }

    fn click(&self, css: &str) {
        let element = self.session.wait(css, WAIT).unwrap_or_else(|e| self.fail(e));
        self.session.click(&element).unwrap_or_else(|e| self.fail(e));
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.session.wait(css, WAIT).unwrap_or_else(|e| self.fail(e));
        self.session.type_into(&element, text).unwrap_or_else(|e| self.fail(e));
    }

    /// Waits until some element matching `css` shows `text`.
    fn wait_text(&self, css: &str, text: &str) {
        wait_for(&format!("{css} showing {text:?}"), WAIT, || {
            for element in self.session.find_all(css)? {
                if self.session.text(&element)?.contains(text) {
                    return Ok(Some(()));
                }
            }
            Ok(None)
        })
        .unwrap_or_else(|e| self.fail(e));
    }

    /// The message bubble (`.message`) whose text contains `text`.
    fn message(&self, text: &str) -> kith_e2e::webdriver::Element {
        wait_for(&format!("a message with {text:?}"), WAIT, || {
            for element in self.session.find_all(".message")? {
                if self.session.text(&element)?.contains(text) {
                    return Ok(Some(element));
                }
            }
            Ok(None)
        })
        .unwrap_or_else(|e| self.fail(e))
    }

    fn js(&self, source: &str) -> serde_json::Value {
        self.session.script(source, vec![]).unwrap()
    }
}

fn account_in_invite(invite: &str) -> String {
    invite
        .trim_start_matches("kith://invite/")
        .split('.')
        .next()
        .unwrap()
        .to_owned()
}

fn open_chat_named(app: &App, name: &str) {
    app.click("#nav-chats");
    let row = wait_for(&format!("chat {name:?} in the list"), WAIT, || {
        // By the name itself: a preview ("Bob: ...") must not match.
        for element in app.session.find_all(".chat-item .chat-name")? {
            if app.session.text(&element)?.trim() == name {
                return Ok(Some(element));
            }
        }
        Ok(None)
    })
    .unwrap_or_else(|e| app.fail(e));
    app.session.click(&row).unwrap();
    app.wait_text("#chat-title", name);
}

/// The real app with a fresh profile named `name`, connected to `server`.
fn signed_in_app(tmp: &std::path::Path, server: &Server, name: &str) -> (App, Running) {
    let desktop = binary("kith-desktop").unwrap();
    let profile = tmp.join(name.to_lowercase());
    let args = vec!["--profile".to_owned(), profile.display().to_string()];
    let (driver, session) = driven_app(&tmp.join("downloads"), &desktop, &args);
    let mut app = App {
        session,
        shots: screenshots(),
        prefix: name.to_lowercase(),
        step: 0,
    };

    // The window's document is Kith's.
    assert!(app.session.title().unwrap().contains("Kith"));

    // Onboarding offers restoring a lost account from its recovery phrase.
    app.click("#onboarding-restore");
    app.type_into("#restore-phrase", "abandon ability able");
    app.wait_text("label[for=restore-phrase]", "3 of 24 words");
    app.session
        .wait("#restore-file-submit", WAIT)
        .unwrap_or_else(|e| app.fail(e));
    app.shot("onboarding-restore");
    app.click("#restore-back");

    // Onboarding: create a profile.
    app.type_into("#onboarding-name", name);
    app.shot("onboarding");
    app.click("#onboarding-create");
    app.session.wait("#nav-chats", WAIT).unwrap();
    app.shot("empty-chat-list");

    // Settings: the sync server.
    app.click("#nav-settings");
    app.type_into("#settings-server", &server.url);
    app.click("#settings-server-save");
    wait_for("the sync indicator to say Server", WAIT, || {
        let element = app.session.find("#sync-indicator")?;
        Ok(match element {
            Some(e) if app.session.text(&e)?.contains("Server") => Some(()),
            _ => {
                // The indicator lives in the chat column.
                if app.session.find("#sync-indicator")?.is_none() {
                    app.session.click(&app.session.wait("#nav-chats", WAIT)?)?;
                }
                None
            }
        })
    })
    .unwrap_or_else(|e| app.fail(e));
    (app, driver)
}

/// The value of the input matched by `css`, once it is there.
fn input_value(app: &App, css: &str) -> String {
    let input = app.session.wait(css, WAIT).unwrap_or_else(|e| app.fail(e));
    app.session
        .script("return arguments[0].value", vec![Session::arg(&input)])
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// A `kith` CLI profile, Bob, who adds the app's account from its invite
/// (as shown on the contacts screen) and is accepted. Returns Bob's profile
/// and the app's account id.
fn cli_contact(app: &mut App, tmp: &std::path::Path, server: &Server) -> (PathBuf, String) {
    app.click("#nav-contacts");
    let invite = input_value(app, "#invite-link");
    assert!(invite.starts_with("kith://invite/"), "{invite}");
    app.wait_text(".invite-card", "Your invite");
    // The QR code of the invite is drawn (an SVG from the shell).
    app.session.wait(".qr svg", WAIT).unwrap_or_else(|e| app.fail(e));
    let bob = tmp.join("bob");
    kith(&bob, &["init", "--name", "Bob"]).unwrap();
    kith(&bob, &["contact", "add", &invite]).unwrap();
    kith(&bob, &["sync", "--server", &server.url, "--once"]).unwrap();
    let account = account_in_invite(&invite);
    // The app answers the request on its own; Bob sees it accepted.
    wait_for("Bob to see the app's account accepted", WAIT, || {
        kith(&bob, &["sync", "--server", &server.url, "--once"])?;
        let contacts = kith(&bob, &["contacts"])?;
        Ok(contacts
            .as_array()
            .and_then(|list| list.iter().find(|c| c["account_id"] == json!(account)))
            .filter(|c| c["state"] == "accepted")
            .map(|_| ()))
    })
    .unwrap_or_else(|e| app.fail(e));
    app.wait_text(".contact-list", "Bob");
    app.shot("contacts");
    (bob, account)
}

#[test]
fn the_real_app_chats_with_a_cli_profile_through_a_real_server() {
    let _display = one_app();
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server")).unwrap();
    let (mut app, _driver) = signed_in_app(tmp.path(), &server, "Alice");

    // A group, a message, a tick.
    app.click("#new-group");
    app.type_into("#group-name", "Book club");
    app.click("#group-create");
    app.wait_text("#chat-title", "Book club");
    app.type_into("#composer", "Hello from the app");
    app.type_into("#composer", ENTER);
    let mine = app.message("Hello from the app");
    wait_for("a tick on the sent message", WAIT, || {
        let tick = app.session.find(".message.mine .tick")?;
        Ok(tick.map(|_| ()))
    })
    .unwrap_or_else(|e| app.fail(e));
    // Uploaded to the server: the tick becomes ✓ (or better).
    wait_for("the uploaded tick", WAIT, || {
        let ticks = app
            .session
            .find_all(".message.mine .tick.uploaded, .message.mine .tick.delivered, .message.mine .tick.read")?;
        Ok((!ticks.is_empty()).then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    assert!(app.session.text(&mine).unwrap().contains("Hello from the app"));
    app.shot("group-with-sent-message");

    // A CLI profile befriends Alice through the server and writes to her.
    let (bob, alice) = cli_contact(&mut app, tmp.path(), &server);
    // The personal link served Bob and still works; a one-time link is
    // made beside it, and a stranger who uses it becomes a contact.
    app.wait_text("#invite-links", "Works · used by 1");
    app.click("#one-time-link");
    let once = input_value(&app, "#one-time-link-text");
    assert!(once.starts_with("kith://invite/"), "{once}");
    app.wait_text("#invite-links", "One-time link");
    let dan = tmp.path().join("dan");
    kith(&dan, &["init", "--name", "Dan"]).unwrap();
    kith(&dan, &["contact", "add", &once]).unwrap();
    kith(&dan, &["sync", "--server", &server.url, "--once"]).unwrap();
    app.wait_text(".contact-list", "Dan");
    app.wait_text("#invite-links", "Used · used by 1");
    app.shot("invite-links");
    let chat = kith(&bob, &["chat", "new", "--name", "Weekend", "--member", &alice]).unwrap()["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let from_cli = "Hi Alice, this comes from the CLI";
    kith(&bob, &["send", &chat, from_cli]).unwrap();
    kith(&bob, &["sync", "--server", &server.url, "--once"]).unwrap();
    open_chat_named(&app, "Weekend");
    let theirs = app.message(from_cli);
    app.shot("message-from-cli");

    // React to Bob's message.
    app.session.hover(&theirs).unwrap();
    let react = wait_for("the react button", WAIT, || {
        let buttons = app.session.find_all(".message.theirs .action[title=React]")?;
        Ok(buttons.into_iter().next())
    })
    .unwrap_or_else(|e| app.fail(e));
    app.session.click(&react).unwrap();
    app.click(".quick-reactions .emoji");
    app.wait_text(".message.theirs .reaction.mine", "1");

    // Reply to it.
    let theirs = app.message(from_cli);
    app.session.hover(&theirs).unwrap();
    app.click(".message.theirs .reply-action");
    app.wait_text("#composer-context", "Replying to Bob");
    app.type_into("#composer", "Count me in");
    app.type_into("#composer", ENTER);
    app.wait_text(".message.mine .quote", from_cli);
    app.shot("reaction-and-reply");

    // Bob's CLI sees the reaction and the reply.
    wait_for("Bob to receive the reply and the reaction", WAIT, || {
        kith(&bob, &["sync", "--server", &server.url, "--once"])?;
        let messages = kith(&bob, &["messages", &chat])?;
        let list = messages.as_array().cloned().unwrap_or_default();
        let reacted = list
            .iter()
            .any(|m| m["text"] == json!(from_cli) && !m["reactions"].as_object().is_none_or(|r| r.is_empty()));
        let replied = list
            .iter()
            .any(|m| m["text"] == json!("Count me in") && !m["reply_to"].is_null());
        Ok((reacted && replied).then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));

    // A draft stays with its chat.
    app.type_into("#composer", "half-written thought");
    // Saved once typing pauses.
    std::thread::sleep(Duration::from_millis(1500));
    open_chat_named(&app, "Book club");
    open_chat_named(&app, "Weekend");
    wait_for("the draft back in the composer", WAIT, || {
        let value = app.js("return document.getElementById('composer').value");
        Ok((value == json!("half-written thought")).then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));

    // Search finds Bob's message and opens it.
    app.click("#nav-chats");
    app.type_into("#search", "comes");
    app.wait_text(".search-hit", "Weekend");
    app.shot("search");
    app.click(".search-hit");
    app.session.wait(".message.highlighted", WAIT).unwrap();
    // Esc empties the search box (the list shows every chat again).
    app.type_into("#search", ESCAPE);

    // Themes: dark, then light, applied to the whole window.
    app.click("#nav-settings");
    app.click("#theme-dark");
    wait_for("the dark theme", WAIT, || {
        Ok(app
            .js("return document.getElementById('app').className")
            .as_str()
            .unwrap_or("")
            .contains("theme-dark")
            .then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    let background = app.js("return getComputedStyle(document.getElementById('app')).backgroundColor");
    assert_eq!(background, json!("rgb(15, 20, 25)"), "dark background");
    app.shot("settings-dark");
    open_chat_named(&app, "Weekend");
    app.shot("conversation-dark");
    app.click("#nav-settings");
    app.click("#theme-light");
    wait_for("the light theme", WAIT, || {
        Ok(app
            .js("return getComputedStyle(document.getElementById('app')).backgroundColor")
            .as_str()
            .map(|c| c == "rgb(244, 246, 248)")
            .unwrap_or(false)
            .then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    open_chat_named(&app, "Weekend");
    app.shot("conversation-light");

    // Hostile content is shown as text, layout intact.
    let html = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script><b>bold?</b>";
    let long_word = "W".repeat(3000);
    let rtl = "مرحبا بالعالم — שלום עולם";
    let huge = "lorem ipsum ".repeat(850);
    for text in [html, long_word.as_str(), rtl, huge.as_str()] {
        kith(&bob, &["send", &chat, text]).unwrap();
    }
    kith(&bob, &["sync", "--server", &server.url, "--once"]).unwrap();
    open_chat_named(&app, "Weekend");
    let bubble = app.message("<script>");
    assert!(app.session.text(&bubble).unwrap().contains("<b>bold?</b>"));
    let injected = app.js("return document.querySelectorAll('.message img, .message script, .message b').length");
    assert_eq!(injected, json!(0), "message text became markup");
    assert!(!app.session.title().unwrap().contains("pwned"));
    app.message(rtl);
    app.message("lorem ipsum lorem");
    // No bubble is wider than the message list: long words wrap.
    let overflow = app.js(
        "const list = document.getElementById('message-list').getBoundingClientRect();\
         return [...document.querySelectorAll('.message .bubble')].filter(b => b.getBoundingClientRect().right > list.right + 1).length",
    );
    assert_eq!(overflow, json!(0), "a bubble overflows the list");
    let horizontal =
        app.js("const l = document.getElementById('message-list'); return l.scrollWidth > l.clientWidth + 1");
    assert_eq!(horizontal, json!(false), "the message list scrolls sideways");
    app.shot("hostile-content");

    // Suggested replies in a direct chat: after answering Bob once, the same
    // answer is offered for a similar question, and a click fills the composer.
    let direct = kith(&bob, &["chat", "direct", &alice]).unwrap()["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    kith(&bob, &["send", &direct, "are you coming to dinner tonight?"]).unwrap();
    kith(&bob, &["sync", "--server", &server.url, "--once"]).unwrap();
    open_chat_named(&app, "Bob");
    app.message("coming to dinner");
    app.type_into("#composer", "Yes, I'll be there at 7");
    app.type_into("#composer", ENTER);
    app.message("there at 7");
    kith(&bob, &["send", &direct, "are you coming to the party tonight?"]).unwrap();
    kith(&bob, &["sync", "--server", &server.url, "--once"]).unwrap();
    app.message("coming to the party");
    app.wait_text("#suggestions", "Yes, I'll be there at 7");
    app.shot("suggested-replies");
    app.click("#suggestions .suggestion");
    wait_for("the suggestion in the composer", WAIT, || {
        let value = app.js("return document.getElementById('composer').value");
        Ok((value == json!("Yes, I'll be there at 7")).then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));

    // A username and message requests. The app claims a username in
    // Settings; Dana (a CLI stranger) finds it and sends a request, which
    // lands in Requests; accepted there, she becomes a contact. Then the app
    // finds Erin by her username (typed in another case) and asks her.
    app.click("#nav-settings");
    app.type_into("#settings-username-input", "alice.app");
    app.click("#claim-username");
    app.wait_text("#settings-username", "@alice.app");
    app.shot("username");
    let dana = tmp.path().join("dana");
    kith(&dana, &["init", "--name", "Dana"]).unwrap();
    kith(&dana, &["sync", "--server", &server.url, "--once"]).unwrap();
    kith(
        &dana,
        &[
            "contact",
            "request",
            "alice.app",
            "--message",
            "Hi, Dana from the book club",
            "--server",
            &server.url,
        ],
    )
    .unwrap();
    app.click("#nav-contacts");
    app.wait_text("#requests", "Hi, Dana from the book club");
    app.wait_text("#requests", "Found your username");
    app.shot("requests");
    app.click("#requests .request-accept");
    wait_for("Dana to see the app accept her", WAIT, || {
        kith(&dana, &["sync", "--server", &server.url, "--once"])?;
        let contacts = kith(&dana, &["contacts"])?;
        Ok(contacts
            .as_array()
            .and_then(|list| list.first())
            .filter(|c| c["state"] == "accepted")
            .map(|_| ()))
    })
    .unwrap_or_else(|e| app.fail(e));
    app.wait_text(".contact-list", "Dana");
    assert!(app.session.find("#requests").unwrap().is_none(), "no request left");
    let erin = tmp.path().join("erin");
    kith(&erin, &["init", "--name", "Erin"]).unwrap();
    kith(&erin, &["username", "set", "erin.example", "--server", &server.url]).unwrap();
    app.type_into("#find-username", "@Erin.Example");
    app.click("#find-username-go");
    app.wait_text("#find-person", "@erin.example");
    app.type_into("#request-message", "Hi Erin, it's Alice from the app");
    app.shot("found-by-username");
    app.click("#send-request");
    wait_for("Erin to get the app's request", WAIT, || {
        kith(&erin, &["sync", "--server", &server.url, "--once"])?;
        let requests = kith(&erin, &["requests"])?;
        Ok(requests
            .as_array()
            .and_then(|list| list.first())
            .filter(|r| r["text"] == "Hi Erin, it's Alice from the app" && r["name"] == "Alice")
            .map(|_| ()))
    })
    .unwrap_or_else(|e| app.fail(e));

    // Settings: a recovery phrase of 24 words, shown once.
    app.click("#nav-settings");
    app.click("#recovery-new");
    app.session
        .wait("#recovery-words", WAIT)
        .unwrap_or_else(|e| app.fail(e));
    let words =
        app.js("return [...document.querySelectorAll('#recovery-words li')].map(li => li.textContent).join(' ')");
    let phrase = words.as_str().unwrap_or_default().to_owned();
    assert_eq!(phrase.split_whitespace().count(), 24, "{phrase}");
    app.js("document.getElementById('recovery-words').scrollIntoView({block: 'center'}); return null");
    // Let the scroll paint before the screenshot.
    std::thread::sleep(Duration::from_millis(300));
    app.shot("recovery-phrase");

    // A backup file from Settings restores with the CLI, with no server.
    app.type_into("#backup-passphrase", "a passphrase for the test");
    app.click("#backup-create");
    app.wait_text(".toast", "Backup written to");
    let backup = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "kithbackup"))
        .unwrap_or_else(|| app.fail(anyhow::anyhow!("no backup file beside the profile")));
    let restored = tmp.path().join("alice-restored");
    let out = Command::new(binary("kith").unwrap())
        .arg("--profile")
        .arg(&restored)
        .args(["--json", "restore"])
        .arg(&backup)
        .env("KITH_SECRET_STORAGE", "file")
        .env("KITH_BACKUP_PASSPHRASE", "a passphrase for the test")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let texts = kith(&restored, &["messages", &chat]).unwrap().to_string();
    assert!(texts.contains(from_cli) && texts.contains("Count me in"), "{texts}");

    // And in the app on a new device: onboarding restores the same file.
    app.session.end().unwrap();
    drop(_driver);
    let desktop = binary("kith-desktop").unwrap();
    let args = vec![
        "--profile".to_owned(),
        tmp.path().join("alice-new-laptop").display().to_string(),
    ];
    let (_restored_driver, session) = driven_app(&tmp.path().join("downloads"), &desktop, &args);
    let mut app = App {
        session,
        shots: screenshots(),
        prefix: "alice-restored".to_owned(),
        step: 0,
    };
    app.click("#onboarding-restore");
    let input = app
        .session
        .wait("#restore-file input", WAIT)
        .unwrap_or_else(|e| app.fail(e));
    app.session
        .type_into(&input, &backup.display().to_string())
        .unwrap_or_else(|e| app.fail(e));
    app.wait_text("#restore-file", "kithbackup");
    app.type_into("#restore-passphrase", "not the passphrase");
    app.click("#restore-file-submit");
    app.wait_text(".onboarding .error", "wrong passphrase");
    app.shot("wrong-passphrase");
    app.js(
        "const box = document.getElementById('restore-passphrase'); box.value = ''; \
         box.dispatchEvent(new Event('input', {bubbles: true})); return null",
    );
    app.type_into("#restore-passphrase", "a passphrase for the test");
    app.click("#restore-file-submit");
    app.session.wait("#nav-chats", WAIT).unwrap_or_else(|e| app.fail(e));
    open_chat_named(&app, "Weekend");
    app.message(from_cli);
    app.shot("restored-from-backup");
    // Contacts keep their names (from the account document, no hello needed).
    open_chat_named(&app, "Bob");
    app.message("coming to the party");
    app.session.end().unwrap();
    drop(_restored_driver);

    // And from the recovery phrase alone, through the server, on yet
    // another new device: the onboarding form.
    let args = vec![
        "--profile".to_owned(),
        tmp.path().join("alice-phrase-laptop").display().to_string(),
    ];
    let (_phrase_driver, session) = driven_app(&tmp.path().join("downloads"), &desktop, &args);
    let mut app = App {
        session,
        shots: screenshots(),
        prefix: "alice-recovered".to_owned(),
        step: 0,
    };
    app.click("#onboarding-restore");
    app.type_into("#restore-server", &server.url);
    app.type_into("#restore-phrase", &phrase);
    app.wait_text("label[for=restore-phrase]", "24 of 24 words");
    app.click("#restore-submit");
    app.session.wait("#nav-chats", WAIT).unwrap_or_else(|e| app.fail(e));
    open_chat_named(&app, "Weekend");
    app.message(from_cli);
    app.shot("recovered-from-phrase");
    app.session.end().unwrap();
}

/// A `width` x `height` PNG: left half red, right half blue.
fn two_colour_png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            image::Rgb([220, 30, 30])
        } else {
            image::Rgb([30, 60, 220])
        }
    });
    let mut out = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A mono 16-bit WAV of `seconds` of a tone.
fn tone_wav(seconds: u32) -> Vec<u8> {
    let rate = 8000u32;
    let data: Vec<u8> = (0..rate * seconds)
        .flat_map(|i| (((f64::from(i) * 0.07).sin() * 12000.0) as i16).to_le_bytes())
        .collect();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    for field in [
        16u32.to_le_bytes().to_vec(),
        1u16.to_le_bytes().to_vec(),
        1u16.to_le_bytes().to_vec(),
    ] {
        out.extend_from_slice(&field);
    }
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// Whether every picture matching `css` has loaded (through the app's
/// `kith-media` protocol) with real pixels.
fn pictures_loaded(app: &App, css: &str) -> bool {
    let script = format!(
        "const imgs = [...document.querySelectorAll({css:?})]; \
         return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0 && i.src.includes('kith-media'))"
    );
    app.js(&script) == json!(true)
}

#[test]
fn attachments_in_the_real_app_pictures_files_voice_notes_both_ways() {
    let _display = one_app();
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server")).unwrap();
    let (mut app, _driver) = signed_in_app(tmp.path(), &server, "Carol");
    let (bob, carol) = cli_contact(&mut app, tmp.path(), &server);
    // Bob has a profile picture; his group will have one too.
    let face = tmp.path().join("face.png");
    std::fs::write(&face, two_colour_png(300, 300)).unwrap();
    kith(&bob, &["avatar", "set", &face.display().to_string()]).unwrap();

    // Bob sends two pictures with a caption, a document, and a voice note.
    let files = tmp.path().join("bob-files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("left.png"), two_colour_png(600, 400)).unwrap();
    std::fs::write(files.join("right.png"), two_colour_png(400, 600)).unwrap();
    let document = b"Minutes of the meeting\n".repeat(2000);
    std::fs::write(files.join("minutes.txt"), &document).unwrap();
    std::fs::write(files.join("hello.wav"), tone_wav(3)).unwrap();
    kith_testkit::video::write_clip(&files.join("clip.mov"), 3, 640, 360).unwrap();
    let chat = kith(&bob, &["chat", "new", "--name", "Album", "--member", &carol]).unwrap()["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let left = files.join("left.png").display().to_string();
    let right = files.join("right.png").display().to_string();
    let minutes = files.join("minutes.txt").display().to_string();
    let wav = files.join("hello.wav").display().to_string();
    kith(&bob, &["chat", "avatar", &chat, &left]).unwrap();
    kith(
        &bob,
        &["send", &chat, "Two views", "--attach", &left, "--attach", &right],
    )
    .unwrap();
    kith(&bob, &["send", &chat, "--attach", &minutes]).unwrap();
    kith(&bob, &["send", &chat, "--voice", &wav]).unwrap();
    let clip = files.join("clip.mov").display().to_string();
    kith(&bob, &["send", &chat, "A clip", "--attach", &clip]).unwrap();
    kith(&bob, &["sync", "--server", &server.url, "--once"]).unwrap();

    // They show: both pictures in a grid, loaded; a file card; a voice note.
    open_chat_named(&app, "Album");
    app.message("Two views");
    wait_for("Bob's pictures to load", WAIT, || {
        Ok(pictures_loaded(&app, ".message.theirs .image-grid.two .picture img").then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    app.wait_text(".message.theirs .file-card", "minutes.txt");
    app.wait_text(".message.theirs .voice-note .voice-time", "0:03");
    let bars = app.js("return document.querySelectorAll('.message.theirs .voice-note .waveform .bar').length");
    assert_eq!(bars, json!(40), "the voice note's waveform");
    // The voice note plays: its time moves and the waveform lights up.
    app.click(".message.theirs .voice-note .voice-play");
    wait_for("the voice note to play", WAIT, || {
        let at = app.js("return document.querySelector('.message.theirs .voice-note audio').currentTime");
        Ok((at.as_f64().unwrap_or(0.0) > 0.5).then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    app.session
        .wait(".message.theirs .voice-note .bar.lit", WAIT)
        .unwrap_or_else(|e| app.fail(e));
    // The video shows its poster and length, then plays inline.
    app.message("A clip");
    app.wait_text(".message.theirs .video-message .video-duration", "0:03");
    let poster = app.js(
        "const v = document.querySelector('.message.theirs .video-message video'); \
         return v.poster.startsWith('data:image/jpeg') && v.getAttribute('aria-label')",
    );
    assert!(
        poster
            .as_str()
            .is_some_and(|label| label.contains("clip.webm") && label.contains("640 × 360")),
        "the video's poster and label: {poster}"
    );
    app.shot("video-poster");
    // Large in the viewer, where it plays.
    app.click(".message.theirs .video-message .video-expand");
    app.session
        .wait("#lightbox .lightbox-video", WAIT)
        .unwrap_or_else(|e| app.fail(e));
    wait_for("the video to play in the viewer", WAIT, || {
        let at = app.js("return document.querySelector('#lightbox .lightbox-video').currentTime");
        Ok((at.as_f64().unwrap_or(0.0) > 0.5).then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    app.wait_text(".lightbox-detail", "640 × 360");
    app.shot("video-viewer");
    app.type_into("#lightbox", ESCAPE);
    wait_for("the viewer to close", WAIT, || {
        Ok(app.session.find("#lightbox")?.is_none().then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    // And inline, with the player's controls.
    app.click(".message.theirs .video-message .video-start");
    wait_for("the video to play", WAIT, || {
        let at = app.js(
            "const v = document.querySelector('.message.theirs .video-message video'); \
             return [v.currentTime, v.videoWidth]",
        );
        let played = at[0].as_f64().unwrap_or(0.0) > 0.5 && at[1] == json!(640);
        Ok(played.then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    app.shot("video-playing");
    // Pictures of people and groups: the group's in the header and the
    // list, Bob's beside his messages.
    wait_for("the group's and Bob's pictures", WAIT, || {
        let shown = app.js("return [document.querySelector('.conversation-header img.avatar'), \
                     document.querySelector('.chat-item img.avatar'), \
                     document.querySelector('.message.theirs .author-avatar img.avatar')] \
                    .every(i => i && i.complete && i.naturalWidth > 0)");
        Ok((shown == json!(true)).then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    app.shot("attachments-received");

    // The lightbox shows the first picture large, goes to the second, closes.
    app.click(".message.theirs .picture");
    app.session.wait("#lightbox", WAIT).unwrap_or_else(|e| app.fail(e));
    app.wait_text(".lightbox-detail", "1 of 2");
    wait_for("the large picture", WAIT, || {
        Ok(pictures_loaded(&app, "#lightbox .lightbox-image").then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    app.shot("lightbox");
    app.click(".lightbox-nav.next");
    app.wait_text(".lightbox-detail", "2 of 2");
    app.type_into("#lightbox", ESCAPE);
    wait_for("the lightbox to close", WAIT, || {
        Ok(app.session.find("#lightbox")?.is_none().then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));

    // Save the document: the same bytes land in Downloads.
    app.click(".message.theirs .file-card .save-file");
    let saved = tmp.path().join("downloads").join("minutes.txt");
    wait_for("the saved document", WAIT, || {
        Ok(std::fs::read(&saved)
            .ok()
            .filter(|bytes| *bytes == document)
            .map(|_| ()))
    })
    .unwrap_or_else(|e| app.fail(e));
    app.wait_text(".toast", "Saved to");

    // A picture dropped on the conversation and one pasted into the box are
    // attached too (the events a desktop drag or a paste would deliver).
    let small_png = data_encoding::BASE64.encode(&two_colour_png(64, 48));
    let staged = app.js(&format!(
        "const bytes = Uint8Array.from(atob('{small_png}'), c => c.charCodeAt(0)); \
         const file = name => new File([bytes], name, {{type: 'image/png'}}); \
         const dropped = new DataTransfer(); dropped.items.add(file('dropped.png')); \
         const list = document.getElementById('message-list'); \
         list.dispatchEvent(new DragEvent('dragover', {{dataTransfer: dropped, bubbles: true, cancelable: true}})); \
         list.dispatchEvent(new DragEvent('drop', {{dataTransfer: dropped, bubbles: true, cancelable: true}})); \
         const pasted = new DataTransfer(); pasted.items.add(file('pasted.png')); \
         document.getElementById('composer').dispatchEvent( \
             new ClipboardEvent('paste', {{clipboardData: pasted, bubbles: true, cancelable: true}})); \
         return true"
    ));
    assert_eq!(staged, json!(true));
    wait_for("the dropped and the pasted picture in the composer", WAIT, || {
        let ready =
            app.js("return [...document.querySelectorAll('.staged-item.ready')].map(e => e.textContent).join('|')");
        let ready = ready.as_str().unwrap_or("").to_owned();
        Ok((ready.contains("dropped.jpg") && ready.contains("pasted.jpg")).then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    // Removing them leaves the composer empty again.
    for _ in 0..2 {
        app.click(".staged-item .staged-remove");
    }
    wait_for("the composer to be empty", WAIT, || {
        Ok(app.session.find(".staged-item")?.is_none().then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));

    // With no microphone (as under Xvfb) the record button says so.
    app.click("#record-button");
    app.wait_text(".toast", "No microphone");

    // Carol attaches a picture in the app (the file input of the attach
    // button), sees its preview, adds a caption and sends it.
    let photo = tmp.path().join("wide.png");
    std::fs::write(&photo, two_colour_png(3000, 1000)).unwrap();
    let input = app.session.wait("#attach-input", WAIT).unwrap_or_else(|e| app.fail(e));
    app.session
        .type_into(&input, &photo.display().to_string())
        .unwrap_or_else(|e| app.fail(e));
    app.session
        .wait(".staged-item.ready .staged-thumb", WAIT)
        .unwrap_or_else(|e| app.fail(e));
    app.wait_text(".staged-item.ready", "wide.jpg");
    app.shot("composer-with-picture");
    app.type_into("#composer", "Panorama from the app");
    app.type_into("#composer", ENTER);
    app.message("Panorama from the app");
    wait_for("the sent picture to show", WAIT, || {
        Ok(pictures_loaded(&app, ".message.mine .image-grid.single .picture img").then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    assert!(
        app.session.find(".staged-item").unwrap().is_none(),
        "the composer kept the attachment"
    );
    app.shot("picture-sent");

    // Bob receives it: scaled to 2048 px, re-encoded as JPEG, left red.
    let received = wait_for("Bob to receive Carol's picture", WAIT, || {
        kith(&bob, &["sync", "--server", &server.url, "--once"])?;
        let list = kith(&bob, &["attachments", &chat])?;
        Ok(list
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|a| a["name"] == json!("wide.jpg") && a["downloaded"] == json!(true))
            })
            .cloned())
    })
    .unwrap_or_else(|e| app.fail(e));
    assert_eq!(
        (received["width"].clone(), received["height"].clone()),
        (json!(2048), json!(683))
    );
    assert_eq!(received["mime"], json!("image/jpeg"));
    let out = tmp.path().join("bob-saved");
    std::fs::create_dir_all(&out).unwrap();
    kith(
        &bob,
        &[
            "save",
            &chat,
            received["message_id"].as_str().unwrap(),
            &out.display().to_string(),
        ],
    )
    .unwrap();
    let picture = image::open(out.join("wide.jpg")).unwrap().to_rgb8();
    assert_eq!(picture.dimensions(), (2048, 683));
    let red = picture.get_pixel(100, 300);
    assert!(red[0] > 180 && red[2] < 80, "left half is {red:?}");
    // A group Carol owns gets a picture from the group panel, and Bob sees it.
    app.click("#new-group");
    app.type_into("#group-name", "Trip");
    app.session.wait(".pick", WAIT).unwrap_or_else(|e| app.fail(e));
    app.click(".pick input");
    app.click("#group-create");
    app.wait_text("#chat-title", "Trip");
    app.click("#chat-info");
    let picture_input = app
        .session
        .wait("#group-picture input", WAIT)
        .unwrap_or_else(|e| app.fail(e));
    app.session
        .type_into(&picture_input, &face.display().to_string())
        .unwrap_or_else(|e| app.fail(e));
    wait_for("the group picture in the header", WAIT, || {
        let shown = app.js(
            "const i = document.querySelector('.conversation-header img.avatar'); return !!i && i.naturalWidth == 256",
        );
        Ok((shown == json!(true)).then_some(()))
    })
    .unwrap_or_else(|e| app.fail(e));
    app.shot("group-picture");
    wait_for("Bob to see the Trip picture", WAIT, || {
        kith(&bob, &["sync", "--server", &server.url, "--once"])?;
        let chats = kith(&bob, &["chats"])?;
        Ok(chats
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == json!("Trip")))
            .filter(|c| c["has_avatar"] == json!(true))
            .map(|_| ()))
    })
    .unwrap_or_else(|e| app.fail(e));

    let messages = kith(&bob, &["messages", &chat]).unwrap();
    assert!(
        messages
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == json!("Panorama from the app")),
        "the caption"
    );

    app.session.end().unwrap();
}
