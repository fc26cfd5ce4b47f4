//! One shard on its executor: recover from the log, then serve the inbox.
//!
//! Write path, per request, without awaiting in between: plan (`Shard::handle`) -> append the
//! mutation to the log -> apply its batch to RocksDB. Then a task awaits the group commit that
//! covers the record and only then answers. Because plans and applies happen in log order on one
//! thread, the log replays to exactly the state RocksDB had.
//!
//! Reads never see what is not durable: a read waits until every log record that wrote its
//! document (or, for shard-wide reads, every record) is synced. A failed append, apply or sync
//! poisons the shard: its waiters fail, later requests get `Unavailable`, nothing more is
//! acknowledged, and a restart recovers from the log.

use super::glommio_rt::{sleep, spawn_blocking, spawn_joinable, spawn_local};
use super::inbox::{Envelope, Inbox};
use super::{RuntimeConfig, ShardStatus};
use crate::engine::{now_micros, ShardState};
use crate::model::Micros;
use crate::mutation::{Mutation, XrefSide};
use crate::reads;
use crate::request::{Request, Response};
use crate::shard::Shard;
use crate::store::{KvStore, RocksStore, Snapshot};
use crate::{Error, Result};
use futures_channel::oneshot;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use treestore_wal::{GlommioFs, Wal};

pub struct ShardContext {
    pub id: usize,
    pub store: RocksStore,
    pub inbox: Arc<Inbox>,
    pub status: Arc<ShardStatus>,
    pub config: Arc<RuntimeConfig>,
    pub wal_dir: PathBuf,
}

/// What a read must see durable first.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Scope {
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
        | ListXrefs { doc_id, .. }
        | Begin { doc_id, .. }
        | Search {
            doc_id: Some(doc_id),
            ..
        } => doc(doc_id),
        Search { doc_id: None, .. }
        | ListDocuments { .. }
        | XrefsExist { .. }
        | NodesExist { .. }
        | DocVersions { .. }
        | GetToolResult { .. }
        | Stats => Some(Scope::Shard),
    }
}

