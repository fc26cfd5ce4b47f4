//! Fault injection into the running shard (`cargo test -p treestore-shards --features failpoints`):
//! a failed log sync poisons the shard and acknowledges nothing, not even a refusal that saw the
//! lost write; a failed RocksDB apply poisons that shard only and a restart recovers what was
//! acknowledged; a failed replay keeps the shard out of service; a failed checkpoint keeps the
//! log, and a checkpoint never purges a write it did not flush; large reads and puts run off the
//! executor; a full inbox refuses at once.
//!
//! Shard failpoints: `shard::request`, `shard::plan_put_taken_up` (a large put taken up by the
//! blocking pool), `shard::plan_put`, `shard::snapshot_read`, `shard::apply`
//! (the apply of a logged write, on the executor), `shard::apply_blocking` (a large apply on
//! the blocking pool), `shard::checkpoint` (before the flush), `shard::checkpoint::flushed`
//! (between flush and purge).
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
        io_uring: common::io_uring_mode(),
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

// A large put the blocking pool takes up after its client deadline is refused there, before it
// is planned: DEADLINE_EXCEEDED, nothing logged, the document not written.
#[test]
fn a_large_put_taken_up_past_its_deadline_is_refused_unplanned() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::start(config(dir.path())).unwrap();
    wait_state(&rt, ShardState::Serving);
    let e = std::sync::Arc::new(Engine::new(rt.clone()));
    let (taken_up, release) = hold_at("shard::plan_put_taken_up");
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = e.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_millis(200);
        let put = writer.put_document(wide_doc("late", 300), false, WriteOpts::default());
        tx.send(run(shards::runtime::with_deadline(Some(deadline), put)))
            .unwrap();
    });
    within_a_minute(&taken_up, "the put reaching the blocking pool");
    std::thread::sleep(Duration::from_millis(400));
    fail::remove("shard::plan_put_taken_up");
    release.send(()).unwrap();
    let refused = within_a_minute(&rx, "the late put");
    assert!(
        matches!(refused, Err(Error::DeadlineExceeded(_))),
        "{refused:?}"
    );
    assert!(matches!(
        run(e.get_document("late", ReadAt::Latest, None)),
        Err(Error::NotFound { .. })
    ));
    // Not poisoned, nothing held: the same put without a deadline is written.
    run(e.put_document(wide_doc("late", 300), false, WriteOpts::default())).unwrap();
    rt.shutdown().unwrap();
    scenario.teardown();
}

/// Holds the failpoint `name` when reached; returns (reached, release).
fn hold_at(name: &str) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let hook = std::sync::Mutex::new((entered_tx, release_rx));
    fail::cfg_callback(name, move || {
        let hook = hook.lock().unwrap();
        let _ = hook.0.send(());
        let _ = hook.1.recv();
    })
    .unwrap();
    (entered, release)
}

fn put_in_background(
    e: &std::sync::Arc<Engine<Runtime>>,
    doc: DocumentInput,
) -> std::sync::mpsc::Receiver<Result<(String, engine::WriteResult)>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = e.clone();
    std::thread::spawn(move || {
        tx.send(run(writer.put_document(doc, true, WriteOpts::default())))
            .unwrap();
    });
    rx
}

