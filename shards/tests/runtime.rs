//! The glommio runtime end to end: durable writes, restart, recovery from the log alone,
//! health, backpressure and shutdown.

mod common;
use common::{copy_dir, fixtures, run};
use shards::engine::{Engine, ShardRouter, ShardState};
use shards::request::WriteOpts;
use shards::runtime::{Runtime, RuntimeConfig};
use shards::*;
use std::time::{Duration, Instant};

fn config(dir: &std::path::Path) -> RuntimeConfig {
    RuntimeConfig {
        data_dir: dir.to_path_buf(),
        shards: Some(3),
        executors: Some(2),
        pin_cores: false,
        io_uring: common::io_uring_mode(),
        rocksdb_cache_bytes: 8 << 20,
        ..Default::default()
    }
}

fn wait_serving(rt: &Runtime) {
    let start = Instant::now();
    while !rt.all_serving() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "shards did not start: {:?}",
            rt.health()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn start(cfg: RuntimeConfig) -> (std::sync::Arc<Runtime>, Engine<Runtime>) {
    let rt = Runtime::start(cfg).unwrap();
    wait_serving(&rt);
    let engine = Engine::new(rt.clone());
    (rt, engine)
}

#[test]
fn writes_survive_a_clean_restart_and_the_shard_count_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, e) = start(config(dir.path()));
    for (name, json) in fixtures() {
        run(e.put_document(
            pageindex::import(&name, &json).unwrap(),
            false,
            WriteOpts::default(),
        ))
        .unwrap();
    }
    run(e.delete_node(
        "fed_2023_annual_report_structure",
        "0001",
        WriteOpts::default(),
    ))
    .unwrap();
    rt.shutdown().unwrap();

    // A different shard request is ignored: the manifest fixed 3 shards.
    let (rt, e) = start(RuntimeConfig {
        shards: Some(8),
        ..config(dir.path())
    });
    assert_eq!(rt.shard_count(), 3);
    for (name, json) in fixtures() {
        let doc = run(e.get_document(&name, ReadAt::Latest, None)).unwrap();
        let tree = run(e.get_subtree(&name, None, 0, true, ReadAt::Version(1), None)).unwrap();
        let first = run(e.get_document(&name, ReadAt::Version(1), None)).unwrap();
        assert_eq!(pageindex::export(&first, &tree).unwrap(), json);
        assert_eq!(
            doc.version,
            if name.starts_with("fed_2023") { 2 } else { 1 }
        );
    }
    rt.shutdown().unwrap();
}

/// Who commits write `i`: now and then nobody (a version without a committer).
fn committer(i: usize) -> String {
    ["", "alice", "bob"][i % 3].to_string()
}

#[test]
fn the_log_alone_recovers_writes_never_flushed_to_rocksdb() {
    let dir = tempfile::tempdir().unwrap();
    // Checkpoints far away: nothing reaches RocksDB's files but through the log replay.
    let cfg = RuntimeConfig {
        checkpoint_interval: Duration::from_secs(3600),
        ..config(dir.path())
    };
    let (rt, e) = start(cfg.clone());
    for i in 0..50 {
        let doc = DocumentInput {
            doc_id: format!("d{i}"),
            name: format!("doc {i}"),
            roots: vec![NodeInput {
                node_id: "r".into(),
                content: NodeContent {
                    title: format!("root {i}"),
                    ..Default::default()
                },
                children: vec![],
            }],
            ..Default::default()
        };
        let write = WriteOpts {
            committed_by: committer(i),
            ..WriteOpts::default()
        };
        run(e.put_document(doc, false, write)).unwrap();
    }
    let health = rt.health();
    assert!(
        health
            .iter()
            .all(|h| h.durable_lsn == h.last_lsn && h.state == ShardState::Serving),
        "{health:?}"
    );
    assert!(
        health.iter().map(|h| h.last_lsn).sum::<u64>() >= 50,
        "{health:?}"
    );
    // Simulate losing RocksDB's memtables: drop the runtime without shutdown's checkpoint by
    // reopening RocksDB state from files only. (A kill -9 test of the real server lives in the
    // server's tests; here: a copy of the directory taken while running has only the log.)
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    rt.shutdown().unwrap();
    let (rt2, e2) = start(RuntimeConfig {
        data_dir: copy.path().to_path_buf(),
        ..cfg
    });
    for i in 0..50 {
        let n = run(e2.get_node(&format!("d{i}"), "r", ReadAt::Latest, true, None)).unwrap();
        assert_eq!(n.content.title, format!("root {i}"));
        // The replay records who committed each version, as the log says.
        let versions = run(e2.list_versions(&format!("d{i}"), None, 10)).unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].committed_by, committer(i));
    }
    let stats = run(e2.stats()).unwrap();
    assert_eq!(stats.total.documents, 50);
    rt2.shutdown().unwrap();
    drop(e);
}

