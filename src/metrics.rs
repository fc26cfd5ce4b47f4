//! Prometheus metrics: requests by method and status code, latency by method, per-shard state
//! and WAL position, per-shard tree cache counters and size, and tool-result cache lookups by
//! outcome; served as text on `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use shards::engine::ShardHealth;
use shards::tree::CacheStats;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    shard_state: IntGaugeVec,
    shard_log_corrupt: IntGaugeVec,
    wal_durable_lsn: IntGaugeVec,
    wal_last_lsn: IntGaugeVec,
    wal_bytes: IntGaugeVec,
    tree_cache: TreeCacheMetrics,
    tool_cache_lookups: IntCounterVec,
    /// Watch streams open.
    pub watches: IntGauge,
    /// Watch events sent (versions and deletions).
    pub watch_events: IntCounter,
}

/// The tree caches' counters (advanced by what each shard counted since the last poll) and size.
struct TreeCacheMetrics {
    hits: IntCounterVec,
    misses: IntCounterVec,
    evictions: IntCounterVec,
    bytes: IntGaugeVec,
    documents: IntGaugeVec,
    /// The counts last seen per shard.
    seen: Mutex<Vec<CacheStats>>,
}

impl TreeCacheMetrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), &["shard"])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str| -> Result<IntGaugeVec, prometheus::Error> {
            let g = IntGaugeVec::new(Opts::new(name, help), &["shard"])?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        Ok(TreeCacheMetrics {
            hits: counter(
                "treestore_tree_cache_hits_total",
                "Node and document reads answered from a cached tree, per shard",
            )?,
            misses: counter(
                "treestore_tree_cache_misses_total",
                "Node and document reads (outside transactions) that reached the shard, per shard",
            )?,
            evictions: counter(
                "treestore_tree_cache_evictions_total",
                "Documents evicted from the tree cache to stay within its bytes, per shard",
            )?,
            bytes: gauge(
                "treestore_tree_cache_bytes",
                "Approximate bytes of cached trees, per shard",
            )?,
            documents: gauge(
                "treestore_tree_cache_documents",
                "Documents with a cached tree, per shard",
            )?,
            seen: Mutex::new(vec![]),
        })
    }

    fn set(&self, stats: &[CacheStats]) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.resize(stats.len(), CacheStats::default());
        let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for (shard, (now, before)) in stats.iter().zip(seen.iter_mut()).enumerate() {
            let label = shard.to_string();
            let l = [label.as_str()];
            self.hits
                .with_label_values(&l)
                .inc_by(now.hits.saturating_sub(before.hits));
            self.misses
                .with_label_values(&l)
                .inc_by(now.misses.saturating_sub(before.misses));
            self.evictions
                .with_label_values(&l)
                .inc_by(now.evictions.saturating_sub(before.evictions));
            self.bytes.with_label_values(&l).set(g(now.bytes));
            self.documents.with_label_values(&l).set(g(now.documents));
            *before = *now;
        }
    }
}

