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

#[cfg(test)]
mod tests {
    use super::fts_query;

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
