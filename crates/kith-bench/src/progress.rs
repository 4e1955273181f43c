//! Progress lines on stderr, and a watchdog: a benchmark that hangs (a
//! deadlock in the engine, say) ends the run with an error instead of
//! blocking CI forever.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Exit code when the watchdog fires.
const HUNG_EXIT_CODE: i32 = 3;

/// Prints `[elapsed] phase: message` on stderr and remembers the phase.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    phase: Arc<Mutex<String>>,
}

impl Progress {
    /// Starts the clock and a watchdog that exits the process when the
    /// whole run takes longer than `limit`.
    pub fn new(limit: Duration) -> Progress {
        let phase = Arc::new(Mutex::new(String::from("start")));
        let watched = Arc::clone(&phase);
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            let phase = watched.lock().map(|p| p.clone()).unwrap_or_default();
            eprintln!(
                "kith-bench: error: still running after {} s, in phase \"{phase}\" (a hang or deadlock?); giving up",
                limit.as_secs()
            );
            std::process::exit(HUNG_EXIT_CODE);
        });
        Progress {
            start: Instant::now(),
            phase,
        }
    }

    /// One progress line.
    pub fn say(&self, phase: &str, message: &str) {
        if let Ok(mut current) = self.phase.lock() {
            *current = format!("{phase}: {message}");
        }
        let memory = match (crate::machine::rss_mib(), crate::machine::peak_rss_mib()) {
            (Some(rss), Some(peak)) => format!(" rss {rss:.0}/{peak:.0} MiB"),
            _ => String::new(),
        };
        eprintln!(
            "[{:>7.1}s{memory}] {phase}: {message}",
            self.start.elapsed().as_secs_f64()
        );
    }
}
