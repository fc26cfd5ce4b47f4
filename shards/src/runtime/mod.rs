//! The thread-per-core runtime: executors (glommio on io_uring, or plain threads where io_uring
//! is denied; pinned to cores), each hosting some shards;
//! a bounded inbox per shard; replies over oneshot channels. `Runtime` implements `ShardRouter`,
//! so the engine and the server do not know shards run on other threads.
//!
//! Data directory layout:
//! - `MANIFEST.json`: format version and shard count (fixed at creation).
//! - `rocksdb/`: one RocksDB instance, one column family per shard, its own WAL off.
//! - `wal/shard-N/`: shard N's log segments.

mod admission;
mod cache_fill;
mod executor;
mod glommio_rt;
mod inbox;
mod read_path;
mod shard_loop;
mod thread_rt;
mod write_path;

use crate::engine::{now_micros, LogCorruption, ShardFuture, ShardHealth, ShardRouter, ShardState};
use crate::feed::FeedLive;
use crate::manifest;
use crate::metrics::{RuntimeMetrics, ShardMetrics};
use crate::model::Micros;
use crate::model::ReadAt;
use crate::request::Request;
use crate::shard::ShardConfig;
use crate::store::{KvStore, RocksDb, RocksStore};
use crate::tree::{CacheStats, DocTree, TreeCache};
use crate::{Error, Result};
use admission::{Admission, Reply};
use futures_channel::oneshot;
use inbox::{Envelope, Inbox, PushError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub use admission::{with_deadline, Refusal};
pub use executor::{ExecutorKind, IoUringMode};
pub use glommio_rt::cores;

/// A store a shard can be served from: shared by the shard's executor, its blocking pool and
/// the router threads (`RocksStore`; `MemStore` in tests).
pub trait ShardStore: KvStore + Clone + 'static {}
impl<T: KvStore + Clone + 'static> ShardStore for T {}

/// The disk the shards' logs are written to.
#[derive(Clone)]
pub enum LogDisk {
    /// Files under the data directory: `GlommioFs` on io_uring, `ThreadFs` on plain threads.
    Files,
    /// A simulated disk holding every shard's log (tests: crash images of all logs at once).
    Simulated(treestore_wal::SimFs),
}

/// Where the shards read the time: the system clock, or (tests) a time set by the caller.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// A clock that shows `t` until `set` moves it.
    pub fn manual(t: Micros) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(t))))
    }

    /// Moves a manual clock to `t` (no effect on the system clock).
    pub fn set(&self, t: Micros) {
        if let Some(c) = &self.0 {
            c.store(t, Ordering::Relaxed);
        }
    }

    pub fn now(&self) -> Micros {
        match &self.0 {
            Some(c) => c.load(Ordering::Relaxed),
            None => now_micros(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub data_dir: PathBuf,
    /// Shard count of a new data directory (default: the number of cores). An existing
    /// directory keeps the count in its manifest.
    pub shards: Option<usize>,
    /// Executor threads (default: min(cores, shards)). Shards are spread over them.
    pub executors: Option<usize>,
    /// Pin executor threads to cores.
    pub pin_cores: bool,
    /// Bound of each shard's inbox; a full inbox refuses with ResourceExhausted.
    pub inbox_capacity: usize,
    /// Longest a request without an earlier client deadline may be expected to queue on a
    /// shard; one expected to wait longer is refused with ResourceExhausted (None: no bound).
    /// See `admission.rs`.
    pub max_queue_wait: Option<Duration>,
    pub wal: treestore_wal::WalOptions,
    /// Checkpoint each shard this often.
    pub checkpoint_interval: Duration,
    /// Checkpoint a shard whose log exceeds this many bytes.
    pub checkpoint_wal_bytes: u64,
    /// Remove expired tool results this often.
    pub tool_sweep_interval: Duration,
    pub shard: ShardConfig,
    pub rocksdb_cache_bytes: usize,
    /// Bytes of decoded document trees kept in memory, over all shards (0 turns the cache off).
    pub tree_cache_bytes: usize,
    /// Start even when a log is corrupt, truncating it at the damage (loses what follows).
    pub truncate_on_corruption: bool,
    /// Whether shards run on io_uring (glommio) or plain threads.
    pub io_uring: IoUringMode,
    /// A shard refuses writes (ResourceExhausted) and postpones checkpoints while fewer bytes
    /// than this are free on the file system of its log or of RocksDB; 0 turns the check off.
    pub disk_reserve_bytes: u64,
    /// The time shards plan and answer requests at (the system clock but in tests).
    pub clock: Clock,
    /// Each shard's change feed keeps the events of this many most recent log records (older
    /// ones are removed at checkpoints; a watch resuming before them is told it lost changes).
    pub feed_retention_records: u64,
    /// Each shard keeps this many of its newest feed events in memory (at most 4 MiB), for
    /// watchers close to live; one further behind reads the store.
    pub feed_memory_events: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            data_dir: PathBuf::from("./data"),
            shards: None,
            executors: None,
            pin_cores: true,
            inbox_capacity: 1024,
            max_queue_wait: Some(Duration::from_secs(5)),
            wal: treestore_wal::WalOptions::default(),
            checkpoint_interval: Duration::from_secs(60),
            checkpoint_wal_bytes: 256 << 20,
            tool_sweep_interval: Duration::from_secs(60),
            shard: ShardConfig::default(),
            rocksdb_cache_bytes: 256 << 20,
            tree_cache_bytes: 1 << 30,
            truncate_on_corruption: false,
            io_uring: IoUringMode::Auto,
            disk_reserve_bytes: 256 << 20,
            clock: Clock::default(),
            feed_retention_records: 1_000_000,
            feed_memory_events: crate::feed::RING_EVENTS,
        }
    }
}

