//! What a command did, as data: what to print (as JSON and as text) and
//! whether it wrote to the profile. One place prints it and compacts
//! (`cli::run`), so no command can forget either.

use serde::Serialize;
use serde_json::json;

/// The result of one command.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Print `json` with `--json`, otherwise `text`.
    Show {
        /// One JSON value, already serialised (struct fields keep their order).
        json: String,
        /// The human-readable form.
        text: String,
        /// The command wrote to the profile: compact afterwards.
        wrote: bool,
    },
    /// The command printed as it went (long-running: sync, watch, link).
    Printed,
}

impl Outcome {
    /// `value` as JSON, `text` for people; nothing written.
    pub(crate) fn show(value: &impl Serialize, text: impl Into<String>) -> anyhow::Result<Outcome> {
        Ok(Outcome::Show {
            json: serde_json::to_string(value)?,
            text: text.into(),
            wrote: false,
        })
    }

    /// `{"ok": true}` as JSON, `text` for people; nothing written.
    pub(crate) fn ok(text: impl Into<String>) -> anyhow::Result<Outcome> {
        Outcome::show(&json!({"ok": true}), text)
    }

    /// The same outcome, for a command that wrote to the profile.
    pub(crate) fn wrote(self) -> Outcome {
        match self {
            Outcome::Show { json, text, .. } => Outcome::Show {
                json,
                text,
                wrote: true,
            },
            Outcome::Printed => Outcome::Printed,
        }
    }
}
