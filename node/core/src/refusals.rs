//! Refused envelopes, summarised: a stranger cannot grow the audit log faster than a bounded
//! rate, whatever it sends.
//!
//! An envelope that fails authentication is, by definition, from nobody in particular: its
//! claimed caller, key id and audience are unproven bytes. Auditing each one in full let a
//! flood of made-up envelopes fill the disk. Here refusals are keyed by source (the peer's
//! IPv4 address, or its IPv6 /64, since one host holds a whole /64) and reason. The first
//! [`FULL_PER_INTERVAL`] refusals of a (source, reason) pair in an interval are audited at
//! once, so an operator sees an attack begin (and a partner's few failed attempts in full);
//! the rest of that interval is only counted, and one summary entry with the count is written
//! when the interval ends ([`Refusals::due`], called by the flush task of `server::run` and at
//! shutdown). At most [`MAX_SOURCES`] pairs are tracked; past that, refusals fold into one
//! "other sources" pair per reason. So the log grows by at most
//! `(FULL_PER_INTERVAL + 1) × (MAX_SOURCES + 1)` entries per reason per interval, each of
//! bounded size (every claimed field is cut to [`MAX_CLAIMED_CHARS`] before it is stored,
//! logged or echoed).
//!
//! No IO and no clock here: the caller passes `now`.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Refusals of one (source, reason) pair audited in full per interval; the rest are counted.
pub const FULL_PER_INTERVAL: u32 = 3;

/// Most (source, reason) pairs tracked in one interval.
pub const MAX_SOURCES: usize = 1024;

/// Most characters of a claimed (unauthenticated) field kept in an audit entry, a log line or
/// an error message.
pub const MAX_CLAIMED_CHARS: usize = 96;

/// How long one summary interval lasts by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// An unauthenticated field (caller, key id, audience, method), cut to
/// [`MAX_CLAIMED_CHARS`] characters with control characters replaced, and its full length
/// said when it was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed(String);

impl Claimed {
    pub fn new(text: &str) -> Claimed {
        let mut out = String::with_capacity(text.len().min(MAX_CLAIMED_CHARS + 32));
        for (n, c) in text.chars().enumerate() {
            if n == MAX_CLAIMED_CHARS {
                out.push_str(&format!("… ({} bytes in all)", text.len()));
                return Claimed(out);
            }
            out.push(if c.is_control() { '\u{fffd}' } else { c });
        }
        Claimed(out)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Claimed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where refused envelopes come from: one address, or one IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6Net([u8; 8]),
    /// No address known (a relayed connection, or an in-process caller).
    Unknown,
    /// Any source past [`MAX_SOURCES`] in one interval.
    Other,
}

impl Source {
    pub fn of(addr: Option<SocketAddr>) -> Source {
        match addr.map(|a| a.ip()) {
            Some(IpAddr::V4(v4)) => Source::V4(v4.octets()),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let mut net = [0u8; 8];
                    net.copy_from_slice(&v6.octets()[..8]);
                    Source::V6Net(net)
                }
            },
            None => Source::Unknown,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::V4(o) => write!(f, "{}.{}.{}.{}", o[0], o[1], o[2], o[3]),
            Source::V6Net(n) => {
                for pair in n.chunks(2) {
                    write!(f, "{:x}:", u16::from_be_bytes([pair[0], pair[1]]))?;
                }
                f.write_str(":/64")
            }
            Source::Unknown => f.write_str("unknown source"),
            Source::Other => f.write_str("other sources"),
        }
    }
}

/// What to audit for one refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// One of the first [`FULL_PER_INTERVAL`] of its (source, reason) in this interval:
    /// audit it in full.
    Audit,
    /// Counted into the interval's summary; nothing written now.
    Counted,
}

/// A summary entry due: `count` refusals beyond the first, from `source` for `reason`,
/// between `since` and the end of its interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub source: Source,
    pub reason: &'static str,
    pub method: &'static str,
    pub count: u64,
    /// How long the interval ran, for the entry's text.
    pub over: Duration,
}

#[derive(Debug)]
struct Slot {
    started: Instant,
    /// Refusals of this interval audited in full.
    full: u32,
    /// Refusals after the first one of this interval.
    suppressed: u64,
    /// The method of the last refusal counted (for the summary's method field).
    method: &'static str,
}

