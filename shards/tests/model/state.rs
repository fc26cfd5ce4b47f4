//! The model store: each document keeps a full tree snapshot per version, so a read at any
//! version or time is a lookup. Transactions keep their own tree plus their write set.

use super::tree::{diff, hits, invalid, Touch, Tree, EK, R};
use shards::engine::{Page, WriteResult};
use shards::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone)]
pub struct MVer {
    pub v: Version,
    pub tree: Tree,
    pub changed: BTreeSet<String>,
    pub header_changed: bool,
}

/// A document's head survives its deletion, so a re-created document continues the versions.
#[derive(Clone)]
pub struct MDoc {
    pub head_version: VersionNo,
    pub last_commit: Micros,
    pub deleted: bool,
    pub created_at: Micros,
    pub versions: Vec<MVer>,
}

impl MDoc {
    pub fn latest(&self) -> &MVer {
        self.versions.last().expect("live document has a version")
    }
}

#[derive(Clone)]
pub struct MTxn {
    pub id: String,
    pub doc: String,
    pub base: VersionNo,
    pub base_created: Option<Micros>,
    pub tree: Tree,
    pub header_touched: bool,
    pub touched: BTreeSet<String>,
    pub last_used: Micros,
    pub timeout: Micros,
    pub open: bool,
}

#[derive(Clone, Default)]
pub struct Model {
    pub now: Micros,
    pub docs: BTreeMap<String, MDoc>,
    pub txns: Vec<MTxn>,
    pub links: BTreeMap<XrefKey, String>,
    pub tools: BTreeMap<(String, String), ToolResultRecord>,
    /// The principal making the write (or the commit) being modelled: its version records it.
    pub by: String,
}

fn written(version: Option<Version>, removed_nodes: u64) -> WriteResult {
    WriteResult {
        version,
        after: None,
        removed_nodes,
        removed_versions: 0,
    }
}

impl Model {
    pub fn live(&self, doc: &str) -> Option<&MDoc> {
        self.docs.get(doc).filter(|d| !d.deleted)
    }

    fn live_r(&self, doc: &str) -> R<&MDoc> {
        self.live(doc).ok_or(EK::NotFound("document"))
    }

    pub fn resolve(&self, doc: &str, at: ReadAt) -> R<&MVer> {
        let d = self.live_r(doc)?;
        match at {
            ReadAt::Latest => Ok(d.latest()),
            ReadAt::Version(v) => d
                .versions
                .iter()
                .find(|x| x.v.version == v)
                .ok_or(EK::NotFound("version")),
            ReadAt::AsOf { time, axis } => {
                let t = |x: &MVer| match axis {
                    TimeAxis::Commit => x.v.commit_time,
                    TimeAxis::Effective => x.v.effective_time,
                };
                d.versions
                    .iter()
                    .filter(|x| t(x) <= time)
                    .max_by_key(|x| (t(x), x.v.version))
                    .ok_or(EK::NotFound("version"))
            }
        }
    }

    fn drop_links_of(&mut self, doc: &str, node: Option<&str>) {
        let hit = |d: &str, n: &str| d == doc && node.is_none_or(|x| x == n);
        self.links
            .retain(|k, _| !hit(&k.from_doc, &k.from_node) && !hit(&k.to_doc, &k.to_node));
    }

    /// Commits `tree` as the document's next version (or nothing, when nothing differs).
    fn commit(&mut self, doc: &str, tree: Tree, eff: Option<Micros>, msg: &str) -> Option<Version> {
        tree.assert_consistent();
        let now = self.now;
        let empty = Tree::default();
        let live = self.live(doc).is_some();
        let prev = self.live(doc).map(|d| &d.latest().tree).unwrap_or(&empty);
        let changed = prev.changed_ids(&tree);
        let nodes_changed = prev.nodes_changed(&tree);
        let header_changed = !live || prev.header != tree.header;
        if live && changed.is_empty() && !header_changed {
            return None;
        }
        let removed: Vec<String> = prev
            .nodes
            .keys()
            .filter(|k| !tree.nodes.contains_key(*k))
            .cloned()
            .collect();
        let d = self.docs.entry(doc.to_string()).or_insert(MDoc {
            head_version: 0,
            last_commit: Micros::MIN,
            deleted: true,
            created_at: 0,
            versions: vec![],
        });
        let commit_time = now.max(d.last_commit.saturating_add(1));
        if d.deleted {
            d.deleted = false;
            d.created_at = commit_time;
            d.versions.clear();
        }
        d.head_version += 1;
        d.last_commit = commit_time;
        let v = Version {
            version: d.head_version,
            commit_time,
            effective_time: eff.unwrap_or(commit_time),
            message: msg.to_string(),
            nodes_changed,
            committed_by: self.by.clone(),
        };
        d.versions.push(MVer {
            v: v.clone(),
            tree,
            changed,
            header_changed,
        });
        for id in removed {
            self.drop_links_of(doc, Some(&id));
        }
        Some(v)
    }

