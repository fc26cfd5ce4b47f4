//! The read path: a read that touches few keys is answered inline on the executor; one that may
//! visit many (lists, searches, diffs, version lists, statistics, a subtree of more than
//! `INLINE_SUBTREE_NODES` nodes) on a RocksDB snapshot on the blocking pool. Either way it sees
//! only durable writes: it waits for the log records that wrote what it reads to be synced, and
//! a snapshot is taken on the executor at a moment when that holds.

use super::admission::{QueueDeadline, Refusal};
use super::cache_fill;
use super::executor::{spawn_blocking, spawn_local};
use super::inbox::Envelope;
use super::shard_loop::{Scope, Served};
use super::ShardStore;
use crate::model::Micros;
use crate::reads;
use crate::request::{Request, Response};
use crate::store::Snapshot;
use crate::tree;
use crate::view::read_head;
use crate::{Error, Result};
use std::rc::Rc;
use std::time::Instant;
use treestore_wal::FileSystem;

/// Answers a read: at once on the executor, or from a task once what it may see is durable, or
/// on a snapshot on the blocking pool when it may visit many keys.
pub(super) fn serve<F: FileSystem + 'static, S: ShardStore>(
    s: &Rc<Served<F, S>>,
    scope: Scope,
    env: Envelope,
    now: Micros,
) {
    let need = s.core.borrow().needs(&scope, s.wal.durable_lsn());
    let Envelope { request, reply } = env;
    // Checked again when the blocking pool takes the read up (a queue of its own).
    let deadline = reply.deadline();
    // A read of a tree that reached the shard missed the cache: fill it once answered.
    let cacheable = tree::cacheable_read(&request).map(str::to_string);
    if cacheable.is_some() {
        s.cache.record_miss();
    }
    let answered = move |s: &Rc<Served<F, S>>, answer: Result<Response>| {
        let read = answer.as_ref().ok().and_then(tree::answered_version);
        let _ = reply.send(answer);
        if let (Some(doc), Some(version)) = (cacheable, read) {
            cache_fill::after_read(s, doc, version);
        }
    };
    let request = match need {
        Some(_) => request,
        None => match read_inline(s, request, now) {
            Inline::Answered(answer) => {
                answered(s, answer);
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
            Deferred::OnSnapshot(snapshot) => {
                read_on_snapshot(&s, snapshot, request, deadline).await
            }
            Deferred::AfterSync(lsn) => match wait_readable(&s, &scope, lsn).await {
                Err(e) => Err(e),
                // On the executor, with no await since the wait: durable state only.
                Ok(()) => match read_inline(&s, request, s.clock.now()) {
                    Inline::Answered(answer) => answer,
                    Inline::TooLarge(request) => {
                        read_on_snapshot(&s, s.store.snapshot(), request, deadline).await
                    }
                },
            },
        };
        answered(&s, answer);
        s.in_flight.set(s.in_flight.get() - 1);
    });
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
fn read_inline<F: FileSystem + 'static, S: ShardStore>(
    s: &Served<F, S>,
    request: Request,
    now: Micros,
) -> Inline {
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

/// Answers a snapshot read on the blocking pool over `snapshot`, which the caller took on the
/// executor at a point where everything it could read was durable. A large subtree is answered
/// from its document's tree, loaded with two range scans and then offered to the cache. A read
/// the pool takes up past its queue `deadline` is refused without being done.
async fn read_on_snapshot<F: FileSystem + 'static, S: ShardStore>(
    s: &Served<F, S>,
    snapshot: Snapshot,
    request: Request,
    deadline: Option<QueueDeadline>,
) -> Result<Response> {
    let limits = s.core.borrow().shard.config.limits.clone();
    let now = s.clock.now();
    let shard = s.id;
    let (answer, loaded, expired) = spawn_blocking(move || {
        if let Some(refusal) = deadline.and_then(|d| d.check(shard, Instant::now())) {
            return (Err(refusal), None, true);
        }
        // Failpoint `shard::snapshot_read` (feature `failpoints`): a callback holds the read here.
        fail::fail_point!("shard::snapshot_read");
        if let Some(read) = reads::subtree_from_loaded_tree(&*snapshot, &limits, &request) {
            return match read {
                Ok((response, tree)) => (Ok(response), Some(tree), false),
                Err(e) => (Err(e), None, false),
            };
        }
        let answer = reads::read(&*snapshot, &limits, &request, now)
            .unwrap_or_else(|| Err(Error::Internal("not a snapshot read".into())));
        (answer, None, false)
    })
    .await;
    if expired {
        s.metrics.refused(Refusal::Expired);
    }
    if let Some(tree) = loaded {
        // Back on the executor: kept only if still current (the rules of `tree::Loads`).
        if let Ok(Some(head)) = read_head(&s.store, &tree.doc_id) {
            let pending = s.core.borrow().staging.pending(&tree.doc_id);
            tree::keep(&s.cache, tree, &head, pending);
        }
    }
    let mut response = answer?;
    if let Response::Stats(stats) = &mut response {
        stats.active_transactions = s.core.borrow_mut().shard.active_transactions(now) as u64;
    }
    Ok(response)
}

/// Waits until the log records `scope` could read are durable (starting with `lsn`).
async fn wait_readable<F: FileSystem + 'static, S: ShardStore>(
    s: &Served<F, S>,
    scope: &Scope,
    mut lsn: u64,
) -> Result<()> {
    loop {
        if let Err(e) = s.wal.wait_durable(lsn).await {
            s.poison(format!("log sync failed: {e}"));
            return Err(s.unavailable());
        }
        // Writes applied while we waited need their own sync before we may read them.
        let next = s.core.borrow().needs(scope, s.wal.durable_lsn());
        match next {
            Some(next) => lsn = next,
            None => {
                s.publish_trees();
                return Ok(());
            }
        }
    }
}
