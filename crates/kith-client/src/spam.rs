//! A spam score for message requests, computed on this device from this
//! user's own decisions: a Bernoulli naive Bayes over the words of a
//! request's first message and a few signals about its sender (a link, no
//! picture, no group in common, ...). Ignoring or blocking a request
//! teaches it "spam", accepting one "ordinary". Nothing leaves the device;
//! the score comes with the features that weighed most, so it can be
//! explained in the app.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most distinct features the model keeps (the rarest go first).
const MAX_FEATURES: usize = 5000;
/// Most reasons shown beside a score.
const MAX_REASONS: usize = 3;

/// What is known about a request's sender, beside their words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderSignals {
    /// They sent a profile picture.
    pub has_picture: bool,
    /// They gave a display name.
    pub has_name: bool,
    /// Groups both accounts are in.
    pub shared_groups: usize,
}

/// A request's score: the model's probability that it is spam, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpamScore {
    /// From 0 (ordinary) to 1 (spam); 0.5 before any decision was made.
    pub score: f64,
    /// The features that pushed the score up most, in words.
    pub reasons: Vec<String>,
}

/// The counts the score is computed from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpamModel {
    spam_requests: u32,
    ordinary_requests: u32,
    /// Feature -> (spam requests with it, ordinary requests with it).
    features: BTreeMap<String, (u32, u32)>,
}

/// The features of one request: its distinct words (lower case, two
/// letters or more) and its signals.
pub fn request_features(text: &str, signals: SenderSignals) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let lower = text.to_lowercase();
    for word in lower.split(|c: char| !c.is_alphanumeric()) {
        if word.chars().count() >= 2 && word.len() <= 32 {
            out.insert(format!("w:{word}"));
        }
    }
    if lower.contains("http://") || lower.contains("https://") || lower.contains("www.") {
        out.insert("s:link".to_owned());
    }
    if text.chars().any(|c| matches!(c, '$' | '€' | '£' | '₿')) {
        out.insert("s:money".to_owned());
    }
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 8 && letters.iter().filter(|c| c.is_uppercase()).count() * 2 > letters.len() {
        out.insert("s:shouting".to_owned());
    }
    if !signals.has_picture {
        out.insert("s:no-picture".to_owned());
    }
    if !signals.has_name {
        out.insert("s:no-name".to_owned());
    }
    if signals.shared_groups == 0 {
        out.insert("s:no-shared-group".to_owned());
    }
    out
}

impl SpamModel {
    /// Learns from one decision: `spam` for an ignored or blocked request.
    pub fn learn(&mut self, features: &BTreeSet<String>, spam: bool) {
        if spam {
            self.spam_requests = self.spam_requests.saturating_add(1);
        } else {
            self.ordinary_requests = self.ordinary_requests.saturating_add(1);
        }
        for feature in features {
            let counts = self.features.entry(feature.clone()).or_default();
            if spam {
                counts.0 = counts.0.saturating_add(1);
            } else {
                counts.1 = counts.1.saturating_add(1);
            }
        }
        if self.features.len() > MAX_FEATURES {
            // Forget the features seen least (ties: the last in order).
            let mut by_use: Vec<(u32, String)> = self
                .features
                .iter()
                .map(|(feature, (s, o))| (s.saturating_add(*o), feature.clone()))
                .collect();
            by_use.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            for (_, feature) in by_use.into_iter().take(self.features.len() - MAX_FEATURES) {
                self.features.remove(&feature);
            }
        }
    }

    /// How many decisions it learned from.
    pub fn decisions(&self) -> u32 {
        self.spam_requests.saturating_add(self.ordinary_requests)
    }

    /// Scores one request's features.
    pub fn score(&self, features: &BTreeSet<String>) -> SpamScore {
        let spam = f64::from(self.spam_requests);
        let ordinary = f64::from(self.ordinary_requests);
        // Laplace-smoothed prior and per-feature likelihoods, in log odds.
        let mut log_odds = ((spam + 1.0) / (ordinary + 1.0)).ln();
        let mut weights: Vec<(f64, &str)> = Vec::new();
        for feature in features {
            let (with_spam, with_ordinary) = self.features.get(feature).copied().unwrap_or((0, 0));
            if with_spam == 0 && with_ordinary == 0 {
                continue;
            }
            let p_spam = (f64::from(with_spam) + 1.0) / (spam + 2.0);
            let p_ordinary = (f64::from(with_ordinary) + 1.0) / (ordinary + 2.0);
            let weight = (p_spam / p_ordinary).ln();
            log_odds += weight;
            weights.push((weight, feature));
        }
        weights.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        let reasons = weights
            .iter()
            .filter(|(weight, _)| *weight > 0.0)
            .take(MAX_REASONS)
            .map(|(_, feature)| describe(feature))
            .collect();
        SpamScore {
            score: 1.0 / (1.0 + (-log_odds).exp()),
            reasons,
        }
    }
}

/// A feature in words.
fn describe(feature: &str) -> String {
    match feature {
        "s:link" => "has a link".to_owned(),
        "s:money" => "mentions money".to_owned(),
        "s:shouting" => "mostly capitals".to_owned(),
        "s:no-picture" => "no picture".to_owned(),
        "s:no-name" => "no name".to_owned(),
        "s:no-shared-group" => "no group in common".to_owned(),
        other => format!("says \u{201c}{}\u{201d}", other.strip_prefix("w:").unwrap_or(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_move_the_score_and_say_why() {
        let friend = SenderSignals {
            has_picture: true,
            has_name: true,
            shared_groups: 1,
        };
        let stranger = SenderSignals::default();
        let mut model = SpamModel::default();
        let fresh = model.score(&request_features("hi", friend));
        assert!((fresh.score - 0.5).abs() < 1e-9, "no decision yet: {fresh:?}");
        model.learn(
            &request_features("WIN FREE CRYPTO NOW at https://x.example", stranger),
            true,
        );
        model.learn(&request_features("hey, it's Sam from climbing", friend), false);
        let spammy = model.score(&request_features("free crypto for you https://y.example", stranger));
        let ordinary = model.score(&request_features("hey, Sam here again", friend));
        assert!(spammy.score > 0.5 && ordinary.score < 0.5, "{spammy:?} {ordinary:?}");
        assert!(spammy.reasons.iter().any(|r| r == "has a link"), "{:?}", spammy.reasons);
        assert!(spammy.reasons.len() <= MAX_REASONS);
    }

    #[test]
    fn the_model_stays_bounded() {
        let mut model = SpamModel::default();
        for i in 0..(MAX_FEATURES + 100) {
            model.learn(&BTreeSet::from([format!("w:{i}")]), i % 2 == 0);
        }
        assert_eq!(model.features.len(), MAX_FEATURES);
        assert_eq!(model.decisions() as usize, MAX_FEATURES + 100);
    }
}
