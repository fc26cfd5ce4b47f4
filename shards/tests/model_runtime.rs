//! The model test through the real runtime: the model's random operation sequences run through
//! `Engine<Runtime>` (executors, inboxes, the shard loop's plan -> log -> apply -> await fsync ->
//! reply, snapshot reads on the blocking pool, small tree caches that evict) on `MemStore`s and a
//! simulated log disk (`SimFs`), by several clients at once; then power is cut at a random
//! instant and a new runtime recovers from what the crash left.
//!
//! - Clients run in rounds: in each, every client sends one operation at the same time, and the
//!   clock (`Clock::manual`) stands still until all are answered. Each client owns its documents,
//!   links and tool results (a name prefix), so its answers are compared exactly with its own
//!   model (`model/harness.rs`, the same comparison as `model.rs`).
//! - An observer reads, in each round, the latest version of some client's document while that
//!   client may be writing it: the answer must be the document as it was before the round
//!   (every earlier write is acknowledged: nothing older) or after it, never anything else.
//! - In the last round the test cuts the power inside its first, second or third log flush (or,
//!   with fewer, once every client is answered): it takes one image, at one instant, of the log's disk
//!   (durable bytes plus a random prefix of the unsynced operations, the next write possibly
//!   torn) and of each store (its last flush plus a random prefix of the batches written since,
//!   what RocksDB without its own WAL keeps). A runtime started on the images must hold every
//!   write answered before the cut and everything a read returned before it (a read shows only
//!   durable writes), and nothing else but whole writes: each client's documents, versions,
//!   links and tool results must equal its model before or after its last operation. Then the
//!   clients run more rounds on the recovered runtime.
//!
//! Runs `MODEL_RUNTIME_CASES` cases (default 16, seconds in debug; e.g. 2000 for a long run) on
//! the executors `TREESTORE_IO_URING` chooses.

mod common;
mod model {
    pub mod harness;
    pub mod state;
    pub mod tree;
}

use model::harness::{op, steps, Harness, Op, DOCS, NODES};
use model::state::Model;
use model::tree::{ek, R};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use shards::engine::{Engine, ShardRouter};
use shards::runtime::{Clock, LogDisk, Runtime, RuntimeConfig};
use shards::store::{MemImage, MemStore};
use shards::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use treestore_wal::{SimFs, Tear, WalOptions};

const SHARDS: usize = 3;
const START: Micros = 1_000_000;

type Rt = Runtime<MemStore>;

/// A client's operations, each after its clock step (tenths of a second).
type Steps = Vec<(u8, Op)>;

fn config(clock: &Clock, checkpoint_interval: Duration) -> RuntimeConfig {
    RuntimeConfig {
        // Only names paths on the simulated disk: nothing is written to the real one.
        data_dir: PathBuf::from("/simulated"),
        shards: Some(SHARDS),
        executors: Some(2),
        pin_cores: false,
        io_uring: common::io_uring_mode(),
        wal: WalOptions {
            // Small segments and records: rotations, purges and transactions of several
            // records happen within a case.
            segment_size: 16 << 10,
            max_record_size: 700,
            ..Default::default()
        },
        // Checkpoints (store flush, then log purge) by size and by time, racing the clients.
        checkpoint_wal_bytes: 40 << 10,
        checkpoint_interval,
        // The model has no sweeper: expired tool results stay until read.
        tool_sweep_interval: Duration::from_secs(3600),
        // A few documents' trees per shard: evictions happen.
        tree_cache_bytes: SHARDS * 6_000,
        clock: clock.clone(),
        ..Default::default()
    }
}

