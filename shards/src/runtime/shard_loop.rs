//! One shard on its executor: recover from the log, then serve the inbox (reads in
//! `read_path.rs`, writes in `write_path.rs`), checkpoint on a timer.
//!
//! Reads never see what is not durable: a read waits until every log record that wrote its
//! document (or, for shard-wide reads, every record) is synced. A failed append, apply or sync
//! poisons the shard: its waiters fail, later requests get `Unavailable`, nothing more is
//! acknowledged, and a restart recovers from the log.

use super::admission::Refusal;
use super::executor::{sleep, spawn_blocking, spawn_joinable, spawn_local};
use super::inbox::{Envelope, Inbox};
use super::{read_path, write_path, Clock, RuntimeConfig, ShardStatus, ShardStore};
use crate::disk_space::DiskReserve;
use crate::engine::{now_micros, LogCorruption, ShardState};
use crate::feed::{FeedEvent, FeedLive};
use crate::metrics::ShardMetrics;
use crate::model::Micros;
use crate::mutation::{Mutation, XrefSide};
use crate::request::{Request, Response};
use crate::shard::Shard;
use crate::tree::{Loads, Staging, TreeCache};
use crate::{Error, Result};
use futures_channel::oneshot;
use futures_util::lock::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use treestore_wal::{FileSystem, Wal};

pub struct ShardContext<S> {
    pub id: usize,
    pub store: S,
    pub cache: Arc<TreeCache>,
    pub feed: Arc<FeedLive>,
    pub inbox: Arc<Inbox>,
    pub status: Arc<ShardStatus>,
    pub config: Arc<RuntimeConfig>,
    pub wal_dir: PathBuf,
    pub metrics: ShardMetrics,
}

pub(super) use super::admission::Reply;

/// What a read must see durable first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    /// Writes of one document.
    Doc(String),
    /// Every write of the shard.
    Shard,
    /// Nothing (reads through a transaction's own snapshot).
    Nothing,
}

/// Whether a request may produce a mutation, and if not, what it reads.
fn read_scope(req: &Request) -> Option<Scope> {
    use Request::*;
    let doc = |d: &String| Some(Scope::Doc(d.clone()));
    match req {
        PutDocument { write, .. }
        | InsertNode { write, .. }
        | UpdateNode { write, .. }
        | MoveNode { write, .. }
        | DeleteNode { write, .. } => write.txn.as_ref().map(|_| Scope::Nothing),
        DeleteDocument { .. }
        | PutXref { .. }
        | RemoveXref { .. }
        | PutToolResult { .. }
        | SweepToolResults { .. }
        | Commit { .. } => None,
        GetDocument { txn: Some(_), .. }
        | GetNode { txn: Some(_), .. }
        | GetChildren { txn: Some(_), .. }
        | GetSubtree { txn: Some(_), .. }
        | GetAncestors { txn: Some(_), .. }
        | Rollback { .. } => Some(Scope::Nothing),
        GetDocument { doc_id, .. }
        | GetNode { doc_id, .. }
        | GetChildren { doc_id, .. }
        | GetSubtree { doc_id, .. }
        | GetAncestors { doc_id, .. }
        | ListVersions { doc_id, .. }
        | VersionAsOf { doc_id, .. }
        | Diff { doc_id, .. }
        | Begin { doc_id, .. }
        | Search {
            doc_id: Some(doc_id),
            ..
        } => doc(doc_id),
        // Links of one document wait for its writes; of several, for the shard's.
        ListXrefs { starts, .. } => match starts.split_first() {
            Some(((d, _), rest)) if rest.iter().all(|(o, _)| o == d) => doc(d),
            _ => Some(Scope::Shard),
        },
        Search { doc_id: None, .. }
        | ListDocuments { .. }
        | LinkValues { .. }
        | NodesExist { .. }
        | DocVersions { .. }
        | GetToolResult { .. }
        | Stats => Some(Scope::Shard),
    }
}

/// The document whose reads a mutation affects ("" = only shard-wide reads).
pub(super) fn written_doc(m: &Mutation) -> &str {
    match m {
        Mutation::Commit(c) => &c.doc_id,
        Mutation::DeleteDocument { doc_id, .. } => doc_id,
        Mutation::PutXref { key, side, .. } | Mutation::RemoveXref { key, side } => match side {
            XrefSide::Out => &key.from_doc,
            XrefSide::In => &key.to_doc,
        },
        Mutation::PutToolResult { .. } | Mutation::RemoveToolResults { .. } => "",
    }
}

