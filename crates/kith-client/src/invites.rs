//! Invite links this device issued: one personal link many people may use
//! (until its owner revokes or replaces it) and one-time links, each with a
//! state. A connect request for a link that no longer works is answered
//! with the reason, and the owner sees the attempt.
//!
//! The registry is plain data judged against a given time (no clock or
//! randomness inside); the profile keeps it in one meta entry. It is this
//! device's: a link names the sealing key of the device that issued it.

use kith_core::relay::InviteRefusal;
use kith_proto::AccountId;
use serde::{Deserialize, Serialize};

/// How long a dead link is still followed, to tell whoever tries it why it
/// does not work.
pub const DEAD_LINK_ANSWERED_MS: u64 = 30 * 24 * 60 * 60 * 1000;
/// Refused attempts remembered per link (the newest).
const MAX_ATTEMPTS_KEPT: usize = 20;
/// Refused requests answered per link in a day; beyond it they are only
/// counted (each answer is an envelope this device signs and posts).
pub const MAX_ANSWERS_PER_DAY: usize = 20;
/// Requests remembered per link, so one read again is judged once.
const MAX_HANDLED_KEPT: usize = 512;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Whether a link is for many people or one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InviteKind {
    /// The personal link: works for everyone who has it until revoked.
    Personal,
    /// Works once.
    OneTime,
}

/// What a link is now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// It works.
    Live,
    /// It does not, and why.
    Dead(InviteRefusal),
}

impl LinkState {
    /// `live`, `revoked`, `used` or `expired`.
    pub fn label(self) -> &'static str {
        match self {
            LinkState::Live => "live",
            LinkState::Dead(reason) => reason.label(),
        }
    }
}

/// Someone who tried a link after it stopped working.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedAttempt {
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
    /// Who (the account in the request's verified certificate).
    pub account: AccountId,
    /// What they were told.
    pub reason: InviteRefusal,
}

/// One link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteLink {
    /// The secret in the link (holding it is consent).
    pub secret: [u8; 32],
    /// Personal or one-time.
    pub kind: InviteKind,
    /// When it was made.
    pub created_ms: u64,
    /// When it stops working, if ever.
    pub expires_ms: Option<u64>,
    /// When its owner revoked it.
    pub revoked_ms: Option<u64>,
    /// How many people became contacts through it.
    pub uses: u32,
    /// When it was last used.
    pub last_used_ms: Option<u64>,
    /// Refused attempts, oldest first.
    pub attempts: Vec<RefusedAttempt>,
    /// Ids of the requests judged, oldest first (hex).
    #[serde(default)]
    pub handled: Vec<String>,
}

impl InviteLink {
    /// A new link.
    pub fn new(secret: [u8; 32], kind: InviteKind, now_ms: u64, expires_ms: Option<u64>) -> InviteLink {
        InviteLink {
            secret,
            kind,
            created_ms: now_ms,
            expires_ms,
            revoked_ms: None,
            uses: 0,
            last_used_ms: None,
            attempts: Vec::new(),
            handled: Vec::new(),
        }
    }

    /// Its short public name: a hash prefix, so listings never show the
    /// secret itself.
    pub fn id(&self) -> String {
        blake3::hash(&self.secret).to_hex()[..12].to_owned()
    }

    /// Its state at `now_ms`. Revoked wins over used, used over expired.
    pub fn state(&self, now_ms: u64) -> LinkState {
        if self.revoked_ms.is_some() {
            LinkState::Dead(InviteRefusal::Revoked)
        } else if self.kind == InviteKind::OneTime && self.uses > 0 {
            LinkState::Dead(InviteRefusal::Used)
        } else if self.expires_ms.is_some_and(|at| at <= now_ms) {
            LinkState::Dead(InviteRefusal::Expired)
        } else {
            LinkState::Live
        }
    }

    /// Since when it has been dead, if it is.
    fn dead_since(&self, now_ms: u64) -> Option<u64> {
        match self.state(now_ms) {
            LinkState::Live => None,
            LinkState::Dead(InviteRefusal::Revoked) => self.revoked_ms,
            LinkState::Dead(InviteRefusal::Used) => self.last_used_ms.or(Some(self.created_ms)),
            LinkState::Dead(InviteRefusal::Expired) => self.expires_ms,
        }
    }
}

/// What to do with a connect request, by the secret it presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// A live link: connect, and count the use.
    Accept,
    /// A link of ours that no longer works: answer why.
    Refuse(InviteRefusal),
    /// Not a link this device issued (or one forgotten long ago).
    Unknown,
}

/// Every link this device issued and still remembers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteLinks {
    /// Oldest first.
    pub links: Vec<InviteLink>,
}

