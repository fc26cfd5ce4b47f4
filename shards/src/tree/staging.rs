//! Publishing new versions to the tree cache in log order, once durable.
//!
//! When a mutation is applied (in log order, on the shard's thread), `applied` derives the
//! document's next tree from its newest tree (staged or published) and stages it with the
//! mutation's LSN; a deletion stages the removal of the document's trees. `publish` then applies
//! the staged changes whose LSN is durable, oldest first. The shard calls it before it
//! acknowledges a write, so an acknowledged write is visible to every later cached read, and a
//! change that is not durable is never visible.
//!
//! A document whose latest tree is not cached stays uncached: nothing is derived for it.

use super::{DocTree, TreeCache};
use crate::mutation::{DocCommit, Mutation};
use std::collections::VecDeque;
use std::sync::Arc;

/// Commits writing more nodes than this are not derived: the document's latest tree is dropped
/// instead, and the next read loads it again (off the shard's executor).
pub const DERIVE_MAX_WRITES: usize = 1024;

enum Change {
    /// The document's new latest tree.
    Latest(Arc<DocTree>),
    /// The document's latest tree is gone (not derived); older versions stay.
    InvalidateLatest,
    /// The document was deleted: all its trees go.
    Remove,
}

struct Staged {
    lsn: u64,
    doc: String,
    change: Change,
}

#[derive(Default)]
pub struct Staging {
    queue: VecDeque<Staged>,
}

impl Staging {
    /// Stages what mutation `m`, just applied at `lsn`, changes in the cache.
    pub fn applied(&mut self, cache: &TreeCache, m: &Mutation, lsn: u64) {
        if !cache.enabled() {
            return;
        }
        let (doc, change) = match m {
            Mutation::Commit(c) => match self.derived(cache, c) {
                Some(change) => (c.doc_id.clone(), change),
                None => return,
            },
            Mutation::DeleteDocument { doc_id, .. } => (doc_id.clone(), Change::Remove),
            _ => return,
        };
        self.queue.push_back(Staged { lsn, doc, change });
    }

    /// The change commit `c` makes to the latest tree of its document, if that is cached.
    fn derived(&self, cache: &TreeCache, c: &DocCommit) -> Option<Change> {
        let base = match self.queue.iter().rev().find(|s| s.doc == c.doc_id) {
            Some(Staged {
                change: Change::Latest(t),
                ..
            }) => t.clone(),
            Some(_) => return None,
            None => cache.peek_latest(&c.doc_id)?,
        };
        if base.version + 1 != c.version || c.nodes.len() > DERIVE_MAX_WRITES {
            return Some(Change::InvalidateLatest);
        }
        match base.derive(c) {
            Ok(tree) => Some(Change::Latest(Arc::new(tree))),
            Err(e) => {
                tracing::error!(doc = %c.doc_id, version = c.version, error = %e,
                    "could not derive the cached tree; it is dropped and will be loaded again");
                Some(Change::InvalidateLatest)
            }
        }
    }

    /// Publishes every staged change with an LSN at or below `durable`, in log order.
    pub fn publish(&mut self, cache: &TreeCache, durable: u64) {
        while self.queue.front().is_some_and(|s| s.lsn <= durable) {
            let Some(s) = self.queue.pop_front() else {
                break;
            };
            match s.change {
                Change::Latest(t) => cache.publish_latest(t),
                Change::InvalidateLatest => cache.invalidate_latest(&s.doc),
                Change::Remove => cache.remove(&s.doc),
            }
        }
    }

    /// Whether a change of `doc` waits to be published.
    pub fn pending(&self, doc: &str) -> bool {
        self.queue.iter().any(|s| s.doc == doc)
    }
}