pub(super) struct Core<S: ShardStore> {
    pub(super) shard: Shard<S>,
    /// Log position of the last record that wrote each document (pruned once durable).
    pub(super) pending: HashMap<String, u64>,
    /// Documents whose put is being planned off the executor, and whether a mutation wrote them
    /// since (then that plan is stale and is made again).
    pub(super) planning: HashMap<String, bool>,
    pub(super) last_appended: u64,
    pub(super) next_txid: u64,
    /// Trees of applied mutations, published to the cache once durable.
    pub(super) staging: Staging,
    /// Feed events of applied mutations (LSN order), published to the feed once durable.
    pub(super) feed_staged: VecDeque<(u64, Arc<FeedEvent>)>,
    /// The LSN of the mutation appended whose batch is being written (at most one: applies
    /// happen in log order under `apply_order`); the feed is published below it.
    pub(super) applying: Option<u64>,
    /// Trees being loaded into the cache after reads missed it.
    pub(super) loads: Loads,
}

impl<S: ShardStore> Core<S> {
    pub(super) fn needs(&self, scope: &Scope, durable: u64) -> Option<u64> {
        let lsn = match scope {
            Scope::Nothing => return None,
            Scope::Shard => self.last_appended,
            Scope::Doc(d) => self.pending.get(d).copied().unwrap_or(0),
        };
        (lsn > durable).then_some(lsn)
    }
}

pub(super) struct Served<F: FileSystem, S: ShardStore> {
    pub(super) id: usize,
    pub(super) core: RefCell<Core<S>>,
    pub(super) wal: Wal<F>,
    pub(super) status: Arc<ShardStatus>,
    pub(super) store: S,
    /// The time requests are planned and answered at.
    pub(super) clock: Clock,
    pub(super) cache: Arc<TreeCache>,
    /// The shard's change feed, read by watchers on router threads.
    pub(super) feed: Arc<FeedLive>,
    /// The feed keeps the events of this many most recent log records.
    pub(super) feed_retention_records: u64,
    pub(super) in_flight: Cell<usize>,
    pub(super) metrics: ShardMetrics,
    /// Held from planning a write (or validating a plan made off the executor) until its batch
    /// is applied: mutations are planned against, appended and applied in one order.
    pub(super) apply_order: Mutex<()>,
    /// Free space kept on the log's and RocksDB's file systems: below it, writes are refused
    /// and checkpoints postponed.
    pub(super) disk: DiskReserve,
}

impl<F: FileSystem, S: ShardStore> Served<F, S> {
    pub(super) fn poison(&self, why: String) {
        tracing::error!(shard = self.id, reason = %why, "shard poisoned; restart to recover from the log");
        self.status.set_state(ShardState::Poisoned, why);
    }

    pub(super) fn unavailable(&self) -> Error {
        Error::Unavailable {
            shard: self.id,
            reason: self.status.detail(),
        }
    }

    /// Publishes to the cache the trees of every mutation now durable, in log order. Called
    /// before a write is acknowledged, so every later read sees what it acknowledged.
    pub(super) fn publish_trees(&self) {
        let durable = self.wal.durable_lsn();
        let mut core = self.core.borrow_mut();
        core.staging.publish(&self.cache, durable);
        // The feed: every event now durable, never past a record still being applied.
        let through = match core.applying {
            Some(lsn) => durable.min(lsn - 1),
            None => durable,
        };
        let ready = core
            .feed_staged
            .iter()
            .take_while(|(lsn, _)| *lsn <= through)
            .count();
        let events = core.feed_staged.drain(..ready);
        self.feed.publish(events, through);
    }

    pub(super) fn publish(&self) {
        self.status
            .durable_lsn
            .store(self.wal.durable_lsn(), std::sync::atomic::Ordering::Relaxed);
        self.status
            .last_lsn
            .store(self.wal.last_lsn(), std::sync::atomic::Ordering::Relaxed);
        self.status
            .wal_bytes
            .store(self.wal.disk_size(), std::sync::atomic::Ordering::Relaxed);
    }
}

fn reply(e: Envelope, r: Result<Response>) {
    // The caller may have gone (deadline, cancellation): nothing to do then.
    let _ = e.reply.send(r);
}

