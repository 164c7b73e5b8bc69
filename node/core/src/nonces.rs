//! Request nonces seen within the replay window, in memory (persisted through the journal).
//!
//! A request is refused unless its issued-at is within the clock skew of now, so a nonce
//! older than twice the skew can never be replayed and need not be remembered. The cache
//! forgets by time: at most every quarter window it drops what has left the window (and the
//! store forgets the same nonces through the journal), and it gives back map capacity once a
//! burst has passed, so its memory follows the request rate of the last window instead of
//! the node's uptime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::{Store, StoreError};

/// A request nonce seen before.
#[derive(Debug, thiserror::Error)]
#[error("nonce was already used (replay)")]
pub struct Replay;

impl crate::node::Node {
    /// Records a request nonce of `key_id` issued at `issued_at_ms` (see
    /// [`NonceCache::check_and_insert`]): `Err(Replay)` when it was seen within the window;
    /// otherwise the nonces that left the window, for the journal to forget.
    pub fn check_nonce(
        &self,
        key_id: &str,
        nonce: &Nonce,
        issued_at_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<(String, String, i64)>, Replay> {
        self.nonces()
            .check_and_insert(key_id, nonce, issued_at_ms, now_ms)
    }
}

/// Nonces seen within the replay window: key id → 128-bit nonce → issued-at ms.
///
/// A node answering 1,000 requests a second holds 120,000 nonces at the default skew, so the
/// entry is kept small: the nonce as its 16 bytes (24 bytes with the time, where a pair of
/// strings took about 200), grouped under the few key ids that sign requests.
pub struct NonceCache {
    window_ms: i64,
    seen: Mutex<Seen>,
}

/// A request nonce: 128 bits, as the envelope carries it.
pub type Nonce = [u8; 16];

struct Seen {
    by_key: HashMap<String, HashMap<Nonce, i64>>,
    /// When expired nonces were last dropped.
    swept_ms: i64,
}

impl NonceCache {
    /// An empty cache for a clock skew of `skew` (the window is twice the skew), at `now_ms`.
    pub fn new(skew: Duration, now_ms: i64) -> NonceCache {
        NonceCache {
            window_ms: window_ms(skew),
            seen: Mutex::new(Seen {
                by_key: HashMap::new(),
                swept_ms: now_ms,
            }),
        }
    }

    /// Loads the nonces still inside the window at `now_ms` from the store.
    pub fn load(store: &Store, skew: Duration, now_ms: i64) -> Result<NonceCache, StoreError> {
        let cache = NonceCache::new(skew, now_ms);
        let now = now_ms;
        let mut seen = cache.lock();
        for (key_id, nonce_hex, at) in store.nonces()? {
            // Only 16-byte nonces are ever accepted, so nothing else can be replayed.
            let Some(nonce) = decode_nonce(&nonce_hex) else {
                continue;
            };
            if now - at <= cache.window_ms {
                seen.by_key.entry(key_id).or_default().insert(nonce, at);
            }
        }
        drop(seen);
        Ok(cache)
    }

    /// Records a nonce; `Err(Replay)` when it was seen. Returns the nonces that left the
    /// window since the last sweep, as (key id, nonce hex, issued-at ms), for the store to forget.
    pub fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &Nonce,
        issued_at_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<(String, String, i64)>, Replay> {
        let mut seen = self.lock();
        let seen = &mut *seen;
        let nonces = match seen.by_key.get_mut(key_id) {
            Some(nonces) => nonces,
            None => seen.by_key.entry(key_id.to_string()).or_default(),
        };
        if nonces.contains_key(nonce) {
            return Err(Replay);
        }
        nonces.insert(*nonce, issued_at_ms);
        let mut forget = Vec::new();
        if now_ms - seen.swept_ms >= self.window_ms / 4 {
            seen.swept_ms = now_ms;
            let window = self.window_ms;
            seen.by_key.retain(|key_id, nonces| {
                nonces.retain(|nonce, at| {
                    let keep = now_ms - *at <= window;
                    if !keep {
                        forget.push((key_id.clone(), hex::encode(nonce), *at));
                    }
                    keep
                });
                // A burst leaves a large table behind; give the memory back once it is
                // mostly empty (keeping room to double, so a steady rate does not
                // reallocate).
                let held = nonces.len();
                if nonces.capacity() > 4 * held.max(256) {
                    nonces.shrink_to(2 * held);
                }
                held > 0
            });
        }
        Ok(forget)
    }

