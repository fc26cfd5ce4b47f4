//! Mid-log corruption of one shard's write-ahead log, found at restart (the real server): that
//! shard stays out of service (POISONED, its documents UNAVAILABLE), the Health RPC names the
//! damaged file and offset (so does Stats, which answers with the other shard's counters,
//! marked partial),
//! `treestore_shard_log_corrupt{shard}` is 1; the other shard serves reads and writes.

mod common;

use common::{code, http_get, put_small, recovered, Server};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use treestore::pb;

/// Documents placed on `shard` of 2.
fn docs_on(shard: usize, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("doc-{i}"))
        .filter(|d| shards::placement::shard_of(d, 2) == shard)
        .take(n)
        .collect()
}

fn get(doc: &str) -> pb::GetDocumentRequest {
    pb::GetDocumentRequest {
        doc_id: doc.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_log_corruption_keeps_that_shard_out_and_health_names_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Small segments, so shard 0's log has several; no checkpoint purges them.
    let extra = [
        "--wal-segment-size",
        "8192",
        "--checkpoint-interval-secs",
        "3600",
    ];
    let mut server = Server::start_on(&data, tmp.path(), &extra).await;
    let mut c = server.client().await;
    let (on0, on1) = (docs_on(0, 12), docs_on(1, 2));
    for d in on0.iter().chain(&on1[..1]) {
        put_small(&mut c, d).await;
    }
    // Crash: the writes live in the logs only (RocksDB's memtables are lost).
    if let Some(mut child) = server.child.take() {
        child.kill().unwrap();
        child.wait().unwrap();
    }

    // Damage the first record of shard 0's oldest segment (not the last one: not a torn tail).
    let wal = data.join("wal").join("shard-0");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 3, "{segments:?}");
    let damaged = &segments[0];
    let flipped = 4096 + 40;
    let mut bytes = std::fs::read(damaged).unwrap();
    bytes[flipped] ^= 0x5a;
    std::fs::write(damaged, &bytes).unwrap();

    let server = Server::start_until(&data, tmp.path(), &extra, None, recovered).await;
    let mut c = server.client().await;
    let health = c.health(pb::HealthRequest {}).await.unwrap().into_inner();
    assert_eq!(
        health.status,
        pb::HealthStatus::Degraded as i32,
        "{health:?}"
    );
    let (s0, s1) = (&health.shards[0], &health.shards[1]);
    assert_eq!(s0.state, pb::ShardState::Poisoned as i32, "{health:?}");
    let corruption = s0
        .corruption
        .as_ref()
        .expect("shard 0 reports its corruption");
    assert_eq!(PathBuf::from(&corruption.file), *damaged, "{health:?}");
    // The offset of the damaged record (its header starts the block).
    assert_eq!(corruption.offset, 4096, "{health:?}");
    assert!(!corruption.reason.is_empty());
    assert!(s0.detail.contains(&corruption.file), "{health:?}");
    assert_eq!(s1.state, pb::ShardState::Serving as i32, "{health:?}");
    assert!(s1.corruption.is_none());

    // Stats answers with what shard 1 counts, marked partial; shard 0's entry names the file
    // and offset that keep it out.
    let stats = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert!(stats.partial, "{stats:?}");
    let (t0, t1) = (&stats.shards[0], &stats.shards[1]);
    assert!(t0.unavailable.contains(&corruption.file), "{stats:?}");
    assert!(t0.unavailable.contains("offset 4096"), "{stats:?}");
    assert_eq!(t0.state, pb::ShardState::Poisoned as i32, "{stats:?}");
    assert_eq!((t0.documents, t0.versions), (0, 0), "{stats:?}");
    assert!(t1.unavailable.is_empty(), "{stats:?}");
    assert_eq!((t1.documents, t1.versions), (1, 1), "{stats:?}");
    assert_eq!((stats.documents, stats.versions), (1, 1), "{stats:?}");

    // Shard 0 answers UNAVAILABLE; shard 1 reads what it had and takes writes.
    assert_eq!(
        code(c.get_document(get(&on0[0])).await),
        tonic::Code::Unavailable
    );
    c.get_document(get(&on1[0])).await.unwrap();
    put_small(&mut c, &on1[1]).await;
    c.get_document(get(&on1[1])).await.unwrap();

    // The metric shows it (refreshed by the health watcher).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = http_get(&server.metrics_addr, "/metrics").await;
        if m.contains("treestore_shard_log_corrupt{shard=\"0\"} 1")
            && m.contains("treestore_shard_log_corrupt{shard=\"1\"} 0")
        {
            break;
        }
        assert!(Instant::now() < deadline, "metrics:\n{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