/// The per-node refusal tracker; cheap to share (a lock around a small map).
#[derive(Debug)]
pub struct Refusals {
    interval: Duration,
    slots: Mutex<HashMap<(Source, &'static str), Slot>>,
}

impl Default for Refusals {
    fn default() -> Self {
        Refusals::new(DEFAULT_INTERVAL)
    }
}

impl Refusals {
    pub fn new(interval: Duration) -> Refusals {
        Refusals {
            interval,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Notes one refusal of `reason` (a fixed name per kind) from `source` at `now`. Returns
    /// whether to audit it in full, and any summaries whose interval has ended for this pair.
    pub fn refuse(
        &self,
        source: Source,
        reason: &'static str,
        method: &'static str,
        now: Instant,
    ) -> (Verdict, Option<Summary>) {
        let mut slots = self.lock();
        let key = if slots.len() >= MAX_SOURCES && !slots.contains_key(&(source, reason)) {
            (Source::Other, reason)
        } else {
            (source, reason)
        };
        let interval = self.interval;
        match slots.get_mut(&key) {
            Some(slot) if now.saturating_duration_since(slot.started) < interval => {
                if slot.full < FULL_PER_INTERVAL {
                    slot.full += 1;
                    return (Verdict::Audit, None);
                }
                slot.suppressed += 1;
                slot.method = method;
                (Verdict::Counted, None)
            }
            Some(slot) => {
                // The pair's interval ended: its summary is due, and this refusal opens the next.
                let summary = (slot.suppressed > 0).then(|| Summary {
                    source: key.0,
                    reason,
                    method: slot.method,
                    count: slot.suppressed,
                    over: now.saturating_duration_since(slot.started),
                });
                *slot = Slot {
                    started: now,
                    full: 1,
                    suppressed: 0,
                    method,
                };
                (Verdict::Audit, summary)
            }
            None => {
                slots.insert(
                    key,
                    Slot {
                        started: now,
                        full: 1,
                        suppressed: 0,
                        method,
                    },
                );
                (Verdict::Audit, None)
            }
        }
    }

    /// The summaries of intervals that ended by `now` (or of every open interval when
    /// `all`, at shutdown); their pairs are forgotten, so the map empties when a flood stops.
    pub fn due(&self, now: Instant, all: bool) -> Vec<Summary> {
        let interval = self.interval;
        let mut slots = self.lock();
        let mut out = Vec::new();
        slots.retain(|(source, reason), slot| {
            let over = now.saturating_duration_since(slot.started);
            if !all && over < interval {
                return true;
            }
            if slot.suppressed > 0 {
                out.push(Summary {
                    source: *source,
                    reason,
                    method: slot.method,
                    count: slot.suppressed,
                    over,
                });
            }
            false
        });
        out
    }

    /// The summary interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Source, &'static str), Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(last: u8) -> Source {
        Source::of(Some(SocketAddr::from(([10, 0, 0, last], 4000))))
    }

    #[test]
    fn claimed_fields_are_cut_and_say_their_length() {
        assert_eq!(
            Claimed::new("urn:tanso:company:a").as_str(),
            "urn:tanso:company:a"
        );
        let long = "x".repeat(3 * 1024 * 1024);
        let cut = Claimed::new(&long);
        assert!(cut.as_str().len() < 200, "{}", cut.as_str().len());
        assert!(cut.as_str().ends_with("… (3145728 bytes in all)"), "{cut}");
        assert_eq!(Claimed::new("a\nb\u{7}").as_str(), "a\u{fffd}b\u{fffd}");
        // Multi-byte characters are never split.
        let wide = "한".repeat(200);
        assert!(
            Claimed::new(&wide)
                .as_str()
                .starts_with(&"한".repeat(MAX_CLAIMED_CHARS))
        );
    }

    #[test]
    fn sources_group_ipv6_by_slash_64() {
        let a: SocketAddr = "[2001:db8:1:2:aaaa::1]:1".parse().unwrap();
        let b: SocketAddr = "[2001:db8:1:2:bbbb::9]:2".parse().unwrap();
        let c: SocketAddr = "[2001:db8:1:3::1]:2".parse().unwrap();
        assert_eq!(Source::of(Some(a)), Source::of(Some(b)));
        assert_ne!(Source::of(Some(a)), Source::of(Some(c)));
        assert_eq!(Source::of(Some(a)).to_string(), "2001:db8:1:2::/64");
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:5".parse().unwrap();
        assert_eq!(Source::of(Some(mapped)), v4(1));
        assert_eq!(Source::of(None), Source::Unknown);
    }

    #[test]
    fn the_first_refusals_are_audited_the_rest_counted_and_summarised_once() {
        let r = Refusals::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..FULL_PER_INTERVAL {
            assert_eq!(r.refuse(v4(1), "bad-signature", "m", t0).0, Verdict::Audit);
        }
        for i in 1..=1000 {
            let at = t0 + Duration::from_millis(i * 10);
            assert_eq!(
                r.refuse(v4(1), "bad-signature", "m", at),
                (Verdict::Counted, None)
            );
        }
        // Another reason and another source are audited in their own right.
        assert_eq!(r.refuse(v4(1), "replay", "m", t0).0, Verdict::Audit);
        assert_eq!(r.refuse(v4(2), "bad-signature", "m", t0).0, Verdict::Audit);
        assert!(r.due(t0 + Duration::from_secs(59), false).is_empty());
        let due = r.due(t0 + Duration::from_secs(60), false);
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(
            (due[0].source, due[0].reason, due[0].count),
            (v4(1), "bad-signature", 1000)
        );
        // Forgotten once summarised: the next refusal opens a new interval.
        assert!(r.due(t0 + Duration::from_secs(600), true).is_empty());
        let later = t0 + Duration::from_secs(601);
        assert_eq!(
            r.refuse(v4(1), "bad-signature", "m", later).0,
            Verdict::Audit
        );
    }

    #[test]
    fn a_refusal_after_the_interval_carries_the_last_summary() {
        let r = Refusals::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..FULL_PER_INTERVAL as u64 + 2 {
            r.refuse(v4(1), "stale", "m", t0 + Duration::from_secs(i));
        }
        let (verdict, summary) = r.refuse(v4(1), "stale", "m", t0 + Duration::from_secs(11));
        assert_eq!(verdict, Verdict::Audit);
        assert_eq!(summary.map(|s| s.count), Some(2));
    }

    #[test]
    fn sources_past_the_cap_fold_into_one_pair_per_reason() {
        let r = Refusals::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let mut audited = 0;
        for i in 0..(MAX_SOURCES as u32 + 5000) {
            let source = Source::V4(i.to_be_bytes());
            if r.refuse(source, "unknown-caller", "m", t0).0 == Verdict::Audit {
                audited += 1;
            }
        }
        // One entry per tracked source, and the first few of all the others.
        let full = FULL_PER_INTERVAL as usize;
        assert_eq!(audited, MAX_SOURCES + full);
        let due = r.due(t0 + Duration::from_secs(60), false);
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].source, due[0].count),
            (Source::Other, 5000 - full as u64)
        );
    }
}
