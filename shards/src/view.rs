//! Reading one document at one version. A `DocView` resolves every read with seeks into the
//! versioned keys (`keys.rs`): a node at version v is the newest node entry at or below v, so the
//! cost of a read grows with the size of its answer, never with the number of versions.
//!
//! A view may carry a transaction's `Overlay` of uncommitted records, which reads see first
//! (read your own writes).

use crate::codec::{decode, decode_u64};
use crate::keys;
use crate::model::*;
use crate::store::KvRead;
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// A transaction's uncommitted writes to one document: new shapes (`None` marks a node
/// removed) and new contents, kept apart as they are stored.
/// Invariant: a node with a `Some` shape here that did not exist at the base version has its
/// content here too.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    pub header: Option<DocHeader>,
    pub shapes: BTreeMap<String, Option<NodeShape>>,
    pub contents: BTreeMap<String, NodeContent>,
    pub node_count: Option<u64>,
}

impl Overlay {
    pub fn is_empty(&self) -> bool {
        self.header.is_none() && self.shapes.is_empty() && self.contents.is_empty()
    }

    /// Every node this overlay writes (shape or content), in id order.
    pub fn written_ids(&self) -> BTreeSet<&str> {
        self.shapes
            .keys()
            .chain(self.contents.keys())
            .map(String::as_str)
            .collect()
    }
}

pub fn read_head(store: &dyn KvRead, doc: &str) -> Result<Option<DocHead>> {
    match store.get(&keys::head(doc))? {
        Some(b) => Ok(Some(decode(&b)?)),
        None => Ok(None),
    }
}

/// The head of a live document, or NotFound.
pub fn live_head(store: &dyn KvRead, doc: &str) -> Result<DocHead> {
    match read_head(store, doc)? {
        Some(h) if !h.deleted => Ok(h),
        _ => Err(Error::not_found("document", doc)),
    }
}

pub fn read_version_info(
    store: &dyn KvRead,
    doc: &str,
    v: VersionNo,
) -> Result<Option<VersionInfo>> {
    match store.get(&keys::version(doc, v))? {
        Some(b) => Ok(Some(VersionInfo::decode(&b)?)),
        None => Ok(None),
    }
}

/// The version in force at `time` on `axis`: the newest version whose time on that axis is at or
/// before `time` (ties: the greater version). One seek in the time index (`keys::time_index`).
pub fn version_as_of(
    store: &dyn KvRead,
    doc: &str,
    time: Micros,
    axis: TimeAxis,
) -> Result<VersionNo> {
    let tag = match axis {
        TimeAxis::Commit => keys::COMMIT,
        TimeAxis::Effective => keys::EFFECTIVE,
    };
    let scope = keys::time_index_scope(tag, doc);
    let seek = keys::time_index(tag, doc, time, u64::MAX);
    match store.first(&seek, &keys::prefix_end(&scope))? {
        Some((k, _)) => keys::inverted_version(&k),
        None => Err(Error::not_found(
            "version",
            format!("{doc} as of {time} ({axis:?} time): no version at or before it"),
        )),
    }
}

/// Resolves `at` to a concrete version of a live document.
pub fn resolve(store: &dyn KvRead, doc: &str, at: ReadAt) -> Result<(DocHead, VersionNo)> {
    let head = live_head(store, doc)?;
    let v = match at {
        ReadAt::Latest => head.version,
        ReadAt::Version(v) => {
            if v == 0 || v > head.version || read_version_info(store, doc, v)?.is_none() {
                return Err(Error::not_found("version", format!("{doc}@{v}")));
            }
            v
        }
        ReadAt::AsOf { time, axis } => version_as_of(store, doc, time, axis)?,
    };
    Ok((head, v))
}

/// The newest entry of a versioned key at or below `v`.
fn versioned_get(store: &dyn KvRead, scope: &[u8], v: VersionNo) -> Result<Option<Vec<u8>>> {
    let mut seek = scope.to_vec();
    seek.extend_from_slice(&(!v).to_be_bytes());
    Ok(store
        .first(&seek, &keys::prefix_end(scope))?
        .map(|(_, val)| val))
}

/// The newest version at which a versioned key was written, if any.
pub fn latest_write(store: &dyn KvRead, scope: &[u8]) -> Result<Option<VersionNo>> {
    store
        .first(scope, &keys::prefix_end(scope))?
        .map(|(k, _)| keys::inverted_version(&k))
        .transpose()
}

pub struct DocView<'a> {
    pub store: &'a dyn KvRead,
    pub doc: &'a str,
    pub version: VersionNo,
    pub overlay: Option<&'a Overlay>,
}

