//! Storage behind a trait, so the same engine and the same tests run on RocksDB and in memory.
//!
//! A `KvStore` is one shard's ordered key space. Writes go in as one `WriteBatch`, applied
//! atomically: either all of it is visible afterwards or none.

mod memory;
mod rocks;

pub use memory::{MemImage, MemStore};
pub use rocks::{BlockCacheStats, CfSizes, RocksDb, RocksSnapshot, RocksStore};

use crate::Result;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Deletes every key in `[start, end)`.
    DeleteRange(Vec<u8>, Vec<u8>),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub ops: Vec<BatchOp>,
}

impl WriteBatch {
    pub fn put(&mut self, k: Vec<u8>, v: Vec<u8>) {
        self.ops.push(BatchOp::Put(k, v));
    }
    pub fn delete(&mut self, k: Vec<u8>) {
        self.ops.push(BatchOp::Delete(k));
    }
    pub fn delete_range(&mut self, start: Vec<u8>, end: Vec<u8>) {
        self.ops.push(BatchOp::DeleteRange(start, end));
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// What `scan` calls with each entry; returning `false` stops the scan.
pub type Visitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'a;

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Read access to an ordered key space.
pub trait KvRead {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Calls `f` with each entry in `[start, end)` in key order until it returns `false`.
    fn scan(&self, start: &[u8], end: &[u8], f: &mut Visitor<'_>) -> Result<()>;

    /// The first entry in `[start, end)`, if any.
    fn first(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>> {
        let mut out = None;
        self.scan(start, end, &mut |k, v| {
            out = Some((k.to_vec(), v.to_vec()));
            Ok(false)
        })?;
        Ok(out)
    }
}

/// A frozen, consistent view of a key space that another thread may read: later writes to the
/// store are invisible to it.
pub type Snapshot = Box<dyn KvRead + Send>;

/// One shard's key space.
pub trait KvStore: KvRead + Send + Sync {
    fn write(&self, batch: WriteBatch) -> Result<()>;

    /// Writes unless that would stall the caller: `Ok(false)` means the store would have
    /// stalled (RocksDB: a write stall on compaction debt) and nothing was written; retry with
    /// `write` off the executor. A store that never stalls simply writes.
    fn write_no_slowdown(&self, batch: &WriteBatch) -> Result<bool> {
        self.write(batch.clone())?;
        Ok(true)
    }

    /// `Ok` if the store would take a write now; asked before a write is logged, because an
    /// apply that fails after its record is logged poisons the shard. `ResourceExhausted` while
    /// it cannot write for want of space and will again once space is freed (RocksDB after a
    /// flush failed with ENOSPC). Cheap while the store is healthy. A store that cannot stop
    /// taking writes keeps this default.
    fn accepts_writes(&self) -> Result<()> {
        Ok(())
    }

    /// The state as of now, for reads that run off the shard's executor. Cheap to take.
    fn snapshot(&self) -> Snapshot;

    /// Makes everything written so far durable in the store's own files (a RocksDB flush of the
    /// shard's column family). Slow: call it off the shard's executor.
    fn flush(&self) -> Result<()>;
}

#[cfg(test)]
pub(crate) mod contract {
    //! Behaviour every `KvStore` must have; run against each implementation.
    use super::*;

    pub fn check(store: &dyn KvStore) {
        let mut b = WriteBatch::default();
        for k in ["a1", "a2", "a3", "b1"] {
            b.put(k.as_bytes().to_vec(), k.to_uppercase().into_bytes());
        }
        store.write(b).unwrap();
        assert_eq!(store.get(b"a2").unwrap(), Some(b"A2".to_vec()));
        assert_eq!(store.get(b"zz").unwrap(), None);

        let mut seen = vec![];
        store
            .scan(b"a", b"b", &mut |k, _| {
                seen.push(String::from_utf8(k.to_vec()).unwrap());
                Ok(true)
            })
            .unwrap();
        assert_eq!(seen, ["a1", "a2", "a3"]);
        assert_eq!(store.first(b"a2", b"b").unwrap().unwrap().0, b"a2".to_vec());

        let mut b = WriteBatch::default();
        b.delete(b"a1".to_vec());
        b.delete_range(b"a2".to_vec(), b"a3".to_vec());
        b.put(b"c".to_vec(), b"C".to_vec());
        store.write(b).unwrap();
        let mut seen = vec![];
        store
            .scan(b"", &[0xFF], &mut |k, _| {
                seen.push(String::from_utf8(k.to_vec()).unwrap());
                Ok(true)
            })
            .unwrap();
        assert_eq!(seen, ["a3", "b1", "c"]);
        store.flush().unwrap();
        assert_eq!(store.get(b"c").unwrap(), Some(b"C".to_vec()));

        // A snapshot keeps seeing the state it was taken at, from any thread.
        let snap = store.snapshot();
        let mut b = WriteBatch::default();
        b.put(b"c".to_vec(), b"C2".to_vec());
        b.put(b"d".to_vec(), b"D".to_vec());
        b.delete(b"a3".to_vec());
        store.write(b).unwrap();
        let seen = std::thread::scope(|s| {
            s.spawn(move || {
                let mut seen = vec![];
                snap.scan(b"", &[0xFF], &mut |k, v| {
                    seen.push(format!(
                        "{}={}",
                        String::from_utf8_lossy(k),
                        String::from_utf8_lossy(v)
                    ));
                    Ok(true)
                })
                .unwrap();
                (seen, snap.get(b"c").unwrap(), snap.get(b"d").unwrap())
            })
            .join()
            .unwrap()
        });
        assert_eq!(seen.0, ["a3=A3", "b1=B1", "c=C"]);
        assert_eq!(seen.1, Some(b"C".to_vec()));
        assert_eq!(seen.2, None);
        assert_eq!(store.get(b"c").unwrap(), Some(b"C2".to_vec()));
    }
}
