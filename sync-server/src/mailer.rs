//! Email nudges: every few seconds each gateway marks its connected devices
//! seen, asks the store who has been away too long with something waiting,
//! claims each (so one email goes, whichever gateway asks), and sends a
//! short email through the operator's SMTP server. The email names no
//! sender and holds no content (the server has neither); it carries a
//! one-click unsubscribe link.

use crate::nudges::DueNudge;
use crate::state::{AppState, MailSettings};
use lettre::message::SinglePart;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Most nudges sent per check.
const NUDGES_PER_CHECK: u32 = 100;

/// The subject of every nudge.
pub const NUDGE_SUBJECT: &str = "You have new messages in Kith";

/// The text of a nudge to the holder of `token`.
pub fn nudge_body(public_url: &str, token: &[u8; 16]) -> String {
    format!(
        "Something new is waiting for you in Kith.\n\n\
         Open Kith on one of your devices to read it. This email cannot\n\
         say who wrote or what: the server that sends it cannot read\n\
         your messages.\n\n\
         To get no more of these emails, open this link:\n\
         {}/unsubscribe?token={}\n",
        public_url.trim_end_matches('/'),
        hex(token)
    )
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses [`hex`] back (`None` for anything else).
pub(crate) fn unhex16(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Whether `address` is one the server will write to: one `@` with text on
/// both sides, no spaces or control characters (nothing that could bend a
/// header), at most 254 bytes.
pub fn valid_address(address: &str) -> bool {
    let parts: Vec<&str> = address.split('@').collect();
    address.len() <= 254
        && parts.len() == 2
        && parts.iter().all(|part| !part.is_empty())
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        && address.parse::<lettre::Address>().is_ok()
}

/// Runs the nudge loop until the server shuts down.
pub(crate) async fn run(state: AppState, mail: MailSettings) {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(mail.smtp_host.clone())
        .port(mail.smtp_port)
        .timeout(Some(Duration::from_secs(20)))
        .build();
    let mut tick = tokio::time::interval(mail.check_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let due = match check(&state).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "could not look for devices to nudge");
                continue;
            }
        };
        for nudge in due {
            send(&transport, &mail, &nudge).await;
        }
    }
}

/// Marks this gateway's devices seen, then claims the nudges due.
async fn check(state: &AppState) -> Result<Vec<DueNudge>, crate::store::StoreError> {
    let store = state.store.clone();
    let online = state.online_devices();
    let now = state.now_ms();
    let joined = tokio::task::spawn_blocking(move || {
        store.touch_devices(&online, now)?;
        let mut claimed = Vec::new();
        for nudge in store.due_nudges(now, NUDGES_PER_CHECK)? {
            if store.claim_nudge(&nudge.device, now)? {
                claimed.push(nudge);
            }
        }
        Ok(claimed)
    })
    .await;
    joined.unwrap_or_else(|error| Err(crate::store::StoreError::Io(std::io::Error::other(error))))
}

async fn send(transport: &AsyncSmtpTransport<Tokio1Executor>, mail: &MailSettings, nudge: &DueNudge) {
    let message = match (mail.from.parse(), nudge.address.parse()) {
        (Ok(from), Ok(to)) => Message::builder()
            .from(from)
            .to(to)
            .subject(NUDGE_SUBJECT)
            // Short lines, sent as written (7-bit), so the link reaches the
            // reader unmangled; a public URL too long for that goes as
            // quoted-printable rather than not at all.
            .singlepart({
                let body = nudge_body(&mail.public_url, &nudge.token);
                let part = SinglePart::builder().header(ContentType::TEXT_PLAIN);
                if body.lines().all(|line| line.len() <= 76) {
                    part.header(ContentTransferEncoding::SevenBit).body(body)
                } else {
                    part.body(body)
                }
            }),
        _ => {
            tracing::warn!("a nudge address or the sender address does not parse");
            return;
        }
    };
    let message = match message {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(%error, "could not build a nudge");
            return;
        }
    };
    match transport.send(message).await {
        Ok(_) => tracing::info!(device = %nudge.device, "sent an email nudge"),
        // The claim stays: one failed email is not retried every few
        // seconds; the next absence tries again.
        Err(error) => tracing::warn!(%error, "an email nudge was not sent"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_could_bend_a_header_are_refused() {
        assert!(valid_address("alice@example.org"));
        for bad in [
            "",
            "alice",
            "@example.org",
            "alice@",
            "a@b@c",
            "alice@example.org\r\nBcc: x@y.z",
            "alice @example.org",
            "<alice@example.org>",
            &format!("{}@example.org", "a".repeat(250)),
        ] {
            assert!(!valid_address(bad), "{bad:?}");
        }
    }

    #[test]
    fn tokens_round_trip_through_the_link() {
        let token = [0xab; 16];
        assert_eq!(unhex16(&hex(&token)), Some(token));
        assert_eq!(unhex16("zz"), None);
        assert_eq!(unhex16(&"g".repeat(32)), None);
        let body = nudge_body("http://127.0.0.1:1/", &token);
        assert!(body.contains("http://127.0.0.1:1/unsubscribe?token=abab"), "{body}");
    }
}