#[test]
fn a_large_put_is_planned_off_the_executor_and_replanned_when_its_document_changed() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::start(config(dir.path())).unwrap();
    wait_state(&rt, ShardState::Serving);
    let e = std::sync::Arc::new(Engine::new(rt.clone()));
    run(e.put_document(wide_doc("big", 300), false, WriteOpts::default())).unwrap();
    run(e.put_document(doc("other"), false, WriteOpts::default())).unwrap();

    // 1. Held in planning: the shard serves reads and writes of other documents meanwhile.
    let (entered, release) = hold_at("shard::plan_put");
    let mut replacement = wide_doc("big", 400);
    replacement.name = "replaced".into();
    let done = put_in_background(&e, replacement);
    within_a_minute(&entered, "the put reaching its plan");
    assert!(run(e.get_document("big", ReadAt::Latest, None)).is_ok());
    run(e.put_document(doc("third"), false, WriteOpts::default())).unwrap();
    release.send(()).unwrap();
    let (_, put) = within_a_minute(&done, "the held put").unwrap();
    assert_eq!(put.version.unwrap().version, 2);
    fail::remove("shard::plan_put");

    // 2. A write to the document while its put is being planned makes that plan stale: the put
    //    is planned again on the executor and lands after the write, as the next version.
    let (entered, release) = hold_at("shard::plan_put");
    let mut third_version = wide_doc("big", 350);
    third_version.name = "third".into();
    let done = put_in_background(&e, third_version);
    within_a_minute(&entered, "the second put reaching its plan");
    let extra = NodeInput {
        node_id: "extra".into(),
        content: NodeContent::default(),
        children: vec![],
    };
    let inserted = run(e.insert_node("big", None, None, extra, WriteOpts::default())).unwrap();
    assert_eq!(inserted.version.unwrap().version, 3);
    fail::remove("shard::plan_put");
    release.send(()).unwrap();
    let (_, put) = within_a_minute(&done, "the stale put").unwrap();
    assert_eq!(put.version.unwrap().version, 4);

    let check = |e: &Engine<Runtime>| {
        let d = run(e.get_document("big", ReadAt::Latest, None)).unwrap();
        assert_eq!((d.name.as_str(), d.version), ("third", 4));
        let nodes = run(e.get_subtree("big", None, 0, false, ReadAt::Latest, None)).unwrap();
        assert_eq!(nodes.len(), 350);
        assert!(nodes.iter().all(|n| n.node_id != "extra"));
        let v3 = run(e.get_subtree("big", None, 0, false, ReadAt::Version(3), None)).unwrap();
        assert_eq!(v3.len(), 401);
        let versions = run(e.list_versions("big", None, 10)).unwrap();
        let numbers: Vec<u64> = versions.iter().map(|v| v.version).collect();
        assert_eq!(numbers, [1, 2, 3, 4]);
    };
    check(&e);
    // The log replays to the same state (a copy taken while running holds no flushed memtable).
    let copy = tempfile::tempdir().unwrap();
    common::copy_dir(dir.path(), copy.path());
    rt.shutdown().unwrap();
    drop(e);
    let rt = Runtime::start(config(copy.path())).unwrap();
    wait_state(&rt, ShardState::Serving);
    check(&Engine::new(rt.clone()));
    rt.shutdown().unwrap();
    scenario.teardown();
}

// A write refused (or a no-op) because of another write that is not durable yet is answered
// only once that write is: else a crash could undo what the answer revealed.
#[test]
fn a_refusal_waits_for_the_write_it_saw_to_be_durable() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::start(config(dir.path())).unwrap();
    wait_state(&rt, ShardState::Serving);
    let e = std::sync::Arc::new(Engine::new(rt.clone()));

    // The first create of "x" is applied, and its log write held on the sync thread.
    let (entered, release) = hold_at("wal::sync_thread");
    let first = put_in_background(&e, doc("x"));
    within_a_minute(&entered, "the first create reaching the log's sync thread");
    // A second create of "x" sees it, and is not answered while it is not durable.
    let (tx, second) = std::sync::mpsc::channel();
    let creator = e.clone();
    std::thread::spawn(move || {
        let r = run(creator.put_document(doc("x"), false, WriteOpts::default()));
        tx.send(r).unwrap();
    });
    assert!(matches!(
        second.recv_timeout(Duration::from_millis(300)),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout)
    ));
    // The first create's sync fails: it is not acknowledged, and neither is what the second
    // saw of it.
    fail::cfg("wal::sync::after", "return").unwrap();
    fail::remove("wal::sync_thread");
    release.send(()).unwrap();
    let r = within_a_minute(&first, "the first create");
    assert!(matches!(r, Err(Error::Unavailable { .. })), "{r:?}");
    let r = within_a_minute(&second, "the second create");
    assert!(matches!(r, Err(Error::Unavailable { .. })), "{r:?}");
    fail::remove("wal::sync::after");
    rt.shutdown().unwrap();
    scenario.teardown();
}

