//! Per-node quotas a host sets on each of its tenants (a standalone node has none): peer
//! requests per second, bytes of store, and deliveries waiting in the outbox. Each is checked
//! where the thing it limits grows, before anything is written, so a tenant over its quota
//! gets a clear error and the host's other tenants are not starved.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The limits of one node; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Peer and PACT requests admitted per second (a burst of as many is allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
    /// Bytes the store may occupy on disk before writes that grow it are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_bytes: Option<u64>,
    /// Deliveries that may wait in the outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_depth: Option<u64>,
}

impl Quotas {
    /// No limits (a standalone node).
    pub const NONE: Quotas = Quotas {
        requests_per_second: None,
        store_bytes: None,
        outbox_depth: None,
    };
}

/// A write or request refused by a quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error(
        "store quota exceeded: the store occupies {used} bytes and this node's quota is {limit} bytes; nothing was stored"
    )]
    StoreBytes { used: u64, limit: u64 },
    #[error(
        "outbox quota exceeded: {queued} deliveries are waiting and {adding} more would pass this node's quota of {limit}; nothing was stored"
    )]
    OutboxDepth {
        queued: u64,
        adding: u64,
        limit: u64,
    },
    #[error("request quota exceeded: this node admits {limit} requests per second; retry shortly")]
    Rate { limit: u32 },
}

/// Checks a store of `used` bytes against `quotas`.
pub fn check_store(quotas: &Quotas, used: u64) -> Result<(), QuotaError> {
    match quotas.store_bytes {
        Some(limit) if used >= limit => Err(QuotaError::StoreBytes { used, limit }),
        _ => Ok(()),
    }
}

/// Checks that `adding` more deliveries fit beside `queued`.
pub fn check_outbox(quotas: &Quotas, queued: u64, adding: u64) -> Result<(), QuotaError> {
    match quotas.outbox_depth {
        Some(limit) if adding > 0 && queued.saturating_add(adding) > limit => {
            Err(QuotaError::OutboxDepth {
                queued,
                adding,
                limit,
            })
        }
        _ => Ok(()),
    }
}

/// A token bucket of `rate` requests per second holding at most `rate` tokens. Time is
/// passed in (milliseconds of the node's clock), so tests need not wait.
#[derive(Debug)]
pub struct RateLimiter {
    rate: u32,
    /// (tokens in thousandths, when last refilled in ms).
    state: Mutex<(u64, i64)>,
}

impl RateLimiter {
    pub fn new(rate: u32, now_ms: i64) -> RateLimiter {
        RateLimiter {
            rate,
            state: Mutex::new((u64::from(rate) * 1000, now_ms)),
        }
    }

    /// Takes one token at `now_ms`, or refuses.
    pub fn admit(&self, now_ms: i64) -> Result<(), QuotaError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = *state;
        let elapsed = u64::try_from(now_ms.saturating_sub(last)).unwrap_or(0);
        // `rate` tokens per 1000 ms, counted in thousandths of a token.
        let full = u64::from(self.rate) * 1000;
        let refilled = tokens
            .saturating_add(elapsed.saturating_mul(u64::from(self.rate)))
            .min(full);
        if refilled < 1000 {
            *state = (refilled, now_ms.max(last));
            return Err(QuotaError::Rate { limit: self.rate });
        }
        *state = (refilled - 1000, now_ms.max(last));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_quota_refuses_at_the_limit() {
        let q = Quotas {
            store_bytes: Some(1000),
            ..Quotas::NONE
        };
        assert_eq!(check_store(&q, 999), Ok(()));
        assert_eq!(
            check_store(&q, 1000),
            Err(QuotaError::StoreBytes {
                used: 1000,
                limit: 1000
            })
        );
        assert_eq!(check_store(&Quotas::NONE, u64::MAX), Ok(()));
    }

    #[test]
    fn outbox_quota_counts_what_is_added() {
        let q = Quotas {
            outbox_depth: Some(10),
            ..Quotas::NONE
        };
        assert_eq!(check_outbox(&q, 7, 3), Ok(()));
        assert_eq!(
            check_outbox(&q, 7, 4),
            Err(QuotaError::OutboxDepth {
                queued: 7,
                adding: 4,
                limit: 10
            })
        );
        // Nothing added never fails, even when already over.
        assert_eq!(check_outbox(&q, 20, 0), Ok(()));
    }

    #[test]
    fn rate_limiter_allows_a_burst_then_refills_with_time() {
        let limiter = RateLimiter::new(5, 0);
        for _ in 0..5 {
            limiter.admit(0).unwrap();
        }
        assert_eq!(limiter.admit(0), Err(QuotaError::Rate { limit: 5 }));
        // 200 ms refill one token at 5/s.
        assert_eq!(limiter.admit(199), Err(QuotaError::Rate { limit: 5 }));
        limiter.admit(200).unwrap();
        assert_eq!(limiter.admit(200), Err(QuotaError::Rate { limit: 5 }));
        // A long pause refills at most the burst.
        for _ in 0..5 {
            limiter.admit(60_000).unwrap();
        }
        assert!(limiter.admit(60_000).is_err());
    }
}
