//! One shard's logic as plain code over state: `Shard::handle` answers a request, and for a
//! write returns the `Mutation` to log; `Shard::apply` then writes it. No executor, no I/O but the
//! store: the runtime (`runtime.rs`) decides when the log is synced and when to answer.
//!
//! Sequencing contract for callers: after `handle` returns a mutation, call `apply` with it before
//! the next `handle`, so every plan sees the state of all earlier mutations.

use crate::apply::apply;
use crate::draft::{CommitStamp, Draft};
use crate::feed::FeedEvent;
use crate::keys;
use crate::limits::Limits;
use crate::metrics::TxnOutcome;
use crate::model::*;
use crate::mutation::{DocCommit, Mutation, NodeWrite, XrefSide, XrefValue};
use crate::queries;
use crate::reads;
use crate::request::{AfterImage, RemovedLink, Request, Response, WriteOpts};
use crate::store::{KvRead, KvStore, WriteBatch};
use crate::view::{latest_write, live_head, read_head, DocView, Overlay};
use crate::{Error, Result};
use std::collections::HashMap;

mod txns;
use txns::Txn;

/// What handling a request gives: the answer, and for a write the mutation to log and apply.
#[derive(Debug)]
pub struct Outcome {
    pub response: Response,
    pub mutation: Option<Mutation>,
}