impl InviteLinks {
    /// The live personal link, if there is one.
    pub fn personal(&self, now_ms: u64) -> Option<&InviteLink> {
        self.links
            .iter()
            .rev()
            .find(|link| link.kind == InviteKind::Personal && link.state(now_ms) == LinkState::Live)
    }

    /// The link with this id.
    pub fn by_id(&self, id: &str) -> Option<&InviteLink> {
        self.links.iter().find(|link| link.id() == id)
    }

    /// How to answer a request presenting `secret`.
    pub fn judge(&self, secret: &[u8; 32], now_ms: u64) -> Judgement {
        match self.links.iter().find(|link| link.secret == *secret) {
            None => Judgement::Unknown,
            Some(link) => match link.state(now_ms) {
                LinkState::Live => Judgement::Accept,
                LinkState::Dead(reason) => Judgement::Refuse(reason),
            },
        }
    }

    /// Counts a use of the link with `secret`.
    pub fn record_use(&mut self, secret: &[u8; 32], now_ms: u64) {
        if let Some(link) = self.links.iter_mut().find(|link| link.secret == *secret) {
            link.uses = link.uses.saturating_add(1);
            link.last_used_ms = Some(now_ms);
        }
    }

    /// Whether the request `id` for the link with `secret` was judged already.
    pub fn handled(&self, secret: &[u8; 32], id: &[u8; 16]) -> bool {
        let id = hex(id);
        self.links
            .iter()
            .find(|link| link.secret == *secret)
            .is_some_and(|link| link.handled.contains(&id))
    }

    /// Remembers that the request `id` was judged (the newest [`MAX_HANDLED_KEPT`]).
    pub fn remember(&mut self, secret: &[u8; 32], id: [u8; 16]) {
        if let Some(link) = self.links.iter_mut().find(|link| link.secret == *secret) {
            link.handled.push(hex(&id));
            let over = link.handled.len().saturating_sub(MAX_HANDLED_KEPT);
            link.handled.drain(..over);
        }
    }

    /// Whether a refused request on this link may still be answered today.
    pub fn answers_left_today(&self, secret: &[u8; 32], now_ms: u64) -> bool {
        self.links
            .iter()
            .find(|link| link.secret == *secret)
            .is_some_and(|link| {
                let today = link
                    .attempts
                    .iter()
                    .filter(|a| now_ms.saturating_sub(a.at_ms) < DAY_MS)
                    .count();
                today < MAX_ANSWERS_PER_DAY
            })
    }

    /// Remembers a refused attempt (the newest [`MAX_ATTEMPTS_KEPT`]).
    pub fn record_attempt(&mut self, secret: &[u8; 32], attempt: RefusedAttempt) {
        if let Some(link) = self.links.iter_mut().find(|link| link.secret == *secret) {
            link.attempts.push(attempt);
            let over = link.attempts.len().saturating_sub(MAX_ATTEMPTS_KEPT);
            link.attempts.drain(..over);
        }
    }

    /// Revokes the link with `id`; false when there is none.
    pub fn revoke(&mut self, id: &str, now_ms: u64) -> bool {
        match self.links.iter_mut().find(|link| link.id() == id) {
            Some(link) => {
                link.revoked_ms.get_or_insert(now_ms);
                true
            }
            None => false,
        }
    }

    /// The secrets whose streams this device follows: live links, and dead
    /// ones for [`DEAD_LINK_ANSWERED_MS`] so whoever tries them is told why.
    pub fn followed(&self, now_ms: u64) -> Vec<[u8; 32]> {
        self.links
            .iter()
            .filter(|link| !self.forgotten(link, now_ms))
            .map(|link| link.secret)
            .collect()
    }

    fn forgotten(&self, link: &InviteLink, now_ms: u64) -> bool {
        link.dead_since(now_ms)
            .is_some_and(|since| now_ms.saturating_sub(since) > DEAD_LINK_ANSWERED_MS)
    }

