//! The one retry schedule of the code base: a first wait doubling up to a cap, optionally
//! with ±20 % jitter so peers that failed together do not retry together. The outbox worker
//! (by an item's stored attempt count), the relay keeper, the directory and relay status
//! watches and the accept loops all retry through it. No IO but the randomness of the jitter.

use std::time::Duration;

/// A retry schedule: `first`, doubling per attempt, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// ±20 % on every wait.
    pub jitter: bool,
}

impl Backoff {
    /// Without jitter.
    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            jitter: false,
        }
    }

    /// The same schedule with ±20 % jitter.
    pub const fn jittered(self) -> Backoff {
        Backoff {
            jitter: true,
            ..self
        }
    }

    /// The wait after `failures` failed attempts (1: after the first failure).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let base = self.first.saturating_mul(1 << doublings).min(self.max);
        if !self.jitter {
            return base;
        }
        let mut b = [0u8; 2];
        let _ = getrandom::fill(&mut b);
        // 0.8..=1.2 of the base.
        let per_mille = 800 + u32::from(u16::from_le_bytes(b)) % 401;
        base.saturating_mul(per_mille) / 1000
    }

    /// A running schedule for a loop that retries.
    pub fn start(self) -> Retries {
        Retries {
            backoff: self,
            failures: 0,
        }
    }
}

/// A [`Backoff`] in use: each [`Retries::wait`] is longer, until [`Retries::reset`].
#[derive(Debug, Clone)]
pub struct Retries {
    backoff: Backoff,
    failures: u32,
}

impl Retries {
    /// The wait before the next attempt (counts one more failure).
    pub fn wait(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.backoff.delay(self.failures)
    }

    /// After a success: the next wait is the first again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_starts_over_after_a_reset() {
        let b = Backoff::new(Duration::from_millis(500), Duration::from_secs(3));
        let mut r = b.start();
        let waits: Vec<u64> = (0..5).map(|_| r.wait().as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 3000, 3000]);
        r.reset();
        assert_eq!(r.wait(), Duration::from_millis(500));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(3), "no overflow");
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        let b = Backoff::new(Duration::from_secs(10), Duration::from_secs(10)).jittered();
        for _ in 0..1000 {
            let d = b.delay(1);
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }
}
