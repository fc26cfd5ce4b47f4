//! The write path: plan -> append the mutation to the log -> apply its batch to RocksDB, under
//! `apply_order`, then a task awaits the group commit that covers the record and only then
//! answers. A write answered without a mutation (refused, or nothing to change) waits for the
//! records appended before it, as a read does. Because mutations are planned, appended and
//! applied in one order, the log replays to exactly the state RocksDB had. A large put is planned
//! on a snapshot on the blocking pool and validated before it is logged; a large batch is
//! written on the blocking pool.

use super::executor::{spawn_blocking, spawn_local};
use super::inbox::Envelope;
use super::shard_loop::{written_doc, Core, Reply, Served};
use super::{Refusal, ShardStore};
use crate::apply;
use crate::engine::ShardState;
use crate::model::{DocumentInput, Micros, NodeInput};
use crate::mutation::Mutation;
use crate::request::{Request, Response, WriteOpts};
use crate::shard::{plan_put_document, Outcome, ShardConfig};
use crate::store::KvRead;
use crate::{Error, Result};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;
use treestore_wal::FileSystem;

/// Plans, logs and applies a write, and answers once it is durable.
pub(super) async fn serve<F: FileSystem + 'static, S: ShardStore>(
    s: &Rc<Served<F, S>>,
    env: Envelope,
    now: Micros,
) {
    let Envelope { request, reply } = env;
    // Refused before anything is logged while the disk is short: a log write failing with
    // ENOSPC would poison the shard (fail-stop), a refusal only asks the client to retry. And
    // while RocksDB takes no writes (a flush failed on a full disk): an apply failing after the
    // append would poison the shard too.
    if let Err(e) = s.disk.check().and_then(|()| store_takes_writes(s)) {
        let _ = reply.send(Err(e));
        return;
    }
    let route = route_write(&s.core.borrow(), request);
    let request = match route {
        WriteRoute::PlanOffExecutor(put) => return put_off_executor(s, put, reply, now),
        WriteRoute::Inline(request) => request,
    };
    // Uncontended unless a put planned off the executor is being applied.
    let order = s.apply_order.lock().await;
    let outcome = s.core.borrow_mut().shard.handle(request, now);
    let written = commit(s, outcome, None).await;
    drop(order);
    answer_when_durable(s, written, reply);
}

/// Whether the store takes writes now, asked before a write is planned and again before a plan
/// made off the executor is logged. The error is the answer: `ResourceExhausted` while RocksDB
/// cannot write for want of space (nothing is logged; writes resume once it can); any other
/// refusal poisons the shard as the apply would have, but before anything is logged.
fn store_takes_writes<F: FileSystem, S: ShardStore>(s: &Served<F, S>) -> Result<()> {
    match s.store.accepts_writes() {
        Ok(()) => Ok(()),
        Err(e @ Error::ResourceExhausted(_)) => Err(e),
        Err(e) => {
            s.poison(format!("the store takes no writes: {e}"));
            Err(s.unavailable())
        }
    }
}

/// Write batches of more operations than this are written on the blocking pool.
const BLOCKING_BATCH_OPS: usize = 1024;

/// Puts of more nodes than this are planned on a snapshot on the blocking pool.
const INLINE_PUT_NODES: usize = 256;

/// A PutDocument outside a transaction.
struct Put {
    doc: DocumentInput,
    overwrite: bool,
    write: WriteOpts,
}

enum WriteRoute {
    Inline(Request),
    PlanOffExecutor(Put),
}

/// Where a write is planned: a large put (outside a transaction, of a document no other put is
/// being planned for) on the blocking pool, everything else inline.
fn route_write<S: ShardStore>(core: &Core<S>, request: Request) -> WriteRoute {
    match request {
        Request::PutDocument {
            doc,
            overwrite,
            write,
        } if write.txn.is_none()
            && !core.planning.contains_key(&doc.doc_id)
            && more_nodes_than(&doc.roots, INLINE_PUT_NODES) =>
        {
            WriteRoute::PlanOffExecutor(Put {
                doc,
                overwrite,
                write,
            })
        }
        request => WriteRoute::Inline(request),
    }
}

fn more_nodes_than(roots: &[NodeInput], n: usize) -> bool {
    let mut stack: Vec<&NodeInput> = roots.iter().collect();
    let mut seen = 0;
    while let Some(node) = stack.pop() {
        seen += 1;
        if seen > n {
            return true;
        }
        stack.extend(&node.children);
    }
    false
}

/// A write planned off the executor: its encoded mutation, and its batch without the LSN record.
struct Prepared {
    bytes: Vec<u8>,
    data: apply::Applied,
}

