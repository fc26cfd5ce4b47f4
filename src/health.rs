//! grpc.health.v1: SERVING while every shard serves, NOT_SERVING while any shard is recovering,
//! poisoned or stopping, and from the start of a shutdown on. Refreshed from the backend's shard
//! states, which also feed the per-shard metrics.

use crate::metrics::Metrics;
use shards::engine::{ShardRouter, ShardState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// The service name registered with the health service, besides "" (the whole server).
pub const SERVICE: &str = "treestore.v1.TreeStore";

pub async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter.set_service_status(SERVICE, status).await;
}

/// Polls shard states every `every` until `stopping` is set, then reports NOT_SERVING.
pub async fn watch<R: ShardRouter>(
    router: Arc<R>,
    reporter: HealthReporter,
    metrics: Arc<Metrics>,
    stopping: Arc<AtomicBool>,
    every: Duration,
) {
    let mut last = None;
    loop {
        let shards = router.health();
        metrics.set_shards(&shards);
        let serving = !stopping.load(Ordering::Acquire)
            && !shards.is_empty()
            && shards.iter().all(|s| s.state == ShardState::Serving);
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if last != Some(status) {
            set_all(&reporter, status).await;
            tracing::info!(serving, "health status changed");
            last = Some(status);
        }
        if stopping.load(Ordering::Acquire) {
            return;
        }
        tokio::time::sleep(every).await;
    }
}