    /// Drops links dead for longer than they are answered.
    pub fn prune(&mut self, now_ms: u64) {
        let keep: Vec<bool> = self.links.iter().map(|link| !self.forgotten(link, now_ms)).collect();
        let mut keep = keep.into_iter();
        self.links.retain(|_| keep.next().unwrap_or(true));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const HOUR: u64 = 60 * 60 * 1000;

    fn someone() -> AccountId {
        AccountId::from_bytes([9; 32])
    }

    #[test]
    fn a_personal_link_serves_many_until_revoked() {
        let mut links = InviteLinks::default();
        links
            .links
            .push(InviteLink::new([1; 32], InviteKind::Personal, 0, None));
        for n in 0..3 {
            assert_eq!(links.judge(&[1; 32], n), Judgement::Accept);
            links.record_use(&[1; 32], n);
        }
        assert_eq!(links.links[0].uses, 3);
        let id = links.links[0].id();
        assert!(links.revoke(&id, 10));
        assert_eq!(links.judge(&[1; 32], 11), Judgement::Refuse(InviteRefusal::Revoked));
        assert!(links.personal(11).is_none());
        assert_eq!(links.judge(&[2; 32], 11), Judgement::Unknown);
        assert!(!links.revoke("nothing", 12));
    }

    #[test]
    fn a_one_time_link_works_once_and_an_expiring_one_until_its_time() {
        let mut links = InviteLinks::default();
        links.links.push(InviteLink::new([1; 32], InviteKind::OneTime, 0, None));
        links
            .links
            .push(InviteLink::new([2; 32], InviteKind::Personal, 0, Some(HOUR)));
        assert_eq!(links.judge(&[1; 32], 1), Judgement::Accept);
        links.record_use(&[1; 32], 1);
        assert_eq!(links.judge(&[1; 32], 2), Judgement::Refuse(InviteRefusal::Used));
        assert_eq!(links.judge(&[2; 32], HOUR - 1), Judgement::Accept);
        assert_eq!(links.judge(&[2; 32], HOUR), Judgement::Refuse(InviteRefusal::Expired));
        // Revoked wins over used in what is said.
        let id = links.links[0].id();
        links.revoke(&id, 3);
        assert_eq!(links.links[0].state(4), LinkState::Dead(InviteRefusal::Revoked));
    }

    #[test]
    fn dead_links_are_answered_for_a_while_then_forgotten() {
        let mut links = InviteLinks::default();
        links
            .links
            .push(InviteLink::new([1; 32], InviteKind::Personal, 0, None));
        links
            .links
            .push(InviteLink::new([2; 32], InviteKind::Personal, 0, None));
        let id = links.links[0].id();
        links.revoke(&id, 100);
        assert_eq!(links.followed(100 + DEAD_LINK_ANSWERED_MS), vec![[1; 32], [2; 32]]);
        let later = 101 + DEAD_LINK_ANSWERED_MS;
        assert_eq!(links.followed(later), vec![[2; 32]]);
        links.prune(later);
        assert_eq!(links.links.len(), 1);
        assert_eq!(links.judge(&[1; 32], later), Judgement::Unknown);
    }

    #[test]
    fn attempts_are_remembered_up_to_a_limit() {
        let mut links = InviteLinks::default();
        links.links.push(InviteLink::new([1; 32], InviteKind::OneTime, 0, None));
        for at_ms in 0..30 {
            links.record_attempt(
                &[1; 32],
                RefusedAttempt {
                    at_ms,
                    account: someone(),
                    reason: InviteRefusal::Used,
                },
            );
        }
        let attempts = &links.links[0].attempts;
        assert_eq!(attempts.len(), MAX_ATTEMPTS_KEPT);
        assert_eq!(attempts[0].at_ms, 10, "the oldest go first");
    }

    #[test]
    fn a_request_is_judged_once_and_a_flood_gets_few_answers() {
        let mut links = InviteLinks::default();
        links.links.push(InviteLink::new([1; 32], InviteKind::OneTime, 0, None));
        assert!(!links.handled(&[1; 32], &[5; 16]));
        links.remember(&[1; 32], [5; 16]);
        assert!(links.handled(&[1; 32], &[5; 16]));
        assert!(!links.handled(&[1; 32], &[6; 16]));
        assert!(!links.handled(&[2; 32], &[5; 16]), "per link");
        for n in 0..MAX_ANSWERS_PER_DAY as u64 {
            assert!(links.answers_left_today(&[1; 32], 1000 + n));
            links.record_attempt(
                &[1; 32],
                RefusedAttempt {
                    at_ms: 1000 + n,
                    account: someone(),
                    reason: InviteRefusal::Used,
                },
            );
        }
        assert!(!links.answers_left_today(&[1; 32], 2000), "the day's answers are spent");
        assert!(links.answers_left_today(&[1; 32], 1000 + DAY_MS + 100), "a day later");
    }

    #[test]
    fn link_ids_do_not_show_the_secret() {
        let link = InviteLink::new([7; 32], InviteKind::Personal, 0, None);
        assert_eq!(link.id().len(), 12);
        assert!(!kith_proto::encode_id(&link.secret).starts_with(&link.id()));
        let round: InviteLinks = serde_json::from_str(
            &serde_json::to_string(&InviteLinks {
                links: vec![link.clone()],
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(round.links, vec![link]);
    }
}