fn plan_and_prepare(
    st: &dyn KvRead,
    config: &ShardConfig,
    put: &Put,
    now: Micros,
) -> Result<(Outcome, Option<Prepared>)> {
    // Failpoint `shard::plan_put` (feature `failpoints`): holds or fails the plan here.
    fail::fail_point!("shard::plan_put", |_| Err(Error::Storage(
        "injected planning failure".into()
    )));
    let outcome = plan_put_document(st, config, &put.doc, put.overwrite, put.write.clone(), now)?;
    let prepared = match &outcome.mutation {
        Some(m) => Some(Prepared {
            bytes: m.encode()?,
            data: apply::apply_data(st, m)?,
        }),
        None => None,
    };
    Ok((outcome, prepared))
}

/// Plans a large put on a snapshot on the blocking pool (reading the old tree, building the new
/// version and its write batch), then logs and applies it on the executor. If anything wrote the
/// document in between, the plan is stale and is made again on the executor. A put the pool
/// takes up past its queue deadline is refused without being planned (nothing is logged), as
/// the pool's snapshot reads are.
fn put_off_executor<F: FileSystem + 'static, S: ShardStore>(
    s: &Rc<Served<F, S>>,
    put: Put,
    reply: Reply,
    now: Micros,
) {
    let doc_id = put.doc.doc_id.clone();
    let snapshot = s.store.snapshot();
    let config = s.core.borrow().shard.config.clone();
    s.core.borrow_mut().planning.insert(doc_id.clone(), false);
    s.in_flight.set(s.in_flight.get() + 1);
    let s = s.clone();
    let (deadline, shard) = (reply.deadline(), s.id);
    spawn_local(async move {
        let (put, planned) = spawn_blocking(move || {
            // Failpoint `shard::plan_put_taken_up` (feature `failpoints`): holds the put where
            // the pool takes it up, before its deadline is checked (a late pool, in tests).
            fail::fail_point!("shard::plan_put_taken_up");
            if let Some(refusal) = deadline.and_then(|d| d.check(shard, Instant::now())) {
                return (put, PutPlan::TooLate(refusal));
            }
            let planned = plan_and_prepare(&*snapshot, &config, &put, now);
            (put, PutPlan::Made(Box::new(planned)))
        })
        .await;
        let order = s.apply_order.lock().await;
        let stale = s.core.borrow_mut().planning.remove(&doc_id).unwrap_or(true);
        let written = match planned {
            _ if s.status.state() == ShardState::Poisoned => Written::Answer(Err(s.unavailable())),
            PutPlan::TooLate(refusal) => {
                s.metrics.refused(Refusal::Expired);
                Written::Answer(Err(refusal))
            }
            PutPlan::Made(planned) => match store_takes_writes(&s) {
                // The store stopped while the put was planned: refused before it is logged.
                Err(e) => Written::Answer(Err(e)),
                Ok(()) => plan_or_replan(&s, put, *planned, stale, now).await,
            },
        };
        drop(order);
        let answer = when_durable(&s, written).await;
        let _ = reply.send(answer);
        s.in_flight.set(s.in_flight.get() - 1);
    });
}

/// What the blocking pool did with a large put.
enum PutPlan {
    /// Taken up past its queue deadline: refused, not planned.
    TooLate(Error),
    /// Planned (boxed: the plan is large, the refusal small).
    Made(Box<Result<(Outcome, Option<Prepared>)>>),
}

/// Commits a put planned off the executor, or plans it again when `stale` (the document was
/// written meanwhile). The caller holds `apply_order`.
async fn plan_or_replan<F: FileSystem + 'static, S: ShardStore>(
    s: &Rc<Served<F, S>>,
    put: Put,
    planned: Result<(Outcome, Option<Prepared>)>,
    stale: bool,
    now: Micros,
) -> Written {
    if stale {
        let request = Request::PutDocument {
            doc: put.doc,
            overwrite: put.overwrite,
            write: put.write,
        };
        let outcome = s.core.borrow_mut().shard.handle(request, now);
        return commit(s, outcome, None).await;
    }
    match planned {
        Ok((outcome, prepared)) => commit(s, Ok(outcome), prepared).await,
        Err(e) => Written::Seen(s.core.borrow().last_appended, Err(e)),
    }
}

/// A write applied, or answered without one.
enum Written {
    /// Answer at once (the shard is poisoned).
    Answer(Result<Response>),
    /// Answered without a mutation of its own (refused, or nothing to change), from state that
    /// includes every write appended up to this LSN: answer once those are durable, so that no
    /// answer reveals a write a crash could still undo.
    Seen(u64, Result<Response>),
    /// Applied at this LSN: answer once the log is synced up to it.
    AtLsn(u64, Response),
}