fn start(config: RuntimeConfig, stores: Vec<MemStore>, disk: &SimFs) -> Arc<Rt> {
    let rt = Runtime::start_on(config, stores, LogDisk::Simulated(disk.clone()))
        .expect("the runtime starts");
    let started = Instant::now();
    while !rt.all_serving() {
        // Generous: recovery of a few hundred records in memory takes milliseconds.
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "shards did not recover: {:?}",
            rt.health()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    rt
}

/// Where the power is cut, as fractions drawn by proptest.
#[derive(Clone, Debug)]
struct Cut {
    /// At which log flush of the last round (counted over all shards; if there are fewer, once
    /// every client is answered).
    at_sync: u8,
    /// Which unsynced disk operations reach the disk (modulo their number + 1).
    keep_ops: u16,
    /// How the next one is torn: bytes kept, and garbage or not.
    tear: Option<(u16, bool)>,
    /// Per shard: how many batches since the last flush the store keeps (modulo their number + 1).
    store_keep: Vec<u16>,
}

#[derive(Clone, Debug)]
struct Case {
    /// Each client's rounds before the cut (its last step runs in the round the power is cut)
    /// and after recovery.
    clients: Vec<(Steps, Steps)>,
    /// Per round: whose document the observer reads (client, document).
    observe: Vec<(u8, u8)>,
    cut: Cut,
    /// How long each log flush takes (microseconds of real time).
    sync_us: u16,
    /// Time between checkpoints.
    checkpoint_ms: u64,
}

/// A write outside a transaction: the model test's operations of those kinds.
fn write() -> impl Strategy<Value = Op> {
    op().prop_filter_map("a write", |mut op| {
        match &mut op {
            Op::Put(_, _, _, w)
            | Op::Insert(.., w)
            | Op::Update(.., w)
            | Op::Move(.., w)
            | Op::DeleteNode(.., w) => w.tx = None,
            _ => return None,
        }
        Some(op)
    })
}

/// A put that replaces the document: valid but for a duplicate node id now and then.
fn put() -> impl Strategy<Value = Op> {
    op().prop_filter_map("a put", |op| match op {
        Op::Put(i, _, doc, w) => Some(Op::Put(i, true, doc, model::harness::W { tx: None, ..w })),
        _ => None,
    })
}

/// A client's steps: the model test's operations with more writes, most of which succeed; the
/// last one a write (it runs in the round the power is cut in).
fn client_steps(max: usize) -> impl Strategy<Value = Vec<(u8, Op)>> {
    let step = (0u8..16, prop_oneof![2 => op(), 2 => write(), 1 => put()]);
    let last = (0u8..16, prop_oneof![1 => write(), 2 => put()]);
    (prop::collection::vec(step, 0..max), last).prop_map(|(mut steps, last)| {
        steps.push(last);
        steps
    })
}

fn case() -> impl Strategy<Value = Case> {
    let client = (client_steps(24), steps(8));
    let cut = (
        prop_oneof![3 => Just(0u8), 1 => 1u8..3],
        any::<u16>(),
        prop::option::of((any::<u16>(), any::<bool>())),
        prop::collection::vec(any::<u16>(), SHARDS),
    )
        .prop_map(|(at_sync, keep_ops, tear, store_keep)| Cut {
            at_sync,
            keep_ops,
            tear,
            store_keep,
        });
    (
        prop::collection::vec(client, 1..4),
        prop::collection::vec((0u8..3, 0u8..4), 24),
        cut,
        prop_oneof![Just(0u16), 0u16..500],
        prop_oneof![Just(5u64), Just(50), Just(3_600_000)],
    )
        .prop_map(|(clients, observe, cut, sync_us, checkpoint_ms)| Case {
            clients,
            observe,
            cut,
            sync_us,
            checkpoint_ms,
        })
}

/// One client: its harness (engine, model, prefix).
type Client<'a> = Mutex<Harness<'a, Rt>>;

/// What a client saw of the round the power was cut in.
#[derive(Default)]
struct LastRound {
    /// The model before the client's last operation.
    before: Option<Model>,
    /// The last operation was answered before the cut began.
    answered_before_cut: bool,
    /// The observer read this client's document at its new state before the cut.
    seen_new: bool,
}

/// Cuts the power once: takes the crash images of the log's disk and of the stores at one
/// instant. Armed for the last round, it cuts inside the `at_sync`-th log flush (the disk's
/// `before_sync` hook, on a shard's executor, while the flush's writes are not yet durable).
struct Cutter {
    disk: SimFs,
    stores: Vec<MemStore>,
    cut: Cut,
    armed: AtomicBool,
    /// Flushes to let pass before cutting.
    syncs_left: AtomicUsize,
    /// Set before the images are taken: whatever completed before it is covered by them.
    cutting: AtomicBool,
    image: Mutex<Option<(SimFs, Vec<MemImage>)>>,
}

impl Cutter {
    fn before_sync(&self) {
        if self.armed.load(Ordering::SeqCst) && self.syncs_left.fetch_sub(1, Ordering::SeqCst) == 0
        {
            self.cut_now();
        }
    }

    /// Cuts the power, unless it was cut already.
    fn cut_now(&self) {
        let mut image = self.image.lock().unwrap_or_else(|e| e.into_inner());
        if image.is_some() {
            return;
        }
        self.cutting.store(true, Ordering::SeqCst);
        let cut = &self.cut;
        *image = Some(self.disk.crash_image_with(
            |pending| {
                let keep = cut.keep_ops as usize % (pending.len() + 1);
                // The next pending operation may be torn, if it is a write.
                let tear = match (cut.tear, pending.get(keep).copied().flatten()) {
                    (Some((bytes, garbage)), Some(len)) => {
                        let keep = bytes as usize % (len + 1);
                        Some(match garbage {
                            true => Tear::Garbage { keep },
                            false => Tear::Prefix { keep },
                        })
                    }
                    _ => None,
                };
                (keep, tear)
            },
            || {
                self.stores
                    .iter()
                    .zip(&cut.store_keep)
                    .map(|(s, k)| s.crash_image(|n| *k as usize % (n + 1)))
                    .collect()
            },
        ));
    }
}

/// Runs the clients' steps in rounds, all clients of a round at once, with the observer reading
/// alongside; `cutter` cuts the power in the last round. Returns each client's view of the last
/// round.
fn rounds<'a>(
    clients: &[Client<'a>],
    steps: &[&[(u8, Op)]],
    observe: &[(u8, u8)],
    clock: &Clock,
    cutter: Option<&Cutter>,
) -> Result<Vec<LastRound>, TestCaseError> {
    let n = steps.iter().map(|s| s.len()).max().unwrap_or(0);
    // Every client's last step runs in the last round: a client with fewer steps starts late.
    let step = |c: usize, r: usize| {
        (r + steps[c].len())
            .checked_sub(n)
            .and_then(|i| steps[c].get(i))
    };
    // The round's time: every client's model and the shards agree on it.
    let mut times = vec![];
    let mut now = clients[0].lock().unwrap_or_else(|e| e.into_inner()).m.now;
    for r in 0..n {
        let dt = (0..steps.len())
            .filter_map(|c| step(c, r))
            .map(|s| s.0)
            .max();
        now += dt.unwrap_or(0) as i64 * 100_000;
        times.push(now);
    }
    let barrier = Barrier::new(clients.len() + 2);
    let failed: Mutex<Option<TestCaseError>> = Mutex::new(None);
    let fail = |e: TestCaseError| {
        failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(e);
    };
    let no_cut = AtomicBool::new(false);
    let cutting = cutter.map_or(&no_cut, |c| &c.cutting);
    // Clients done with the current round's operation.
    let done = AtomicUsize::new(0);
    let last: Vec<Mutex<LastRound>> = clients.iter().map(|_| Mutex::default()).collect();
    std::thread::scope(|scope| {
        for (c, client) in clients.iter().enumerate() {
            let (barrier, fail, cutting, last, done) = (&barrier, &fail, cutting, &last[c], &done);
            let (times, step) = (&times, &step);
            scope.spawn(move || {
                for (r, &t) in times.iter().enumerate() {
                    barrier.wait();
                    let mut h = client.lock().unwrap_or_else(|e| e.into_inner());
                    h.m.now = t;
                    if let Some((_, op)) = step(c, r) {
                        let before = (r + 1 == times.len()).then(|| h.m.clone());
                        let stepped = catch_unwind(AssertUnwindSafe(|| h.step(op)));
                        let answered = !cutting.load(Ordering::SeqCst);
                        match stepped {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => fail(e),
                            Err(_) => {
                                fail(TestCaseError::fail(format!("client {c}: {op:?} panicked")))
                            }
                        }
                        if let Some(before) = before {
                            let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
                            l.before = Some(before);
                            l.answered_before_cut = answered;
                        }
                    }
                    drop(h);
                    done.fetch_add(1, Ordering::SeqCst);
                    barrier.wait();
                }
            });
        }
        // The observer.
        let (barrier, fail, cutting, last, times) = (&barrier, &fail, cutting, &last, &times);
        scope.spawn(move || {
            for r in 0..times.len() {
                let (c, i) = observe[r % observe.len()];
                let c = c as usize % clients.len();
                let (e, d, before) = {
                    let mut h = clients[c].lock().unwrap_or_else(|e| e.into_inner());
                    h.m.now = times[r];
                    let d = h.doc(i);
                    (h.e, d.clone(), h.m.document(&d, ReadAt::Latest))
                };
                barrier.wait();
                let got: R<Document> = common::run(e.get_document(&d, ReadAt::Latest, None)).map_err(ek);
                let seen_before_cut = !cutting.load(Ordering::SeqCst);
                barrier.wait();
                let after = clients[c].lock().unwrap_or_else(|e| e.into_inner()).m.document(&d, ReadAt::Latest);
                if got != before && got != after {
                    fail(TestCaseError::fail(format!(
                        "round {r}: a read of {d} racing its writer got {got:?}, neither before the round ({before:?}) nor after ({after:?})"
                    )));
                }
                if got != before && seen_before_cut && r + 1 == times.len() {
                    last[c].lock().unwrap_or_else(|e| e.into_inner()).seen_new = true;
                }
            }
        });
        for (r, &t) in times.iter().enumerate() {
            clock.set(t);
            done.store(0, Ordering::SeqCst);
            let last_round = r + 1 == times.len();
            if let (Some(cutter), true) = (cutter, last_round) {
                cutter.armed.store(true, Ordering::SeqCst);
            }
            barrier.wait();
            if let (Some(cutter), true) = (cutter, last_round) {
                // If the flush to cut in did not come, cut once every client is answered.
                while done.load(Ordering::SeqCst) < clients.len() {
                    std::thread::yield_now();
                }
                cutter.cut_now();
            }
            barrier.wait();
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    Ok(last
        .into_iter()
        .map(|l| l.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect())
}

/// Reads back everything of a client's that a crash could lose, comparing with its model:
/// each document at its latest and at every version, its versions, subtree, links and tool
/// results, and the listing of its documents.
fn check_state(h: &mut Harness<'_, Rt>) -> Result<(), TestCaseError> {
    let mut reads = vec![Op::ListDocs(0, false, None, 0)];
    for i in 0..DOCS.len() as u8 {
        reads.push(Op::GetDoc(i, ReadAt::Latest, None));
        reads.push(Op::ListVersions(i, None, 0));
        reads.push(Op::Subtree(i, None, 0, true, ReadAt::Latest, None));
        for v in 1..8 {
            reads.push(Op::GetDoc(i, ReadAt::Version(v), None));
            reads.push(Op::Subtree(i, None, 0, true, ReadAt::Version(v), None));
        }
        for x in 0..NODES.len() as u8 {
            reads.push(Op::GetXrefs(i, x, Direction::Both, 0, None));
        }
    }
    for t in 0..2 {
        for q in 0..3 {
            reads.push(Op::GetTool(t, q, false));
        }
    }
    for op in &reads {
        h.step(op)?;
    }
    Ok(())
}

fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let clock = Clock::manual(START);
    let disk = SimFs::new(7);
    // Flushes of the log yield and take time, so requests arrive while a group commit is in
    // flight, and the power may be cut before it completes.
    disk.set_sync_yields(true);
    disk.set_sync_delay(Some(Duration::from_micros(case.sync_us as u64)));
    let checkpoints = Duration::from_millis(case.checkpoint_ms);
    let stores: Vec<MemStore> = (0..SHARDS)
        .map(|_| MemStore::on_disk(disk.clone()))
        .collect();
    let rt = start(config(&clock, checkpoints), stores.clone(), &disk);
    let engine = Engine::new(rt.clone());
    let shared = case.clients.len() > 1;
    let clients: Vec<Client<'_>> = (0..case.clients.len())
        .map(|c| Mutex::new(Harness::new(&engine, START, &format!("c{c}"), shared)))
        .collect();

    // Run, and cut the power during the last round.
    let cutter = Arc::new(Cutter {
        disk: disk.clone(),
        stores,
        cut: case.cut.clone(),
        armed: AtomicBool::new(false),
        syncs_left: AtomicUsize::new(case.cut.at_sync as usize),
        cutting: AtomicBool::new(false),
        image: Mutex::new(None),
    });
    let hook = cutter.clone();
    disk.set_before_sync(Some(Arc::new(move || hook.before_sync())));
    let before: Vec<&[(u8, Op)]> = case.clients.iter().map(|c| c.0.as_slice()).collect();
    let ran = rounds(&clients, &before, &case.observe, &clock, Some(&cutter));
    rt.shutdown().expect("shutdown");
    disk.set_before_sync(None);
    let last = ran?;
    let (disk, stores) = cutter
        .image
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("the power was cut");

    // Recover on what the crash left.
    let stores = stores
        .into_iter()
        .map(|s| MemStore::recovered(s, disk.clone()))
        .collect();
    let rt = start(config(&clock, checkpoints), stores, &disk);
    let engine = Engine::new(rt.clone());
    let mut recovered = vec![];
    for (c, (client, last)) in clients.into_iter().zip(last).enumerate() {
        let old = client.into_inner().unwrap_or_else(|e| e.into_inner());
        // The same client on the new runtime; its transactions did not survive the restart.
        let mut h = Harness::new(&engine, old.m.now, &old.ns, shared);
        let mut candidates = vec![old.m];
        let must_hold_last = last.answered_before_cut || last.seen_new;
        if let (Some(before), false) = (last.before, must_hold_last) {
            candidates.push(before);
        }
        let mut errors = vec![];
        for mut m in candidates {
            m.txns.clear();
            h.m = m;
            match check_state(&mut h) {
                Ok(()) => {
                    errors.clear();
                    break;
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            rt.shutdown().expect("shutdown");
        }
        prop_assert!(
            errors.is_empty(),
            "client {c} after the crash (last write answered before the cut: {}, seen: {}): {errors:?}",
            last.answered_before_cut,
            last.seen_new
        );
        recovered.push(Mutex::new(h));
    }
    let after: Vec<&[(u8, Op)]> = case.clients.iter().map(|c| c.1.as_slice()).collect();
    let ran = rounds(&recovered, &after, &case.observe, &clock, None);
    rt.shutdown().expect("shutdown");
    ran.map(|_| ())
}

fn cases() -> ProptestConfig {
    let n = std::env::var("MODEL_RUNTIME_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16u32);
    ProptestConfig {
        // Each case starts two runtimes: shrinking is slow, and a failure prints its case.
        max_shrink_iters: 64,
        // `write()` and `put()` pick the model test's operations of a kind by rejecting the
        // others: tens of rejects a case, a few microseconds each.
        max_local_rejects: u32::MAX,
        ..ProptestConfig::with_cases(n)
    }
}

proptest! {
    #![proptest_config(cases())]
    #[test]
    fn runtime_matches_model_through_concurrency_and_a_crash(case in case()) {
        run_case(&case)?;
    }
}
