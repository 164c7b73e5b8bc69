//! The clock every expiry and time-based decision reads (nonce window, envelope skew,
//! refusal intervals, daily caps, outbox retries and give-up, relay and directory freshness,
//! dashboard sessions, audit retention, subscriptions, access tokens): the system clock plus
//! an offset that only moves forward. A node, a directory and a relay each own one; tests
//! advance it instead of sleeping for an expiry. Log lines keep the real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

/// System time plus a forward offset; clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicU64>,
}

impl Clock {
    /// Wall time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::TimeDelta::milliseconds(self.offset_ms.load(Ordering::SeqCst) as i64)
    }

    /// Unix time in milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Wall time as RFC 3339 with milliseconds (how records are stamped).
    pub fn rfc3339(&self) -> String {
        self.now().to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// The UTC day (`YYYY-MM-DD`) daily caps count in.
    pub fn day(&self) -> String {
        self.now().format("%Y-%m-%d").to_string()
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
        clock.clone().advance(Duration::from_secs(3600));
        assert!(clock.now_ms() - ms >= 3_600_000);
        assert!(clock.instant() - at >= Duration::from_secs(3600));
    }
}