#[test]
fn a_full_inbox_refuses_at_once() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::start(RuntimeConfig {
        inbox_capacity: 2,
        // Nothing but the test's requests reaches the inbox.
        tool_sweep_interval: Duration::from_secs(3600),
        ..config(dir.path())
    })
    .unwrap();
    wait_state(&rt, ShardState::Serving);
    let stats = || shards::request::Request::Stats;
    // The executor takes the first request and is held there; two more fill the inbox.
    let (entered, release) = hold_at("shard::request");
    let first = rt.call(0, stats());
    let (tx, first_done) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(run(first).is_ok()).unwrap());
    within_a_minute(&entered, "the first request reaching the executor");
    let queued = [rt.call(0, stats()), rt.call(0, stats())];
    // The next is refused without waiting for room.
    let refused = run(rt.call(0, stats()));
    assert!(
        matches!(refused, Err(Error::ResourceExhausted(ref m)) if m.contains("inbox is full")),
        "{refused:?}"
    );
    fail::remove("shard::request");
    release.send(()).unwrap();
    assert!(within_a_minute(&first_done, "the held request"));
    for q in queued {
        assert!(run(q).is_ok());
    }
    assert!(run(rt.call(0, stats())).is_ok());
    rt.shutdown().unwrap();
    scenario.teardown();
}

