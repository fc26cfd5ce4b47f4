//! The shard backend the server runs on: the durable glommio runtime (`shards::runtime`),
//! behind the engine's `ShardRouter` plus a blocking shutdown.

use crate::config::Config;
use shards::engine::ShardRouter;
use shards::runtime::{Runtime, RuntimeConfig};
use std::sync::Arc;

/// A `ShardRouter` that can be stopped: refuse new calls, drain, checkpoint. Blocking.
pub trait Backend: ShardRouter {
    fn shutdown(&self) -> shards::Result<()>;
    /// Registers the backend's own series (shard runtime, RocksDB).
    fn register_metrics(&self, registry: &prometheus::Registry) -> prometheus::Result<()>;
    /// Brings the series read on demand up to date (called before each scrape).
    fn refresh_metrics(&self);
}

impl Backend for Runtime {
    fn shutdown(&self) -> shards::Result<()> {
        Runtime::shutdown(self)
    }
    fn register_metrics(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        self.metrics().register(registry)
    }
    fn refresh_metrics(&self) {
        Runtime::refresh_metrics(self)
    }
}

pub fn runtime_config(c: &Config) -> RuntimeConfig {
    let wal = treestore_wal::WalOptions {
        segment_size: c.wal_segment_size,
        keep_segments: c.wal_keep_segments,
        truncate_on_corruption: c.truncate_on_corruption,
        ..Default::default()
    };
    RuntimeConfig {
        data_dir: c.data_dir.clone(),
        shards: c.shards,
        executors: c.executors,
        pin_cores: c.pin_cores,
        inbox_capacity: c.inbox_capacity,
        max_queue_wait: c.max_queue_wait(),
        wal,
        checkpoint_interval: c.checkpoint_interval(),
        checkpoint_wal_bytes: c.checkpoint_wal_bytes,
        shard: c.shard_config(),
        rocksdb_cache_bytes: c.cache_bytes,
        tree_cache_bytes: c.tree_cache_bytes,
        truncate_on_corruption: c.truncate_on_corruption,
        io_uring: c.io_uring.into(),
        disk_reserve_bytes: c.disk_reserve_bytes,
        feed_retention_records: c.watch_retention_records,
        feed_memory_events: c.watch_memory_events,
        ..Default::default()
    }
}

/// Opens the data directory and starts the executors (blocking). Shards recover in the
/// background; Health reports them RECOVERING until they serve.
pub fn start(c: &Config) -> shards::Result<Arc<Runtime>> {
    Runtime::start(runtime_config(c))
}
