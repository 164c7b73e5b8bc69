//! Decoded records of hot tables (own footprints, partners), kept coherent with the engine.
//!
//! Every peer request reads its caller's partner record and usually one footprint; decoding
//! their JSON each time costs more than the rest of the lookup. Writes go through the
//! store's commit path, which drops the keys it touched and bumps a generation; a reader
//! that missed only fills the cache if no write happened since it started reading, so a
//! stale value can never be cached.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Op, Table};
use crate::store::{OwnFootprint, PartnerRecord};

/// Most footprints kept decoded; the map is cleared when it is full (hot ids come back).
const MAX_FOOTPRINTS: usize = 8192;

struct Map<T> {
    generation: u64,
    entries: HashMap<Vec<u8>, Option<T>>,
}

impl<T> Default for Map<T> {
    fn default() -> Self {
        Map {
            generation: 0,
            entries: HashMap::new(),
        }
    }
}

/// The caches.
#[derive(Default)]
pub(crate) struct Decoded {
    footprints: Mutex<Map<OwnFootprint>>,
    partners: Mutex<Map<PartnerRecord>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Decoded {
    /// Drops every cached key a committed batch touched.
    pub(crate) fn invalidate(&self, ops: &[Op]) {
        let mut footprints = None;
        let mut partners = None;
        for op in ops {
            let (table, key) = match op {
                Op::Put(t, k, _) | Op::Delete(t, k) => (*t, k),
            };
            match table {
                Table::Footprints => {
                    let map = footprints.get_or_insert_with(|| {
                        let mut g = lock(&self.footprints);
                        g.generation += 1;
                        g
                    });
                    map.entries.remove(key);
                }
                Table::Partners => {
                    let map = partners.get_or_insert_with(|| {
                        let mut g = lock(&self.partners);
                        g.generation += 1;
                        g
                    });
                    map.entries.remove(key);
                }
                _ => {}
            }
        }
    }

    pub(crate) fn footprint<E>(
        &self,
        key: &[u8],
        load: impl FnOnce() -> Result<Option<OwnFootprint>, E>,
    ) -> Result<Option<OwnFootprint>, E> {
        cached(&self.footprints, key, MAX_FOOTPRINTS, load)
    }

    pub(crate) fn partner<E>(
        &self,
        key: &[u8],
        load: impl FnOnce() -> Result<Option<PartnerRecord>, E>,
    ) -> Result<Option<PartnerRecord>, E> {
        cached(&self.partners, key, usize::MAX, load)
    }
}

fn cached<T: Clone, E>(
    map: &Mutex<Map<T>>,
    key: &[u8],
    max: usize,
    load: impl FnOnce() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    let generation = {
        let g = lock(map);
        if let Some(hit) = g.entries.get(key) {
            return Ok(hit.clone());
        }
        g.generation
    };
    let value = load()?;
    let mut g = lock(map);
    if g.generation == generation {
        if g.entries.len() >= max {
            g.entries.clear();
        }
        g.entries.insert(key.to_vec(), value.clone());
    }
    Ok(value)
}
