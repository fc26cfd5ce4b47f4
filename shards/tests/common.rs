//! Shared helpers: engines over memory and RocksDB, the PageIndex fixtures, a blocking `run`.
#![allow(dead_code)]

use shards::engine::Engine;
use shards::local::LocalRouter;
use shards::shard::ShardConfig;
use shards::store::{MemStore, RocksDb};
use std::path::PathBuf;
use std::sync::Arc;

pub fn run<F: std::future::Future>(f: F) -> F::Output {
    futures_lite::future::block_on(f)
}

pub fn mem_engine(shards: usize) -> Engine<LocalRouter<MemStore>> {
    let stores = (0..shards).map(|_| MemStore::new()).collect();
    Engine::new(Arc::new(
        LocalRouter::new(stores, ShardConfig::default).unwrap(),
    ))
}

/// An engine over memory stores whose shards keep no tree cache: every read from the store.
pub fn uncached_engine(shards: usize) -> Engine<LocalRouter<MemStore>> {
    let stores = (0..shards).map(|_| MemStore::new()).collect();
    Engine::new(Arc::new(
        LocalRouter::new(stores, ShardConfig::default)
            .unwrap()
            .with_tree_cache(0),
    ))
}

pub struct RocksEngine {
    pub engine: Engine<LocalRouter<shards::store::RocksStore>>,
    pub dir: tempfile::TempDir,
}

pub fn rocks_engine(shards: usize) -> RocksEngine {
    let dir = tempfile::tempdir().unwrap();
    let db = RocksDb::open(dir.path(), shards, 8 << 20).unwrap();
    let stores = (0..shards).map(|i| db.store(i).unwrap()).collect();
    RocksEngine {
        engine: Engine::new(Arc::new(
            LocalRouter::new(stores, ShardConfig::default).unwrap(),
        )),
        dir,
    }
}

/// Defines the test `$name` three times: over memory stores (with and without tree caches) and
/// over RocksDB column families, with `$e` bound to an `&Engine<_>` of `$n` shards.
#[macro_export]
macro_rules! on_both_stores {
    ($name:ident, $n:expr, |$e:ident| $body:block) => {
        mod $name {
            use super::*;
            #[test]
            fn memory() {
                let engine = common::mem_engine($n);
                let $e = &engine;
                $body
            }
            #[test]
            fn memory_without_tree_cache() {
                let engine = common::uncached_engine($n);
                let $e = &engine;
                $body
            }
            #[test]
            fn rocksdb() {
                let r = common::rocks_engine($n);
                let $e = &r.engine;
                $body
            }
        }
    };
}

/// The PageIndex fixtures, kept in the repository (`fixtures/pageindex`, with their provenance).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pageindex")
}

pub fn fixtures() -> Vec<(String, serde_json::Value)> {
    let mut out = vec![];
    let mut paths: Vec<_> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        out.push((
            name,
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
        ));
    }
    assert!(out.len() >= 4, "expected the four PageIndex fixtures");
    out
}

/// Copies a data directory (without RocksDB's LOCK): taken while a runtime runs, the copy holds
/// what a crash would leave, acknowledged writes being in the log.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The executors the runtime tests run on: `TREESTORE_IO_URING` (`auto`, `on`, `off`), the
/// variable the server reads too; unset is `auto`. scripts/test.sh runs the suite once more
/// with `off`, so both kinds of executor pass the same tests.
pub fn io_uring_mode() -> shards::runtime::IoUringMode {
    use shards::runtime::IoUringMode;
    match std::env::var("TREESTORE_IO_URING").as_deref() {
        Ok("on") => IoUringMode::On,
        Ok("off") => IoUringMode::Off,
        Ok("auto") | Err(_) => IoUringMode::Auto,
        Ok(other) => panic!("TREESTORE_IO_URING={other}: expected auto, on or off"),
    }
}
