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
        metrics.set_tree_caches(&router.tree_cache_stats());
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

#[cfg(test)]
mod tests {
    use super::*;
    use shards::engine::{ShardFuture, ShardHealth};
    use shards::request::Request;
    use std::sync::Mutex;
    use tonic_health::pb::health_check_response::ServingStatus as Wire;
    use tonic_health::pb::health_server::Health;
    use tonic_health::pb::HealthCheckRequest;

    /// Shards whose states the test sets.
    struct Shards(Mutex<Vec<ShardState>>);

    impl ShardRouter for Shards {
        fn shard_count(&self) -> usize {
            self.0.lock().unwrap().len()
        }
        fn call(&self, shard: usize, _req: Request) -> ShardFuture {
            Box::pin(std::future::ready(Err(shards::Error::Unavailable {
                shard,
                reason: "test".into(),
            })))
        }
        fn health(&self) -> Vec<ShardHealth> {
            let states = self.0.lock().unwrap();
            states
                .iter()
                .enumerate()
                .map(|(shard, &state)| ShardHealth {
                    shard,
                    state,
                    ..Default::default()
                })
                .collect()
        }
    }

    async fn status_becomes(service: &impl Health, want: Wire) {
        for _ in 0..1000 {
            let req = tonic::Request::new(HealthCheckRequest {
                service: SERVICE.into(),
            });
            let got = service.check(req).await.map(|r| r.into_inner().status);
            if got.is_ok_and(|status| status == want as i32) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("health never became {want:?}");
    }

    #[tokio::test]
    async fn not_serving_while_a_shard_recovers_or_is_poisoned_and_from_shutdown_on() {
        let shards = Arc::new(Shards(Mutex::new(vec![ShardState::Recovering; 2])));
        let reporter = HealthReporter::new();
        let service = tonic_health::server::HealthService::from_health_reporter(reporter.clone());
        let metrics = Arc::new(Metrics::new().unwrap());
        let stopping = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn(watch(
            shards.clone(),
            reporter,
            metrics,
            stopping.clone(),
            Duration::from_millis(1),
        ));
        let set = |states: [ShardState; 2]| *shards.0.lock().unwrap() = states.to_vec();
        status_becomes(&service, Wire::NotServing).await;
        set([ShardState::Serving, ShardState::Recovering]);
        status_becomes(&service, Wire::NotServing).await;
        set([ShardState::Serving; 2]);
        status_becomes(&service, Wire::Serving).await;
        set([ShardState::Serving, ShardState::Poisoned]);
        status_becomes(&service, Wire::NotServing).await;
        set([ShardState::Serving; 2]);
        status_becomes(&service, Wire::Serving).await;
        stopping.store(true, Ordering::Release);
        status_becomes(&service, Wire::NotServing).await;
        watcher.await.unwrap();
    }
}
