//! How big each benchmark is: the full run and the quick (CI) run.

use std::time::Duration;

/// Sizes of every benchmark in one run.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// "full" or "quick", for the header.
    pub name: &'static str,
    /// Untimed sends before the timed ones.
    pub send_warmup: usize,
    /// Timed sends (and raw baseline commits).
    pub sends: usize,
    /// Messages already in the segment for the busy-segment sends.
    pub busy_prefill: usize,
    /// Timed sends into the busy segment.
    pub busy_sends: usize,
    /// Messages delivered to the second device in the ingest benchmark.
    pub ingest_messages: usize,
    /// Messages each device writes offline before converging.
    pub converge_per_side: usize,
    /// Messages stored in the chat that is opened.
    pub open_messages: usize,
    /// Timed opens of the last 50 messages.
    pub open_runs: usize,
    /// Messages in the search corpus.
    pub search_messages: usize,
    /// Messages in the history suggested replies are drawn from.
    pub suggest_messages: usize,
    /// Conversations the search corpus is spread over (the cold-open chat list).
    pub search_chats: usize,
    /// How often the query set is repeated.
    pub search_rounds: usize,
    /// Timed cold opens.
    pub cold_open_runs: usize,
    /// Untimed send -> shown rounds through the server before the timed ones.
    pub relay_warmup: usize,
    /// Timed send -> shown rounds through the server.
    pub relay_rounds: usize,
    /// Messages each device writes offline before converging through the server.
    pub relay_converge_per_side: usize,
    /// Sends in the relay burst (then pulled by a new device).
    pub relay_burst_sends: usize,
    /// Idle authenticated connections held against the server.
    pub idle_connections: usize,
    /// Sender/receiver pairs in the server's live load.
    pub load_pairs: usize,
    /// Messages each sender of the live load sends.
    pub load_messages: usize,
    /// Sends in the scale benchmark's burst.
    pub burst_sends: usize,
    /// Slowloris sockets in the abuse mix.
    pub abuse_slowloris: usize,
    /// Messages stored in the profile the desktop app starts on.
    pub desktop_messages: usize,
    /// Timed starts of the desktop app per profile.
    pub desktop_runs: usize,
    /// The watchdog ends a run that takes longer than this (a hang).
    pub time_limit: Duration,
}

impl Sizes {
    /// The full run (DESIGN.md §8 sizes).
    pub fn full() -> Sizes {
        Sizes {
            name: "full",
            send_warmup: 50,
            sends: 2_000,
            busy_prefill: 10_000,
            busy_sends: 200,
            ingest_messages: 10_000,
            converge_per_side: 10_000,
            open_messages: 100_000,
            open_runs: 200,
            search_messages: 1_000_000,
            suggest_messages: 100_000,
            search_chats: 50,
            search_rounds: 1,
            cold_open_runs: 5,
            relay_warmup: 10,
            relay_rounds: 200,
            relay_converge_per_side: 10_000,
            relay_burst_sends: 10_000,
            idle_connections: 50_000,
            load_pairs: 50,
            load_messages: 1_000,
            burst_sends: 10_000,
            abuse_slowloris: 400,
            desktop_messages: 100_000,
            desktop_runs: 5,
            time_limit: Duration::from_secs(3_600),
        }
    }

    /// A smaller version of every benchmark, for CI.
    pub fn quick() -> Sizes {
        Sizes {
            name: "quick",
            send_warmup: 50,
            sends: 300,
            busy_prefill: 2_000,
            busy_sends: 100,
            ingest_messages: 2_000,
            converge_per_side: 1_000,
            open_messages: 10_000,
            open_runs: 200,
            search_messages: 100_000,
            suggest_messages: 20_000,
            search_chats: 50,
            search_rounds: 1,
            cold_open_runs: 5,
            relay_warmup: 5,
            relay_rounds: 30,
            relay_converge_per_side: 500,
            relay_burst_sends: 1_000,
            idle_connections: 2_000,
            load_pairs: 20,
            load_messages: 300,
            burst_sends: 2_000,
            abuse_slowloris: 50,
            desktop_messages: 100_000,
            desktop_runs: 2,
            time_limit: Duration::from_secs(300),
        }
    }
}

/// Rows per write transaction when filling read models directly.
pub const BULK_BATCH: usize = 10_000;
