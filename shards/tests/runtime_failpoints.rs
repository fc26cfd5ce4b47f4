//! Fault injection into the running shard (`cargo test -p treestore-shards --features failpoints`):
//! a failed log sync poisons the shard and acknowledges nothing; a failed replay keeps the shard
//! out of service; a failed checkpoint keeps the log.
#![cfg(feature = "failpoints")]

mod common;
use common::run;
use shards::engine::{Engine, ShardRouter, ShardState};
use shards::request::WriteOpts;
use shards::runtime::{Runtime, RuntimeConfig};
use shards::*;
use std::time::{Duration, Instant};

fn config(dir: &std::path::Path) -> RuntimeConfig {
    RuntimeConfig {
        data_dir: dir.to_path_buf(),
        shards: Some(1),
        executors: Some(1),
        pin_cores: false,
        rocksdb_cache_bytes: 8 << 20,
        checkpoint_interval: Duration::from_secs(3600),
        ..Default::default()
    }
}

fn wait_state(rt: &Runtime, want: ShardState) {
    let start = Instant::now();
    while rt.health()[0].state != want {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:?}",
            rt.health()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn doc(id: &str) -> DocumentInput {
    DocumentInput {
        doc_id: id.into(),
        name: id.into(),
        ..Default::default()
    }
}

#[test]
fn a_failed_sync_poisons_the_shard_and_acknowledges_nothing() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::start(config(dir.path())).unwrap();
    wait_state(&rt, ShardState::Serving);
    let e = Engine::new(rt.clone());
    run(e.put_document(doc("kept"), false, WriteOpts::default())).unwrap();

    fail::cfg("wal::sync::before", "return").unwrap();
    let r = run(e.put_document(doc("lost"), false, WriteOpts::default()));
    assert!(matches!(r, Err(Error::Unavailable { .. })), "{r:?}");
    assert_eq!(rt.health()[0].state, ShardState::Poisoned);
    assert!(rt.health()[0].detail.contains("sync"), "{:?}", rt.health());
    fail::remove("wal::sync::before");
    // Nothing is served or acknowledged after the failure, reads included.
    assert!(matches!(
        run(e.get_document("kept", ReadAt::Latest, None)),
        Err(Error::Unavailable { .. })
    ));
    assert!(matches!(
        run(e.put_document(doc("later"), false, WriteOpts::default())),
        Err(Error::Unavailable { .. })
    ));
    rt.shutdown().unwrap();
    drop(e);

    let rt = Runtime::start(config(dir.path())).unwrap();
    wait_state(&rt, ShardState::Serving);
    let e = Engine::new(rt.clone());
    assert!(run(e.get_document("kept", ReadAt::Latest, None)).is_ok());
    assert!(run(e.get_document("later", ReadAt::Latest, None)).is_err());
    rt.shutdown().unwrap();
    scenario.teardown();
}

#[test]
fn a_failed_replay_keeps_the_shard_out_of_service_until_fixed() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let rt = Runtime::start(cfg.clone()).unwrap();
    wait_state(&rt, ShardState::Serving);
    let e = Engine::new(rt.clone());
    run(e.put_document(doc("d"), false, WriteOpts::default())).unwrap();
    // Stop without the shutdown checkpoint: the write lives only in the log.
    fail::cfg("shard::checkpoint", "return").unwrap();
    rt.shutdown().unwrap();
    drop(e);
    fail::remove("shard::checkpoint");

    fail::cfg("wal::replay", "return").unwrap();
    let rt = Runtime::start(cfg.clone()).unwrap();
    wait_state(&rt, ShardState::Poisoned);
    assert!(
        rt.health()[0].detail.contains("recovery failed"),
        "{:?}",
        rt.health()
    );
    let e = Engine::new(rt.clone());
    assert!(matches!(
        run(e.get_document("d", ReadAt::Latest, None)),
        Err(Error::Unavailable { .. })
    ));
    rt.shutdown().unwrap();
    drop(e);
    fail::remove("wal::replay");

    // The failed checkpoint kept the log, so the write is still recovered.
    let rt = Runtime::start(cfg).unwrap();
    wait_state(&rt, ShardState::Serving);
    let e = Engine::new(rt.clone());
    assert!(run(e.get_document("d", ReadAt::Latest, None)).is_ok());
    rt.shutdown().unwrap();
    scenario.teardown();
}

fn wide_doc(id: &str, nodes: usize) -> DocumentInput {
    DocumentInput {
        roots: (0..nodes)
            .map(|i| NodeInput {
                node_id: format!("{i:04}"),
                content: NodeContent {
                    title: format!("section {i}"),
                    ..Default::default()
                },
                children: vec![],
            })
            .collect(),
        ..doc(id)
    }
}

/// Waits up to a minute for `rx`: a liveness check, not a timing one.
fn within_a_minute<T>(rx: &std::sync::mpsc::Receiver<T>, what: &str) -> T {
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} did not complete"))
}

#[test]
fn a_large_subtree_read_runs_on_a_snapshot_off_the_executor() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::start(config(dir.path())).unwrap();
    wait_state(&rt, ShardState::Serving);
    let e = std::sync::Arc::new(Engine::new(rt.clone()));
    run(e.put_document(wide_doc("big", 200), false, WriteOpts::default())).unwrap();

    // Hold the subtree read on the blocking pool until released.
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let hook = std::sync::Mutex::new((entered_tx, release_rx));
    fail::cfg_callback("shard::snapshot_read", move || {
        let hook = hook.lock().unwrap();
        hook.0.send(()).unwrap();
        let _ = hook.1.recv();
    })
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = e.clone();
    let t = std::thread::spawn(move || {
        let nodes = run(reader.get_subtree("big", None, 0, false, ReadAt::Latest, None));
        tx.send(nodes).unwrap();
    });
    within_a_minute(&entered, "the subtree read reaching the blocking pool");

    // The shard's executor keeps serving point reads, small subtrees and writes meanwhile.
    let node = run(e.get_node("big", "0007", ReadAt::Latest, false, None)).unwrap();
    assert_eq!(node.content.title, "section 7");
    let (small_tx, small) = std::sync::mpsc::channel();
    let reader = e.clone();
    std::thread::spawn(move || {
        let nodes =
            run(reader.get_subtree("big", Some("0007".into()), 0, false, ReadAt::Latest, None));
        small_tx.send(nodes).unwrap();
    });
    let nodes = within_a_minute(&small, "a one-node subtree read").unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].node_id, "0007");
    let new_node = NodeInput {
        node_id: "new".into(),
        content: NodeContent::default(),
        children: vec![],
    };
    run(e.insert_node("big", None, None, new_node, WriteOpts::default())).unwrap();

    // The held read answers from the state it started on, without the later insert.
    fail::remove("shard::snapshot_read");
    release.send(()).unwrap();
    let nodes = within_a_minute(&rx, "the subtree read").unwrap();
    t.join().unwrap();
    assert_eq!(nodes.len(), 200);
    assert!(nodes.iter().all(|n| n.node_id != "new"));
    let now = run(e.get_subtree("big", None, 0, false, ReadAt::Latest, None)).unwrap();
    assert_eq!(now.len(), 201);
    rt.shutdown().unwrap();
    scenario.teardown();
}