impl Metrics {
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "treestore_requests_total",
                "gRPC requests by method and status code",
            ),
            &["method", "code"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "treestore_request_duration_seconds",
                "gRPC request latency by method",
            )
            .buckets(vec![
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method"],
        )?;
        let shard_state = IntGaugeVec::new(
            Opts::new(
                "treestore_shard_state",
                "Shard state: 0 recovering, 1 serving, 2 poisoned, 3 stopping",
            ),
            &["shard"],
        )?;
        let shard_log_corrupt = IntGaugeVec::new(
            Opts::new(
                "treestore_shard_log_corrupt",
                "1 while the shard is out of service because recovery found its log corrupt \
                 before the end (the Health RPC names file and offset), else 0",
            ),
            &["shard"],
        )?;
        let wal_durable_lsn = IntGaugeVec::new(
            Opts::new(
                "treestore_wal_durable_lsn",
                "Highest durable WAL LSN per shard",
            ),
            &["shard"],
        )?;
        let wal_last_lsn = IntGaugeVec::new(
            Opts::new(
                "treestore_wal_last_lsn",
                "Highest written WAL LSN per shard",
            ),
            &["shard"],
        )?;
        let wal_bytes = IntGaugeVec::new(
            Opts::new(
                "treestore_wal_bytes",
                "Bytes of WAL segments on disk per shard",
            ),
            &["shard"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(shard_state.clone()))?;
        registry.register(Box::new(shard_log_corrupt.clone()))?;
        registry.register(Box::new(wal_durable_lsn.clone()))?;
        registry.register(Box::new(wal_last_lsn.clone()))?;
        registry.register(Box::new(wal_bytes.clone()))?;
        let tree_cache = TreeCacheMetrics::new(&registry)?;
        let tool_cache_lookups = IntCounterVec::new(
            Opts::new(
                "treestore_tool_cache_lookups_total",
                "Tool-result cache lookups by result: hit, or the miss's reason (not_found, \
                 expired, stale)",
            ),
            &["result"],
        )?;
        registry.register(Box::new(tool_cache_lookups.clone()))?;
        let watches = IntGauge::new("treestore_watches", "Watch streams open")?;
        registry.register(Box::new(watches.clone()))?;
        let watch_events = IntCounter::new(
            "treestore_watch_events_total",
            "Watch events sent (document versions and deletions), over all streams",
        )?;
        registry.register(Box::new(watch_events.clone()))?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "treestore_build_info",
                "Always 1; the server's version in the label",
            ),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(build_info))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            shard_state,
            shard_log_corrupt,
            wal_durable_lsn,
            wal_last_lsn,
            wal_bytes,
            tree_cache,
            tool_cache_lookups,
            watches,
            watch_events,
        })
    }

    /// Each shard's tree cache counters and size, in shard order.
    pub fn set_tree_caches(&self, stats: &[CacheStats]) {
        self.tree_cache.set(stats);
    }

    /// One tool-result cache lookup: `result` is "hit", "not_found", "expired" or "stale".
    pub fn tool_cache_lookup(&self, result: &str) {
        self.tool_cache_lookups.with_label_values(&[result]).inc();
    }

    pub fn observe(&self, method: &str, code: tonic::Code, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, code_name(code)])
            .inc();
        self.latency
            .with_label_values(&[method])
            .observe(elapsed.as_secs_f64());
    }

    pub fn set_shards(&self, shards: &[ShardHealth]) {
        use shards::engine::ShardState as S;
        for h in shards {
            let label = h.shard.to_string();
            let state = match h.state {
                S::Recovering => 0,
                S::Serving => 1,
                S::Poisoned => 2,
                S::Stopping => 3,
            };
            self.shard_state
                .with_label_values(&[label.as_str()])
                .set(state);
            self.shard_log_corrupt
                .with_label_values(&[label.as_str()])
                .set(i64::from(h.corruption.is_some()));
            let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            self.wal_durable_lsn
                .with_label_values(&[label.as_str()])
                .set(g(h.durable_lsn));
            self.wal_last_lsn
                .with_label_values(&[label.as_str()])
                .set(g(h.last_lsn));
            self.wal_bytes
                .with_label_values(&[label.as_str()])
                .set(g(h.wal_bytes));
        }
    }

    /// The Prometheus text exposition of every metric.
    /// The registry, for other components to register their series in.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self) -> String {
        let mut buf = vec![];
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// The canonical upper-case gRPC name of a code (e.g. "NOT_FOUND").
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_and_shards() {
        let m = Metrics::new().unwrap();
        m.observe("GetNode", tonic::Code::NotFound, Duration::from_micros(10));
        m.set_shards(&[ShardHealth {
            shard: 1,
            last_lsn: 7,
            ..Default::default()
        }]);
        let stats = |hits, bytes| CacheStats {
            hits,
            misses: 2,
            bytes,
            documents: 1,
            ..Default::default()
        };
        m.set_tree_caches(&[stats(5, 100)]);
        m.set_tree_caches(&[stats(9, 80)]);
        let text = m.render();
        assert!(text.contains(r#"treestore_requests_total{code="NOT_FOUND",method="GetNode"} 1"#));
        assert!(text.contains(r#"treestore_wal_last_lsn{shard="1"} 7"#));
        // Counters follow the shard's counts, gauges its last size.
        assert!(
            text.contains(r#"treestore_tree_cache_hits_total{shard="0"} 9"#),
            "{text}"
        );
        assert!(text.contains(r#"treestore_tree_cache_misses_total{shard="0"} 2"#));
        assert!(text.contains(r#"treestore_tree_cache_bytes{shard="0"} 80"#));
    }
}