/// Logs and applies the mutation of a planned write. The caller holds `apply_order`.
async fn commit<F: FileSystem + 'static, S: ShardStore>(
    s: &Served<F, S>,
    outcome: Result<Outcome>,
    prepared: Option<Prepared>,
) -> Written {
    let seen = s.core.borrow().last_appended;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return Written::Seen(seen, Err(e)),
    };
    let Some(m) = outcome.mutation else {
        return Written::Seen(seen, Ok(outcome.response));
    };
    match log_and_apply(s, &m, prepared).await {
        Ok(lsn) => Written::AtLsn(lsn, outcome.response),
        Err(e) => {
            s.poison(format!("writing mutation: {e}"));
            Written::Answer(Err(s.unavailable()))
        }
    }
}

/// The answer to a write once what it wrote is durable.
async fn when_durable<F: FileSystem + 'static, S: ShardStore>(
    s: &Served<F, S>,
    written: Written,
) -> Result<Response> {
    let (lsn, answer) = match written {
        Written::Answer(answer) => return answer,
        Written::Seen(lsn, answer) => (lsn, answer),
        Written::AtLsn(lsn, response) => (lsn, Ok(response)),
    };
    let synced = s.wal.wait_durable(lsn).await;
    s.publish();
    match synced {
        Ok(()) => {
            s.publish_trees();
            answer
        }
        Err(e) => {
            s.poison(format!("log sync failed: {e}"));
            Err(s.unavailable())
        }
    }
}

/// Sends the answer to a write once durable, from a task of its own so the shard serves on.
fn answer_when_durable<F: FileSystem + 'static, S: ShardStore>(
    s: &Rc<Served<F, S>>,
    written: Written,
    reply: Reply,
) {
    let written = match written {
        Written::Answer(answer) => {
            let _ = reply.send(answer);
            return;
        }
        Written::Seen(lsn, answer) if lsn <= s.wal.durable_lsn() => {
            s.publish_trees();
            let _ = reply.send(answer);
            return;
        }
        written => written,
    };
    s.in_flight.set(s.in_flight.get() + 1);
    let s = s.clone();
    spawn_local(async move {
        let answer = when_durable(&s, written).await;
        // The caller may have gone (deadline, cancellation): nothing to do then.
        let _ = reply.send(answer);
        s.in_flight.set(s.in_flight.get() - 1);
    });
}

/// Appends `m` to the log and applies it; returns its LSN. Runs before the next request is
/// planned (the caller awaits it), so applies happen in log order.
async fn log_and_apply<F: FileSystem + 'static, S: ShardStore>(
    s: &Served<F, S>,
    m: &Mutation,
    prepared: Option<Prepared>,
) -> Result<u64> {
    let (bytes, data) = match prepared {
        Some(p) => (p.bytes, Some(p.data)),
        None => (m.encode()?, None),
    };
    let (lsn, batch, event) = {
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
        if let Some(written) = core.planning.get_mut(&doc) {
            *written = true;
        }
        core.pending.insert(doc, lsn);
        let (batch, event) = match data {
            Some(applied) => applied.at_lsn(lsn)?,
            None => core.shard.batch_for(m, lsn)?,
        };
        // Until the batch is written, the feed is published below this record.
        core.applying = Some(lsn);
        (lsn, batch, event)
    };
    // A large batch (a big put) or one RocksDB would stall on is written on the blocking pool;
    // the caller holds `apply_order`, so applies stay in log order, and reads go on meanwhile.
    // Any error here is after the append: the caller poisons the shard, so nothing planned
    // against the missing apply is ever logged or acknowledged.
    injected_apply_failure()?;
    if batch.ops.len() > BLOCKING_BATCH_OPS || !s.store.write_no_slowdown(&batch)? {
        let store = s.store.clone();
        spawn_blocking(move || {
            // Failpoint `shard::apply_blocking` (feature `failpoints`): holds this apply.
            fail::fail_point!("shard::apply_blocking");
            store.write(batch)
        })
        .await?;
    }
    // Still under `apply_order`: trees and feed events are staged in log order.
    let mut core = s.core.borrow_mut();
    core.staging.applied(&s.cache, m, lsn);
    if let Some(e) = event {
        core.feed_staged.push_back((lsn, Arc::new(e)));
    }
    core.applying = None;
    Ok(lsn)
}

/// The `shard::apply` failpoint (feature `failpoints`): fails the RocksDB apply of a write that
/// is already appended to the log.
fn injected_apply_failure() -> Result<()> {
    fail::fail_point!("shard::apply", |_| Err(Error::Storage(
        "injected apply failure".into()
    )));
    Ok(())
}
