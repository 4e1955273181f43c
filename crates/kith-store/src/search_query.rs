//! Turning what a person types into a safe FTS5 query.

/// Builds an FTS5 query from free text: every word must match, as a prefix,
/// case- and diacritic-insensitively. Quotes keep FTS5 syntax characters in
/// the input from being interpreted. Returns `None` when there is no word.
pub fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(16)
        .map(|word| format!("\"{}\"*", word.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// Builds an FTS5 query matching any of `terms` (whole words, as the
/// tokenizer folds them); `None` when there is none. Quoted like
/// [`fts_query`], so the terms are only ever text.
pub fn fts_any_query(terms: &[String]) -> Option<String> {
    let quoted: Vec<String> = terms
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    (!quoted.is_empty()).then(|| quoted.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::{fts_any_query, fts_query};

    #[test]
    fn any_word_queries_are_quoted_alternatives() {
        let terms = ["coming".to_owned(), "to\"night".to_owned(), String::new()];
        assert_eq!(fts_any_query(&terms), Some("\"coming\" OR \"to\"\"night\"".into()));
        assert_eq!(fts_any_query(&[]), None);
    }

    #[test]
    fn words_become_quoted_prefix_terms() {
        assert_eq!(fts_query("piran"), Some("\"piran\"*".into()));
        assert_eq!(fts_query("  book  club "), Some("\"book\"* \"club\"*".into()));
        assert_eq!(
            fts_query("NEAR(\"x\" OR y)"),
            Some("\"NEAR\"* \"x\"* \"OR\"* \"y\"*".into())
        );
        assert_eq!(fts_query("!!! ***"), None);
    }
}
