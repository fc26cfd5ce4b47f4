//! Transactions of one shard: per document, a snapshot version plus an overlay of their own
//! writes; begun, looked up, expired when idle, committed (with the write-write conflict check) or
//! rolled back. Each that ends is recorded with how and how long it lived, for the metrics.

use super::*;

/// An open transaction: a snapshot version plus an overlay of its own writes.
pub(super) struct Txn {
    pub(super) doc: String,
    /// Version the transaction reads from; 0 when the document did not exist at begin.
    pub(super) base: VersionNo,
    /// `created_at` of the document at begin: a delete and re-create in between is a conflict.
    pub(super) base_created_at: Option<Micros>,
    pub(super) base_node_count: u64,
    pub(super) overlay: Overlay,
    pub(super) began: Micros,
    pub(super) last_used: Micros,
    pub(super) timeout: Micros,
}

fn ms(m: u64) -> Micros {
    (m as i64).saturating_mul(1000)
}

impl<S: KvStore> Shard<S> {
    /// Open transactions at `now`: those idle past their timeout are ended first, so they never
    /// count (however long ago the last sweep ran).
    pub fn active_transactions(&mut self, now: Micros) -> usize {
        self.expire_txns(now);
        self.txns.len()
    }

    /// Transactions that ended since the last call: how, and their lifetimes (for metrics).
    pub fn take_ended_transactions(&mut self) -> Vec<(TxnOutcome, Micros)> {
        std::mem::take(&mut self.ended_txns)
    }

    pub(super) fn ended(&mut self, t: &Txn, outcome: TxnOutcome, now: Micros) {
        self.ended_txns.push((outcome, (now - t.began).max(0)));
    }

    /// Ends idle transactions, at most once a second (it runs before every request).
    pub(super) fn sweep_txns(&mut self, now: Micros) {
        if now - self.last_sweep < 1_000_000 {
            return;
        }
        self.last_sweep = now;
        self.expire_txns(now);
    }

    /// Ends every transaction idle for its timeout or longer at `now`.
    fn expire_txns(&mut self, now: Micros) {
        let ended = &mut self.ended_txns;
        self.txns.retain(|_, t| {
            let live = now - t.last_used < t.timeout;
            if !live {
                ended.push((TxnOutcome::Expired, (now - t.began).max(0)));
            }
            live
        });
    }