/// Waits up to a minute until the shard's cache holds the latest tree of `doc`.
fn wait_cached(rt: &Runtime, doc: &str) -> std::sync::Arc<shards::tree::DocTree> {
    let start = Instant::now();
    loop {
        if let Some(t) = rt.cached_tree(0, doc, ReadAt::Latest) {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{doc} never cached"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn title_of(t: &shards::tree::DocTree, node: &str) -> String {
    t.node_view(node, false).unwrap().content.title
}

#[test]
fn cached_reads_never_show_a_write_before_it_is_durable_and_show_it_once_acknowledged() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::start(config(dir.path())).unwrap();
    wait_state(&rt, ShardState::Serving);
    let e = std::sync::Arc::new(Engine::new(rt.clone()));
    run(e.put_document(wide_doc("x", 3), false, WriteOpts::default())).unwrap();
    // The first read misses and loads the tree; then reads are answered from it.
    run(e.get_node("x", "0001", ReadAt::Latest, false, None)).unwrap();
    assert_eq!(wait_cached(&rt, "x").version, 1);

    // An update applied to RocksDB whose log sync is held: not durable, so not visible.
    let (entered, release) = hold_at("wal::sync_thread");
    let (tx, updated) = std::sync::mpsc::channel();
    let writer = e.clone();
    std::thread::spawn(move || {
        let content = NodeContent {
            title: "changed".into(),
            ..Default::default()
        };
        let mask = FieldMask {
            title: true,
            ..Default::default()
        };
        tx.send(run(writer.update_node(
            "x",
            "0001",
            content,
            mask,
            WriteOpts::default(),
        )))
        .unwrap();
    });
    within_a_minute(&entered, "the update reaching the log's sync thread");
    let cached = rt
        .cached_tree(0, "x", ReadAt::Latest)
        .expect("still cached");
    assert_eq!(
        (cached.version, title_of(&cached, "0001")),
        (1, "section 1".to_string())
    );
    let read = run(e.get_node("x", "0001", ReadAt::Latest, false, None)).unwrap();
    assert_eq!(read.content.title, "section 1");
    assert!(rt.cached_tree(0, "x", ReadAt::Version(2)).is_none());

    // Once acknowledged, the new version is the cached one: published before the answer.
    fail::remove("wal::sync_thread");
    release.send(()).unwrap();
    let r = within_a_minute(&updated, "the update").unwrap();
    assert_eq!(r.version.map(|v| v.version), Some(2));
    let cached = rt.cached_tree(0, "x", ReadAt::Latest).expect("published");
    assert_eq!(
        (cached.version, title_of(&cached, "0001")),
        (2, "changed".to_string())
    );

    // A write whose sync fails is never published; the poisoned shard serves no cached read.
    fail::cfg("wal::sync::before", "return").unwrap();
    let r = run(e.delete_node("x", "0002", WriteOpts::default()));
    assert!(matches!(r, Err(Error::Unavailable { .. })), "{r:?}");
    assert!(rt.cached_tree(0, "x", ReadAt::Latest).is_none());
    let r = run(e.get_node("x", "0002", ReadAt::Latest, false, None));
    assert!(matches!(r, Err(Error::Unavailable { .. })), "{r:?}");
    fail::remove("wal::sync::before");
    rt.shutdown().unwrap();
    scenario.teardown();
}

/// Documents placed on `shard` of `shards`, named `{prefix}-N`.
fn docs_on(shard: usize, shards: usize, prefix: &str, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .filter(|d| shards::placement::shard_of(d, shards) == shard)
        .take(n)
        .collect()
}

// A failed RocksDB apply (after the append) poisons that shard only: the write is not
// acknowledged, nothing more is on that shard, the other shard serves on, and a restart
// recovers every acknowledged write.
#[test]
fn a_failed_apply_poisons_the_shard_and_a_restart_recovers_what_was_acknowledged() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RuntimeConfig {
        shards: Some(2),
        ..config(dir.path())
    };
    let rt = Runtime::start(cfg.clone()).unwrap();
    let e = Engine::new(rt.clone());
    let start = Instant::now();
    while !rt.all_serving() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:?}",
            rt.health()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let on0 = docs_on(0, 2, "zero", 4);
    let on1 = docs_on(1, 2, "one", 2);
    for d in &on0[..2] {
        run(e.put_document(doc(d), false, WriteOpts::default())).unwrap();
    }
    run(e.put_document(doc(&on1[0]), false, WriteOpts::default())).unwrap();

    fail::cfg("shard::apply", "1*return").unwrap();
    let r = run(e.put_document(doc(&on0[2]), false, WriteOpts::default()));
    assert!(matches!(r, Err(Error::Unavailable { .. })), "{r:?}");
    fail::remove("shard::apply");
    let health = rt.health();
    assert_eq!(health[0].state, ShardState::Poisoned, "{health:?}");
    assert!(health[0].detail.contains("apply"), "{health:?}");
    assert_eq!(health[1].state, ShardState::Serving, "{health:?}");
    // Nothing more is acknowledged on the poisoned shard, reads included.
    assert!(matches!(
        run(e.put_document(doc(&on0[3]), false, WriteOpts::default())),
        Err(Error::Unavailable { .. })
    ));
    assert!(matches!(
        run(e.get_document(&on0[0], ReadAt::Latest, None)),
        Err(Error::Unavailable { .. })
    ));
    // The other shard reads and writes on.
    assert!(run(e.get_document(&on1[0], ReadAt::Latest, None)).is_ok());
    run(e.put_document(doc(&on1[1]), false, WriteOpts::default())).unwrap();
    // Stats gives the serving shard's counters, marked partial; the poisoned shard's entry is
    // its error.
    let stats = run(e.stats()).unwrap();
    assert!(stats.partial(), "{stats:?}");
    assert!(
        matches!(&stats.per_shard[0], Err(Error::Unavailable { .. })),
        "{stats:?}"
    );
    assert_eq!(stats.per_shard[1].as_ref().map(|x| x.documents), Ok(2));
    assert_eq!(stats.total.documents, 2, "{stats:?}");
    // Shutdown does not lift the poison.
    rt.shutdown().unwrap();
    assert_eq!(rt.health()[0].state, ShardState::Poisoned);
    // With no shard serving, Stats has nothing to give: the first shard's error.
    let none = run(e.stats());
    assert!(matches!(none, Err(Error::Unavailable { .. })), "{none:?}");
    drop(e);

    let rt = Runtime::start(cfg).unwrap();
    let e = Engine::new(rt.clone());
    let start = Instant::now();
    while !rt.all_serving() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:?}",
            rt.health()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for d in on0[..2].iter().chain(&on1) {
        assert!(
            run(e.get_document(d, ReadAt::Latest, None)).is_ok(),
            "acknowledged {d} lost"
        );
    }
    // Refused after the poison, so never logged.
    assert!(run(e.get_document(&on0[3], ReadAt::Latest, None)).is_err());
    rt.shutdown().unwrap();
    scenario.teardown();
}

