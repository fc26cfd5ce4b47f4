//! The shard runtime's Prometheus series: per shard inbox, log, checkpoint, transaction and
//! RocksDB figures, plus which executors run. The runtime records into them as things happen
//! (histograms, counters) or refreshes them when asked (`Runtime::refresh_metrics`: gauges read
//! from RocksDB and the inboxes); the server registers them in its registry. Every per-shard
//! series exists from the start (at 0), so a dashboard or alert sees each shard at once.

use crate::runtime::Refusal;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

/// Latency buckets for disk operations, seconds (100 µs .. 10 s).
const DISK_SECONDS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Transaction lifetimes, seconds (1 ms .. 5 min).
const TXN_SECONDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Log records made durable by one fdatasync.
const GROUP_SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    Committed,
    /// Its commit failed (a conflict, a limit): nothing of it was written.
    Aborted,
    RolledBack,
    /// Idle past its timeout, dropped by the shard.
    Expired,
}

impl TxnOutcome {
    pub const ALL: [TxnOutcome; 4] = [
        TxnOutcome::Committed,
        TxnOutcome::Aborted,
        TxnOutcome::RolledBack,
        TxnOutcome::Expired,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TxnOutcome::Committed => "committed",
            TxnOutcome::Aborted => "aborted",
            TxnOutcome::RolledBack => "rolled_back",
            TxnOutcome::Expired => "expired",
        }
    }
}

/// Every series of the runtime, unregistered.
pub struct RuntimeMetrics {
    pub io_uring: IntGauge,
    inbox_depth: IntGaugeVec,
    inbox_capacity: IntGaugeVec,
    inbox_full: IntCounterVec,
    refused: IntCounterVec,
    expected_wait: GaugeVec,
    fsync: HistogramVec,
    group_commit: HistogramVec,
    checkpoints: IntCounterVec,
    checkpoint_seconds: HistogramVec,
    last_checkpoint: GaugeVec,
    txns_active: IntGaugeVec,
    txn_seconds: HistogramVec,
    memtable_bytes: IntGaugeVec,
    sst_bytes: IntGaugeVec,
    pending_compaction_bytes: IntGaugeVec,
    pub block_cache_hits: IntCounter,
    pub block_cache_misses: IntCounter,
    pub block_cache_bytes: IntGauge,
}

fn shard_opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

