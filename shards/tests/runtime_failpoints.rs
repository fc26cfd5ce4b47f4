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
