//! Model-based property test: random sequences of every engine operation (writes valid and
//! invalid, reads at the latest version, at old versions and as of times on both axes, versions,
//! diffs, search, cross references, tool results, transactions) run against the engine and
//! against a plain in-memory model (`model/`), and every answer, errors included, must match.
//!
//! Runs `PROPTEST_CASES` cases (default 64) of up to 40 steps on memory stores (reads answered
//! from the shards' tree caches where they hold the tree), and a quarter of that on RocksDB and
//! on memory stores without tree caches. Small id alphabets over 3 shards make operations collide often.

mod common;
mod model {
    pub mod harness;
    pub mod state;
    pub mod tree;
}

use model::harness::{steps, Harness, Op};
use proptest::prelude::*;
use shards::engine::Engine;
use shards::local::LocalRouter;
use shards::store::KvStore;

fn run_case<S: KvStore + 'static>(
    e: &Engine<LocalRouter<S>>,
    steps: &[(u8, Op)],
) -> Result<(), TestCaseError> {
    let mut h = Harness::new(e, 1_000_000, "", false);
    for (dt, op) in steps {
        h.m.now += *dt as i64 * 100_000;
        e.router().set_clock(Some(h.m.now));
        h.step(op)?;
    }
    Ok(())
}

fn cases(divisor: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64u32);
    ProptestConfig::with_cases((n / divisor).max(1))
}

proptest! {
    #![proptest_config(cases(1))]
    #[test]
    fn engine_matches_model_on_memory(steps in steps(40)) {
        let e = common::mem_engine(3);
        run_case(&e, &steps)?;
    }
}

proptest! {
    #![proptest_config(cases(4))]
    #[test]
    fn engine_matches_model_on_rocksdb(steps in steps(40)) {
        let r = common::rocks_engine(3);
        run_case(&r.engine, &steps)?;
    }
}

proptest! {
    #![proptest_config(cases(4))]
    #[test]
    fn engine_matches_model_without_tree_cache(steps in steps(40)) {
        let e = common::uncached_engine(3);
        run_case(&e, &steps)?;
    }
}
