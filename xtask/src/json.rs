//! Picking one string field out of a command's `--json` output.

use anyhow::{Result, bail};
use serde_json::{Deserializer, Value};

/// The string value of the first `key` found, depth first, in the JSON
/// value(s) of `output` (one document or several, e.g. JSON lines).
pub fn find_string(output: &str, key: &str) -> Result<String> {
    for value in Deserializer::from_str(output).into_iter::<Value>() {
        let Ok(value) = value else { break };
        if let Some(found) = find_in(&value, key) {
            return Ok(found.to_owned());
        }
    }
    bail!("no string field {key:?} in this JSON output:\n{}", output.trim());
}

/// Depth-first search for `key` with a string value.
fn find_in<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    match value {
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_str)
            .or_else(|| map.values().find_map(|child| find_in(child, key))),
        Value::Array(items) => items.iter().find_map(|item| find_in(item, key)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_top_level_and_nested_keys() -> Result<()> {
        assert_eq!(find_string(r#"{"chat_id":"c1","name":"x"}"#, "chat_id")?, "c1");
        assert_eq!(
            find_string(r#"{"ok":true,"message":{"message_id":"m\"2"}}"#, "message_id")?,
            "m\"2"
        );
        assert_eq!(find_string("{\"a\":1}\n{\"chat_id\":\"c3\"}\n", "chat_id")?, "c3");
        assert!(find_string(r#"{"chat_id":7}"#, "chat_id").is_err());
        assert!(find_string("not json", "chat_id").is_err());
        Ok(())
    }
}
