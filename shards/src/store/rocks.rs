//! RocksDB behind `KvStore`: one RocksDB instance per data directory, one column family per
//! shard. RocksDB's own WAL is off for shard writes: the shard's log (treestore-wal) is the
//! write-ahead log, and each batch carries the shard's applied LSN, so a column family flushed to
//! disk always says how much of the shard log it holds.

use super::{BatchOp, KvRead, KvStore, Snapshot, Visitor, WriteBatch};
use crate::{Error, Result};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, ErrorKind,
    FlushOptions, Options, ReadOptions, SnapshotWithThreadMode, WriteOptions, DB,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub struct RocksDb {
    db: DB,
    /// The options the database was opened with: they hold its statistics (tickers).
    opts: Options,
    cache: Cache,
    /// Whether RocksDB may have stopped taking writes (see `RocksDb::accepts_writes`).
    stop: StopSigns,
}

/// What tells whether RocksDB may have stopped taking writes on a background error (a flush
/// that failed, e.g. with ENOSPC: then every write fails until RocksDB recovers). Invariant:
/// while neither a background error was counted since `errors_seen` nor one of our own writes
/// failed since the last probe that found RocksDB taking writes, RocksDB takes writes, so
/// `accepts_writes` need not probe. (RocksDB counts every failed flush, ours and its own,
/// except those of its recovery, which run while it is stopped already.)
#[derive(Default)]
struct StopSigns {
    /// RocksDB's count of background errors ("rocksdb.background-errors") when a probe last
    /// found it taking writes.
    errors_seen: AtomicU64,
    /// One of our writes failed since that probe (a failed memtable insert stops RocksDB
    /// without being counted).
    suspect: AtomicBool,
}

/// A column family's sizes, from RocksDB's properties.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CfSizes {
    pub memtable_bytes: u64,
    pub sst_bytes: u64,
    pub pending_compaction_bytes: u64,
}

/// The block cache shared by every column family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub bytes: u64,
}

pub fn cf_name(shard: usize) -> String {
    format!("shard-{shard}")
}

fn cf_options(cache: &Cache) -> Options {
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::Lz4);
    let mut t = BlockBasedOptions::default();
    t.set_block_cache(cache);
    t.set_bloom_filter(10.0, false);
    t.set_cache_index_and_filter_blocks(true);
    o.set_block_based_table_factory(&t);
    o
}

impl RocksDb {
    /// Opens (creating when missing) the database at `path` with one column family per shard.
    /// Slow (reads manifests, may replay): call it off any shard executor.
    pub fn open(path: &Path, shard_count: usize, cache_bytes: usize) -> Result<Arc<RocksDb>> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        // Tickers only (block cache hits and misses): no timers, no histograms.
        opts.enable_statistics();
        opts.set_statistics_level(rocksdb::statistics::StatsLevel::ExceptHistogramOrTimers);
        let cache = Cache::new_lru_cache(cache_bytes);
        let cfs =
            (0..shard_count).map(|i| ColumnFamilyDescriptor::new(cf_name(i), cf_options(&cache)));
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        Ok(Arc::new(RocksDb {
            db,
            opts,
            cache,
            stop: StopSigns::default(),
        }))
    }

    pub fn block_cache_stats(&self) -> BlockCacheStats {
        use rocksdb::statistics::Ticker;
        BlockCacheStats {
            hits: self.opts.get_ticker_count(Ticker::BlockCacheHit),
            misses: self.opts.get_ticker_count(Ticker::BlockCacheMiss),
            bytes: self.cache.get_usage() as u64,
        }
    }

    /// RocksDB's count of background errors (failed flushes and compactions).
    fn background_errors(&self) -> Result<u64> {
        Ok(self
            .db
            .property_int_value(rocksdb::properties::BACKGROUND_ERRORS)?
            .unwrap_or(0))
    }

    /// Notes that one of our writes failed: RocksDB may have stopped taking writes.
    fn failed<T>(&self, r: std::result::Result<T, rocksdb::Error>) -> Result<T> {
        if r.is_err() {
            self.stop.suspect.store(true, Ordering::Release);
        }
        Ok(r?)
    }

    /// `Ok` while RocksDB takes writes. Once a background error was counted (or one of our
    /// writes failed) it probes with an empty write, which RocksDB refuses, as every
    /// write, while a hard background error stops it; a probe that is taken clears the doubt.
    /// A count that cannot be read is treated as moved: the probe decides.
    fn accepts_writes(&self) -> Result<()> {
        let errors = self.background_errors().ok();
        if errors == Some(self.stop.errors_seen.load(Ordering::Acquire))
            && !self.stop.suspect.load(Ordering::Acquire)
        {
            return Ok(());
        }
        // Cleared before the probe: a failure noted during it is not lost.
        self.stop.suspect.store(false, Ordering::Release);
        let probe = self.db.write_opt(
            rocksdb::WriteBatch::default(),
            &RocksStore::write_opts(true),
        );
        match probe {
            // `Incomplete`: the write would only have stalled, RocksDB is not stopped.
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Incomplete => {}
            Err(e) => {
                self.stop.suspect.store(true, Ordering::Release);
                return Err(stopped(e));
            }
        }
        if let Some(errors) = errors {
            self.stop.errors_seen.fetch_max(errors, Ordering::AcqRel);
        }
        Ok(())
    }

    pub fn store(self: &Arc<Self>, shard: usize) -> Result<RocksStore> {
        let name = cf_name(shard);
        if self.db.cf_handle(&name).is_none() {
            return Err(Error::Internal(format!("column family {name} missing")));
        }
        Ok(RocksStore {
            db: self.clone(),
            cf: name,
        })
    }
}