impl RuntimeMetrics {
    pub fn new() -> prometheus::Result<RuntimeMetrics> {
        let hist = |name: &str, help: &str, buckets: &[f64], labels: &[&str]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
        };
        let gauge = |name: &str, help: &str| IntGaugeVec::new(shard_opts(name, help), &["shard"]);
        Ok(RuntimeMetrics {
            io_uring: IntGauge::new(
                "treestore_runtime_io_uring",
                "1 when shards run on io_uring (glommio), 0 on plain threads (fallback)",
            )?,
            inbox_depth: gauge(
                "treestore_shard_inbox_depth",
                "Requests queued in the shard's inbox",
            )?,
            inbox_capacity: gauge(
                "treestore_shard_inbox_capacity",
                "Bound of the shard's inbox; a full inbox refuses with RESOURCE_EXHAUSTED",
            )?,
            inbox_full: IntCounterVec::new(
                shard_opts(
                    "treestore_shard_inbox_full_total",
                    "Requests refused because the shard's inbox was full",
                ),
                &["shard"],
            )?,
            refused: IntCounterVec::new(
                shard_opts(
                    "treestore_shard_refused_total",
                    "Requests the shard refused by reason: deadline (on arrival, the estimated \
                     wait ends after the client's deadline: DEADLINE_EXCEEDED), queue_wait (on \
                     arrival, the estimated wait exceeds max_queue_wait: RESOURCE_EXHAUSTED), \
                     expired (past its deadline when dequeued, not served), inbox_full \
                     (RESOURCE_EXHAUSTED)",
                ),
                &["shard", "reason"],
            )?,
            expected_wait: GaugeVec::new(
                shard_opts(
                    "treestore_shard_expected_wait_seconds",
                    "The queue wait admission expects for a request arriving at the shard now: \
                     requests outstanding times the moving time per request",
                ),
                &["shard"],
            )?,
            fsync: hist(
                "treestore_wal_fsync_duration_seconds",
                "Time of one log flush: the write and its fdatasync",
                DISK_SECONDS,
                &["shard"],
            )?,
            group_commit: hist(
                "treestore_wal_group_commit_records",
                "Log records made durable by one fdatasync (group commit)",
                GROUP_SIZES,
                &["shard"],
            )?,
            checkpoints: IntCounterVec::new(
                shard_opts(
                    "treestore_checkpoints_total",
                    "Checkpoints (RocksDB flush, then log purge) by result: ok or failed",
                ),
                &["shard", "result"],
            )?,
            checkpoint_seconds: hist(
                "treestore_checkpoint_duration_seconds",
                "Time of a successful checkpoint",
                DISK_SECONDS,
                &["shard"],
            )?,
            last_checkpoint: GaugeVec::new(
                shard_opts(
                    "treestore_last_checkpoint_timestamp_seconds",
                    "Unix time of the shard's last successful checkpoint (its start: recovery)",
                ),
                &["shard"],
            )?,
            txns_active: gauge(
                "treestore_transactions_active",
                "Open transactions on the shard",
            )?,
            txn_seconds: hist(
                "treestore_transaction_duration_seconds",
                "Transaction lifetimes, begin to end, by outcome: committed, aborted (commit \
                 failed), rolled_back, expired",
                TXN_SECONDS,
                &["shard", "outcome"],
            )?,
            memtable_bytes: gauge(
                "treestore_rocksdb_memtable_bytes",
                "Bytes of the shard's RocksDB memtables",
            )?,
            sst_bytes: gauge(
                "treestore_rocksdb_sst_bytes",
                "Bytes of the shard's RocksDB SST files",
            )?,
            pending_compaction_bytes: gauge(
                "treestore_rocksdb_pending_compaction_bytes",
                "RocksDB's estimate of the bytes compaction must rewrite for the shard",
            )?,
            block_cache_hits: IntCounter::new(
                "treestore_rocksdb_block_cache_hits_total",
                "RocksDB block cache hits (all shards share the cache)",
            )?,
            block_cache_misses: IntCounter::new(
                "treestore_rocksdb_block_cache_misses_total",
                "RocksDB block cache misses",
            )?,
            block_cache_bytes: IntGauge::new(
                "treestore_rocksdb_block_cache_bytes",
                "Bytes in the RocksDB block cache",
            )?,
        })
    }

    pub fn register(&self, r: &Registry) -> prometheus::Result<()> {
        r.register(Box::new(self.io_uring.clone()))?;
        r.register(Box::new(self.inbox_depth.clone()))?;
        r.register(Box::new(self.inbox_capacity.clone()))?;
        r.register(Box::new(self.inbox_full.clone()))?;
        r.register(Box::new(self.refused.clone()))?;
        r.register(Box::new(self.expected_wait.clone()))?;
        r.register(Box::new(self.fsync.clone()))?;
        r.register(Box::new(self.group_commit.clone()))?;
        r.register(Box::new(self.checkpoints.clone()))?;
        r.register(Box::new(self.checkpoint_seconds.clone()))?;
        r.register(Box::new(self.last_checkpoint.clone()))?;
        r.register(Box::new(self.txns_active.clone()))?;
        r.register(Box::new(self.txn_seconds.clone()))?;
        r.register(Box::new(self.memtable_bytes.clone()))?;
        r.register(Box::new(self.sst_bytes.clone()))?;
        r.register(Box::new(self.pending_compaction_bytes.clone()))?;
        r.register(Box::new(self.block_cache_hits.clone()))?;
        r.register(Box::new(self.block_cache_misses.clone()))?;
        r.register(Box::new(self.block_cache_bytes.clone()))?;
        Ok(())
    }

    /// Shard `id`'s series, each created now (at 0).
    pub fn shard(&self, id: usize) -> ShardMetrics {
        let s = id.to_string();
        let l = [s.as_str()];
        let txn = |o: TxnOutcome| self.txn_seconds.with_label_values(&[s.as_str(), o.label()]);
        ShardMetrics {
            inbox_depth: self.inbox_depth.with_label_values(&l),
            inbox_capacity: self.inbox_capacity.with_label_values(&l),
            inbox_full: self.inbox_full.with_label_values(&l),
            refused: Refusal::ALL.map(|r| self.refused.with_label_values(&[s.as_str(), r.label()])),
            expected_wait: self.expected_wait.with_label_values(&l),
            fsync: self.fsync.with_label_values(&l),
            group_commit: self.group_commit.with_label_values(&l),
            checkpoints_ok: self.checkpoints.with_label_values(&[s.as_str(), "ok"]),
            checkpoints_failed: self.checkpoints.with_label_values(&[s.as_str(), "failed"]),
            checkpoint_seconds: self.checkpoint_seconds.with_label_values(&l),
            last_checkpoint: self.last_checkpoint.with_label_values(&l),
            txns_active: self.txns_active.with_label_values(&l),
            txn_seconds: TxnOutcome::ALL.map(txn),
            memtable_bytes: self.memtable_bytes.with_label_values(&l),
            sst_bytes: self.sst_bytes.with_label_values(&l),
            pending_compaction_bytes: self.pending_compaction_bytes.with_label_values(&l),
        }
    }
}

