//! A `Draft` is a document being changed: a base version plus an overlay of new records. Every
//! write operation (put a tree, insert, update, move, delete) edits a draft, checking its
//! preconditions against what the draft sees; `Draft::into_commit` turns the overlay into one
//! `DocCommit` holding only the records that really differ from the base.
//!
//! Invariants kept by every operation: each node's `parent` names a node whose `children` list
//! holds it exactly once (or the header's `roots` when `parent` is None); ids are unique in the
//! document; no node is its own ancestor; depth never exceeds `Limits::max_depth`.

use crate::limits::Limits;
use crate::model::*;
use crate::mutation::{DocCommit, NodeWrite};
use crate::store::KvRead;
use crate::view::{DocView, Overlay};
use crate::{Error, Result};
use std::collections::HashSet;

pub struct Draft<'a> {
    pub store: &'a dyn KvRead,
    pub doc: String,
    /// The version the draft started from; 0 when the document does not exist yet.
    pub base: VersionNo,
    pub overlay: Overlay,
    pub limits: &'a Limits,
}

impl<'a> Draft<'a> {
    pub fn new(store: &'a dyn KvRead, doc: &str, base: VersionNo, limits: &'a Limits) -> Self {
        let mut overlay = Overlay::default();
        if base == 0 {
            overlay.header = Some(DocHeader::default());
            overlay.node_count = Some(0);
        }
        Draft {
            store,
            doc: doc.to_string(),
            base,
            overlay,
            limits,
        }
    }