/// One shard's column family.
#[derive(Clone)]
pub struct RocksStore {
    db: Arc<RocksDb>,
    cf: String,
}

impl RocksStore {
    fn cf(&self) -> Result<&ColumnFamily> {
        cf_handle(&self.db, &self.cf)
    }

    /// The database this column family is in.
    pub fn db(&self) -> &Arc<RocksDb> {
        &self.db
    }

    /// The column family's memtable, SST and compaction-debt bytes.
    pub fn sizes(&self) -> Result<CfSizes> {
        use rocksdb::properties as p;
        let cf = self.cf()?;
        let get =
            |name| -> Result<u64> { Ok(self.db.db.property_int_value_cf(cf, name)?.unwrap_or(0)) };
        Ok(CfSizes {
            memtable_bytes: get(p::CUR_SIZE_ALL_MEM_TABLES)?,
            sst_bytes: get(p::TOTAL_SST_FILES_SIZE)?,
            pending_compaction_bytes: get(p::ESTIMATE_PENDING_COMPACTION_BYTES)?,
        })
    }

    fn to_rocks(&self, batch: &WriteBatch) -> Result<rocksdb::WriteBatch> {
        let cf = self.cf()?;
        let mut b = rocksdb::WriteBatch::default();
        for op in &batch.ops {
            match op {
                BatchOp::Put(k, v) => b.put_cf(cf, k, v),
                BatchOp::Delete(k) => b.delete_cf(cf, k),
                BatchOp::DeleteRange(s, e) => b.delete_range_cf(cf, s, e),
            }
        }
        Ok(b)
    }

    fn write_opts(no_slowdown: bool) -> WriteOptions {
        let mut w = WriteOptions::default();
        w.disable_wal(true);
        w.set_no_slowdown(no_slowdown);
        w
    }
}

/// The error for writes while RocksDB is stopped by `e`. Out of space (ENOSPC, or a space limit)
/// is `ResourceExhausted`: RocksDB's SstFileManager retries the failed flush every 5 s once its
/// file system has room for a write buffer (64 MiB by default) and resumes writes when that
/// flush succeeds. Anything else is a `Storage` error.
fn stopped(e: rocksdb::Error) -> Error {
    let msg = e.into_string();
    if msg.contains("No space left on device") || msg.contains("Space limit reached") {
        Error::ResourceExhausted(format!(
            "disk full: RocksDB stopped taking writes ({msg}); writes are refused until it \
             recovers, which it tries every 5 s once its disk has room for a memtable (reads go \
             on)"
        ))
    } else {
        Error::Storage(format!("RocksDB stopped taking writes: {msg}"))
    }
}

fn cf_handle<'a>(db: &'a RocksDb, cf: &str) -> Result<&'a ColumnFamily> {
    db.db
        .cf_handle(cf)
        .ok_or_else(|| Error::Internal(format!("column family {cf} missing")))
}

/// Visits `[start, end)` in key order through the raw iterator `open` makes from read options
/// bounded to `end`. The raw iterator lends keys and values without copying them.
fn scan_with<'a>(
    start: &[u8],
    end: &[u8],
    open: impl FnOnce(ReadOptions) -> rocksdb::DBRawIterator<'a>,
    f: &mut Visitor<'_>,
) -> Result<()> {
    if start >= end {
        return Ok(());
    }
    let mut ro = ReadOptions::default();
    ro.set_iterate_upper_bound(end.to_vec());
    let mut it = open(ro);
    it.seek(start);
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !f(k, v)? {
            return Ok(());
        }
        it.next();
    }
    // An invalid iterator is either the end of the range or an error.
    Ok(it.status()?)
}

impl KvRead for RocksStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.db.get_cf(self.cf()?, key)?)
    }

    fn scan(&self, start: &[u8], end: &[u8], f: &mut Visitor<'_>) -> Result<()> {
        let cf = self.cf()?;
        let db = &self.db.db;
        scan_with(start, end, |ro| db.raw_iterator_cf_opt(cf, ro), f)
    }
}

type DbSnapshot<'a> = SnapshotWithThreadMode<'a, DB>;

self_cell::self_cell!(
    /// A RocksDB snapshot together with the database it pins, so it can outlive the borrow that
    /// took it and move to another thread.
    struct OwnedSnapshot {
        owner: Arc<RocksDb>,
        #[covariant]
        dependent: DbSnapshot,
    }
);

/// One shard's column family as of the moment `RocksStore::snapshot` was called.
pub struct RocksSnapshot {
    snap: OwnedSnapshot,
    cf: String,
}

