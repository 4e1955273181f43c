//! Counters for `GET /metrics` (Prometheus text format). Only totals: no log
//! ids, device ids or anything else that would link people to logs.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// WebSocket connections accepted.
    pub connections: AtomicU64,
    /// WebSocket connections open now.
    pub connections_open: AtomicI64,
    /// TCP connections closed at once for being over the caps.
    pub connections_refused: AtomicU64,
    /// Connections that authenticated.
    pub authenticated: AtomicU64,
    /// Client frames received (decoded or not).
    pub frames: AtomicU64,
    /// Envelopes newly stored.
    pub envelopes_stored: AtomicU64,
    /// Ciphertext bytes newly stored.
    pub bytes_stored: AtomicU64,
    /// Pull requests answered.
    pub pulls: AtomicU64,
    /// Signals fanned out.
    pub signals: AtomicU64,
    /// Logs deleted.
    pub logs_deleted: AtomicU64,
    /// Blob chunks newly stored (a repeated chunk is not counted).
    pub blob_chunks_stored: AtomicU64,
    /// Blob ciphertext bytes newly stored.
    pub blob_bytes_stored: AtomicU64,
    /// Blob chunks sent to clients.
    pub blob_chunks_served: AtomicU64,
    /// Error frames sent.
    pub errors: AtomicU64,
    /// Frames refused by the rate limit.
    pub rate_limited: AtomicU64,
    /// Answers delayed to keep a device or an address within its serving rate.
    pub paced: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let counters: [(&str, &str, &AtomicU64); 15] = [
            (
                "kith_connections_total",
                "WebSocket connections accepted",
                &self.connections,
            ),
            (
                "kith_authenticated_total",
                "connections that authenticated",
                &self.authenticated,
            ),
            (
                "kith_connections_refused_total",
                "connections closed at once for being over the caps",
                &self.connections_refused,
            ),
            ("kith_frames_total", "client frames received", &self.frames),
            (
                "kith_envelopes_stored_total",
                "envelopes newly stored",
                &self.envelopes_stored,
            ),
            (
                "kith_bytes_stored_total",
                "ciphertext bytes newly stored",
                &self.bytes_stored,
            ),
            ("kith_pulls_total", "pull requests answered", &self.pulls),
            ("kith_signals_total", "ephemeral signals fanned out", &self.signals),
            ("kith_logs_deleted_total", "logs deleted", &self.logs_deleted),
            (
                "kith_blob_chunks_stored_total",
                "blob chunks newly stored",
                &self.blob_chunks_stored,
            ),
            (
                "kith_blob_bytes_stored_total",
                "blob ciphertext bytes newly stored",
                &self.blob_bytes_stored,
            ),
            (
                "kith_blob_chunks_served_total",
                "blob chunks sent to clients",
                &self.blob_chunks_served,
            ),
            ("kith_errors_total", "error frames sent", &self.errors),
            (
                "kith_rate_limited_total",
                "frames refused by the rate limit",
                &self.rate_limited,
            ),
            (
                "kith_paced_total",
                "answers delayed to keep a device or an address within its serving rate",
                &self.paced,
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in counters {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out.push_str(&format!(
            "# HELP kith_connections_open WebSocket connections open now\n# TYPE kith_connections_open gauge\nkith_connections_open {}\n",
            self.connections_open.load(Ordering::Relaxed)
        ));
        out
    }
}
