//! Filling the cache: which trees a shard loads after reads missed it, and whether a loaded tree
//! may be kept.
//!
//! A read that misses is answered from the store as before; then the tree it read is loaded
//! (off the shard's executor, on a snapshot in which that version is durable) so that the next
//! read hits. The latest version is loaded on its first miss, an older version on its second
//! (as-of reads at scattered times should not churn the cache). A loaded tree is kept only if
//! it is still a durable version of the document's current incarnation when it arrives; the
//! latest version only if no write to the document came in between.

use super::{DocTree, TreeCache};
use crate::model::{DocHead, VersionNo};
use crate::request::{Request, Response};
use std::collections::HashSet;
use std::sync::Arc;

/// Older-version misses remembered for the second-miss rule (then forgotten all at once).
const MISSES_REMEMBERED: usize = 4096;

#[derive(Default)]
pub struct Loads {
    loading: HashSet<(String, VersionNo)>,
    missed: HashSet<(String, VersionNo)>,
}

impl Loads {
    /// After a read of `doc` at `version` missed the cache: whether to load that tree now (it is
    /// then marked loading until `finish`). `head` is the document's head as stored now.
    pub fn start(
        &mut self,
        cache: &TreeCache,
        doc: &str,
        version: VersionNo,
        head: &DocHead,
    ) -> bool {
        if !cache.enabled() || head.deleted || cache.contains(doc, version) {
            return false;
        }
        let key = (doc.to_string(), version);
        if self.loading.contains(&key) {
            return false;
        }
        if version != head.version && !self.missed.remove(&key) {
            if self.missed.len() >= MISSES_REMEMBERED {
                self.missed.clear();
            }
            self.missed.insert(key);
            return false;
        }
        self.loading.insert(key);
        true
    }

    /// A load started by `start` ended (`tree` is None when it failed). `head` is the document's
    /// head as stored now and `pending` whether a change of the document waits to be
    /// published: the tree is kept only if it is still durable and of this incarnation.
    pub fn finish(
        &mut self,
        cache: &TreeCache,
        doc: &str,
        version: VersionNo,
        tree: Option<DocTree>,
        head: Option<&DocHead>,
        pending: bool,
    ) {
        self.loading.remove(&(doc.to_string(), version));
        if let (Some(tree), Some(head)) = (tree, head) {
            keep(cache, tree, head, pending);
        }
    }
}

/// Keeps a tree loaded on a snapshot (for a load, or to answer a read) if it is still a
/// durable version of its document's current incarnation; as the latest when it is the
/// latest. `head` is the document's head as stored now, `pending` whether a change of the
/// document waits to be published.
pub fn keep(cache: &TreeCache, tree: DocTree, head: &DocHead, pending: bool) {
    if head.deleted || pending || head.created_at != tree.created_at || tree.version > head.version
    {
        return;
    }
    if tree.version == head.version {
        cache.publish_latest(Arc::new(tree));
    } else {
        cache.insert_version(Arc::new(tree));
    }
}

/// The document of a read that a cached tree answers: node and document reads outside a
/// transaction. When such a read reaches the shard, it missed the cache.
pub fn cacheable_read(request: &Request) -> Option<&str> {
    match request {
        Request::GetDocument {
            doc_id, txn: None, ..
        }
        | Request::GetNode {
            doc_id, txn: None, ..
        }
        | Request::GetChildren {
            doc_id, txn: None, ..
        }
        | Request::GetSubtree {
            doc_id, txn: None, ..
        }
        | Request::GetAncestors {
            doc_id, txn: None, ..
        } => Some(doc_id),
        _ => None,
    }
}

/// The version a node or document read was answered at.
pub fn answered_version(response: &Response) -> Option<VersionNo> {
    match response {
        Response::Document(d) => Some(d.version),
        Response::Node(_, v) | Response::Nodes(_, v) => Some(*v),
        _ => None,
    }
}
