//! Failed token requests per source address, and the cool-down they earn (no IO, no clock:
//! `now` is passed in).
//!
//! A source that fails `limit` token requests within [`WINDOW`] gets 429 for [`COOL_DOWN`],
//! before any body is read or any hash computed. A source is an IPv4 address, or the /64 an
//! IPv6 address is in (one host usually holds a whole /64). Other sources are not affected,
//! whatever one source does. At most [`MAX_SOURCES`] are tracked; the oldest tracked is
//! forgotten first, so memory stays bounded however many addresses an attacker has (with more
//! than that, per-source counting cannot hold anyone back, and the token endpoint's cheap
//! keyed check is what keeps the node well).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long a source that reached the limit is refused.
pub const COOL_DOWN: Duration = Duration::from_secs(300);
/// Most sources tracked at once.
pub const MAX_SOURCES: usize = 10_000;

/// Where token requests come from: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(_) => Source(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Source(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct State {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

#[derive(Default)]
struct Sources {
    by_source: HashMap<Source, State>,
    /// Sources in the order first tracked; every one is in `by_source`.
    order: VecDeque<Source>,
}

/// Failure counts per source.
pub struct Throttle {
    limit: u32,
    inner: Mutex<Sources>,
}

impl Throttle {
    /// A throttle refusing a source after `limit` failures within [`WINDOW`] (at least one).
    pub fn new(limit: u32) -> Throttle {
        Throttle {
            limit: limit.max(1),
            inner: Mutex::new(Sources::default()),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// `Err(how long until it may try again)` while `source` is cooling down.
    pub fn check(&self, source: Source, now: Instant) -> Result<(), Duration> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.by_source.get(&source).and_then(|s| s.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed request from `source`; true when it starts the source's cool-down.
    pub fn fail(&self, source: Source, now: Instant) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let inner = &mut *inner;
        if !inner.by_source.contains_key(&source) {
            while inner.by_source.len() >= MAX_SOURCES {
                let Some(oldest) = inner.order.pop_front() else {
                    break;
                };
                inner.by_source.remove(&oldest);
            }
            inner.order.push_back(source);
        }
        let state = inner.by_source.entry(source).or_insert(State {
            window_start: now,
            failures: 0,
            blocked_until: None,
        });
        match state.blocked_until {
            // A request admitted before the cool-down began, failing after: already counted.
            Some(until) if until > now => return false,
            Some(_) => *state = fresh(now),
            None if now.saturating_duration_since(state.window_start) >= WINDOW => {
                *state = fresh(now);
            }
            None => {}
        }
        state.failures += 1;
        if state.failures >= self.limit {
            state.blocked_until = Some(now + COOL_DOWN);
            return true;
        }
        false
    }

    /// How many sources are tracked.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.by_source.len()
    }
}

fn fresh(now: Instant) -> State {
    State {
        window_start: now,
        failures: 0,
        blocked_until: None,
    }
}
