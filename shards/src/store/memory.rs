//! An in-memory `KvStore` over a `BTreeMap`, for tests and the model-based property test.

use super::{BatchOp, KvRead, KvStore, Snapshot, Visitor, WriteBatch};
use crate::Result;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

#[derive(Default)]
pub struct MemStore {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        // A poisoned lock only means another thread panicked mid-test; the map is still whole
        // because every write below completes before releasing the guard.
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn scan_map(
    map: &BTreeMap<Vec<u8>, Vec<u8>>,
    start: &[u8],
    end: &[u8],
    f: &mut Visitor<'_>,
) -> Result<()> {
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
struct MemSnapshot(BTreeMap<Vec<u8>, Vec<u8>>);

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
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for op in batch.ops {
            match op {
                BatchOp::Put(k, v) => {
                    map.insert(k, v);
                }
                BatchOp::Delete(k) => {
                    map.remove(&k);
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
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        Box::new(MemSnapshot(self.read().clone()))
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mem_store_meets_the_contract() {
        super::super::contract::check(&super::MemStore::new());
    }
}
