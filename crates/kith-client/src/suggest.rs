//! Suggested replies, computed on the device from the user's own history.
//!
//! For an incoming message, the local full-text index finds earlier messages
//! by others that share its words; where the user's next message in that chat
//! answered one, that answer is a candidate. Candidates are summed by their
//! text (a reply the user gives often to similar messages ranks first; one
//! from the same chat counts a half more), and short built-in replies for
//! the message's kind (a question, thanks, a greeting) fill the rest. Only
//! text the user wrote, or the built-ins, is ever suggested: never another
//! person's words. Nothing leaves the device.

use crate::error::ClientError;
use crate::messages::Messages;
use kith_proto::{AccountId, ChatId, MessageId};
use kith_store::Store;
use serde::Serialize;
use std::collections::BTreeMap;

/// At most this many suggestions.
pub const MAX_SUGGESTIONS: usize = 3;
/// Earlier messages considered per suggestion.
const CANDIDATES: usize = 100;
/// Words of the incoming message searched for.
const MAX_TERMS: usize = 12;
/// A past reply longer than this is not a quick reply.
const MAX_REPLY_CHARS: usize = 160;
/// Extra weight of a past reply in the same chat.
const SAME_CHAT_WEIGHT: f64 = 1.5;

/// Words too common to say what a message is about.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had",
    "has", "have", "he", "her", "him", "his", "how", "i", "if", "in", "is", "it", "its", "just", "me", "my", "no",
    "not", "of", "on", "or", "our", "she", "so", "that", "the", "their", "them", "then", "there", "they", "this", "to",
    "u", "up", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you",
    "your",
];

/// Where a suggestion comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuggestionSource {
    /// The user's own earlier replies to similar messages.
    History,
    /// A short built-in reply for this kind of message.
    BuiltIn,
}

/// One suggested reply.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SuggestedReply {
    /// The text to send.
    pub text: String,
    /// Where it comes from.
    pub source: SuggestionSource,
    /// How many similar earlier messages the user answered with it (0 for built-ins).
    pub times: usize,
}

/// The words of `text` worth searching for: lower case, no stopwords, no
/// repeats, at most [`MAX_TERMS`].
pub fn reply_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        if word.chars().count() < 2 || STOPWORDS.contains(&word.as_str()) || terms.contains(&word) {
            continue;
        }
        terms.push(word);
        if terms.len() == MAX_TERMS {
            break;
        }
    }
    terms
}

/// The key replies are counted under: case, spacing and closing
/// punctuation do not make another reply.
fn reply_key(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(['.', '!', '?', ','])
        .to_lowercase()
}

/// Built-in replies for the kind of message `text` is.
fn built_ins(text: &str) -> &'static [&'static str] {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    if has("thanks") || has("thank") || has("thx") || has("ty") {
        &["You're welcome!", "Any time!", "👍"]
    } else if words.len() <= 4 && (has("hi") || has("hello") || has("hey") || lower.starts_with("good morning")) {
        &["Hi!", "Hey, how are you?", "👋"]
    } else if lower.trim_end().ends_with('?') {
        &["Yes", "No", "Not sure yet"]
    } else {
        &["👍", "OK", "Thanks!"]
    }
}

/// Up to [`MAX_SUGGESTIONS`] replies to `incoming` (a message by someone
/// else in `chat`), for the account `me`, from `store`'s history.
pub fn suggest_replies(
    store: &dyn Store,
    me: &AccountId,
    chat: &ChatId,
    incoming: &str,
) -> Result<Vec<SuggestedReply>, ClientError> {
    let terms = reply_terms(incoming);
    let candidates = store.reply_candidates(&terms, me, CANDIDATES)?;
    // key -> (summed score, times, first seen text)
    let mut ranked: BTreeMap<String, (f64, usize, String)> = BTreeMap::new();
    for candidate in candidates {
        let text = candidate.reply.trim();
        if text.is_empty() || text.chars().count() > MAX_REPLY_CHARS {
            continue;
        }
        let weight = if candidate.chat == *chat { SAME_CHAT_WEIGHT } else { 1.0 };
        let entry = ranked
            .entry(reply_key(text))
            .or_insert_with(|| (0.0, 0, text.to_owned()));
        entry.0 += candidate.score.max(0.0) * weight;
        entry.1 += 1;
    }
    let mut history: Vec<(f64, usize, String)> = ranked.into_values().collect();
    // Best first; ties by text so the order never depends on the map.
    history.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
    let mut out: Vec<SuggestedReply> = Vec::new();
    for (_, times, text) in history.into_iter().take(MAX_SUGGESTIONS) {
        out.push(SuggestedReply {
            text,
            source: SuggestionSource::History,
            times,
        });
    }
    for text in built_ins(incoming) {
        if out.len() == MAX_SUGGESTIONS {
            break;
        }
        if out.iter().all(|s| reply_key(&s.text) != reply_key(text)) {
            out.push(SuggestedReply {
                text: (*text).to_owned(),
                source: SuggestionSource::BuiltIn,
                times: 0,
            });
        }
    }
    Ok(out)
}

impl Messages<'_> {
    /// Suggested replies to message `id` of `chat` (someone else's; an own
    /// message gets none).
    pub fn suggest_replies(&self, chat: &ChatId, id: &MessageId) -> Result<Vec<SuggestedReply>, ClientError> {
        let me = self.profile.identity().account_id();
        let message = self
            .profile
            .store()
            .message(chat, id)?
            .ok_or_else(|| ClientError::NoSuchMessage(id.to_string()))?;
        if message.author == me {
            return Ok(Vec::new());
        }
        let Some(text) = message.text else {
            return Ok(Vec::new());
        };
        suggest_replies(self.profile.store().as_ref(), &me, chat, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_leave_out_stopwords_repeats_and_case() {
        assert_eq!(
            reply_terms("Are you coming to the Party tonight? The PARTY!"),
            vec!["coming", "party", "tonight"]
        );
        assert!(reply_terms("is it? it is.").is_empty());
    }

    #[test]
    fn built_ins_fit_the_kind_of_message() {
        assert_eq!(built_ins("Thanks so much")[0], "You're welcome!");
        assert_eq!(built_ins("hey")[0], "Hi!");
        assert_eq!(built_ins("Can you make it on Friday?")[0], "Yes");
        assert_eq!(built_ins("I sent the report")[0], "👍");
        assert_eq!(reply_key("  Sure,  see you   there! "), "sure, see you there");
    }
}