    pub fn view(&self) -> DocView<'_> {
        DocView {
            store: self.store,
            doc: &self.doc,
            version: self.base,
            overlay: Some(&self.overlay),
        }
    }

    fn set_shape(&mut self, id: &str, shape: Option<NodeShape>) {
        self.overlay.shapes.insert(id.to_string(), shape);
    }

    fn set_content(&mut self, id: &str, content: NodeContent) {
        self.overlay.contents.insert(id.to_string(), content);
    }

    fn node_count(&self) -> Result<u64> {
        self.view().node_count()
    }

    fn set_children(&mut self, parent: Option<&str>, children: Vec<String>) -> Result<()> {
        match parent {
            None => {
                let mut h = self.view().header()?;
                h.roots = children;
                self.overlay.header = Some(h);
            }
            Some(p) => {
                let mut shape = self.view().must_shape(p)?;
                shape.children = children;
                self.set_shape(p, Some(shape));
            }
        }
        Ok(())
    }

    fn check_parent(&self, parent: Option<&str>) -> Result<usize> {
        match parent {
            None => Ok(0),
            Some(p) => {
                self.limits.check_id("parent_id", p)?;
                if self.view().shape(p)?.is_none() {
                    return Err(Error::not_found("node", format!("{}/{p}", self.doc)));
                }
                self.view().depth(p)
            }
        }
    }

    /// Validates a tree to be written and lists its ids with their depth below the attachment
    /// point (1 = the given nodes). Iterative: input depth cannot exhaust the stack.
    fn check_input(&self, roots: &[NodeInput], base_depth: usize) -> Result<Vec<String>> {
        let mut seen = HashSet::new();
        let mut ids = vec![];
        let mut stack: Vec<(&NodeInput, usize)> = roots.iter().rev().map(|n| (n, 1)).collect();
        while let Some((n, d)) = stack.pop() {
            self.limits.check_id("node_id", &n.node_id)?;
            self.limits.check_content(&n.content).map_err(|e| match e {
                Error::InvalidArgument { field, reason } => {
                    Error::invalid(field, format!("{reason} (node {})", n.node_id))
                }
                Error::ResourceExhausted(m) => {
                    Error::ResourceExhausted(format!("{m} (node {})", n.node_id))
                }
                other => other,
            })?;
            if base_depth + d > self.limits.max_depth {
                return Err(Error::invalid(
                    "nodes",
                    format!(
                        "tree deeper than the limit of {} levels",
                        self.limits.max_depth
                    ),
                ));
            }
            if !seen.insert(n.node_id.as_str()) {
                return Err(Error::invalid(
                    "node_id",
                    format!("duplicate node_id {:?}", n.node_id),
                ));
            }
            ids.push(n.node_id.clone());
            for c in n.children.iter().rev() {
                stack.push((c, d + 1));
            }
        }
        Ok(ids)
    }

    fn write_tree(&mut self, parent: Option<&str>, nodes: &[NodeInput]) {
        let mut stack: Vec<(Option<String>, &NodeInput)> = nodes
            .iter()
            .map(|n| (parent.map(str::to_string), n))
            .collect();
        while let Some((p, n)) = stack.pop() {
            let shape = NodeShape {
                parent: p,
                children: n.children.iter().map(|c| c.node_id.clone()).collect(),
            };
            self.set_shape(&n.node_id, Some(shape));
            self.set_content(&n.node_id, n.content.clone());
            for c in &n.children {
                stack.push((Some(n.node_id.clone()), c));
            }
        }
    }

    fn check_count(&self, count: u64) -> Result<()> {
        if count > self.limits.max_nodes_per_document as u64 {
            return Err(Error::ResourceExhausted(format!(
                "document {} would hold {count} nodes; the limit is {}",
                self.doc, self.limits.max_nodes_per_document
            )));
        }
        Ok(())
    }

    /// Replaces the whole document: header and tree.
    pub fn put_tree(&mut self, input: &DocumentInput) -> Result<()> {
        self.limits.check_short("name", &input.name)?;
        self.limits.check_short("description", &input.description)?;
        if input.metadata.len() > self.limits.max_metadata_entries {
            return Err(Error::ResourceExhausted(format!(
                "`metadata` has {} entries; the limit is {}",
                input.metadata.len(),
                self.limits.max_metadata_entries
            )));
        }
        for (k, v) in &input.metadata {
            self.limits.check_id("metadata key", k)?;
            self.limits
                .check_len("metadata value", v, self.limits.max_metadata_value_bytes)?;
        }
        let ids = self.check_input(&input.roots, 0)?;
        self.check_count(ids.len() as u64)?;
        // Through the overlay: a transaction may already have put a tree on a new document.
        let old = self.view().all_ids()?;
        let keep: HashSet<&str> = ids.iter().map(String::as_str).collect();
        for id in old.iter().filter(|id| !keep.contains(id.as_str())) {
            self.set_shape(id, None);
        }
        self.write_tree(None, &input.roots);
        self.overlay.header = Some(DocHeader {
            name: input.name.clone(),
            description: input.description.clone(),
            metadata: input.metadata.clone(),
            roots: input.roots.iter().map(|n| n.node_id.clone()).collect(),
        });
        self.overlay.node_count = Some(ids.len() as u64);
        Ok(())
    }

    fn place(siblings: &mut Vec<String>, position: Option<u32>, id: String) -> Result<()> {
        let at = match position {
            None => siblings.len(),
            Some(p) if (p as usize) <= siblings.len() => p as usize,
            Some(p) => {
                return Err(Error::invalid(
                    "position",
                    format!("{p} is past the end of {} siblings", siblings.len()),
                ))
            }
        };
        siblings.insert(at, id);
        Ok(())
    }

    /// Inserts `node` (with its children) under `parent` at `position` (None = last).
    pub fn insert(
        &mut self,
        parent: Option<&str>,
        position: Option<u32>,
        node: &NodeInput,
    ) -> Result<()> {
        let depth = self.check_parent(parent)?;
        let ids = self.check_input(std::slice::from_ref(node), depth)?;
        for id in &ids {
            if self.view().shape(id)?.is_some() {
                return Err(Error::already_exists("node", format!("{}/{id}", self.doc)));
            }
        }
        let count = self.node_count()? + ids.len() as u64;
        self.check_count(count)?;
        let mut siblings = self.view().child_ids(parent)?;
        Self::place(&mut siblings, position, node.node_id.clone())?;
        self.set_children(parent, siblings)?;
        self.write_tree(parent, std::slice::from_ref(node));
        self.overlay.node_count = Some(count);
        Ok(())
    }

    /// Sets the fields of `mask` from `content`.
    pub fn update(&mut self, id: &str, content: &NodeContent, mask: &FieldMask) -> Result<()> {
        self.limits.check_id("node_id", id)?;
        self.view().must_shape(id)?;
        let mut updated = self.view().content(id)?;
        mask.apply(&mut updated, content);
        self.limits.check_content(&updated)?;
        self.set_content(id, updated);
        Ok(())
    }

    /// Moves `id` (with its subtree) under `new_parent` at `position` (None = last).
    pub fn move_node(
        &mut self,
        id: &str,
        new_parent: Option<&str>,
        position: Option<u32>,
    ) -> Result<()> {
        self.limits.check_id("node_id", id)?;
        let mut shape = self.view().must_shape(id)?;
        let parent_depth = self.check_parent(new_parent)?;
        if let Some(p) = new_parent {
            if p == id
                || self
                    .view()
                    .ancestors(p, false)?
                    .iter()
                    .any(|a| a.node_id == id)
            {
                return Err(Error::FailedPrecondition(format!(
                    "cannot move node {id} under {p}: {p} is {id} itself or one of its descendants"
                )));
            }
        }
        let (_, height) = self.view().subtree_ids(id)?;
        if parent_depth + height > self.limits.max_depth {
            return Err(Error::invalid(
                "new_parent_id",
                format!(
                    "the move would make the tree deeper than {} levels",
                    self.limits.max_depth
                ),
            ));
        }
        let old_parent = shape.parent.clone();
        let mut old_siblings = self.view().child_ids(old_parent.as_deref())?;
        old_siblings.retain(|s| s != id);
        self.set_children(old_parent.as_deref(), old_siblings)?;
        let mut siblings = self.view().child_ids(new_parent)?;
        Self::place(&mut siblings, position, id.to_string())?;
        self.set_children(new_parent, siblings)?;
        shape.parent = new_parent.map(str::to_string);
        // Re-read: if the old and new parent are the same node its children were just rewritten.
        shape.children = self.view().must_shape(id)?.children;
        self.set_shape(id, Some(shape));
        Ok(())
    }

    /// Removes `id` and its subtree; returns the ids removed.
    pub fn delete(&mut self, id: &str) -> Result<Vec<String>> {
        self.limits.check_id("node_id", id)?;
        let shape = self.view().must_shape(id)?;
        let (ids, _) = self.view().subtree_ids(id)?;
        let mut siblings = self.view().child_ids(shape.parent.as_deref())?;
        siblings.retain(|s| s != id);
        self.set_children(shape.parent.as_deref(), siblings)?;
        for d in &ids {
            self.set_shape(d, None);
            self.overlay.contents.remove(d);
        }
        let count = self.node_count()?.saturating_sub(ids.len() as u64);
        self.overlay.node_count = Some(count);
        Ok(ids)
    }

    /// The commit for this draft, or None when nothing differs from the base. Only what
    /// differs is written: a node's shape and its content separately.
    pub fn into_commit(self, stamp: CommitStamp) -> Result<Option<DocCommit>> {
        let base_view = DocView {
            store: self.store,
            doc: &self.doc,
            version: self.base,
            overlay: None,
        };
        let mut nodes = vec![];
        for id in self.overlay.written_ids() {
            if let Some(write) = self.node_write(&base_view, id)? {
                nodes.push((id.to_string(), write));
            }
        }
        let header = match &self.overlay.header {
            Some(h) if self.base == 0 || &base_view.header()? != h => Some(h.clone()),
            _ => None,
        };
        if self.base != 0 && nodes.is_empty() && header.is_none() {
            return Ok(None);
        }
        let node_count = match self.overlay.node_count {
            Some(c) => c,
            None => base_view.node_count()?,
        };
        Ok(Some(DocCommit {
            doc_id: self.doc,
            version: stamp.version,
            commit_time: stamp.commit_time,
            effective_time: stamp.effective_time.unwrap_or(stamp.commit_time),
            message: stamp.message,
            created_at: stamp.created_at.unwrap_or(stamp.commit_time),
            header,
            nodes,
            node_count,
            committed_by: stamp.committed_by,
        }))
    }

    /// What the overlay changes of node `id` against the base, if anything.
    fn node_write(&self, base_view: &DocView<'_>, id: &str) -> Result<Option<NodeWrite>> {
        let before = base_view.shape(id)?;
        let after = match self.overlay.shapes.get(id) {
            Some(staged) => staged.clone(),
            None => before.clone(),
        };
        let Some(after) = after else {
            return Ok(before.is_some().then_some(NodeWrite::Removed));
        };
        let content = self.overlay.contents.get(id);
        if before.is_none() {
            // New (or back after a removal): both halves are written.
            let content = content.cloned().ok_or_else(|| {
                Error::Internal(format!("node {}/{id} was added without content", self.doc))
            })?;
            return Ok(Some(NodeWrite::Put {
                shape: Some(after),
                content: Some(content),
            }));
        }
        let shape = (before.as_ref() != Some(&after)).then_some(after);
        let content = match content {
            Some(c) if base_view.content(id)? != *c => Some(c.clone()),
            _ => None,
        };
        Ok((shape.is_some() || content.is_some()).then_some(NodeWrite::Put { shape, content }))
    }
}

/// What the committer decides for a new version.
#[derive(Clone, Debug)]
pub struct CommitStamp {
    pub version: VersionNo,
    /// The document's creation time when it exists at the base; None when this commit
    /// creates it (then it is the commit time).
    pub created_at: Option<Micros>,
    pub commit_time: Micros,
    pub effective_time: Option<Micros>,
    pub message: String,
    /// The principal committing the version ("" = unknown).
    pub committed_by: String,
}
