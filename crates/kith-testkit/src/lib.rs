//! Throwaway services for Kith's tests: a PostgreSQL cluster and a NATS
//! server, each started from the Debian packages `cargo xtask setup`
//! installs, on a free port of 127.0.0.1, in a temporary directory, and
//! killed when dropped. No test depends on anything started by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod nats;
pub mod postgres;
pub mod smtp;
pub mod video;

pub use nats::Nats;
pub use postgres::Postgres;
pub use smtp::SmtpSink;

/// The committed example conversations for suggested replies
/// (`data/reply-examples.txt`): (friend's message, the user's reply) pairs.
pub struct ReplyExamples {
    /// Written into a profile first.
    pub history: Vec<(String, String)>,
    /// Asked about afterwards: is the reply the user sent among the suggestions?
    pub held_out: Vec<(String, String)>,
}

/// Parses `data/reply-examples.txt`.
pub fn reply_examples() -> ReplyExamples {
    let text = include_str!("../data/reply-examples.txt");
    let mut examples = ReplyExamples {
        history: Vec::new(),
        held_out: Vec::new(),
    };
    let mut held_out = false;
    let mut prompt: Option<String> = None;
    for line in text.lines() {
        match line {
            "[history]" => held_out = false,
            "[held-out]" => held_out = true,
            _ => {
                if let Some(rest) = line.strip_prefix("> ") {
                    prompt = Some(rest.to_owned());
                } else if let (Some(reply), Some(asked)) = (line.strip_prefix("< "), prompt.take()) {
                    let list = if held_out {
                        &mut examples.held_out
                    } else {
                        &mut examples.history
                    };
                    list.push((asked, reply.to_owned()));
                }
            }
        }
    }
    examples
}