/// Makes the log's file system for a shard, given a name for its sync thread: called on the
/// shard's executor thread, so that the sync thread inherits the executor's core.
pub type OpenFs<F> = Box<dyn FnOnce(&str) -> std::io::Result<F>>;

/// Serves one shard until its inbox closes: recovers it from its log, then handles requests.
pub async fn run<F: FileSystem + 'static, S: ShardStore>(ctx: ShardContext<S>, open_fs: OpenFs<F>) {
    let ShardContext {
        id,
        store,
        cache,
        feed,
        inbox,
        status,
        config,
        wal_dir,
        metrics,
    } = ctx;
    let ctx = Recovery {
        id,
        store,
        cache,
        feed,
        status: status.clone(),
        config: &config,
        wal_dir,
        open_fs,
        metrics,
    };
    let recovered = recover(ctx).await;
    let served = match recovered {
        Ok(s) => Rc::new(s),
        Err(e) => {
            tracing::error!(shard = id, error = %e, "shard recovery failed");
            status.set_state(ShardState::Poisoned, format!("recovery failed: {e}"));
            while let Some(env) = inbox.recv().await {
                reply(
                    env,
                    Err(Error::Unavailable {
                        shard: id,
                        reason: status.detail(),
                    }),
                );
            }
            return;
        }
    };
    served.publish();
    // After recovery RocksDB holds every record of the log (what was replayed was flushed):
    // the age of the last checkpoint counts from here.
    served.metrics.last_checkpoint.set(unix_seconds());
    status.set_state(ShardState::Serving, String::new());
    tracing::info!(
        shard = id,
        applied_lsn = served.wal.last_lsn(),
        "shard serving"
    );
    let checkpointer = Rc::new(Cell::new(false));
    let (stop_timer, stop) = oneshot::channel();
    let timer = spawn_joinable(checkpoint_timer(
        served.clone(),
        config.clone(),
        checkpointer.clone(),
        inbox.clone(),
        stop,
    ));

    while let Some(mut env) = inbox.recv().await {
        if status.state() == ShardState::Poisoned {
            reply(env, Err(served.unavailable()));
            continue;
        }
        // Past its queue deadline: refused without doing its work (see `admission`).
        if let Some(refusal) = env.reply.expired(id, Instant::now()) {
            served.metrics.refused(Refusal::Expired);
            reply(env, Err(refusal));
            continue;
        }
        handle(&served, env).await;
        if served.wal.disk_size() > config.checkpoint_wal_bytes && !checkpointer.get() {
            checkpointer.set(true);
            let (s, flag) = (served.clone(), checkpointer.clone());
            spawn_local(async move {
                checkpoint(&s).await;
                flag.set(false);
            });
        }
    }
    // Closed and drained: let in-flight writes finish, then checkpoint.
    if status.state() != ShardState::Poisoned {
        let _ = served.wal.sync().await;
    }
    while served.in_flight.get() > 0 {
        sleep(Duration::from_millis(1)).await;
    }
    drop(stop_timer);
    timer.await;
    while checkpointer.get() {
        sleep(Duration::from_millis(5)).await;
    }
    if status.state() != ShardState::Poisoned {
        checkpoint(&served).await;
    }
    served.publish();
    tracing::info!(shard = id, "shard stopped");
}

/// What recovering a shard needs.
struct Recovery<'a, F, S> {
    id: usize,
    store: S,
    cache: Arc<TreeCache>,
    feed: Arc<FeedLive>,
    status: Arc<ShardStatus>,
    config: &'a RuntimeConfig,
    wal_dir: PathBuf,
    open_fs: OpenFs<F>,
    metrics: ShardMetrics,
}