// The checkpoint purges only what its flush holds: the store's applied LSN, not the last LSN
// appended (or synced). Here a write is appended and synced by another request's group commit
// while its apply is held; a checkpoint flushes without it; the write is then applied and
// acknowledged, and later writes rotate the log past its segment before the checkpoint purges.
// Covering the appended LSN deleted that segment (this test failed so): after a crash, with
// RocksDB's memtable lost, the log would start after the store's applied LSN and the
// acknowledged put would be gone.
#[test]
fn a_checkpoint_never_purges_a_write_appended_but_not_yet_applied() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RuntimeConfig {
        wal: treestore_wal::WalOptions {
            segment_size: 8192,
            keep_segments: 1,
            ..Default::default()
        },
        checkpoint_interval: Duration::from_millis(50),
        ..config(dir.path())
    };
    let rt = Runtime::start(cfg.clone()).unwrap();
    wait_state(&rt, ShardState::Serving);
    let e = std::sync::Arc::new(Engine::new(rt.clone()));
    for i in 0..3 {
        run(e.put_document(doc(&format!("before-{i}")), false, WriteOpts::default())).unwrap();
    }

    // The large put is appended; its apply (on the blocking pool) is held.
    let (applying, release_apply) = hold_at("shard::apply_blocking");
    let big = put_in_background(&e, wide_doc("big", 600));
    within_a_minute(&applying, "the large put's apply");
    // A shard-wide read waits for every appended record: the put's record is now synced.
    run(e.stats()).unwrap();
    // A checkpoint flushes (without the put) and is held before its purge. The first one held
    // may have started before the read; the second started after it.
    let (flushed, release_purge) = hold_at("shard::checkpoint::flushed");
    within_a_minute(&flushed, "a checkpoint's flush");
    release_purge.send(()).unwrap();
    within_a_minute(&flushed, "the next checkpoint's flush");
    // The put is applied and acknowledged; more writes rotate the log past its segment.
    fail::remove("shard::apply_blocking");
    release_apply.send(()).unwrap();
    within_a_minute(&big, "the large put").unwrap();
    for i in 0..4 {
        run(e.put_document(doc(&format!("after-{i}")), false, WriteOpts::default())).unwrap();
    }
    // The held checkpoint purges; the next one reaching its flush proves it finished.
    release_purge.send(()).unwrap();
    within_a_minute(&flushed, "the next checkpoint");
    // The put is not in any flush of the store yet, so the log still holds it.
    assert!(
        logged_docs(&Runtime::wal_dir(dir.path(), 0)).contains(&"big".to_string()),
        "the log no longer holds the put, which no flush covered"
    );
    // A restart without a shutdown checkpoint recovers, with every acknowledged write.
    fail::cfg("shard::checkpoint", "return").unwrap();
    fail::remove("shard::checkpoint::flushed");
    drop(release_purge);
    rt.shutdown().unwrap();
    drop(e);
    fail::remove("shard::checkpoint");

    let rt = Runtime::start(cfg).unwrap();
    let start = Instant::now();
    while rt.health()[0].state == ShardState::Recovering {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:?}",
            rt.health()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        rt.health()[0].state,
        ShardState::Serving,
        "{:?}",
        rt.health()
    );
    let e = Engine::new(rt.clone());
    let nodes = run(e.get_subtree("big", None, 0, false, ReadAt::Latest, None)).unwrap();
    assert_eq!(nodes.len(), 600);
    for i in 0..4 {
        assert!(run(e.get_document(&format!("after-{i}"), ReadAt::Latest, None)).is_ok());
    }
    rt.shutdown().unwrap();
    scenario.teardown();
}

/// The documents written by the mutations whose records are in the log directory `dir`.
fn logged_docs(dir: &std::path::Path) -> Vec<String> {
    let mut docs = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wal") {
            continue;
        }
        // A segment removed meanwhile (rotation leaves none) is skipped.
        let _ = run(treestore_wal::reader::scan_segment(
            &treestore_wal::StdFs,
            &path,
            |_, _, payload| {
                if let Ok(mutation::Mutation::Commit(c)) = mutation::Mutation::decode(payload) {
                    docs.push(c.doc_id);
                }
                Ok(())
            },
        ));
    }
    docs
}