impl<'a> DocView<'a> {
    /// The node's place in the tree at this version; None when the node is not in the tree.
    pub fn shape(&self, id: &str) -> Result<Option<NodeShape>> {
        if let Some(staged) = self.overlay.and_then(|o| o.shapes.get(id)) {
            return Ok(staged.clone());
        }
        if self.version == 0 {
            return Ok(None);
        }
        match versioned_get(self.store, &keys::shape_scope(self.doc, id), self.version)? {
            Some(b) => decode::<Option<NodeShape>>(&b),
            None => Ok(None),
        }
    }

    /// The shape of a node of the tree, or NotFound.
    pub fn must_shape(&self, id: &str) -> Result<NodeShape> {
        self.shape(id)?
            .ok_or_else(|| Error::not_found("node", format!("{}/{id}", self.doc)))
    }

    /// The content of a node known to be in the tree at this version.
    pub fn content(&self, id: &str) -> Result<NodeContent> {
        if let Some(staged) = self.overlay.and_then(|o| o.contents.get(id)) {
            return Ok(staged.clone());
        }
        match versioned_get(self.store, &keys::node_scope(self.doc, id), self.version)? {
            Some(b) => decode::<NodeContent>(&b),
            None => Err(Error::DataLoss(format!(
                "node {}/{id} has a shape but no content at v{}",
                self.doc, self.version
            ))),
        }
    }

    pub fn node(&self, id: &str) -> Result<Option<NodeRecord>> {
        match self.shape(id)? {
            Some(shape) => Ok(Some(NodeRecord::new(shape, self.content(id)?))),
            None => Ok(None),
        }
    }

    /// The node at this version, or NotFound.
    pub fn must_node(&self, id: &str) -> Result<NodeRecord> {
        self.node(id)?
            .ok_or_else(|| Error::not_found("node", format!("{}/{id}", self.doc)))
    }

    pub fn header(&self) -> Result<DocHeader> {
        if let Some(h) = self.overlay.and_then(|o| o.header.as_ref()) {
            return Ok(h.clone());
        }
        match versioned_get(self.store, &keys::header_scope(self.doc), self.version)? {
            Some(b) => decode(&b),
            // Every version of a live document has a header entry at or below it: damage.
            None => Err(Error::DataLoss(format!(
                "document {} has no header at v{}",
                self.doc, self.version
            ))),
        }
    }

    pub fn node_count(&self) -> Result<u64> {
        if let Some(c) = self.overlay.and_then(|o| o.node_count) {
            return Ok(c);
        }
        Ok(read_version_info(self.store, self.doc, self.version)?
            .map(|v| v.node_count)
            .unwrap_or(0))
    }

    /// Ordered child ids of `parent` (None = the document's top level).
    pub fn child_ids(&self, parent: Option<&str>) -> Result<Vec<String>> {
        match parent {
            None => Ok(self.header()?.roots),
            Some(p) => Ok(self.must_shape(p)?.children),
        }
    }

    /// The index of `id` among the children of its `parent` (reads shapes only).
    pub fn position(&self, id: &str, parent: Option<&str>) -> Result<u32> {
        let siblings = self.child_ids(parent)?;
        siblings
            .iter()
            .position(|s| s == id)
            .map(|p| p as u32)
            // Stored shapes list every node in its parent's children (docs/design.md): damage.
            .ok_or_else(|| Error::DataLoss(format!("node {id} missing from its parent's children")))
    }

    fn view_of(&self, id: &str, rec: NodeRecord, position: u32, include_text: bool) -> NodeView {
        let mut content = rec.content;
        if !include_text {
            content.text = None;
        }
        NodeView {
            node_id: id.to_string(),
            parent_id: rec.parent,
            position,
            content,
            has_children: !rec.children.is_empty(),
            children: vec![],
        }
    }

    pub fn node_view(&self, id: &str, include_text: bool) -> Result<NodeView> {
        let rec = self.must_node(id)?;
        let pos = self.position(id, rec.parent.as_deref())?;
        Ok(self.view_of(id, rec, pos, include_text))
    }

    pub fn children(&self, parent: Option<&str>, include_text: bool) -> Result<Vec<NodeView>> {
        let ids = self.child_ids(parent)?;
        let mut out = Vec::with_capacity(ids.len());
        for (i, c) in ids.iter().enumerate() {
            let rec = self.must_node(c)?;
            out.push(self.view_of(c, rec, i as u32, include_text));
        }
        Ok(out)
    }

    /// The subtree under `root` (None = whole document: its top-level nodes), `max_depth` levels
    /// deep (0 = unlimited; 1 = the root alone).
    pub fn subtree(
        &self,
        root: Option<&str>,
        max_depth: usize,
        include_text: bool,
    ) -> Result<Vec<NodeView>> {
        self.subtree_within(root, max_depth, include_text, usize::MAX)?
            .ok_or_else(|| Error::Internal("an unbounded subtree read gave up".into()))
    }