async fn recover<F: FileSystem + 'static, S: ShardStore>(
    ctx: Recovery<'_, F, S>,
) -> Result<Served<F, S>> {
    let Recovery {
        id,
        store,
        cache,
        feed,
        status,
        config,
        wal_dir,
        open_fs,
        metrics,
    } = ctx;
    let shard = Shard::new(id, store.clone(), config.shard.clone(), now_micros() as u64);
    let applied = shard.applied_lsn()?;
    let started = Instant::now();
    let mut opts = config.wal.clone();
    opts.truncate_on_corruption = config.truncate_on_corruption;
    // Started from the executor thread: the sync thread runs on the shard's core.
    let fs = open_fs(&format!("treestore-sync-{id}"))
        .map_err(|e| Error::Storage(format!("starting the log's sync thread: {e}")))?;
    let (wal, txs) = treestore_wal::open(fs, &wal_dir, id as u64, applied, opts)
        .await
        .map_err(|e| {
            if let treestore_wal::Error::Corruption {
                file,
                offset,
                reason,
                ..
            } = &e
            {
                status.set_corruption(LogCorruption {
                    file: file.display().to_string(),
                    offset: *offset,
                    reason: reason.clone(),
                });
            }
            if e.is_corruption() {
                Error::DataLoss(e.to_string())
            } else {
                Error::Storage(e.to_string())
            }
        })?;
    let m = metrics.clone();
    wal.on_flush(move |f| {
        m.fsync.observe(f.elapsed.as_secs_f64());
        m.group_commit.observe(f.records as f64);
    });
    let count = txs.len();
    let bytes: usize = txs.iter().map(|t| t.payload.len()).sum();
    for tx in txs {
        let m = Mutation::decode(&tx.payload)?;
        shard.apply(&m, tx.commit_lsn)?;
        status
            .last_lsn
            .store(tx.commit_lsn, std::sync::atomic::Ordering::Relaxed);
    }
    if count > 0 {
        // Make the replayed state durable in RocksDB so the log can be trimmed.
        let s = store.clone();
        spawn_blocking(move || s.flush()).await?;
    }
    tracing::info!(
        shard = id,
        applied_lsn = applied,
        replayed = count,
        bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "shard recovered"
    );
    let last = wal.last_lsn();
    // Every event up to the last record replayed is in the store; the ring starts above it.
    feed.start_at(last, crate::feed::trimmed_in(&store)?);
    let disk = DiskReserve::new(
        vec![wal_dir, config.data_dir.join("rocksdb")],
        config.disk_reserve_bytes,
    );
    Ok(Served {
        id,
        core: RefCell::new(Core {
            shard,
            pending: HashMap::new(),
            last_appended: last,
            planning: HashMap::new(),
            next_txid: now_micros() as u64,
            staging: Staging::default(),
            feed_staged: VecDeque::new(),
            applying: None,
            loads: Loads::default(),
        }),
        wal,
        status,
        store,
        clock: config.clock.clone(),
        cache,
        feed,
        feed_retention_records: config.feed_retention_records,
        in_flight: Cell::new(0),
        metrics,
        apply_order: Mutex::new(()),
        disk,
    })
}

async fn handle<F: FileSystem + 'static, S: ShardStore>(s: &Rc<Served<F, S>>, env: Envelope) {
    // Failpoint `shard::request` (feature `failpoints`): a callback here holds the executor.
    fail::fail_point!("shard::request");
    // Whatever this request answers from durable state, the cache shows too (never older).
    s.publish_trees();
    let now = s.clock.now();
    match read_scope(&env.request) {
        Some(scope) => read_path::serve(s, scope, env, now),
        None => write_path::serve(s, env, now).await,
    }
    count_transactions(s, now);
}

/// Transactions live only in the shard (begun, used, ended by writes; expired by any request):
/// its open count and the lifetimes of those that ended, into the metrics.
fn count_transactions<F: FileSystem, S: ShardStore>(s: &Served<F, S>, now: Micros) {
    let mut core = s.core.borrow_mut();
    for (outcome, micros) in core.shard.take_ended_transactions() {
        s.metrics
            .transaction_ended(outcome, micros as f64 / 1_000_000.0);
    }
    s.metrics
        .txns_active
        .set(core.shard.active_transactions(now) as i64);
}

fn unix_seconds() -> f64 {
    now_micros() as f64 / 1_000_000.0
}

/// The `shard::checkpoint` failpoint (feature `failpoints`): fails a checkpoint before its flush.
fn injected_checkpoint_failure() -> Result<()> {
    fail::fail_point!("shard::checkpoint", |_| Err(Error::Storage(
        "injected checkpoint failure".into()
    )));
    Ok(())
}