/// The document whose reads a mutation affects ("" = only shard-wide reads).
fn written_doc(m: &Mutation) -> &str {
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

struct Core {
    shard: Shard<RocksStore>,
    /// Log position of the last record that wrote each document (pruned once durable).
    pending: HashMap<String, u64>,
    last_appended: u64,
    next_txid: u64,
}

impl Core {
    fn needs(&self, scope: &Scope, durable: u64) -> Option<u64> {
        let lsn = match scope {
            Scope::Nothing => return None,
            Scope::Shard => self.last_appended,
            Scope::Doc(d) => self.pending.get(d).copied().unwrap_or(0),
        };
        (lsn > durable).then_some(lsn)
    }
}

struct Served {
    id: usize,
    core: RefCell<Core>,
    wal: Wal<GlommioFs>,
    status: Arc<ShardStatus>,
    store: RocksStore,
    in_flight: Cell<usize>,
}

impl Served {
    fn poison(&self, why: String) {
        tracing::error!(shard = self.id, reason = %why, "shard poisoned; restart to recover from the log");
        self.status.set_state(ShardState::Poisoned, why);
    }

    fn unavailable(&self) -> Error {
        Error::Unavailable {
            shard: self.id,
            reason: self.status.detail(),
        }
    }

    fn publish(&self) {
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

pub async fn run(ctx: ShardContext) {
    let ShardContext {
        id,
        store,
        inbox,
        status,
        config,
        wal_dir,
    } = ctx;
    let served = match recover(id, store, status.clone(), &config, wal_dir).await {
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

    while let Some(env) = inbox.recv().await {
        if status.state() == ShardState::Poisoned {
            reply(env, Err(served.unavailable()));
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

async fn recover(
    id: usize,
    store: RocksStore,
    status: Arc<ShardStatus>,
    config: &RuntimeConfig,
    wal_dir: PathBuf,
) -> Result<Served> {
    let shard = Shard::new(id, store.clone(), config.shard.clone(), now_micros() as u64);
    let applied = shard.applied_lsn()?;
    let started = Instant::now();
    let mut opts = config.wal.clone();
    opts.truncate_on_corruption = config.truncate_on_corruption;
    let (wal, txs) = treestore_wal::open(GlommioFs, &wal_dir, id as u64, applied, opts)
        .await
        .map_err(|e| {
            if e.is_corruption() {
                Error::DataLoss(e.to_string())
            } else {
                Error::Storage(e.to_string())
            }
        })?;
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
    Ok(Served {
        id,
        core: RefCell::new(Core {
            shard,
            pending: HashMap::new(),
            last_appended: last,
            next_txid: now_micros() as u64,
        }),
        wal,
        status,
        store,
        in_flight: Cell::new(0),
    })
}

/// Most nodes a subtree read builds on the executor; a larger one is answered again on a
/// snapshot on the blocking pool (so the executor spends at most this much on it).
const INLINE_SUBTREE_NODES: usize = 64;

/// A read answered on the executor, or handed back to be answered on a snapshot.
enum Inline {
    Answered(Result<Response>),
    TooLarge(Request),
}

/// Answers a read inline unless it may visit many keys: lists, searches, diffs, version lists
/// and statistics always go to a snapshot on the blocking pool, and so does a subtree of more
/// than `INLINE_SUBTREE_NODES` nodes, so point reads and writes keep flowing on the executor.
fn read_inline(s: &Served, request: Request, now: Micros) -> Inline {
    match request {
        Request::ListDocuments { .. }
        | Request::ListVersions { .. }
        | Request::Diff { .. }
        | Request::Search { .. }
        | Request::Stats => Inline::TooLarge(request),
        Request::GetSubtree { txn: None, .. } => {
            let core = s.core.borrow();
            let limits = &core.shard.config.limits;
            match reads::subtree_within(&s.store, limits, &request, INLINE_SUBTREE_NODES) {
                Some(answer) => Inline::Answered(answer),
                None => Inline::TooLarge(request),
            }
        }
        _ => Inline::Answered(
            s.core
                .borrow_mut()
                .shard
                .handle(request, now)
                .map(|o| o.response),
        ),
    }
}

/// What a read that is not answered at once waits for.
enum Deferred {
    /// The blocking pool, to read this snapshot.
    OnSnapshot(Snapshot),
    /// The sync of the log up to this LSN.
    AfterSync(u64),
}

async fn handle(s: &Rc<Served>, env: Envelope) {
    let now = now_micros();
    if let Some(scope) = read_scope(&env.request) {
        let need = s.core.borrow().needs(&scope, s.wal.durable_lsn());
        let Envelope { request, reply } = env;
        let request = match need {
            Some(_) => request,
            None => match read_inline(s, request, now) {
                Inline::Answered(answer) => {
                    let _ = reply.send(answer);
                    return;
                }
                Inline::TooLarge(request) => request,
            },
        };
        let next = match need {
            // Taken now, before any later write is applied: everything it holds is durable.
            None => Deferred::OnSnapshot(s.store.snapshot()),
            Some(lsn) => Deferred::AfterSync(lsn),
        };
        s.in_flight.set(s.in_flight.get() + 1);
        let s = s.clone();
        spawn_local(async move {
            let answer = match next {
                Deferred::OnSnapshot(snapshot) => read_on_snapshot(&s, snapshot, request).await,
                Deferred::AfterSync(lsn) => match wait_readable(&s, &scope, lsn).await {
                    Err(e) => Err(e),
                    // On the executor, with no await since the wait: durable state only.
                    Ok(()) => match read_inline(&s, request, now_micros()) {
                        Inline::Answered(answer) => answer,
                        Inline::TooLarge(request) => {
                            read_on_snapshot(&s, s.store.snapshot(), request).await
                        }
                    },
                },
            };
            let _ = reply.send(answer);
            s.in_flight.set(s.in_flight.get() - 1);
        });
        return;
    }
    let Envelope { request, reply } = env;
    let outcome = s.core.borrow_mut().shard.handle(request, now);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let Some(m) = outcome.mutation else {
        let _ = reply.send(Ok(outcome.response));
        return;
    };
    let lsn = match log_and_apply(s, &m).await {
        Ok(lsn) => lsn,
        Err(e) => {
            s.poison(format!("writing mutation: {e}"));
            let _ = reply.send(Err(s.unavailable()));
            return;
        }
    };
    s.in_flight.set(s.in_flight.get() + 1);
    let s = s.clone();
    spawn_local(async move {
        let synced = s.wal.wait_durable(lsn).await;
        s.publish();
        let answer = match synced {
            Ok(()) => Ok(outcome.response),
            Err(e) => {
                s.poison(format!("log sync failed: {e}"));
                Err(s.unavailable())
            }
        };
        // The caller may have gone (deadline, cancellation): nothing to do then.
        let _ = reply.send(answer);
        s.in_flight.set(s.in_flight.get() - 1);
    });
}

/// Answers a snapshot read on the blocking pool over `snapshot`, which the caller took on the
/// executor at a point where everything it could read was durable.
async fn read_on_snapshot(s: &Served, snapshot: Snapshot, request: Request) -> Result<Response> {
    let limits = s.core.borrow().shard.config.limits.clone();
    let now = now_micros();
    let answer = spawn_blocking(move || {
        // Failpoint `shard::snapshot_read` (feature `failpoints`): "pause" holds the read here.
        fail::fail_point!("shard::snapshot_read");
        reads::read(&*snapshot, &limits, &request, now)
            .unwrap_or_else(|| Err(Error::Internal("not a snapshot read".into())))
    })
    .await;
    let mut response = answer?;
    if let Response::Stats(stats) = &mut response {
        stats.active_transactions = s.core.borrow().shard.active_transactions() as u64;
    }
    Ok(response)
}

/// Waits until the log records `scope` could read are durable (starting with `lsn`).
async fn wait_readable(s: &Served, scope: &Scope, mut lsn: u64) -> Result<()> {
    loop {
        if let Err(e) = s.wal.wait_durable(lsn).await {
            s.poison(format!("log sync failed: {e}"));
            return Err(s.unavailable());
        }
        // Writes applied while we waited need their own sync before we may read them.
        match s.core.borrow().needs(scope, s.wal.durable_lsn()) {
            Some(next) => lsn = next,
            None => return Ok(()),
        }
    }
}

/// Appends `m` to the log and applies it; returns its LSN. Runs before the next request is
/// planned (the caller awaits it), so applies happen in log order.
async fn log_and_apply(s: &Served, m: &Mutation) -> Result<u64> {
    let bytes = m.encode()?;
    let (lsn, batch) = {
        let mut core = s.core.borrow_mut();
        core.next_txid += 1;
        let lsn = s
            .wal
            .append(core.next_txid, &bytes)
            .map_err(|e| Error::Storage(e.to_string()))?;
        core.last_appended = lsn;
        let doc = written_doc(m).to_string();
        let durable = s.wal.durable_lsn();
        if core.pending.len() > 4096 {
            core.pending.retain(|_, l| *l > durable);
        }
        core.pending.insert(doc, lsn);
        (lsn, core.shard.batch_for(m, lsn)?)
    };
    if !s.store.write_no_slowdown(&batch)? {
        // RocksDB would stall: wait for it on the blocking pool, not on the executor.
        let store = s.store.clone();
        spawn_blocking(move || store.write(batch)).await?;
    }
    Ok(lsn)
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
async fn checkpoint(s: &Served) {
    let covered = s.core.borrow().last_appended.min(s.wal.durable_lsn());
    let store = s.store.clone();
    let started = Instant::now();
    let flushed = injected_checkpoint_failure();
    let flushed = match flushed {
        Ok(()) => spawn_blocking(move || store.flush()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = flushed {
        tracing::error!(shard = s.id, error = %e, "checkpoint flush failed; the log is kept");
        return;
    }
    match s.wal.purge(covered).await {
        Ok(removed) => tracing::info!(
            shard = s.id,
            covered_lsn = covered,
            segments_removed = removed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "checkpoint"
        ),
        Err(e) => tracing::error!(shard = s.id, error = %e, "checkpoint purge failed"),
    }
    s.publish();
}

/// Checkpoints every `checkpoint_interval` and sweeps expired tool results every
/// `tool_sweep_interval`; sleeps in between (an idle shard wakes only for these), and ends as
/// soon as `stop` fires.
async fn checkpoint_timer(
    s: Rc<Served>,
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
                reply,
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