    /// `subtree`, giving up (None) as soon as it would hold more than `max_nodes` nodes.
    pub fn subtree_within(
        &self,
        root: Option<&str>,
        max_depth: usize,
        include_text: bool,
        max_nodes: usize,
    ) -> Result<Option<Vec<NodeView>>> {
        let depth = if max_depth == 0 {
            usize::MAX
        } else {
            max_depth
        };
        let mut budget = max_nodes;
        let tops = match root {
            Some(id) => vec![id.to_string()],
            None => self.header()?.roots,
        };
        let mut out = Vec::with_capacity(tops.len());
        for (i, id) in tops.iter().enumerate() {
            let rec = self.must_node(id)?;
            let pos = match root {
                Some(_) => self.position(id, rec.parent.as_deref())?,
                None => i as u32,
            };
            match self.build(id, rec, pos, depth, include_text, &mut budget)? {
                Some(v) => out.push(v),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// The view of `id` and `depth - 1` levels below it; None once more than `budget` nodes
    /// would be built.
    fn build(
        &self,
        id: &str,
        rec: NodeRecord,
        pos: u32,
        depth: usize,
        include_text: bool,
        budget: &mut usize,
    ) -> Result<Option<NodeView>> {
        if *budget == 0 {
            return Ok(None);
        }
        *budget -= 1;
        let child_ids = rec.children.clone();
        let mut v = self.view_of(id, rec, pos, include_text);
        if depth > 1 {
            for (i, c) in child_ids.iter().enumerate() {
                let crec = self.must_node(c)?;
                match self.build(c, crec, i as u32, depth - 1, include_text, budget)? {
                    Some(child) => v.children.push(child),
                    None => return Ok(None),
                }
            }
        }
        Ok(Some(v))
    }

    /// The path from the top level down to `id`'s parent, root first (the node itself excluded).
    pub fn ancestors(&self, id: &str, include_text: bool) -> Result<Vec<NodeView>> {
        let mut out = vec![];
        let mut cur = self.must_shape(id)?.parent;
        while let Some(p) = cur {
            let rec = self.must_node(&p)?;
            let pos = self.position(&p, rec.parent.as_deref())?;
            cur = rec.parent.clone();
            out.push(self.view_of(&p, rec, pos, include_text));
            if out.len() > 100_000 {
                // No stored node is its own ancestor (docs/design.md): damage.
                return Err(Error::DataLoss(format!(
                    "parent cycle above {}/{id}",
                    self.doc
                )));
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Depth of a node: 1 for a top-level node.
    pub fn depth(&self, id: &str) -> Result<usize> {
        let mut d = 1;
        let mut cur = self.must_shape(id)?.parent;
        while let Some(p) = cur {
            d += 1;
            cur = self.must_shape(&p)?.parent;
            if d > 100_000 {
                // No stored node is its own ancestor (docs/design.md): damage.
                return Err(Error::DataLoss(format!(
                    "parent cycle above {}/{id}",
                    self.doc
                )));
            }
        }
        Ok(d)
    }

    /// Ids of `id` and all its descendants, depth first, with the height of the subtree.
    pub fn subtree_ids(&self, id: &str) -> Result<(Vec<String>, usize)> {
        let mut ids = vec![];
        let mut height = 0;
        let mut stack = vec![(id.to_string(), 1usize)];
        while let Some((n, d)) = stack.pop() {
            height = height.max(d);
            let shape = self.must_shape(&n)?;
            for c in shape.children.iter().rev() {
                stack.push((c.clone(), d + 1));
            }
            ids.push(n);
        }
        Ok((ids, height))
    }

    /// Every node id of the document at this version.
    pub fn all_ids(&self) -> Result<Vec<String>> {
        let mut out = vec![];
        for r in self.header()?.roots {
            out.extend(self.subtree_ids(&r)?.0);
        }
        Ok(out)
    }

    pub fn document(&self, head: &DocHead) -> Result<Document> {
        let h = self.header()?;
        let info = read_version_info(self.store, self.doc, self.version)?;
        Ok(Document {
            doc_id: self.doc.to_string(),
            name: h.name,
            description: h.description,
            metadata: h.metadata,
            created_at: head.created_at,
            updated_at: info
                .as_ref()
                .map(|i| i.commit_time)
                .unwrap_or(head.updated_at),
            version: self.version,
            // Through the overlay: a transaction reads its own writes.
            node_count: self.node_count()?,
        })
    }
}

pub fn decode_applied_lsn(store: &dyn KvRead) -> Result<u64> {
    match store.get(keys::APPLIED_LSN)? {
        Some(b) => decode_u64(&b),
        None => Ok(0),
    }
}