/// Flushes the shard's column family (off the executor), then deletes the log segments the
/// flush covers.
///
/// What the flush covers is what the store held when the checkpoint started: its applied LSN
/// (written in every batch), read before the flush. Not the last *appended* LSN: a write
/// appended (and even synced by another write's group commit) whose apply is still running on
/// the blocking pool is in no flushed memtable, and its record must stay in the log.
async fn checkpoint<F: FileSystem + 'static, S: ShardStore>(s: &Served<F, S>) {
    let applied = s.core.borrow().shard.applied_lsn();
    let covered = match applied {
        Ok(applied) => applied.min(s.wal.durable_lsn()),
        Err(e) => {
            tracing::error!(shard = s.id, error = %e, "checkpoint: reading the applied LSN failed; the log is kept");
            s.metrics.checkpoints_failed.inc();
            return;
        }
    };
    // A flush failing with ENOSPC would leave RocksDB refusing writes: wait for space. While
    // RocksDB is stopped (a flush failed), a flush would only fail again: RocksDB retries its
    // failed flush itself, and the log is kept until a checkpoint's flush succeeds.
    if let Err(e) = s.disk.check().and_then(|()| s.store.accepts_writes()) {
        tracing::warn!(shard = s.id, error = %e, "checkpoint postponed");
        s.metrics.checkpoints_failed.inc();
        return;
    }
    let store = s.store.clone();
    let started = Instant::now();
    let flushed = injected_checkpoint_failure();
    let flushed = match flushed {
        Ok(()) => {
            spawn_blocking(move || {
                let flushed = store.flush();
                // Failpoint `shard::checkpoint::flushed` (feature `failpoints`): holds the
                // checkpoint between its flush and its purge.
                fail::fail_point!("shard::checkpoint::flushed");
                flushed
            })
            .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = flushed {
        tracing::error!(shard = s.id, error = %e, "checkpoint flush failed; the log is kept");
        s.metrics.checkpoints_failed.inc();
        return;
    }
    match s.wal.purge(covered).await {
        Ok(removed) => {
            let elapsed = started.elapsed();
            s.metrics.checkpoints_ok.inc();
            s.metrics.checkpoint_seconds.observe(elapsed.as_secs_f64());
            s.metrics.last_checkpoint.set(unix_seconds());
            tracing::info!(
                shard = s.id,
                covered_lsn = covered,
                segments_removed = removed,
                elapsed_ms = elapsed.as_millis() as u64,
                "checkpoint"
            )
        }
        Err(e) => {
            s.metrics.checkpoints_failed.inc();
            tracing::error!(shard = s.id, error = %e, "checkpoint purge failed")
        }
    }
    trim_feed(s).await;
    s.publish();
}

/// Removes the change-feed events older than the retention (off the executor).
async fn trim_feed<F: FileSystem + 'static, S: ShardStore>(s: &Served<F, S>) {
    let (feed, store, keep) = (s.feed.clone(), s.store.clone(), s.feed_retention_records);
    match spawn_blocking(move || crate::feed::trim(&feed, &store, keep)).await {
        Ok(Some(upto)) => tracing::debug!(shard = s.id, trimmed_lsn = upto, "change feed trimmed"),
        Ok(None) => {}
        // Nothing is lost: the events stay until the next checkpoint tries again.
        Err(e) => tracing::warn!(shard = s.id, error = %e, "trimming the change feed failed"),
    }
}

/// Checkpoints every `checkpoint_interval` and sweeps expired tool results every
/// `tool_sweep_interval`; sleeps in between (an idle shard wakes only for these), and ends as
/// soon as `stop` fires.
async fn checkpoint_timer<F: FileSystem + 'static, S: ShardStore>(
    s: Rc<Served<F, S>>,
    config: Arc<RuntimeConfig>,
    busy: Rc<Cell<bool>>,
    inbox: Arc<Inbox>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut next_checkpoint = Instant::now() + config.checkpoint_interval;
    let mut next_sweep = Instant::now() + config.tool_sweep_interval;
    loop {
        let wake = next_checkpoint.min(next_sweep);
        let nap = wake.saturating_duration_since(Instant::now());
        let stopped = futures_lite::future::or(
            async {
                sleep(nap).await;
                false
            },
            async {
                let _ = (&mut stop).await;
                true
            },
        )
        .await;
        if stopped {
            return;
        }
        let now = Instant::now();
        if now >= next_sweep {
            next_sweep = now + config.tool_sweep_interval;
            // Through the inbox, like any write, so it is planned and applied in log order.
            let (reply, _) = oneshot::channel();
            let _ = inbox.push(Envelope {
                request: Request::SweepToolResults { limit: 1000 },
                reply: Reply::internal(reply),
            });
        }
        if now >= next_checkpoint {
            next_checkpoint = now + config.checkpoint_interval;
            if !busy.get() && s.status.state() == ShardState::Serving {
                busy.set(true);
                checkpoint(&s).await;
                busy.set(false);
            }
        }
    }
}
