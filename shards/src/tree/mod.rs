//! Documents as decoded, immutable in-memory trees: one `DocTree` is one document at one
//! version, laid out in pre-order so that a subtree is a contiguous slice of it.
//!
//! - `load.rs` builds a tree from the store with two range scans (shapes, contents);
//! - `derive.rs` makes the tree of version v+1 from the tree of v and the commit between them,
//!   sharing every node whose content did not change;
//! - `cache.rs` holds a shard's published trees (bounded in bytes), read from any thread;
//! - `staging.rs` publishes the trees of new versions in log order once they are durable;
//! - `loads.rs` decides which trees to load after reads missed, and whether to keep them.
//!
//! Reads served from a tree give the same answers as `DocView` over the store at that version
//! (the tests in `tests.rs` check both on random histories).

mod cache;
mod derive;
mod load;
mod loads;
mod staging;
#[cfg(test)]
pub(crate) mod tests;

pub use cache::{CacheStats, TreeCache};
pub use load::load;
pub use loads::{answered_version, cacheable_read, keep, Loads};
pub use staging::Staging;

use crate::model::*;
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// `TreeNode::parent` of a top-level node.
pub const NO_PARENT: u32 = u32::MAX;

/// A node's id and content, shared by the trees of successive versions while it is unchanged.
#[derive(Debug)]
pub struct NodeBody {
    pub id: Arc<str>,
    pub content: NodeContent,
}

impl NodeBody {
    fn new(id: Arc<str>, content: NodeContent) -> Arc<NodeBody> {
        Arc::new(NodeBody { id, content })
    }

    /// Heap bytes this body holds, for the cache's bound (an estimate: strings and the struct).
    fn bytes(&self) -> usize {
        let c = &self.content;
        std::mem::size_of::<NodeBody>()
            + self.id.len()
            + c.title.len()
            + c.summary.as_ref().map_or(0, String::len)
            + c.text.as_ref().map_or(0, String::len)
            + c.extra_json.len()
    }
}

/// One node of a tree, at its pre-order index `i`. Invariant: its subtree is exactly the
/// indices `i..end`, its children are `i + 1`, then each next sibling at the previous one's
/// `end`, and `position` is its index among its siblings.
#[derive(Clone, Debug)]
pub struct TreeNode {
    pub body: Arc<NodeBody>,
    pub parent: u32,
    pub position: u32,
    pub end: u32,
}

type Index = HashMap<Arc<str>, u32, ahash::RandomState>;

/// One document at one version, decoded. Immutable: a new version is a new tree.
#[derive(Debug)]
pub struct DocTree {
    pub doc_id: String,
    pub version: VersionNo,
    /// When the document was created (its current incarnation).
    pub created_at: Micros,
    /// Commit time of this version.
    pub commit_time: Micros,
    pub header: Arc<DocHeader>,
    nodes: Vec<TreeNode>,
    /// Node id -> pre-order index. Shared with the next version while the layout is the same.
    index: Arc<Index>,
    bytes: usize,
}

impl DocTree {
    /// Lays out the tree below `header.roots`: `node(id)` gives each node's ordered child ids
    /// and body. Every node must be reached exactly once and `expected` nodes in all, or the
    /// stored state is not a tree (DataLoss).
    fn build(
        doc_id: String,
        version: VersionNo,
        created_at: Micros,
        commit_time: Micros,
        header: Arc<DocHeader>,
        expected: usize,
        mut node: impl FnMut(&str) -> Result<Option<(Vec<Arc<str>>, Arc<NodeBody>)>>,
    ) -> Result<DocTree> {
        enum Step {
            Enter(Arc<str>, u32, u32),
            Exit(u32),
        }
        let broken = |why: String| Error::DataLoss(format!("document {doc_id} v{version}: {why}"));
        let mut nodes: Vec<TreeNode> = Vec::with_capacity(expected);
        let mut index = Index::with_capacity_and_hasher(expected, Default::default());
        let mut stack: Vec<Step> = header
            .roots
            .iter()
            .enumerate()
            .rev()
            .map(|(pos, id)| Step::Enter(Arc::from(id.as_str()), NO_PARENT, pos as u32))
            .collect();
        let mut bytes = 0;
        while let Some(step) = stack.pop() {
            let (id, parent, position) = match step {
                Step::Exit(i) => {
                    nodes[i as usize].end = nodes.len() as u32;
                    continue;
                }
                Step::Enter(id, parent, position) => (id, parent, position),
            };
            let at = nodes.len() as u32;
            if index.insert(id.clone(), at).is_some() {
                return Err(broken(format!("node {id} is reached twice")));
            }
            let Some((children, body)) = node(&id)? else {
                return Err(broken(format!("node {id} is listed as a child but absent")));
            };
            bytes += body.bytes() + std::mem::size_of::<TreeNode>() + 2 * id.len() + 16;
            nodes.push(TreeNode {
                body,
                parent,
                position,
                end: at + 1,
            });
            stack.push(Step::Exit(at));
            for (pos, c) in children.into_iter().enumerate().rev() {
                stack.push(Step::Enter(c, at, pos as u32));
            }
        }
        if nodes.len() != expected {
            return Err(broken(format!(
                "{} nodes are reachable, {expected} recorded",
                nodes.len()
            )));
        }
        bytes += std::mem::size_of::<DocTree>() + header_bytes(&header);
        Ok(DocTree {
            doc_id,
            version,
            created_at,
            commit_time,
            header,
            nodes,
            index: Arc::new(index),
            bytes,
        })
    }

