//! The server where io_uring is denied: under a seccomp filter like the default profiles of
//! Docker 25+ and containerd 2.x, `--io-uring=auto` (the default) runs the shards on plain
//! threads, says so once, exports the mode, and serves durably; the data directory is the same
//! in both modes.

mod common;

use common::{deny_io_uring, http_get, put_small, Server};
use treestore::pb;

fn io_uring_gauge(metrics: &str) -> Option<String> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("treestore_runtime_io_uring "))
        .map(|v| v.trim().to_string())
}

#[tokio::test]
async fn denied_io_uring_falls_back_to_threads_serves_durably_and_reopens_with_io_uring() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    // `auto` explicitly: the suite's second pass sets TREESTORE_IO_URING=off for every server.
    let auto = ["--io-uring", "auto"];
    let mut s = Server::start_with(&data, tmp.path(), &auto, Some(deny_io_uring)).await;
    let log = s.log_text();
    let warnings = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("io_uring is not available"))
        .count();
    assert_eq!(warnings, 1, "one warning expected:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("io_uring=false"), "{log}");
    let metrics = http_get(&s.metrics_addr, "/metrics").await;
    assert_eq!(io_uring_gauge(&metrics).as_deref(), Some("0"), "{metrics}");

    // Writes are acknowledged durable; reads, including cached ones, see them.
    let mut c = s.client().await;
    for i in 0..20 {
        put_small(&mut c, &format!("doc-{i}")).await;
    }
    let node = c
        .get_node(pb::GetNodeRequest {
            doc_id: "doc-7".into(),
            node_id: "a".into(),
            ..Default::default()
        })
        .await
        .expect("get node")
        .into_inner();
    assert_eq!(node.node.expect("node").node_id, "a");
    drop(c);
    // kill -9: only the log makes the writes durable.
    if let Some(mut child) = s.child.take() {
        child.kill().expect("kill -9");
        child.wait().expect("wait");
    }

    // The same data directory, reopened where io_uring is allowed (auto picks it here when the
    // host allows it): recovery replays the log the threads wrote.
    let s2 = Server::start_on(&data, tmp.path(), &auto).await;
    let mut c = s2.client().await;
    for i in 0..20 {
        let d = c
            .get_document(pb::GetDocumentRequest {
                doc_id: format!("doc-{i}"),
                include_tree: true,
                ..Default::default()
            })
            .await
            .expect("document survives kill -9")
            .into_inner();
        let ids: Vec<_> = d.roots.iter().map(|n| n.node_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }
}

#[tokio::test]
async fn io_uring_off_runs_threads_without_a_warning() {
    let s = Server::start(&["--io-uring", "off"]).await;
    let log = s.log_text();
    assert!(!log.contains("io_uring is not available"), "{log}");
    assert!(log.contains("io_uring=false"), "{log}");
    let metrics = http_get(&s.metrics_addr, "/metrics").await;
    assert_eq!(io_uring_gauge(&metrics).as_deref(), Some("0"), "{metrics}");
    let mut c = s.client().await;
    put_small(&mut c, "d").await;
}
