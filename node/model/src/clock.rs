//! The node's clock for expiries (access tokens, directory caches): the system clock plus an
//! offset that only moves forward. Tests advance it instead of sleeping for an expiry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// System time plus a forward offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicU64,
}

impl Clock {
    /// Unix time in milliseconds.
    pub fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.offset().as_millis() as i64
    }

    /// A monotonic instant.
    pub fn instant(&self) -> Instant {
        Instant::now() + self.offset()
    }

    /// Moves the clock forward by `by` (for tests: whatever expires within `by` has expired).
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_both_readings_forward() {
        let clock = Clock::default();
        let (ms, at) = (clock.now_ms(), clock.instant());
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now_ms() - ms >= 3_600_000);
        assert!(clock.instant() - at >= Duration::from_secs(3600));
    }
}
