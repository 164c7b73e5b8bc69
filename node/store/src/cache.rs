//! Decoded records of hot tables (own footprints, partners), shared and kept coherent with the engine.
//!
//! Every peer request reads its caller's partner record and usually one footprint; decoding
//! their JSON each time costs more than the rest of the lookup, and so would copying a
//! decoded footprint, so the cache hands out `Arc`s of immutable records. Writes go through
//! the store's commit path, which drops the keys it touched and bumps a generation; a
//! reader that missed only fills the cache if no write happened since it started reading,
//! so a stale value can never be cached.
//!
//! Each map is capped in bytes, counted as the stored (encoded) size of its records plus a
//! fixed overhead per entry; when an insert would pass the cap, arbitrary entries are
//! dropped until a quarter of the cap is free (hot records come back on their next read).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Op, Table};
use crate::{OwnFootprint, PartnerRecord};

/// Default capacity of all decoded caches together.
pub const DEFAULT_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Bytes counted per entry beyond its encoded record (key, map slot, `Arc` header).
const ENTRY_OVERHEAD: usize = 96;

struct Map<T> {
    generation: u64,
    /// Key → (record or known absence, bytes counted for it).
    entries: HashMap<Vec<u8>, (Option<Arc<T>>, usize)>,
    bytes: usize,
    capacity: usize,
}

impl<T> Map<T> {
    fn new(capacity: usize) -> Self {
        Map {
            generation: 0,
            entries: HashMap::new(),
            bytes: 0,
            capacity,
        }
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some((_, size)) = self.entries.remove(key) {
            self.bytes -= size;
        }
    }

    fn insert(&mut self, key: Vec<u8>, value: Option<Arc<T>>, size: usize) {
        if size > self.capacity / 4 {
            return; // one record that large would evict most of the others
        }
        self.remove(&key);
        if self.bytes + size > self.capacity {
            let target = self.capacity - self.capacity / 4;
            let mut bytes = self.bytes;
            self.entries.retain(|_, (_, s)| {
                if bytes > target {
                    bytes -= *s;
                    false
                } else {
                    true
                }
            });
            self.bytes = bytes;
        }
        self.bytes += size;
        self.entries.insert(key, (value, size));
    }
}

/// The caches.
pub(crate) struct Decoded {
    footprints: Mutex<Map<OwnFootprint>>,
    partners: Mutex<Map<PartnerRecord>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Decoded {
    /// Caches holding about `capacity` bytes together: three quarters for footprints, a
    /// quarter for partners.
    pub(crate) fn new(capacity: usize) -> Decoded {
        let partners = capacity / 4;
        Decoded {
            footprints: Mutex::new(Map::new(capacity - partners)),
            partners: Mutex::new(Map::new(partners)),
        }
    }

    /// Drops every cached key a committed batch touched.
    pub(crate) fn invalidate(&self, ops: &[Op]) {
        let mut footprints = None;
        let mut partners = None;
        for op in ops {
            let (table, key) = match op {
                Op::Put(t, k, _) | Op::Delete(t, k) => (*t, k),
                Op::DeleteRange(t, ..) => {
                    // Only the audit log is range-deleted; the cached tables never are.
                    debug_assert!(!matches!(t, Table::Footprints | Table::Partners));
                    continue;
                }
            };
            match table {
                Table::Footprints => {
                    let map = footprints.get_or_insert_with(|| {
                        let mut g = lock(&self.footprints);
                        g.generation += 1;
                        g
                    });
                    map.remove(key);
                }
                Table::Partners => {
                    let map = partners.get_or_insert_with(|| {
                        let mut g = lock(&self.partners);
                        g.generation += 1;
                        g
                    });
                    map.remove(key);
                }
                _ => {}
            }
        }
    }

    /// Drops every cached footprint (a bulk batch became visible: it may have changed any).
    pub(crate) fn clear_footprints(&self) {
        let mut map = lock(&self.footprints);
        map.generation += 1;
        map.entries.clear();
        map.bytes = 0;
    }

    pub(crate) fn footprint<E>(
        &self,
        key: &[u8],
        load: impl FnOnce() -> Result<Option<Vec<u8>>, E>,
        decode: impl FnOnce(&[u8]) -> Result<OwnFootprint, E>,
    ) -> Result<Option<Arc<OwnFootprint>>, E> {
        cached(&self.footprints, key, load, decode)
    }

    pub(crate) fn partner<E>(
        &self,
        key: &[u8],
        load: impl FnOnce() -> Result<Option<Vec<u8>>, E>,
        decode: impl FnOnce(&[u8]) -> Result<PartnerRecord, E>,
    ) -> Result<Option<Arc<PartnerRecord>>, E> {
        cached(&self.partners, key, load, decode)
    }

    /// (entries, bytes counted) of the footprint and partner caches.
    #[cfg(test)]
    pub(crate) fn usage(&self) -> ((usize, usize), (usize, usize)) {
        let f = lock(&self.footprints);
        let p = lock(&self.partners);
        ((f.entries.len(), f.bytes), (p.entries.len(), p.bytes))
    }
}

impl Default for Decoded {
    fn default() -> Self {
        Decoded::new(DEFAULT_CACHE_BYTES)
    }
}

fn cached<T, E>(
    map: &Mutex<Map<T>>,
    key: &[u8],
    load: impl FnOnce() -> Result<Option<Vec<u8>>, E>,
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<Option<Arc<T>>, E> {
    let generation = {
        let g = lock(map);
        if let Some((hit, _)) = g.entries.get(key) {
            return Ok(hit.clone());
        }
        g.generation
    };
    let raw = load()?;
    let size = ENTRY_OVERHEAD + key.len() + raw.as_ref().map_or(0, Vec::len);
    let value = raw.map(|b| decode(&b)).transpose()?.map(Arc::new);
    let mut g = lock(map);
    if g.generation == generation {
        g.insert(key.to_vec(), value.clone(), size);
    }
    Ok(value)
}