    /// A write outside any transaction: `op` edits a copy of the latest tree.
    pub fn write(
        &mut self,
        doc: &str,
        creates: bool,
        eff: Option<Micros>,
        msg: &str,
        op: impl FnOnce(&mut Tree) -> R<u64>,
    ) -> R<WriteResult> {
        let mut tree = match self.live(doc) {
            Some(d) => d.latest().tree.clone(),
            None if creates => Tree::default(),
            None => return Err(EK::NotFound("document")),
        };
        let removed = op(&mut tree)?;
        Ok(written(self.commit(doc, tree, eff, msg), removed))
    }

    pub fn delete_document(&mut self, doc: &str, expected: Option<VersionNo>) -> R<WriteResult> {
        let d = self.live_r(doc)?;
        if expected.is_some_and(|v| v != d.head_version) {
            return Err(EK::Precondition);
        }
        let r = WriteResult {
            version: None,
            after: None,
            removed_nodes: d.latest().tree.nodes.len() as u64,
            removed_versions: d.versions.len() as u64,
        };
        let d = self.docs.get_mut(doc).expect("doc");
        d.deleted = true;
        d.versions.clear();
        self.drop_links_of(doc, None);
        Ok(r)
    }

    pub fn document(&self, doc: &str, at: ReadAt) -> R<Document> {
        let d = self.live_r(doc)?;
        let v = self.resolve(doc, at)?;
        let h = &v.tree.header;
        Ok(Document {
            doc_id: doc.to_string(),
            name: h.name.clone(),
            description: h.description.clone(),
            metadata: h.metadata.clone(),
            created_at: d.created_at,
            updated_at: v.v.commit_time,
            version: v.v.version,
            node_count: v.tree.nodes.len() as u64,
        })
    }

    pub fn list_documents(
        &self,
        prefix: &str,
        meta: &BTreeMap<String, String>,
        after: Option<&str>,
        size: usize,
    ) -> Page<Document> {
        let limit = if size == 0 { 100 } else { size };
        let items: Vec<Document> = self
            .docs
            .iter()
            .filter(|(id, d)| !d.deleted && id.starts_with(prefix))
            .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
            .map(|(id, _)| self.document(id, ReadAt::Latest).expect("live"))
            .filter(|d| meta.iter().all(|(k, v)| d.metadata.get(k) == Some(v)))
            .take(limit)
            .collect();
        let next = (items.len() == limit)
            .then(|| items.last().map(|d| d.doc_id.clone()))
            .flatten();
        Page { items, next }
    }

    pub fn list_versions(
        &self,
        doc: &str,
        after: Option<VersionNo>,
        limit: usize,
    ) -> R<Vec<Version>> {
        let limit = if limit == 0 { 100 } else { limit };
        Ok(self
            .live_r(doc)?
            .versions
            .iter()
            .filter(|v| after.is_none_or(|a| v.v.version > a))
            .take(limit)
            .map(|v| v.v.clone())
            .collect())
    }

    pub fn diff(&self, doc: &str, from: VersionNo, to: VersionNo) -> R<Diff> {
        let a = self.resolve(doc, ReadAt::Version(from))?;
        let b = self.resolve(doc, ReadAt::Version(to))?;
        let mut d = diff(&a.tree, &b.tree, from, to);
        let (lo, hi) = (from.min(to), from.max(to));
        let by: BTreeSet<String> = self
            .live_r(doc)?
            .versions
            .iter()
            .filter(|v| v.v.version > lo && v.v.version <= hi)
            .map(|v| v.v.committed_by.clone())
            .collect();
        d.committed_by = by.into_iter().collect();
        Ok(d)
    }