/// The value of `ShardStatus::state` for Poisoned: never left once stored.
const POISONED: u8 = 2;

/// A shard's state as seen from other threads.
#[derive(Default)]
pub struct ShardStatus {
    state: AtomicU8,
    pub durable_lsn: AtomicU64,
    pub last_lsn: AtomicU64,
    pub wal_bytes: AtomicU64,
    detail: Mutex<String>,
    /// Set when recovery found the log corrupt (the shard is then poisoned).
    corruption: Mutex<Option<LogCorruption>>,
}

fn wal_dir(data_dir: &Path, shard: usize) -> PathBuf {
    data_dir.join("wal").join(format!("shard-{shard}"))
}

impl ShardStatus {
    pub fn state(&self) -> ShardState {
        match self.state.load(Ordering::Acquire) {
            0 => ShardState::Recovering,
            1 => ShardState::Serving,
            POISONED => ShardState::Poisoned,
            _ => ShardState::Stopping,
        }
    }

    /// Moves to `s` with `detail` as its reason. Poisoned is final until restart: a
    /// compare-exchange loop, so a concurrent `Stopping` (shutdown) or `Serving` can never
    /// overwrite it, whatever the interleaving. The detail's lock is held across the exchange, so
    /// `detail()` returns the reason of the state last stored, and a poison's reason stays.
    pub fn set_state(&self, s: ShardState, detail: String) {
        let new = match s {
            ShardState::Recovering => 0,
            ShardState::Serving => 1,
            ShardState::Poisoned => POISONED,
            ShardState::Stopping => 3,
        };
        let mut reason = self.detail.lock().unwrap_or_else(|e| e.into_inner());
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            if current == POISONED {
                return;
            }
            match self.state.compare_exchange_weak(
                current,
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
        *reason = detail;
    }

    /// Records where the log is corrupt; recovery then poisons the shard.
    pub fn set_corruption(&self, c: LogCorruption) {
        *self.corruption.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
    }

    pub fn corruption(&self) -> Option<LogCorruption> {
        self.corruption
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn detail(&self) -> String {
        let d = self
            .detail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if d.is_empty() {
            format!("{:?}", self.state()).to_lowercase()
        } else {
            d
        }
    }
}

/// Shards served from stores of type `S` (RocksDB column families but in tests).
pub struct Runtime<S: ShardStore = RocksStore> {
    inboxes: Vec<Arc<Inbox>>,
    /// Each shard's admission: requests outstanding and its time per request.
    admissions: Vec<Arc<Admission>>,
    status: Vec<Arc<ShardStatus>>,
    /// Each shard's published trees, read by router threads.
    caches: Vec<Arc<TreeCache>>,
    /// Each shard's change feed, read by watchers on router threads.
    feeds: Vec<Arc<FeedLive>>,
    /// Each shard's column family, for router threads to resolve as-of reads of cached trees.
    /// Emptied by `shutdown`, so that the database closes once the executors are gone.
    stores: RwLock<Vec<S>>,
    executors: Mutex<Vec<executor::ExecutorHandle>>,
    executor_kind: ExecutorKind,
    metrics: RuntimeMetrics,
    shard_metrics: Vec<ShardMetrics>,
    /// Block cache tickers at the last refresh (the counters export increments).
    block_cache_seen: Mutex<crate::store::BlockCacheStats>,
    pub manifest: manifest::Manifest,
}

impl Runtime<RocksStore> {
    pub fn wal_dir(data_dir: &Path, shard: usize) -> PathBuf {
        wal_dir(data_dir, shard)
    }

    /// Opens the data directory and starts the executors. Blocking (opens RocksDB); shards then
    /// recover in the background: `health()` shows them Recovering, and calls to them get
    /// `Unavailable` until they serve.
    pub fn start(config: RuntimeConfig) -> Result<Arc<Runtime>> {
        let manifest = manifest::open_or_create(
            &config.data_dir,
            config.shards.unwrap_or(cores()),
            now_micros(),
        )?;
        let db = RocksDb::open(
            &config.data_dir.join("rocksdb"),
            manifest.shard_count,
            config.rocksdb_cache_bytes,
        )?;
        let stores = (0..manifest.shard_count)
            .map(|i| db.store(i))
            .collect::<Result<Vec<_>>>()?;
        Self::launch(config, manifest, stores, LogDisk::Files)
    }

    /// Brings the gauges read on demand up to date: inbox depths, RocksDB sizes, block cache.
    pub fn refresh_metrics(&self) {
        for ((inbox, m), a) in self
            .inboxes
            .iter()
            .zip(&self.shard_metrics)
            .zip(&self.admissions)
        {
            m.inbox_depth.set(inbox.len() as i64);
            m.expected_wait.set(a.expected_wait().as_secs_f64());
        }
        let stores = self.stores.read().unwrap_or_else(|e| e.into_inner());
        for (store, m) in stores.iter().zip(&self.shard_metrics) {
            match store.sizes() {
                Ok(sz) => {
                    m.memtable_bytes.set(sz.memtable_bytes as i64);
                    m.sst_bytes.set(sz.sst_bytes as i64);
                    m.pending_compaction_bytes
                        .set(sz.pending_compaction_bytes as i64);
                }
                Err(e) => tracing::debug!(error = %e, "reading RocksDB sizes"),
            }
        }
        if let Some(store) = stores.first() {
            let now = store.db().block_cache_stats();
            let mut seen = self
                .block_cache_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.metrics
                .block_cache_hits
                .inc_by(now.hits.saturating_sub(seen.hits));
            self.metrics
                .block_cache_misses
                .inc_by(now.misses.saturating_sub(seen.misses));
            self.metrics.block_cache_bytes.set(now.bytes as i64);
            *seen = now;
        }
    }
}

impl<S: ShardStore> Runtime<S> {
    /// Starts shards on the given stores (one per shard, in shard order) with their logs on
    /// `disk`, under `config.data_dir` (tests: `MemStore`s and a `SimFs`, where nothing touches
    /// the real disk; a `Runtime::start` is this on RocksDB and files). Shards recover in the
    /// background as with `start`.
    pub fn start_on(config: RuntimeConfig, stores: Vec<S>, disk: LogDisk) -> Result<Arc<Self>> {
        let manifest = manifest::Manifest {
            format_version: manifest::FORMAT_VERSION,
            shard_count: stores.len(),
            created_at: config.clock.now(),
        };
        Self::launch(config, manifest, stores, disk)
    }

    fn launch(
        config: RuntimeConfig,
        manifest: manifest::Manifest,
        stores: Vec<S>,
        disk: LogDisk,
    ) -> Result<Arc<Self>> {
        let cores = cores();
        let n = manifest.shard_count;
        if n == 0 || stores.len() != n {
            return Err(Error::Internal(format!(
                "{} stores for {n} shards",
                stores.len()
            )));
        }
        let executors = config.executors.unwrap_or(cores).clamp(1, n);
        let inboxes: Vec<Arc<Inbox>> = (0..n)
            .map(|_| Arc::new(Inbox::new(config.inbox_capacity)))
            .collect();
        let admissions: Vec<Arc<Admission>> = (0..n)
            .map(|i| Admission::new(i, config.max_queue_wait))
            .collect();
        let status: Vec<Arc<ShardStatus>> =
            (0..n).map(|_| Arc::new(ShardStatus::default())).collect();
        let caches: Vec<Arc<TreeCache>> = (0..n)
            .map(|_| Arc::new(TreeCache::new(config.tree_cache_bytes / n)))
            .collect();
        let feeds: Vec<Arc<FeedLive>> = (0..n)
            .map(|_| Arc::new(FeedLive::new(config.feed_memory_events)))
            .collect();
        let metrics =
            RuntimeMetrics::new().map_err(|e| Error::Internal(format!("runtime metrics: {e}")))?;
        let shard_metrics: Vec<ShardMetrics> = (0..n).map(|i| metrics.shard(i)).collect();
        for m in &shard_metrics {
            m.inbox_capacity.set(config.inbox_capacity.max(1) as i64);
        }
        let kind = executor::choose(config.io_uring)
            .map_err(|why| Error::Storage(format!("executors could not start: {why}")))?;
        metrics
            .io_uring
            .set(i64::from(kind == ExecutorKind::IoUring));
        let config = Arc::new(config);
        let mut handles = vec![];
        for e in 0..executors {
            let mut contexts = vec![];
            for shard in (e..n).step_by(executors) {
                contexts.push(shard_loop::ShardContext {
                    id: shard,
                    store: stores[shard].clone(),
                    cache: caches[shard].clone(),
                    feed: feeds[shard].clone(),
                    inbox: inboxes[shard].clone(),
                    status: status[shard].clone(),
                    config: config.clone(),
                    wal_dir: wal_dir(&config.data_dir, shard),
                    metrics: shard_metrics[shard].clone(),
                });
            }
            let cpu = config.pin_cores.then_some(e % cores);
            let disk = disk.clone();
            let started = executor::spawn_executor(
                kind,
                &format!("treestore-exec-{e}"),
                cpu,
                move || async move {
                    let mut tasks = vec![];
                    for ctx in contexts {
                        let disk = disk.clone();
                        tasks.push(executor::spawn_joinable(async move {
                            match (disk, kind) {
                                (LogDisk::Simulated(fs), _) => {
                                    shard_loop::run(ctx, Box::new(move |_| Ok(fs))).await
                                }
                                (LogDisk::Files, ExecutorKind::IoUring) => {
                                    let open = Box::new(treestore_wal::GlommioFs::new);
                                    shard_loop::run(ctx, open).await
                                }
                                (LogDisk::Files, ExecutorKind::Threads) => {
                                    let open = Box::new(treestore_wal::ThreadFs::new);
                                    shard_loop::run(ctx, open).await
                                }
                            }
                        }));
                    }
                    for t in tasks {
                        t.await;
                    }
                },
            );
            match started {
                Ok(handle) => handles.push(handle),
                Err(err) => {
                    // Stop the executors already running before reporting.
                    for inbox in &inboxes {
                        inbox.close();
                    }
                    for h in handles {
                        h.join();
                    }
                    return Err(Error::Storage(err.to_string()));
                }
            }
        }
        tracing::info!(
            shards = n,
            executors,
            io_uring = kind == ExecutorKind::IoUring,
            data_dir = %config.data_dir.display(),
            "runtime started"
        );
        Ok(Arc::new(Runtime {
            inboxes,
            admissions,
            status,
            caches,
            feeds,
            stores: RwLock::new(stores),
            executors: Mutex::new(handles),
            executor_kind: kind,
            metrics,
            shard_metrics,
            block_cache_seen: Mutex::new(Default::default()),
            manifest,
        }))
    }

    /// The executors the shards run on (io_uring or plain threads).
    pub fn executor_kind(&self) -> ExecutorKind {
        self.executor_kind
    }

    /// The runtime's series, for the server to register.
    pub fn metrics(&self) -> &RuntimeMetrics {
        &self.metrics
    }

    /// Whether every shard is serving.
    pub fn all_serving(&self) -> bool {
        self.status.iter().all(|s| s.state() == ShardState::Serving)
    }

    /// Stops: refuses new calls, finishes queued and in-flight ones, checkpoints every shard and
    /// joins the executor threads. Blocking.
    pub fn shutdown(&self) -> Result<()> {
        for (s, inbox) in self.status.iter().zip(&self.inboxes) {
            if s.state() == ShardState::Serving {
                s.set_state(ShardState::Stopping, "shutting down".into());
            }
            inbox.close();
        }
        let handles: Vec<_> =
            std::mem::take(&mut *self.executors.lock().unwrap_or_else(|e| e.into_inner()));
        for h in handles {
            h.join();
        }
        self.stores
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }
}

impl<S: ShardStore> ShardRouter for Runtime<S> {
    fn shard_count(&self) -> usize {
        self.inboxes.len()
    }

    fn call(&self, shard: usize, request: Request) -> ShardFuture {
        let Some(status) = self.status.get(shard) else {
            return Box::pin(std::future::ready(Err(Error::Internal(format!(
                "no shard {shard}"
            )))));
        };
        let state = status.state();
        if state != ShardState::Serving {
            let reason = status.detail();
            return Box::pin(std::future::ready(Err(Error::Unavailable {
                shard,
                reason,
            })));
        }
        // Served in time or refused now (see `admission.rs`).
        let ticket = match self.admissions[shard].admit(std::time::Instant::now()) {
            Ok(t) => t,
            Err((why, e)) => {
                if let Some(m) = self.shard_metrics.get(shard) {
                    m.refused(why);
                }
                return Box::pin(std::future::ready(Err(e)));
            }
        };
        let (tx, rx) = oneshot::channel();
        let reply = Reply::new(tx, ticket);
        let pushed = self.inboxes[shard].push(Envelope { request, reply });
        let err = match pushed {
            Ok(()) => None,
            Err(PushError::Full) => {
                if let Some(m) = self.shard_metrics.get(shard) {
                    m.refused(Refusal::InboxFull);
                }
                Some(Error::ResourceExhausted(format!(
                    "shard {shard} inbox is full; retry with backoff"
                )))
            }
            Err(PushError::Closed) => Some(Error::Unavailable {
                shard,
                reason: "shutting down".into(),
            }),
        };
        Box::pin(async move {
            if let Some(e) = err {
                return Err(e);
            }
            match rx.await {
                Ok(r) => r,
                Err(_) => Err(Error::Unavailable {
                    shard,
                    reason: "the shard stopped before answering".into(),
                }),
            }
        })
    }

    fn cached_tree(&self, shard: usize, doc: &str, at: ReadAt) -> Option<Arc<DocTree>> {
        if self.status.get(shard)?.state() != ShardState::Serving {
            return None;
        }
        let cache = &self.caches[shard];
        let version = match at {
            ReadAt::Latest => None,
            ReadAt::Version(v) => Some(v),
            ReadAt::AsOf { time, axis } => {
                if !cache.has_doc(doc) {
                    // Nothing of the document is cached: a counted miss, without a seek.
                    return cache.get(doc, None);
                }
                // The time index may hold versions not yet durable: such a version is not
                // cached, so the read goes to the shard; a cached version it names is the
                // answer the durable state gives too (adding versions only adds candidates).
                // A failed resolution is answered by the shard, never from here.
                let stores = self.stores.read().unwrap_or_else(|e| e.into_inner());
                Some(crate::view::version_as_of(stores.get(shard)?, doc, time, axis).ok()?)
            }
        };
        cache.get(doc, version)
    }

    fn tree_cache_stats(&self) -> Vec<CacheStats> {
        self.caches.iter().map(|c| c.stats()).collect()
    }

    fn feed(&self, shard: usize) -> Option<Arc<FeedLive>> {
        self.feeds.get(shard).cloned()
    }

    fn read_store<T>(
        &self,
        shard: usize,
        f: &mut dyn FnMut(&dyn crate::store::KvRead) -> Result<T>,
    ) -> Result<T> {
        let stores = self.stores.read().unwrap_or_else(|e| e.into_inner());
        match stores.get(shard) {
            Some(store) => f(store),
            None => Err(Error::Unavailable {
                shard,
                reason: "shutting down".into(),
            }),
        }
    }

    fn data_id(&self) -> u64 {
        self.manifest.created_at as u64
    }

    fn health(&self) -> Vec<ShardHealth> {
        self.status
            .iter()
            .enumerate()
            .map(|(shard, s)| ShardHealth {
                shard,
                state: s.state(),
                durable_lsn: s.durable_lsn.load(Ordering::Relaxed),
                last_lsn: s.last_lsn.load(Ordering::Relaxed),
                wal_bytes: s.wal_bytes.load(Ordering::Relaxed),
                detail: if s.state() == ShardState::Serving {
                    String::new()
                } else {
                    s.detail()
                },
                corruption: s.corruption(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisoned_is_never_left() {
        let s = ShardStatus::default();
        s.set_state(ShardState::Serving, String::new());
        s.set_state(ShardState::Poisoned, "log sync failed".into());
        s.set_state(ShardState::Stopping, "shutting down".into());
        s.set_state(ShardState::Serving, String::new());
        assert_eq!(s.state(), ShardState::Poisoned);
        assert_eq!(s.detail(), "log sync failed");
    }

    #[test]
    fn a_racing_stop_never_overwrites_a_poison() {
        for round in 0..200 {
            let s = Arc::new(ShardStatus::default());
            s.set_state(ShardState::Serving, String::new());
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let stopper = {
                let (s, barrier) = (s.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    // What `Runtime::shutdown` does: a check, then a store.
                    if s.state() == ShardState::Serving {
                        s.set_state(ShardState::Stopping, "shutting down".into());
                    }
                })
            };
            barrier.wait();
            s.set_state(ShardState::Poisoned, format!("poisoned in round {round}"));
            stopper.join().unwrap();
            assert_eq!(s.state(), ShardState::Poisoned, "round {round}");
            assert_eq!(s.detail(), format!("poisoned in round {round}"));
        }
    }
}
