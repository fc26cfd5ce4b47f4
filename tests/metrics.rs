//! The runtime's series on /metrics of the real server move with what happens: transactions by
//! outcome, log flushes (every durable record counted once in group-commit sizes), checkpoints.

mod common;

use common::{http_get, leaf, put_small, Server};
use treestore::pb;

/// The value of the series line starting with `series` (labels in Prometheus' sorted order).
fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} missing from\n{metrics}"))
}

#[tokio::test]
async fn transactions_log_flushes_and_checkpoints_are_counted() {
    let s = Server::start(&["--checkpoint-interval-secs", "1"]).await;
    let mut c = s.client().await;
    for i in 0..10 {
        put_small(&mut c, &format!("d{i}")).await;
    }
    let begin = |doc: &str| pb::BeginTransactionRequest {
        doc_id: doc.into(),
        timeout_ms: None,
    };
    let t = c.begin_transaction(begin("d1")).await.unwrap().into_inner();
    c.insert_node(pb::InsertNodeRequest {
        doc_id: "d1".into(),
        node: Some(leaf("t1", "in tx")),
        transaction_id: t.transaction_id.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.commit_transaction(pb::CommitTransactionRequest {
        transaction_id: t.transaction_id,
        ..Default::default()
    })
    .await
    .unwrap();
    let t = c.begin_transaction(begin("d2")).await.unwrap().into_inner();
    c.rollback_transaction(pb::RollbackTransactionRequest {
        transaction_id: t.transaction_id,
    })
    .await
    .unwrap();
    // One left open.
    c.begin_transaction(begin("d3")).await.unwrap();
    // A checkpoint every second: wait for one after the writes.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let m = http_get(&s.metrics_addr, "/metrics").await;
    let sum_over_shards = |name: &str, labels: &str| -> f64 {
        (0..2)
            .map(|i| value(&m, &format!("{name}{{{labels}shard=\"{i}\"}} ")))
            .sum()
    };
    let count = |outcome: &str| {
        sum_over_shards(
            "treestore_transaction_duration_seconds_count",
            &format!("outcome=\"{outcome}\","),
        )
    };
    assert_eq!(count("committed"), 1.0, "{m}");
    assert_eq!(count("rolled_back"), 1.0);
    assert_eq!(count("aborted"), 0.0);
    assert_eq!(count("expired"), 0.0);
    assert_eq!(
        sum_over_shards("treestore_transactions_active", ""),
        1.0,
        "{m}"
    );
    // Every durable record was made durable by exactly one counted flush.
    for i in 0..2 {
        let durable = value(&m, &format!("treestore_wal_durable_lsn{{shard=\"{i}\"}} "));
        let grouped = value(
            &m,
            &format!("treestore_wal_group_commit_records_sum{{shard=\"{i}\"}} "),
        );
        assert_eq!(grouped, durable, "shard {i}");
    }
    assert!(sum_over_shards("treestore_wal_fsync_duration_seconds_count", "") >= 1.0);
    assert!(sum_over_shards("treestore_checkpoints_total", "result=\"ok\",") >= 2.0);
    assert_eq!(
        sum_over_shards("treestore_checkpoints_total", "result=\"failed\","),
        0.0
    );
    assert!(value(&m, "treestore_rocksdb_block_cache_bytes ") >= 0.0);
}