    pub fn search(
        &self,
        words: &[String],
        doc: Option<&str>,
        at: ReadAt,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> R<Page<SearchHit>> {
        if words.is_empty() {
            return Err(invalid("query"));
        }
        let limit = if limit == 0 { 20 } else { limit };
        let mut all = vec![];
        match doc {
            Some(d) => all.extend(hits(d, &self.resolve(d, at)?.tree, words)),
            None if at != ReadAt::Latest => return Err(invalid("read_at")),
            None => {
                for (id, d) in self.docs.iter().filter(|(_, d)| !d.deleted) {
                    all.extend(hits(id, &d.latest().tree, words));
                }
            }
        }
        let items: Vec<SearchHit> = all
            .into_iter()
            .filter(|h| after.is_none_or(|(d, n)| (h.doc_id.as_str(), h.node_id.as_str()) > (d, n)))
            .take(limit)
            .collect();
        let next = (items.len() == limit)
            .then(|| {
                items
                    .last()
                    .map(|h| format!("{}\u{1}{}", h.doc_id, h.node_id))
            })
            .flatten();
        Ok(Page { items, next })
    }

    fn node_exists(&self, doc: &str, node: &str) -> bool {
        self.live(doc)
            .is_some_and(|d| d.latest().tree.nodes.contains_key(node))
    }

    pub fn add_xref(&mut self, key: XrefKey, label: String) -> R<()> {
        if !self.node_exists(&key.from_doc, &key.from_node)
            || !self.node_exists(&key.to_doc, &key.to_node)
        {
            return Err(EK::NotFound("node"));
        }
        if self.links.contains_key(&key) {
            return Err(EK::Exists("cross reference"));
        }
        self.links.insert(key, label);
        Ok(())
    }

    pub fn remove_xref(&mut self, key: &XrefKey) -> R<()> {
        match self.links.remove(key) {
            Some(_) => Ok(()),
            None => Err(EK::NotFound("cross reference")),
        }
    }

    /// The engine's breadth-first walk, over the model's link set.
    pub fn get_xrefs(
        &self,
        doc: &str,
        node: &str,
        dir: Direction,
        hops: u32,
        kind: Option<&str>,
    ) -> Vec<(XrefKey, String, u32)> {
        let sides: &[bool] = match dir {
            Direction::Outgoing => &[true],
            Direction::Incoming => &[false],
            Direction::Both => &[true, false],
        };
        let mut out: Vec<(XrefKey, String, u32)> = vec![];
        // A link reached on both sides is reported once, at the fewer hops.
        let mut seen: BTreeMap<XrefKey, usize> = BTreeMap::new();
        for &outgoing in sides {
            let start = (doc.to_string(), node.to_string());
            let mut visited = BTreeSet::from([start.clone()]);
            let mut frontier = vec![start];
            for hop in 1..=hops.max(1) {
                let mut next = vec![];
                for (d, n) in &frontier {
                    let mut links: Vec<&XrefKey> = self
                        .links
                        .keys()
                        .filter(|k| kind.is_none_or(|kd| kd == k.kind))
                        .filter(|k| match outgoing {
                            true => (&k.from_doc, &k.from_node) == (d, n),
                            false => (&k.to_doc, &k.to_node) == (d, n),
                        })
                        .collect();
                    links.sort_by_key(|k| match outgoing {
                        true => (&k.kind, &k.to_doc, &k.to_node),
                        false => (&k.kind, &k.from_doc, &k.from_node),
                    });
                    for k in links {
                        let far = match outgoing {
                            true => (k.to_doc.clone(), k.to_node.clone()),
                            false => (k.from_doc.clone(), k.from_node.clone()),
                        };
                        if visited.insert(far.clone()) {
                            next.push(far);
                        }
                        match seen.get(k) {
                            Some(&i) => out[i].2 = out[i].2.min(hop),
                            None => {
                                seen.insert(k.clone(), out.len());
                                out.push((k.clone(), self.links[k].clone(), hop));
                            }
                        }
                    }
                }
                if next.is_empty() {
                    break;
                }
                frontier = next;
            }
        }
        out
    }

    pub fn doc_version(&self, doc: &str) -> Option<VersionNo> {
        self.live(doc).map(|d| d.head_version)
    }

    pub fn get_tool(&self, key: &(String, String)) -> ToolLookup {
        // Stale wins over expired.
        match self.tools.get(key) {
            None => ToolLookup::Miss(MissReason::NotFound),
            Some(r)
                if r.depends_on
                    .iter()
                    .any(|d| self.doc_version(&d.doc_id) != Some(d.version)) =>
            {
                ToolLookup::Miss(MissReason::Stale)
            }
            Some(r) if r.expires_at <= self.now => ToolLookup::Miss(MissReason::Expired),
            Some(r) => ToolLookup::Hit(r.clone()),
        }
    }

    // ---- transactions ----

    pub fn begin(&mut self, doc: &str, timeout_ms: Option<u64>) -> (VersionNo, usize) {
        let (base, created, tree) = match self.live(doc) {
            Some(d) => (d.head_version, Some(d.created_at), d.latest().tree.clone()),
            None => (0, None, Tree::default()),
        };
        let timeout = match timeout_ms {
            None | Some(0) => 30_000,
            Some(t) => t,
        };
        self.txns.push(MTxn {
            id: String::new(),
            doc: doc.to_string(),
            base,
            base_created: created,
            tree,
            header_touched: false,
            touched: BTreeSet::new(),
            last_used: self.now,
            timeout: timeout as i64 * 1000,
            open: true,
        });
        (base, self.txns.len() - 1)
    }

    /// The checks every use of an open transaction makes (the engine's `live_txn`).
    pub fn use_txn(&mut self, slot: Option<usize>, doc: &str) -> R<usize> {
        let now = self.now;
        let Some(i) = slot.filter(|&i| self.txns[i].open) else {
            return Err(EK::NotFound("transaction"));
        };
        let t = &self.txns[i];
        if now - t.last_used >= t.timeout {
            self.txns[i].open = false;
            return Err(EK::NotFound("transaction"));
        }
        if t.doc != doc {
            return Err(invalid("doc_id"));
        }
        let current = self.live(doc).map(|d| d.created_at);
        if t.base != 0 && current != t.base_created {
            return Err(EK::Conflict);
        }
        Ok(i)
    }

    /// A read through a transaction: its snapshot plus its own writes.
    pub fn txn_view(&mut self, slot: Option<usize>, doc: &str) -> R<(usize, Document)> {
        let i = self.use_txn(slot, doc)?;
        let now = self.now;
        let base_time = self
            .live(doc)
            .and_then(|d| d.versions.iter().find(|v| v.v.version == self.txns[i].base))
            .map(|v| v.v.commit_time);
        let t = &mut self.txns[i];
        t.last_used = now;
        if t.base == 0 && !t.header_touched {
            return Err(EK::NotFound("document"));
        }
        let h = &t.tree.header;
        let d = Document {
            doc_id: doc.to_string(),
            name: h.name.clone(),
            description: h.description.clone(),
            metadata: h.metadata.clone(),
            created_at: t.base_created.unwrap_or(now),
            updated_at: base_time.unwrap_or(now),
            version: t.base,
            node_count: t.tree.nodes.len() as u64,
        };
        Ok((i, d))
    }

    /// A write inside a transaction: staged on its tree, nothing committed.
    pub fn txn_write(
        &mut self,
        slot: Option<usize>,
        doc: &str,
        creates: bool,
        create_only: bool,
        op: impl FnOnce(&mut Tree) -> R<(u64, Touch)>,
    ) -> R<WriteResult> {
        let i = self.use_txn(slot, doc)?;
        let now = self.now;
        let t = &mut self.txns[i];
        if create_only && (t.base != 0 || t.header_touched) {
            return Err(EK::Exists("document"));
        }
        if t.base == 0 && !t.header_touched && !creates {
            return Err(EK::NotFound("document"));
        }
        let mut tree = t.tree.clone();
        let (removed, touch) = op(&mut tree)?;
        t.tree = tree;
        t.header_touched |= touch.header || t.base == 0;
        t.touched.extend(touch.nodes);
        t.last_used = now;
        Ok(written(None, removed))
    }

    fn take_txn(&mut self, slot: Option<usize>) -> R<usize> {
        let Some(i) = slot.filter(|&i| self.txns[i].open) else {
            return Err(EK::NotFound("transaction"));
        };
        self.txns[i].open = false;
        let t = &self.txns[i];
        if self.now - t.last_used >= t.timeout {
            return Err(EK::NotFound("transaction"));
        }
        Ok(i)
    }

    pub fn rollback(&mut self, slot: Option<usize>) -> R<()> {
        self.take_txn(slot).map(|_| ())
    }

    pub fn commit_txn(
        &mut self,
        slot: Option<usize>,
        eff: Option<Micros>,
        msg: &str,
    ) -> R<WriteResult> {
        let i = self.take_txn(slot)?;
        let t = &self.txns[i];
        if !t.header_touched && t.touched.is_empty() {
            // Nothing to commit: the answer names the snapshot's version, if it still exists.
            let base = self
                .live(&t.doc)
                .and_then(|d| d.versions.iter().find(|v| v.v.version == t.base))
                .map(|v| v.v.clone());
            return Ok(written(base, 0));
        }
        let doc = t.doc.clone();
        let (current, created) = match self.live(&doc) {
            Some(d) => (d.head_version, Some(d.created_at)),
            None => (0, None),
        };
        if current != t.base {
            if created != t.base_created {
                return Err(EK::Conflict);
            }
            let d = self.live(&doc).expect("live");
            for v in d.versions.iter().filter(|v| v.v.version > t.base) {
                if (t.header_touched && v.header_changed) || !v.changed.is_disjoint(&t.touched) {
                    return Err(EK::Conflict);
                }
            }
        }
        let mut merged = match self.live(&doc) {
            Some(d) => d.latest().tree.clone(),
            None => Tree::default(),
        };
        if t.header_touched {
            merged.header = t.tree.header.clone();
        }
        for id in &t.touched {
            match t.tree.nodes.get(id) {
                Some(n) => merged.nodes.insert(id.clone(), n.clone()),
                None => merged.nodes.remove(id),
            };
        }
        Ok(written(self.commit(&doc, merged, eff, msg), 0))
    }
}
