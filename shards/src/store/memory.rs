//! An in-memory `KvStore` over a `BTreeMap`, for tests and the model-based property tests.
//!
//! A store made `on_disk` also keeps what a crash would leave of it, beside a simulated log disk
//! (`treestore_wal::SimFs`): RocksDB with its own WAL off keeps, after power loss, only what it
//! flushed: the state of its last `flush`, or of a later automatic memtable flush, which holds
//! some prefix of the batches written since (a batch is never split). `crash_image` picks one
//! such prefix. Writes and flushes are ordered with the disk's operations, so a crash image of
//! the disk and of its stores (`SimFs::crash_image_with`) are of one instant.

use super::{BatchOp, KvRead, KvStore, Snapshot, Visitor, WriteBatch};
use crate::Result;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};
use treestore_wal::SimFs;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// A shard's key space in memory. Cloning shares the same store.
#[derive(Clone, Default)]
pub struct MemStore {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    map: RwLock<Map>,
    /// What survives a crash, for a store `on_disk`.
    durable: Option<Durable>,
}

struct Durable {
    disk: SimFs,
    state: Mutex<Flushed>,
}

/// Invariant: `flushed` with every batch of `since` applied in order equals the live map.
struct Flushed {
    /// The state of the last flush.
    flushed: Map,
    /// The batches written since, in write order.
    since: Vec<WriteBatch>,
}

impl MemStore {
    /// An empty store that never loses anything (nothing models a crash).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose crash images keep what RocksDB would (module comment), its writes
    /// and flushes ordered with `disk`'s operations.
    pub fn on_disk(disk: SimFs) -> Self {
        Self::durable_on(disk, Map::new())
    }

    fn durable_on(disk: SimFs, map: Map) -> Self {
        MemStore {
            inner: Arc::new(Inner {
                durable: Some(Durable {
                    disk,
                    state: Mutex::new(Flushed {
                        flushed: map.clone(),
                        since: vec![],
                    }),
                }),
                map: RwLock::new(map),
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Map> {
        // A poisoned lock only means another thread panicked mid-test; the map is still whole
        // because every write below completes before releasing the guard.
        self.inner.map.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Batches written since the last flush: a crash keeps a prefix of them.
    pub fn unflushed_batches(&self) -> usize {
        match &self.inner.durable {
            Some(d) => d
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .since
                .len(),
            None => 0,
        }
    }

    /// What the store holds after power loss: the last flushed state plus the first
    /// `pick(unflushed batches)` batches written since. Call it inside `SimFs::crash_image_with`
    /// of the store's disk so that both images are of one instant; `MemStore::recovered` opens
    /// it. A store not `on_disk` keeps everything.
    pub fn crash_image(&self, pick: impl FnOnce(usize) -> usize) -> MemImage {
        let Some(d) = &self.inner.durable else {
            return MemImage(self.read().clone());
        };
        let state = d.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut map = state.flushed.clone();
        let keep = pick(state.since.len()).min(state.since.len());
        for batch in &state.since[..keep] {
            apply(&mut map, batch);
        }
        MemImage(map)
    }

    /// A store holding a crash image, all of it durable, on `disk` (the crash image of the
    /// log's disk taken at the same instant).
    pub fn recovered(image: MemImage, disk: SimFs) -> MemStore {
        Self::durable_on(disk, image.0)
    }
}

/// The contents of a `MemStore` after a crash (`MemStore::crash_image`).
pub struct MemImage(Map);

fn apply(map: &mut Map, batch: &WriteBatch) {
    for op in &batch.ops {
        match op {
            BatchOp::Put(k, v) => {
                map.insert(k.clone(), v.clone());
            }
            BatchOp::Delete(k) => {
                map.remove(k);
            }
            BatchOp::DeleteRange(s, e) => {
                if s < e {
                    let doomed: Vec<Vec<u8>> = map
                        .range::<[u8], _>((Bound::Included(&s[..]), Bound::Excluded(&e[..])))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in doomed {
                        map.remove(&k);
                    }
                }
            }
        }
    }
}

fn scan_map(map: &Map, start: &[u8], end: &[u8], f: &mut Visitor<'_>) -> Result<()> {
    if start >= end {
        return Ok(());
    }
    for (k, v) in map.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end))) {
        if !f(k, v)? {
            break;
        }
    }
    Ok(())
}

impl KvRead for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.read().get(key).cloned())
    }

    fn scan(&self, start: &[u8], end: &[u8], f: &mut Visitor<'_>) -> Result<()> {
        scan_map(&self.read(), start, end, f)
    }
}

/// A copy of the whole map (the memory store serves tests, where maps are small).
struct MemSnapshot(Map);

impl KvRead for MemSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key).cloned())
    }

    fn scan(&self, start: &[u8], end: &[u8], f: &mut Visitor<'_>) -> Result<()> {
        scan_map(&self.0, start, end, f)
    }
}

impl KvStore for MemStore {
    fn write(&self, batch: WriteBatch) -> Result<()> {
        let write = || {
            let mut map = self.inner.map.write().unwrap_or_else(|e| e.into_inner());
            apply(&mut map, &batch);
            if let Some(d) = &self.inner.durable {
                let mut state = d.state.lock().unwrap_or_else(|e| e.into_inner());
                state.since.push(batch.clone());
            }
        };
        match &self.inner.durable {
            Some(d) => d.disk.atomically(write),
            None => write(),
        }
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        Box::new(MemSnapshot(self.read().clone()))
    }

    fn flush(&self) -> Result<()> {
        if let Some(d) = &self.inner.durable {
            d.disk.atomically(|| {
                let map = self.read();
                let mut state = d.state.lock().unwrap_or_else(|e| e.into_inner());
                state.flushed = map.clone();
                state.since.clear();
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_store_meets_the_contract() {
        super::super::contract::check(&MemStore::new());
        super::super::contract::check(&MemStore::on_disk(SimFs::new(1)));
    }

    #[test]
    fn a_crash_keeps_the_last_flush_and_a_prefix_of_later_batches() {
        let disk = SimFs::new(1);
        let store = MemStore::on_disk(disk.clone());
        let put = |k: &str| {
            let mut b = WriteBatch::default();
            b.put(k.as_bytes().to_vec(), b"v".to_vec());
            store.write(b).unwrap();
        };
        put("a");
        store.flush().unwrap();
        put("b");
        put("c");
        assert_eq!(store.unflushed_batches(), 2);
        let keys = |s: &MemStore| {
            let mut seen = vec![];
            s.scan(b"", &[0xFF], &mut |k, _| {
                seen.push(String::from_utf8(k.to_vec()).unwrap());
                Ok(true)
            })
            .unwrap();
            seen
        };
        for (keep, want) in [
            (0, vec!["a"]),
            (1, vec!["a", "b"]),
            (9, vec!["a", "b", "c"]),
        ] {
            let (image, crashed) = disk.crash_image_with(
                |_: &[Option<usize>]| (0, None),
                || {
                    store.crash_image(|n| {
                        assert_eq!(n, 2);
                        keep
                    })
                },
            );
            let crashed = MemStore::recovered(crashed, image);
            assert_eq!(keys(&crashed), want);
            assert_eq!(crashed.unflushed_batches(), 0);
        }
        assert_eq!(keys(&store), ["a", "b", "c"]);
    }
}