impl Outcome {
    fn read(response: Response) -> Result<Outcome> {
        Ok(Outcome {
            response,
            mutation: None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct ShardConfig {
    pub limits: Limits,
    /// Idle transactions are rolled back after this long.
    pub txn_timeout_ms: u64,
    /// Longest timeout a transaction may ask for.
    pub max_txn_timeout_ms: u64,
    /// Most open transactions per shard.
    pub max_transactions: usize,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig {
            limits: Limits::default(),
            txn_timeout_ms: 30_000,
            max_txn_timeout_ms: 600_000,
            max_transactions: 10_000,
        }
    }
}

pub struct Shard<S: KvStore> {
    pub id: usize,
    pub store: S,
    pub config: ShardConfig,
    txns: HashMap<String, Txn>,
    /// Distinguishes transaction ids across restarts (transactions do not survive one).
    txn_epoch: u64,
    next_txn: u64,
    last_sweep: Micros,
    /// Transactions ended since the runtime last asked: how, and how long they lived.
    ended_txns: Vec<(TxnOutcome, Micros)>,
}

/// The shard a transaction id belongs to (ids are `t{shard}-{epoch}-{n}`).
pub fn txn_shard(txn: &str) -> Option<usize> {
    txn.strip_prefix('t')?.split('-').next()?.parse().ok()
}

impl<S: KvStore> Shard<S> {
    pub fn new(id: usize, store: S, config: ShardConfig, epoch: u64) -> Self {
        Shard {
            id,
            store,
            config,
            txns: HashMap::new(),
            txn_epoch: epoch,
            next_txn: 1,
            last_sweep: 0,
            ended_txns: Vec::new(),
        }
    }

    pub fn applied_lsn(&self) -> Result<u64> {
        crate::view::decode_applied_lsn(&self.store)
    }

    /// Writes a mutation logged at `lsn` (its batch records `lsn` as the applied LSN).
    pub fn apply(&self, m: &Mutation, lsn: u64) -> Result<()> {
        let (batch, _) = self.batch_for(m, lsn)?;
        self.store.write(batch)
    }

    /// The batch applying `m` logged at `lsn`, and its change-feed event.
    pub fn batch_for(&self, m: &Mutation, lsn: u64) -> Result<(WriteBatch, Option<FeedEvent>)> {
        apply(&self.store, m, lsn)
    }

    pub fn handle(&mut self, req: Request, now: Micros) -> Result<Outcome> {
        self.sweep_txns(now);
        let lim = &self.config.limits;
        let st: &dyn KvRead = &self.store;
        if let Some(answer) = reads::read(st, lim, &req, now) {
            let mut response = answer?;
            if let Response::Stats(s) = &mut response {
                s.active_transactions = self.active_transactions(now) as u64;
            }
            return Outcome::read(response);
        }
        match req {
            Request::GetDocument {
                doc_id,
                at,
                txn: Some(txn),
            } => {
                let (head, view) = self.txn_view(&doc_id, at, &txn, now)?;
                Outcome::read(Response::Document(view.document(&head)?))
            }
            Request::PutDocument {
                doc,
                overwrite,
                write,
            } => {
                let Some(txn) = write.txn.as_deref() else {
                    return plan_put_document(
                        &self.store,
                        &self.config,
                        &doc,
                        overwrite,
                        write,
                        now,
                    );
                };
                lim.check_qualified_id("doc_id", &doc.doc_id)?;
                let id = doc.doc_id.clone();
                if !overwrite && self.doc_exists_in(&id, txn, now)? {
                    return Err(Error::already_exists("document", id));
                }
                let w = DocWrite {
                    doc: &id,
                    opts: write,
                    now,
                    creates: true,
                    show: Show::Nothing,
                };
                self.write(w, |d| d.put_tree(&doc).map(|_| 0))
            }
            Request::DeleteDocument {
                doc_id,
                expected_version,
            } => {
                lim.check_qualified_id("doc_id", &doc_id)?;
                let head = live_head(st, &doc_id)?;
                if let Some(v) = expected_version.filter(|v| *v != head.version) {
                    return Err(Error::FailedPrecondition(format!(
                        "document {doc_id} is at version {}, not the expected {v}",
                        head.version
                    )));
                }
                let removed_versions = queries::count_versions(st, &doc_id)?;
                let mut removed_links = vec![];
                for tag in [keys::XREF_OUT, keys::XREF_IN] {
                    let side = if tag == keys::XREF_OUT {
                        XrefSide::Out
                    } else {
                        XrefSide::In
                    };
                    removed_links.extend(
                        queries::list_xrefs(st, &doc_id, None, side, None)?
                            .into_iter()
                            .map(|x| removed_link(x, side)),
                    );
                }
                Ok(Outcome {
                    response: Response::Written {
                        version: None,
                        after: None,
                        removed_links,
                        removed_nodes: head.node_count,
                        removed_versions,
                    },
                    mutation: Some(Mutation::DeleteDocument {
                        doc_id,
                        deleted_at: now,
                    }),
                })
            }
            Request::GetNode {
                doc_id,
                node_id,
                at,
                include_text,
                txn: Some(txn),
            } => {
                let (_, view) = self.txn_view(&doc_id, at, &txn, now)?;
                Outcome::read(Response::Node(
                    view.node_view(&node_id, include_text)?,
                    view.version,
                ))
            }
            Request::GetChildren {
                doc_id,
                node_id,
                at,
                include_text,
                txn: Some(txn),
            } => {
                let (_, view) = self.txn_view(&doc_id, at, &txn, now)?;
                Outcome::read(Response::Nodes(
                    view.children(node_id.as_deref(), include_text)?,
                    view.version,
                ))
            }
            Request::GetSubtree {
                doc_id,
                node_id,
                max_depth,
                include_text,
                at,
                txn: Some(txn),
            } => {
                let (_, view) = self.txn_view(&doc_id, at, &txn, now)?;
                Outcome::read(Response::Nodes(
                    view.subtree(node_id.as_deref(), max_depth, include_text)?,
                    view.version,
                ))
            }
            Request::GetAncestors {
                doc_id,
                node_id,
                at,
                include_text,
                txn: Some(txn),
            } => {
                let (_, view) = self.txn_view(&doc_id, at, &txn, now)?;
                Outcome::read(Response::Nodes(
                    view.ancestors(&node_id, include_text)?,
                    view.version,
                ))
            }
            Request::InsertNode {
                doc_id,
                parent,
                position,
                node,
                write,
            } => {
                let w = DocWrite::node(&doc_id, write, now, &node.node_id);
                self.write(w, |d| {
                    d.insert(parent.as_deref(), position, &node).map(|_| 0)
                })
            }
            Request::UpdateNode {
                doc_id,
                node_id,
                content,
                mask,
                write,
            } => {
                let w = DocWrite::node(&doc_id, write, now, &node_id);
                self.write(w, |d| d.update(&node_id, &content, &mask).map(|_| 0))
            }
            Request::MoveNode {
                doc_id,
                node_id,
                new_parent,
                position,
                write,
            } => {
                let w = DocWrite::node(&doc_id, write, now, &node_id);
                self.write(w, |d| {
                    d.move_node(&node_id, new_parent.as_deref(), position)
                        .map(|_| 0)
                })
            }
            Request::DeleteNode {
                doc_id,
                node_id,
                write,
            } => {
                let w = DocWrite {
                    doc: &doc_id,
                    opts: write,
                    now,
                    creates: false,
                    show: Show::Nothing,
                };
                self.write(w, |d| d.delete(&node_id).map(|ids| ids.len() as u64))
            }
            Request::PutXref {
                key,
                side,
                label,
                created_at,
                replaces,
            } => {
                check_xref(lim, &key)?;
                lim.check_short("label", &label)?;
                if let Some(t) = replaces {
                    let stored = queries::xref_value(st, &key, side)?;
                    if stored.is_none_or(|v| v.created_at != t) {
                        return Outcome::read(Response::Done);
                    }
                }
                let (doc, node) = match side {
                    XrefSide::Out => (&key.from_doc, &key.from_node),
                    XrefSide::In => (&key.to_doc, &key.to_node),
                };
                if !queries::node_exists(st, doc, node)? {
                    return Err(Error::not_found("node", format!("{doc}/{node}")));
                }
                // The outgoing entry is the link: adding it twice is refused here, atomically.
                if side == XrefSide::Out && st.get(&keys::xref_out(&key))?.is_some() {
                    return Err(Error::already_exists("cross reference", key.to_string()));
                }
                Ok(Outcome {
                    response: Response::Done,
                    mutation: Some(Mutation::PutXref {
                        key,
                        side,
                        value: XrefValue { label, created_at },
                    }),
                })
            }
            Request::RemoveXref {
                key,
                side,
                created_at,
            } => {
                check_xref(lim, &key)?;
                let stored = queries::xref_value(st, &key, side)?;
                let removed = match (stored, created_at) {
                    (Some(v), Some(t)) if v.created_at != t => None,
                    (stored, _) => stored.map(|v| v.created_at),
                };
                // The outgoing entry is the link: removing a missing one is refused, atomically.
                if removed.is_none() && side == XrefSide::Out && created_at.is_none() {
                    return Err(Error::not_found("cross reference", key.to_string()));
                }
                Ok(Outcome {
                    response: Response::XrefRemoved(removed),
                    mutation: removed.map(|_| Mutation::RemoveXref { key, side }),
                })
            }
            Request::PutToolResult {
                tool,
                args,
                result_json,
                ttl_seconds,
                depends_on,
            } => {
                lim.check_qualified_id("tool_name", &tool)?;
                lim.check_len("args_json", &args, lim.max_field_bytes)?;
                lim.check_len("result_json", &result_json, lim.max_text_bytes)?;
                let ttl = (ttl_seconds.min(100 * 365 * 86_400) as i64) * 1_000_000;
                let record = ToolResultRecord {
                    result_json,
                    stored_at: now,
                    expires_at: now.saturating_add(ttl),
                    depends_on,
                };
                Ok(Outcome {
                    response: Response::ToolResult(ToolLookup::Hit(record.clone())),
                    mutation: Some(Mutation::PutToolResult { tool, args, record }),
                })
            }
            Request::SweepToolResults { limit } => {
                let doomed = queries::expired_tool_results(st, now, limit)?;
                let mutation =
                    (!doomed.is_empty()).then_some(Mutation::RemoveToolResults { keys: doomed });
                Ok(Outcome {
                    response: Response::Done,
                    mutation,
                })
            }
            Request::Begin { doc_id, timeout_ms } => self.begin(doc_id, timeout_ms, now),
            Request::Commit {
                txn,
                namespace,
                effective_time,
                message,
                committed_by,
            } => {
                let t = self.take_txn(&txn, &namespace, now)?;
                let began = t.began;
                let committed = self.commit_txn(
                    t,
                    WriteOpts {
                        txn: None,
                        effective_time,
                        message,
                        commit_time: None,
                        committed_by,
                    },
                    now,
                );
                let outcome = match committed {
                    Ok(_) => TxnOutcome::Committed,
                    Err(_) => TxnOutcome::Aborted,
                };
                self.ended_txns.push((outcome, (now - began).max(0)));
                committed
            }
            Request::Rollback { txn, namespace } => {
                let t = self.take_txn(&txn, &namespace, now)?;
                self.ended(&t, TxnOutcome::RolledBack, now);
                Outcome::read(Response::Done)
            }
            // Every other request (reads outside a transaction) is answered by `reads::read` above.
            _ => Err(Error::Internal("snapshot read not answered".into())),
        }
    }

    /// Runs `op` on a draft of the document: inside the named transaction (staged, nothing
    /// logged), or as its own implicit transaction (committed at once).
    fn write(
        &mut self,
        w: DocWrite<'_>,
        op: impl FnOnce(&mut Draft) -> Result<u64>,
    ) -> Result<Outcome> {
        let (doc, now) = (w.doc, w.now);
        self.config.limits.check_qualified_id("doc_id", doc)?;
        self.config.limits.check_short("message", &w.opts.message)?;
        if let Some(id) = &w.opts.txn {
            let t = self.live_txn(id, doc, now)?;
            if t.base == 0 && t.overlay.header.is_none() && !w.creates {
                return Err(Error::not_found("document", doc));
            }
            let (base, overlay) = (t.base, t.overlay.clone());
            let mut draft = Draft::new(&self.store, doc, base, &self.config.limits);
            // The draft works on a copy: a failed operation leaves the transaction as it was.
            draft.overlay = overlay;
            if base == 0 && draft.overlay.header.is_none() {
                draft.overlay.header = Some(DocHeader::default());
            }
            let removed = op(&mut draft)?;
            // Inside a transaction only a node is shown (a put describes what it was given).
            let after = match w.show {
                Show::Node(id) => Some(AfterImage::Node(draft.view().node_view(id, true)?)),
                Show::Nothing | Show::Document => None,
            };
            let overlay = draft.overlay;
            let t = self.live_txn(id, doc, now)?;
            t.overlay = overlay;
            t.last_used = now;
            return Outcome::read(Response::Written {
                version: None,
                after,
                removed_links: vec![],
                removed_nodes: removed,
                removed_versions: 0,
            });
        }
        plan_implicit(&self.store, &self.config.limits, w, op)
    }
}

/// Plans a PutDocument outside a transaction from `st` alone, so it can run on a snapshot off the
/// executor: the plan is valid as long as nothing else wrote the document since `st` was taken.
pub fn plan_put_document(
    st: &dyn KvRead,
    config: &ShardConfig,
    doc: &DocumentInput,
    overwrite: bool,
    write: WriteOpts,
    now: Micros,
) -> Result<Outcome> {
    let lim = &config.limits;
    lim.check_qualified_id("doc_id", &doc.doc_id)?;
    lim.check_short("message", &write.message)?;
    let id = doc.doc_id.as_str();
    if !overwrite && read_head(st, id)?.is_some_and(|h| !h.deleted) {
        return Err(Error::already_exists("document", id));
    }
    let w = DocWrite {
        doc: id,
        opts: write,
        now,
        creates: true,
        show: Show::Document,
    };
    plan_implicit(st, lim, w, |d| d.put_tree(doc).map(|_| 0))
}

/// A write as its own implicit transaction: `op` on a draft of the document's latest version,
/// committed as the next version. The head is read once, here.
fn plan_implicit(
    st: &dyn KvRead,
    lim: &Limits,
    w: DocWrite<'_>,
    op: impl FnOnce(&mut Draft) -> Result<u64>,
) -> Result<Outcome> {
    let doc = w.doc;
    let head = read_head(st, doc)?;
    let live = head.as_ref().filter(|h| !h.deleted);
    let base = live.map(|h| h.version).unwrap_or(0);
    if base == 0 && !w.creates {
        return Err(Error::not_found("document", doc));
    }
    let mut draft = Draft::new(st, doc, base, lim);
    let removed = op(&mut draft)?;
    let node_after = match w.show {
        Show::Node(id) => Some(draft.view().node_view(id, true)?),
        _ => None,
    };
    let header_after = match w.show {
        Show::Document => Some(draft.view().header()?),
        _ => None,
    };
    let commit = draft.into_commit(stamp(head.as_ref(), w.opts, w.now)?)?;
    let after = match (node_after, header_after, &commit, live) {
        (Some(node), ..) => Some(AfterImage::Node(node)),
        (None, Some(h), Some(c), _) => Some(AfterImage::Document(Document {
            doc_id: doc.to_string(),
            name: h.name,
            description: h.description,
            metadata: h.metadata,
            created_at: c.created_at,
            updated_at: c.commit_time,
            version: c.version,
            node_count: c.node_count,
        })),
        // Nothing changed: the document as it is.
        (None, Some(_), None, Some(head)) => {
            let view = DocView {
                store: st,
                doc,
                version: head.version,
                overlay: None,
            };
            Some(AfterImage::Document(view.document(head)?))
        }
        _ => None,
    };
    finish(st, commit, removed, after)
}

/// A write to one document, as planned by `Shard::write` and `plan_implicit`.
struct DocWrite<'r> {
    doc: &'r str,
    opts: WriteOpts,
    now: Micros,
    /// The write may create the document (a put).
    creates: bool,
    /// What the answer shows of the state after the write.
    show: Show<'r>,
}

impl<'r> DocWrite<'r> {
    /// A write of node `node` of `doc`, answered with the node as written.
    fn node(doc: &'r str, opts: WriteOpts, now: Micros, node: &'r str) -> Self {
        DocWrite {
            doc,
            opts,
            now,
            creates: false,
            show: Show::Node(node),
        }
    }
}

/// The after-image a write answers with, so that its caller needs no second read.
#[derive(Clone, Copy)]
enum Show<'r> {
    Nothing,
    /// This node, text included.
    Node(&'r str),
    /// The document's fields.
    Document,
}

/// The version, times and creation time of the next commit of a document whose head is `head`
/// (as read once by the caller; a deleted head still numbers the versions).
fn stamp(head: Option<&DocHead>, opts: WriteOpts, now: Micros) -> Result<CommitStamp> {
    if let Some(t) = opts.effective_time {
        crate::limits::check_time("effective_time", t)?;
    }
    if let Some(t) = opts.commit_time {
        crate::limits::check_time("commit_time", t)?;
    }
    let (version, last) = head
        .map(|h| (h.version + 1, h.last_commit_time))
        .unwrap_or((1, Micros::MIN));
    // Commit times strictly increase per document, whatever the wall clock does; an imported
    // one must keep that order and may not lie in the future (as-of reads of "now" would miss
    // it).
    let commit_time = match opts.commit_time {
        None => now.max(last.saturating_add(1)),
        Some(t) if t > last && t <= now => t,
        Some(t) => {
            return Err(Error::invalid(
                "commit_time",
                format!(
                    "{t} must be later than the document's last commit time ({}) and not \
                     later than now ({now})",
                    if last == Micros::MIN {
                        "none".to_string()
                    } else {
                        last.to_string()
                    }
                ),
            ))
        }
    };
    Ok(CommitStamp {
        version,
        created_at: head.filter(|h| !h.deleted).map(|h| h.created_at),
        commit_time,
        effective_time: opts.effective_time,
        message: opts.message,
        committed_by: opts.committed_by,
    })
}

fn removed_link(x: CrossReference, side: XrefSide) -> RemovedLink {
    RemovedLink {
        key: x.key,
        side,
        created_at: x.created_at,
    }
}

fn finish(
    st: &dyn KvRead,
    commit: Option<DocCommit>,
    removed_nodes: u64,
    after: Option<AfterImage>,
) -> Result<Outcome> {
    let Some(c) = commit else {
        return Outcome::read(Response::Written {
            version: None,
            after,
            removed_links: vec![],
            removed_nodes,
            removed_versions: 0,
        });
    };
    let mut removed_links = vec![];
    for (id, write) in &c.nodes {
        if *write == NodeWrite::Removed {
            for side in [XrefSide::Out, XrefSide::In] {
                removed_links.extend(
                    queries::list_xrefs(st, &c.doc_id, Some(id), side, None)?
                        .into_iter()
                        .map(|x| removed_link(x, side)),
                );
            }
        }
    }
    let version = Version {
        version: c.version,
        commit_time: c.commit_time,
        effective_time: c.effective_time,
        message: c.message.clone(),
        nodes_changed: crate::changed::nodes_changed(st, &c)?,
        committed_by: c.committed_by.clone(),
    };
    Ok(Outcome {
        response: Response::Written {
            version: Some(version),
            after,
            removed_links,
            removed_nodes,
            removed_versions: 0,
        },
        mutation: Some(Mutation::Commit(c)),
    })
}

fn check_xref(lim: &Limits, k: &XrefKey) -> Result<()> {
    lim.check_qualified_id("from_doc_id", &k.from_doc)?;
    lim.check_id("from_node_id", &k.from_node)?;
    lim.check_qualified_id("to_doc_id", &k.to_doc)?;
    lim.check_id("to_node_id", &k.to_node)?;
    // The kind may be empty; otherwise it is id-like (no control characters, bounded).
    if k.kind.is_empty() {
        return Ok(());
    }
    lim.check_id("kind", &k.kind)
}