    /// A view of `doc` through transaction `txn`: its snapshot plus its own writes.
    pub(super) fn txn_view<'a>(
        &'a mut self,
        doc: &str,
        at: ReadAt,
        txn: &str,
        now: Micros,
    ) -> Result<(DocHead, DocView<'a>)> {
        self.config.limits.check_qualified_id("doc_id", doc)?;
        if at != ReadAt::Latest {
            return Err(Error::invalid(
                "read_at",
                "cannot be combined with transaction_id",
            ));
        }
        self.live_txn(txn, doc, now)?.last_used = now;
        let t = &self.txns[txn];
        let head = DocHead {
            version: t.base,
            node_count: t.overlay.node_count.unwrap_or(t.base_node_count),
            created_at: t.base_created_at.unwrap_or(now),
            updated_at: now,
            last_commit_time: now,
            deleted: false,
        };
        if t.base == 0 && t.overlay.is_empty() {
            return Err(Error::not_found("document", doc));
        }
        Ok((
            head,
            DocView {
                store: &self.store,
                doc: &t.doc,
                version: t.base,
                overlay: Some(&t.overlay),
            },
        ))
    }

    /// Whether `doc` exists as seen through transaction `txn` (after the checks every use of a
    /// transaction makes).
    pub(super) fn doc_exists_in(&mut self, doc: &str, txn: &str, now: Micros) -> Result<bool> {
        let t = self.live_txn(txn, doc, now)?;
        Ok(t.base != 0 || t.overlay.header.is_some())
    }

    /// The open transaction `id`, checked for use on `doc` at `now`: NotFound when unknown or
    /// expired (an expired one is dropped), InvalidArgument when it is on another document,
    /// Conflict when its document was deleted or re-created since it began (its snapshot is gone).
    pub(super) fn live_txn(&mut self, id: &str, doc: &str, now: Micros) -> Result<&mut Txn> {
        let t = self
            .txns
            .get(id)
            .ok_or_else(|| Error::not_found("transaction", id))?;
        if now - t.last_used >= t.timeout {
            if let Some(t) = self.txns.remove(id) {
                self.ended(&t, TxnOutcome::Expired, now);
            }
            return Err(Error::not_found("transaction", format!("{id} (expired)")));
        }
        if t.doc != doc {
            // Another namespace's transaction is not this caller's to know of.
            if crate::namespace::Namespace::of(&t.doc) != crate::namespace::Namespace::of(doc) {
                return Err(Error::not_found("transaction", id));
            }
            return Err(Error::invalid(
                "doc_id",
                format!("transaction {id} is on document {}", t.doc),
            ));
        }
        if t.base != 0 {
            let head = read_head(&self.store, doc)?.filter(|h| !h.deleted);
            if head.map(|h| h.created_at) != t.base_created_at {
                return Err(Error::Conflict(format!(
                    "document {doc} was deleted or re-created since transaction {id} began"
                )));
            }
        }
        self.txns
            .get_mut(id)
            .ok_or_else(|| Error::not_found("transaction", id))
    }

    pub(super) fn begin(
        &mut self,
        doc_id: String,
        timeout_ms: Option<u64>,
        now: Micros,
    ) -> Result<Outcome> {
        self.config.limits.check_qualified_id("doc_id", &doc_id)?;
        if self.txns.len() >= self.config.max_transactions {
            return Err(Error::ResourceExhausted(format!(
                "shard {} has {} open transactions (the limit)",
                self.id, self.config.max_transactions
            )));
        }
        let timeout = match timeout_ms {
            None | Some(0) => self.config.txn_timeout_ms,
            Some(t) if t > self.config.max_txn_timeout_ms => {
                return Err(Error::invalid(
                    "timeout_ms",
                    format!("the limit is {}", self.config.max_txn_timeout_ms),
                ))
            }
            Some(t) => t,
        };
        let head = read_head(&self.store, &doc_id)?.filter(|h| !h.deleted);
        let id = format!("t{}-{:x}-{}", self.id, self.txn_epoch, self.next_txn);
        self.next_txn += 1;
        let base = head.as_ref().map(|h| h.version).unwrap_or(0);
        let mut overlay = Overlay::default();
        if base == 0 {
            overlay.node_count = Some(0);
        }
        self.txns.insert(
            id.clone(),
            Txn {
                doc: doc_id,
                base,
                base_created_at: head.as_ref().map(|h| h.created_at),
                base_node_count: head.as_ref().map(|h| h.node_count).unwrap_or(0),
                overlay,
                began: now,
                last_used: now,
                timeout: ms(timeout),
            },
        );
        Outcome::read(Response::Began {
            txn: id,
            snapshot_version: base,
        })
    }

    /// Ends transaction `id` for a caller in `namespace`: one on another namespace's document
    /// is NotFound, and stays.
    pub(super) fn take_txn(
        &mut self,
        id: &str,
        namespace: &crate::namespace::Namespace,
        now: Micros,
    ) -> Result<Txn> {
        match self.txns.get(id) {
            Some(t) if namespace.contains(&t.doc) => {}
            _ => return Err(Error::not_found("transaction", id)),
        }
        let t = self
            .txns
            .remove(id)
            .ok_or_else(|| Error::not_found("transaction", id))?;
        if now - t.last_used >= t.timeout {
            self.ended(&t, TxnOutcome::Expired, now);
            return Err(Error::not_found("transaction", format!("{id} (expired)")));
        }
        Ok(t)
    }

    /// The answer of a commit with nothing to write: the snapshot's version (its commit time
    /// and all), as the proto promises; all zeros when the snapshot had no document.
    fn snapshot_version_answer(&self, doc: &str, base: VersionNo) -> Result<Outcome> {
        let version = match base {
            0 => None,
            v => crate::view::read_version_info(&self.store, doc, v)?.map(|i| Version::from(&i)),
        };
        Outcome::read(Response::Written {
            version,
            after: None,
            removed_links: vec![],
            removed_nodes: 0,
            removed_versions: 0,
        })
    }

    pub(super) fn commit_txn(&mut self, t: Txn, opts: WriteOpts, now: Micros) -> Result<Outcome> {
        self.config.limits.check_short("message", &opts.message)?;
        if let Some(t) = opts.effective_time {
            crate::limits::check_time("effective_time", t)?;
        }
        // Read once: the numbering of a deleted head goes on, the rest needs a live one.
        let stored_head = read_head(&self.store, &t.doc)?;
        let head = stored_head.clone().filter(|h| !h.deleted);
        let current = head.as_ref().map(|h| h.version).unwrap_or(0);
        if t.overlay.is_empty() {
            return self.snapshot_version_answer(&t.doc, t.base);
        }
        if current != t.base {
            let conflict = |why: String| Err(Error::Conflict(format!("document {}: {why}", t.doc)));
            if head.as_ref().map(|h| h.created_at) != t.base_created_at {
                return conflict(
                    "was created, deleted or re-created since the transaction began".into(),
                );
            }
            if t.overlay.header.is_some()
                && latest_write(&self.store, &keys::header_scope(&t.doc))?.unwrap_or(0) > t.base
            {
                return conflict(format!(
                    "its header or top level changed after version {}",
                    t.base
                ));
            }
            for id in t.overlay.written_ids() {
                for scope in [keys::shape_scope(&t.doc, id), keys::node_scope(&t.doc, id)] {
                    if latest_write(&self.store, &scope)?.unwrap_or(0) > t.base {
                        return conflict(format!("node {id} changed after version {}", t.base));
                    }
                }
            }
        }
        let (doc, base) = (t.doc.clone(), t.base);
        let mut draft = Draft::new(&self.store, &t.doc, t.base, &self.config.limits);
        let base_count = t.base_node_count as i64;
        let tx_count = t.overlay.node_count.map(|c| c as i64).unwrap_or(base_count);
        draft.overlay = t.overlay;
        // Other commits since the snapshot may have changed the count: apply our delta to it.
        let now_count = head.as_ref().map(|h| h.node_count as i64).unwrap_or(0);
        draft.overlay.node_count = Some((now_count + tx_count - base_count).max(0) as u64);
        let stamp = stamp(stored_head.as_ref(), opts, now)?;
        match draft.into_commit(stamp)? {
            Some(commit) => finish(&self.store, Some(commit), 0, None),
            // The writes cancelled out (a node inserted and deleted again): nothing to commit.
            None => self.snapshot_version_answer(&doc, base),
        }
    }
}
