//! The registry's watchdog on its own connection.
//!
//! fred's `UnresponsiveConfig` closes a connection when the time since its *last* write
//! passes `max_timeout` with no frame back; every write restarts that time, so on a busy
//! connection (a command every few hundred ms) a silent link is never detected. The
//! watchdog measures from the *oldest* command that timed out since the last answer, and
//! asks for a reconnection when that is older than the unresponsive timeout.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// Forces a reconnection when commands have been timing out, with no answer, for the
/// unresponsive timeout; at most once per unresponsive timeout.
pub(crate) struct Watchdog {
    epoch: Instant,
    /// When (ms since `epoch`) the oldest command that timed out since the last answer
    /// was sent; [`NONE`] when none did.
    silent_since: AtomicU64,
    /// When (ms since `epoch`) the last reconnection was forced; [`NONE`] never.
    forced_at: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl Watchdog {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            silent_since: AtomicU64::new(NONE),
            forced_at: AtomicU64::new(NONE),
        }
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(NONE - 1)
    }

    pub(crate) fn answered(&self) {
        self.silent_since.store(NONE, Ordering::Relaxed);
    }

    /// Whether to force a reconnection now.
    pub(crate) fn timed_out(&self, sent_at: Instant, unresponsive: Duration) -> bool {
        let now = self.ms(Instant::now());
        let limit = u64::try_from(unresponsive.as_millis()).unwrap_or(NONE);
        let sent = self.ms(sent_at);
        let since = self.silent_since.fetch_min(sent, Ordering::Relaxed).min(sent);
        if now.saturating_sub(since) < limit {
            return false;
        }
        let forced = self.forced_at.load(Ordering::Relaxed);
        if forced != NONE && now.saturating_sub(forced) < limit {
            return false;
        }
        let won = self
            .forced_at
            .compare_exchange(forced, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        if won {
            self.answered(); // start counting again on the new connection
        }
        won
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_fires_after_the_unresponsive_timeout_of_silence_once() {
        let watchdog = Watchdog::new();
        let limit = Duration::from_secs(1);
        // Commands sent at `ms` after the watchdog's epoch, timed out now (`now_ms`).
        let at = |ms| watchdog.epoch + Duration::from_millis(ms);
        std::thread::sleep(Duration::from_millis(1300));
        // Sent 1.05 s ago, but an answer came since an earlier timeout: silent for 1.05 s.
        assert!(!watchdog.timed_out(at(1000), limit), "0.3 s of silence");
        watchdog.answered();
        assert!(!watchdog.timed_out(at(1200), limit), "0.1 s of silence");
        // The oldest unanswered command counts: one sent at 0.2 s makes 1.1 s of silence.
        assert!(watchdog.timed_out(at(200), limit));
        // At most once per unresponsive timeout.
        assert!(!watchdog.timed_out(at(100), limit));
    }
}