    /// Nonces held now.
    pub fn len(&self) -> usize {
        // Few key ids sign requests, so summing their maps is cheap.
        self.lock().by_key.values().map(HashMap::len).sum()
    }

    /// Whether no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn window_ms(skew: Duration) -> i64 {
    2 * skew.as_millis() as i64
}

fn decode_nonce(hex_text: &str) -> Option<Nonce> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    const SKEW: Duration = Duration::from_secs(60);
    const WINDOW_MS: i64 = 120_000;

    /// The nonce numbered `n`.
    fn n(n: u128) -> Nonce {
        n.to_be_bytes()
    }

    #[test]
    fn a_nonce_is_accepted_once() {
        let now = Utc::now().timestamp_millis();
        let cache = NonceCache::new(SKEW, now);
        assert!(cache.check_and_insert("k1", &n(0xaa), now, now).is_ok());
        assert!(
            cache
                .check_and_insert("k1", &n(0xaa), now, now + 1)
                .is_err()
        );
        // The same nonce under another key is another nonce.
        assert!(cache.check_and_insert("k2", &n(0xaa), now, now + 2).is_ok());
    }

    #[test]
    fn nonces_expire_with_the_window_not_with_a_count() {
        let start = Utc::now().timestamp_millis();
        let cache = NonceCache::new(SKEW, start);
        // A slow trickle: 1,000 nonces over the first window (far fewer than any size trigger).
        for i in 0..1000i64 {
            let at = start + i * (WINDOW_MS / 1000);
            cache.check_and_insert("k1", &n(i as u128), at, at).unwrap();
        }
        // Three windows later only the newest nonce is held, and every older one is
        // handed to the store to forget.
        let later = start + 3 * WINDOW_MS;
        let forget = cache
            .check_and_insert("k1", &n(u128::MAX), later, later)
            .unwrap();
        assert_eq!(forget.len(), 1000);
        // As the store keeps them: key id and the nonce in lowercase hex.
        let last_at = start + 999 * (WINDOW_MS / 1000);
        assert!(forget.contains(&("k1".to_string(), format!("{:032x}", 999), last_at)));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn memory_follows_the_rate_of_the_last_window() {
        let start = Utc::now().timestamp_millis();
        let cache = NonceCache::new(SKEW, start);
        // A burst of 50,000 requests in one second ...
        for i in 0..50_000i64 {
            let at = start + i / 50;
            cache.check_and_insert("k1", &n(i as u128), at, at).unwrap();
        }
        assert_eq!(cache.len(), 50_000);
        // ... then one request a second for ten minutes.
        for s in 1..=600i64 {
            let at = start + s * 1000;
            cache
                .check_and_insert("k1", &n(1_000_000 + s as u128), at, at)
                .unwrap();
        }
        let held = cache.len() as i64;
        assert!(
            held <= WINDOW_MS / 1000 * 5 / 4 + 1,
            "{held} nonces held at one request a second"
        );
        let capacity: usize = cache.lock().by_key.values().map(HashMap::capacity).sum();
        assert!(
            capacity < 4096,
            "capacity {capacity} after the burst passed"
        );
    }

    #[test]
    fn a_nonce_inside_the_window_survives_a_sweep() {
        let start = Utc::now().timestamp_millis();
        let cache = NonceCache::new(SKEW, start);
        cache.check_and_insert("k1", &n(1), start, start).unwrap();
        let later = start + WINDOW_MS / 2;
        assert!(
            cache
                .check_and_insert("k1", &n(2), later, later)
                .unwrap()
                .is_empty()
        );
        assert!(
            cache
                .check_and_insert("k1", &n(1), start, later + 1)
                .is_err()
        );
    }
}