    /// Approximate heap bytes held (each tree counted in full, though successive versions share
    /// unchanged node bodies).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node in pre-order (a subtree of node `i` is `nodes()[i..end]`).
    pub fn nodes(&self) -> &[TreeNode] {
        &self.nodes
    }

    pub fn node(&self, i: u32) -> &TreeNode {
        &self.nodes[i as usize]
    }

    /// The pre-order index of node `id`.
    pub fn find(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The pre-order index of node `id`, or NotFound as a store read would say it.
    pub fn must_find(&self, id: &str) -> Result<u32> {
        self.find(id)
            .ok_or_else(|| Error::not_found("node", format!("{}/{id}", self.doc_id)))
    }

    /// The indices of the children of `parent` (None = the top-level nodes), in order.
    pub fn children(&self, parent: Option<u32>) -> Children<'_> {
        let (next, end) = match parent {
            Some(p) => (p + 1, self.nodes[p as usize].end),
            None => (0, self.nodes.len() as u32),
        };
        Children {
            nodes: &self.nodes,
            next,
            end,
        }
    }

    pub fn has_children(&self, i: u32) -> bool {
        self.nodes[i as usize].end > i + 1
    }

    /// The id of node `i`'s parent ("" for a top-level node).
    pub fn parent_id(&self, i: u32) -> &str {
        match self.nodes[i as usize].parent {
            NO_PARENT => "",
            p => &self.nodes[p as usize].body.id,
        }
    }

    /// Node `i`'s ancestors, the top-level one first.
    pub fn ancestors(&self, i: u32) -> Vec<u32> {
        let mut out = vec![];
        let mut cur = self.nodes[i as usize].parent;
        while cur != NO_PARENT {
            out.push(cur);
            cur = self.nodes[cur as usize].parent;
        }
        out.reverse();
        out
    }

    /// The document's fields at this version.
    pub fn document(&self) -> Document {
        Document {
            doc_id: self.doc_id.clone(),
            name: self.header.name.clone(),
            description: self.header.description.clone(),
            metadata: self.header.metadata.clone(),
            created_at: self.created_at,
            updated_at: self.commit_time,
            version: self.version,
            node_count: self.nodes.len() as u64,
        }
    }

    /// Node `i` as a read returns it (children not filled).
    pub fn view(&self, i: u32, include_text: bool) -> NodeView {
        let n = &self.nodes[i as usize];
        let mut content = n.body.content.clone();
        if !include_text {
            content.text = None;
        }
        NodeView {
            node_id: n.body.id.to_string(),
            parent_id: (n.parent != NO_PARENT).then(|| self.parent_id(i).to_string()),
            position: n.position,
            content,
            has_children: self.has_children(i),
            children: vec![],
        }
    }

    /// GetNode: the node `id`.
    pub fn node_view(&self, id: &str, include_text: bool) -> Result<NodeView> {
        Ok(self.view(self.must_find(id)?, include_text))
    }

    /// GetChildren: the children of `parent` (None = the top level).
    pub fn children_views(
        &self,
        parent: Option<&str>,
        include_text: bool,
    ) -> Result<Vec<NodeView>> {
        let p = parent.map(|id| self.must_find(id)).transpose()?;
        Ok(self
            .children(p)
            .map(|c| self.view(c, include_text))
            .collect())
    }

    /// GetSubtree: `root` (None = every top-level node) and `max_depth - 1` levels below it
    /// (0 = unlimited), children nested.
    pub fn subtree_views(
        &self,
        root: Option<&str>,
        max_depth: usize,
        include_text: bool,
    ) -> Result<Vec<NodeView>> {
        let depth = if max_depth == 0 {
            usize::MAX
        } else {
            max_depth
        };
        let tops: Vec<u32> = match root {
            Some(id) => vec![self.must_find(id)?],
            None => self.children(None).collect(),
        };
        Ok(tops
            .into_iter()
            .map(|t| self.nested(t, depth, include_text))
            .collect())
    }

    fn nested(&self, i: u32, depth: usize, include_text: bool) -> NodeView {
        let mut v = self.view(i, include_text);
        if depth > 1 {
            v.children = self
                .children(Some(i))
                .map(|c| self.nested(c, depth - 1, include_text))
                .collect();
        }
        v
    }

    /// GetAncestors: the path from the top level down to `id`'s parent.
    pub fn ancestor_views(&self, id: &str, include_text: bool) -> Result<Vec<NodeView>> {
        let i = self.must_find(id)?;
        Ok(self
            .ancestors(i)
            .into_iter()
            .map(|a| self.view(a, include_text))
            .collect())
    }
}

fn header_bytes(h: &DocHeader) -> usize {
    h.name.len()
        + h.description.len()
        + h.metadata
            .iter()
            .map(|(k, v)| k.len() + v.len() + 48)
            .sum::<usize>()
        + h.roots.iter().map(|r| r.len() + 24).sum::<usize>()
}

/// The children of one node (or the top level), in order: each next sibling starts where the
/// previous one's subtree ends.
pub struct Children<'a> {
    nodes: &'a [TreeNode],
    next: u32,
    end: u32,
}

impl Iterator for Children<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        self.next = self.nodes[i as usize].end;
        Some(i)
    }
}