#[test]
fn concurrent_writers_share_syncs_and_all_are_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, e) = start(RuntimeConfig {
        shards: Some(1),
        executors: Some(1),
        ..config(dir.path())
    });
    let e = std::sync::Arc::new(e);
    run(e.put_document(
        DocumentInput {
            doc_id: "d".into(),
            ..Default::default()
        },
        false,
        WriteOpts::default(),
    ))
    .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let e = e.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let node = NodeInput {
                        node_id: format!("n{t}-{i}"),
                        ..Default::default()
                    };
                    run(e.insert_node("d", None, None, node, WriteOpts::default())).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let doc = run(e.get_document("d", ReadAt::Latest, None)).unwrap();
    assert_eq!((doc.version, doc.node_count), (201, 200));
    rt.shutdown().unwrap();
}

#[test]
fn calls_after_shutdown_are_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, e) = start(config(dir.path()));
    rt.shutdown().unwrap();
    let r = run(e.get_document("x", ReadAt::Latest, None));
    assert!(matches!(r, Err(Error::Unavailable { .. })), "{r:?}");
}

#[test]
fn a_data_directory_of_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("MANIFEST.json"),
        r#"{"format_version": 7, "shard_count": 2, "created_at": 0}"#,
    )
    .unwrap();
    let err = Runtime::start(config(dir.path()))
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains("format version 7"), "{err}");
}

/// Every node of `doc` as read through a fresh transaction: its snapshot read from RocksDB,
/// never from the tree cache.
fn through_a_transaction(e: &Engine<Runtime>, doc: &str) -> (VersionNo, Vec<NodeView>) {
    let (txn, version) = run(e.begin(doc, None)).unwrap();
    let nodes = run(e.get_subtree(doc, None, 0, true, ReadAt::Latest, Some(txn.clone()))).unwrap();
    run(e.rollback(&txn, &Default::default())).unwrap();
    (version, nodes)
}

#[test]
fn reads_from_the_tree_cache_equal_reads_from_the_store_after_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, e) = start(config(dir.path()));
    let (name, json) = fixtures().remove(0);
    let doc = pageindex::import(&name, &json).unwrap();
    let id = doc.doc_id.clone();
    run(e.put_document(doc, false, WriteOpts::default())).unwrap();
    let shard = e.shard_for(&id);
    let cached = |version: VersionNo| {
        // Reads load the tree after a miss; wait for it, then read it from the cache.
        let start = Instant::now();
        loop {
            run(e.get_node(&id, "0000", ReadAt::Latest, false, None)).unwrap();
            if let Some(t) = rt.cached_tree(shard, &id, ReadAt::Latest) {
                if t.version == version {
                    return t;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "v{version} never cached"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let new_node = |nid: &str| NodeInput {
        node_id: nid.into(),
        content: NodeContent {
            title: format!("inserted {nid}"),
            summary: Some("a summary".into()),
            ..Default::default()
        },
        children: vec![],
    };
    let mut steps = 0;
    let mut check = |what: &str| {
        steps += 1;
        let (version, stored) = through_a_transaction(&e, &id);
        let tree = cached(version);
        assert_eq!(
            tree.subtree_views(None, 0, true).unwrap(),
            stored,
            "after {what}"
        );
        // And through the engine, which answers from the cache.
        let read = run(e.get_subtree(&id, None, 0, true, ReadAt::Latest, None)).unwrap();
        assert_eq!(read, stored, "after {what}");
    };
    check("put");
    run(e.insert_node(
        &id,
        Some("0001".into()),
        Some(0),
        new_node("n1"),
        WriteOpts::default(),
    ))
    .unwrap();
    check("insert");
    let mask = FieldMask {
        summary: true,
        text: true,
        ..Default::default()
    };
    let content = NodeContent {
        summary: Some("rewritten".into()),
        ..Default::default()
    };
    run(e.update_node(&id, "0002", content, mask, WriteOpts::default())).unwrap();
    check("update");
    run(e.move_node(&id, "n1", None, Some(0), WriteOpts::default())).unwrap();
    check("move");
    run(e.delete_node(&id, "0001", WriteOpts::default())).unwrap();
    check("delete");
    let (txn, _) = run(e.begin(&id, None)).unwrap();
    let in_txn = WriteOpts {
        txn: Some(txn.clone()),
        ..Default::default()
    };
    run(e.insert_node(&id, Some("n1".into()), None, new_node("n2"), in_txn)).unwrap();
    run(e.commit(&txn, &Default::default(), None, "txn".into(), String::new())).unwrap();
    check("transaction");
    assert_eq!(steps, 6);
    rt.shutdown().unwrap();
}
