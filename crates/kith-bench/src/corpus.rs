//! Deterministic text: a small made-up vocabulary with Zipf-like word
//! frequencies (a few words very common, most rare), message texts drawn from
//! it, and a search query mix.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeSet;

const ONSETS: &[&str] = &[
    "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "tr",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u"];

/// What a search query is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QueryKind {
    /// One of the most frequent words.
    Common,
    /// A word from the rare half of the vocabulary.
    Rare,
    /// The first two or three letters of a word, as typed while searching.
    Prefix,
    /// Two words.
    TwoWords,
}

impl QueryKind {
    /// Short name for notes.
    pub fn name(self) -> &'static str {
        match self {
            QueryKind::Common => "common",
            QueryKind::Rare => "rare",
            QueryKind::Prefix => "prefix",
            QueryKind::TwoWords => "two words",
        }
    }
}

/// One search query.
#[derive(Clone, Debug)]
pub struct Query {
    /// What it is made of.
    pub kind: QueryKind,
    /// What the user typed.
    pub text: String,
}

/// Words ranked by frequency, with a sampler.
#[derive(Clone, Debug)]
pub struct Vocabulary {
    words: Vec<String>,
    /// Cumulative Zipf weights (exponent 1), normalised to end at 1.
    cumulative: Vec<f64>,
}

impl Vocabulary {
    /// `size` distinct words of two or three syllables; rank 0 is the most frequent.
    pub fn new(size: usize, rng: &mut ChaCha20Rng) -> Vocabulary {
        let mut seen = BTreeSet::new();
        let mut words = Vec::with_capacity(size);
        while words.len() < size {
            let syllables = rng.gen_range(2..=3);
            let word: String = (0..syllables)
                .map(|_| format!("{}{}", pick(ONSETS, rng), pick(VOWELS, rng)))
                .collect();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut total = 0.0;
        let mut cumulative: Vec<f64> = (1..=size)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        for c in &mut cumulative {
            *c /= total;
        }
        Vocabulary { words, cumulative }
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// The word of a frequency rank (0 = most common).
    pub fn word(&self, rank: usize) -> &str {
        &self.words[rank.min(self.words.len() - 1)]
    }

    /// One word, drawn with Zipf frequencies.
    pub fn sample(&self, rng: &mut ChaCha20Rng) -> &str {
        let x: f64 = rng.r#gen();
        let rank = self.cumulative.partition_point(|c| *c < x);
        self.word(rank)
    }

    /// A message of `words` words.
    pub fn sentence(&self, words: usize, rng: &mut ChaCha20Rng) -> String {
        let mut text = String::new();
        for i in 0..words {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(self.sample(rng));
        }
        text
    }

    /// A message of about `bytes` bytes (whole words, ending at or a little past it).
    pub fn text_of_about(&self, bytes: usize, rng: &mut ChaCha20Rng) -> String {
        let mut text = String::with_capacity(bytes + 16);
        while text.len() + 4 < bytes {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(self.sample(rng));
        }
        text
    }

    /// About 100 search queries: common words, rare words, short prefixes (as
    /// typed while searching) and two-word queries.
    pub fn queries(&self, rng: &mut ChaCha20Rng) -> Vec<Query> {
        let n = self.len();
        let mut queries = Vec::new();
        let mut push = |kind, text: String| queries.push(Query { kind, text });
        // 30 of the 15 most common words (each twice: they are the slow case).
        for i in 0..30 {
            push(QueryKind::Common, self.word(i % 15).to_owned());
        }
        // 25 rare words from the bottom half.
        for _ in 0..25 {
            push(QueryKind::Rare, self.word(rng.gen_range(n / 2..n)).to_owned());
        }
        // 20 prefixes of two or three letters of random words.
        for i in 0..20 {
            let word = self.word(rng.gen_range(0..n));
            let len = if i % 2 == 0 { 2 } else { 3 };
            push(QueryKind::Prefix, word.chars().take(len).collect());
        }
        // 25 two-word queries: common + rare, common + common, mid + mid.
        for i in 0..25 {
            let (a, b) = match i % 3 {
                0 => (rng.gen_range(0..10), rng.gen_range(n / 2..n)),
                1 => (rng.gen_range(0..10), rng.gen_range(0..10)),
                _ => (rng.gen_range(10..n / 4), rng.gen_range(10..n / 4)),
            };
            push(QueryKind::TwoWords, format!("{} {}", self.word(a), self.word(b)));
        }
        queries.shuffle(rng);
        queries
    }
}

fn pick<'a>(items: &[&'a str], rng: &mut ChaCha20Rng) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

#[cfg(test)]
mod tests {
    use super::Vocabulary;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn deterministic_and_zipf_like() {
        let vocab = Vocabulary::new(400, &mut ChaCha20Rng::seed_from_u64(1));
        let again = Vocabulary::new(400, &mut ChaCha20Rng::seed_from_u64(1));
        assert_eq!(vocab.word(7), again.word(7));
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut top = 0;
        let mut bottom = 0;
        for _ in 0..10_000 {
            let w = vocab.sample(&mut rng);
            if w == vocab.word(0) {
                top += 1;
            }
            if w == vocab.word(399) {
                bottom += 1;
            }
        }
        assert!(top > 50 * bottom.max(1) / 2, "top {top} bottom {bottom}");
        let text = vocab.text_of_about(80, &mut rng);
        assert!((70..=90).contains(&text.len()), "{}", text.len());
        assert_eq!(vocab.queries(&mut rng).len(), 100);
    }
}
