//! The spam score on a fixed, committed example set
//! (`tests/data/requests.json`): after the user ignored a few spam-like
//! requests and accepted a few ordinary ones, every other spam-like request
//! scores above every other ordinary one, and before any decision nothing
//! is ranked at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kith_client::{SenderSignals, SpamModel, request_features};
use serde_json::Value;
use std::collections::BTreeSet;

fn features(example: &Value) -> BTreeSet<String> {
    request_features(
        example["text"].as_str().unwrap(),
        SenderSignals {
            has_picture: example["picture"].as_bool().unwrap(),
            has_name: example["name"].as_bool().unwrap(),
            shared_groups: example["groups"].as_u64().unwrap() as usize,
        },
    )
}

#[test]
fn after_a_few_decisions_spam_like_requests_rank_above_ordinary_ones() {
    let set: Value = serde_json::from_str(include_str!("data/requests.json")).unwrap();
    let train = set["train"].as_u64().unwrap() as usize;
    let spam = set["spam"].as_array().unwrap();
    let ordinary = set["ordinary"].as_array().unwrap();
    let mut model = SpamModel::default();
    let untrained = model.score(&features(&spam[train])).score;
    assert!((untrained - 0.5).abs() < 1e-9, "no opinion before any decision");
    for example in &spam[..train] {
        model.learn(&features(example), true);
    }
    for example in &ordinary[..train] {
        model.learn(&features(example), false);
    }
    let lowest_spam = spam[train..]
        .iter()
        .map(|e| (model.score(&features(e)).score, e["text"].clone()))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    let highest_ordinary = ordinary[train..]
        .iter()
        .map(|e| (model.score(&features(e)).score, e["text"].clone()))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    assert!(
        lowest_spam.0 > highest_ordinary.0,
        "least spam-like spam {lowest_spam:?} must rank above the most spam-like ordinary request {highest_ordinary:?}"
    );
    assert!(
        lowest_spam.0 > 0.5 && highest_ordinary.0 < 0.5,
        "{lowest_spam:?} {highest_ordinary:?}"
    );
    // The reasons name what weighed.
    let explained = model.score(&features(&spam[train + 1]));
    assert!(!explained.reasons.is_empty(), "{explained:?}");
}