/// One shard's series.
#[derive(Clone)]
pub struct ShardMetrics {
    pub inbox_depth: IntGauge,
    pub inbox_capacity: IntGauge,
    pub inbox_full: IntCounter,
    /// Indexed like `Refusal::ALL`.
    refused: [IntCounter; 4],
    pub expected_wait: Gauge,
    pub fsync: Histogram,
    pub group_commit: Histogram,
    pub checkpoints_ok: IntCounter,
    pub checkpoints_failed: IntCounter,
    pub checkpoint_seconds: Histogram,
    pub last_checkpoint: Gauge,
    pub txns_active: IntGauge,
    /// Indexed like `TxnOutcome::ALL`.
    txn_seconds: [Histogram; 4],
    pub memtable_bytes: IntGauge,
    pub sst_bytes: IntGauge,
    pub pending_compaction_bytes: IntGauge,
}

impl ShardMetrics {
    /// Counts a refusal; a full inbox also in `treestore_shard_inbox_full_total`.
    pub fn refused(&self, why: Refusal) {
        let i = Refusal::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.refused[i].inc();
        if why == Refusal::InboxFull {
            self.inbox_full.inc();
        }
    }

    pub fn transaction_ended(&self, outcome: TxnOutcome, seconds: f64) {
        let i = TxnOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.txn_seconds[i].observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Encoder;

    #[test]
    fn every_shard_series_exists_at_zero_once_the_shard_is_made() {
        let m = RuntimeMetrics::new().unwrap();
        let r = Registry::new();
        m.register(&r).unwrap();
        let s = m.shard(3);
        s.transaction_ended(TxnOutcome::Expired, 2.0);
        let mut out = vec![];
        prometheus::TextEncoder::new()
            .encode(&r.gather(), &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        for series in [
            r#"treestore_shard_inbox_full_total{shard="3"} 0"#,
            r#"treestore_shard_refused_total{reason="deadline",shard="3"} 0"#,
            r#"treestore_shard_refused_total{reason="expired",shard="3"} 0"#,
            r#"treestore_checkpoints_total{result="failed",shard="3"} 0"#,
            r#"treestore_checkpoints_total{result="ok",shard="3"} 0"#,
            r#"treestore_wal_fsync_duration_seconds_count{shard="3"} 0"#,
            r#"treestore_transaction_duration_seconds_count{outcome="committed",shard="3"} 0"#,
            r#"treestore_transaction_duration_seconds_count{outcome="expired",shard="3"} 1"#,
            r#"treestore_rocksdb_sst_bytes{shard="3"} 0"#,
            "treestore_runtime_io_uring 0",
        ] {
            assert!(text.contains(series), "{series} missing from\n{text}");
        }
    }
}