impl KvRead for RocksSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let cf = cf_handle(self.snap.borrow_owner(), &self.cf)?;
        Ok(self.snap.borrow_dependent().get_cf(cf, key)?)
    }

    fn scan(&self, start: &[u8], end: &[u8], f: &mut Visitor<'_>) -> Result<()> {
        let cf = cf_handle(self.snap.borrow_owner(), &self.cf)?;
        let snap = self.snap.borrow_dependent();
        scan_with(start, end, |ro| snap.raw_iterator_cf_opt(cf, ro), f)
    }
}

impl KvStore for RocksStore {
    fn write_no_slowdown(&self, batch: &WriteBatch) -> Result<bool> {
        let b = self.to_rocks(batch)?;
        match self.db.db.write_opt(b, &Self::write_opts(true)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::Incomplete => Ok(false),
            Err(e) => self.db.failed(Err(e)),
        }
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        let b = self.to_rocks(&batch)?;
        self.db
            .failed(self.db.db.write_opt(b, &Self::write_opts(false)))
    }

    fn accepts_writes(&self) -> Result<()> {
        self.db.accepts_writes()
    }

    fn snapshot(&self) -> Snapshot {
        Box::new(RocksSnapshot {
            snap: OwnedSnapshot::new(self.db.clone(), |db| db.db.snapshot()),
            cf: self.cf.clone(),
        })
    }

    fn flush(&self) -> Result<()> {
        let mut fo = FlushOptions::default();
        fo.set_wait(true);
        // A failed flush runs as a background job: RocksDB counts it in its background errors,
        // as it does its own flushes (of a full memtable), and `accepts_writes` sees the count
        // move. So this needs no `failed`, and the disk-full test exercises that path.
        Ok(self.db.db.flush_cf_opt(self.cf()?, &fo)?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rocks_store_meets_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::RocksDb::open(dir.path(), 2, 8 << 20).unwrap();
        super::super::contract::check(&db.store(1).unwrap());
        // Column families are separate key spaces.
        use super::super::KvRead;
        assert_eq!(db.store(0).unwrap().get(b"c").unwrap(), None);
    }

    #[test]
    fn a_healthy_database_takes_writes_and_a_probe_clears_a_doubt() {
        use super::super::KvStore;
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let db = super::RocksDb::open(dir.path(), 1, 8 << 20).unwrap();
        let s = db.store(0).unwrap();
        s.accepts_writes().unwrap();
        // After a failed write of ours the next check probes; RocksDB takes the empty write, so
        // the doubt is cleared.
        db.stop.suspect.store(true, Ordering::Release);
        s.accepts_writes().unwrap();
        assert!(!db.stop.suspect.load(Ordering::Acquire));
        assert_eq!(db.background_errors().unwrap(), 0);
    }

    #[test]
    fn flushed_data_survives_reopen_without_rocksdb_wal() {
        use super::super::{KvRead, KvStore, WriteBatch};
        let dir = tempfile::tempdir().unwrap();
        {
            let db = super::RocksDb::open(dir.path(), 1, 8 << 20).unwrap();
            let s = db.store(0).unwrap();
            let mut b = WriteBatch::default();
            b.put(b"k".to_vec(), b"v".to_vec());
            s.write(b).unwrap();
            s.flush().unwrap();
            let mut b = WriteBatch::default();
            b.put(b"unflushed".to_vec(), b"v".to_vec());
            s.write(b).unwrap();
        }
        let db = super::RocksDb::open(dir.path(), 1, 8 << 20).unwrap();
        let s = db.store(0).unwrap();
        assert_eq!(s.get(b"k").unwrap(), Some(b"v".to_vec()));
    }

    #[test]
    fn sizes_and_block_cache_counters_follow_writes_flushes_and_reads() {
        use super::super::{KvRead, KvStore, WriteBatch};
        let dir = tempfile::tempdir().unwrap();
        let db = super::RocksDb::open(dir.path(), 2, 8 << 20).unwrap();
        let (s, other) = (db.store(0).unwrap(), db.store(1).unwrap());
        let mut b = WriteBatch::default();
        for i in 0..1000u32 {
            b.put(format!("key-{i:05}").into_bytes(), vec![7u8; 100]);
        }
        s.write(b).unwrap();
        let before = s.sizes().unwrap();
        assert!(before.memtable_bytes > 100_000, "{before:?}");
        assert_eq!(before.sst_bytes, 0);
        s.flush().unwrap();
        let after = s.sizes().unwrap();
        assert!(after.sst_bytes > 0, "{after:?}");
        assert!(after.memtable_bytes < before.memtable_bytes, "{after:?}");
        // Sizes are the column family's own.
        assert_eq!(other.sizes().unwrap().sst_bytes, 0);
        let cold = db.block_cache_stats();
        for i in 0..1000u32 {
            assert!(s.get(format!("key-{i:05}").as_bytes()).unwrap().is_some());
        }
        let warm = db.block_cache_stats();
        assert!(warm.misses > cold.misses, "{cold:?} {warm:?}");
        assert!(warm.hits > cold.hits, "{cold:?} {warm:?}");
        assert!(warm.bytes > 0);
    }
}
