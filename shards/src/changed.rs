//! What a version counts as changed: `Version::nodes_changed`, the nodes it inserted, removed,
//! updated or moved. A node whose only change is its list of children (a child was inserted,
//! removed or moved) is not counted: inserting one node is one change, not two.
//!
//! A move within the same parent changes only the parent's children list (a shape holds the
//! parent and the ordered children), so such a move is found from the parent's lists: of the
//! children both lists share and that did not change otherwise, the fewest that must have
//! moved to turn the old order into the new one (those outside a longest increasing
//! subsequence) count as moved. Inserting or removing a sibling moves none, and a node both
//! updated and reordered counts once. The count is unique whichever subsequence is chosen.

use crate::mutation::{DocCommit, NodeWrite};
use crate::store::KvRead;
use crate::view::{read_head, DocView};
use crate::Result;
use std::collections::{HashMap, HashSet};

/// What a version changed, node by node, against the state before it: the change feed's view
/// of a commit (`feed::VersionChange`) and the source of `Version::nodes_changed`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// The document did not exist before (new, or created again after a deletion).
    pub created: bool,
    /// New nodes, or back after a removal. Sorted.
    pub added: Vec<String>,
    /// Nodes that left the tree. Sorted.
    pub removed: Vec<String>,
    /// Nodes present before and after whose content changed. Sorted.
    pub updated: Vec<String>,
    /// Nodes present before and after that changed parent, or that moved among their siblings
    /// (the fewest moves explaining the new order of the siblings not otherwise changed). Sorted.
    pub moved: Vec<String>,
}

impl Changes {
    /// `Version::nodes_changed`: each node inserted, removed, updated or moved, once.
    pub fn count(&self) -> u64 {
        let both = self
            .updated
            .iter()
            .filter(|id| self.moved.binary_search(id).is_ok())
            .count();
        (self.added.len() + self.removed.len() + self.updated.len() + self.moved.len() - both)
            as u64
    }
}

/// `nodes_changed` of the version `c` creates, against the state before it: `store` must not
/// hold `c` yet (planning and `apply` both read the state the commit applies to).
pub fn nodes_changed(store: &dyn KvRead, c: &DocCommit) -> Result<u64> {
    Ok(classify(store, c)?.count())
}

/// What the version `c` creates changes, against the state before it (`store` must not hold
/// `c` yet).
pub fn classify(store: &dyn KvRead, c: &DocCommit) -> Result<Changes> {
    let doc = c.doc_id.as_str();
    // The document before this commit: none when it is new or was deleted.
    let before = match read_head(store, doc)? {
        Some(h) if !h.deleted => Some(DocView {
            store,
            doc,
            version: h.version,
            overlay: None,
        }),
        _ => None,
    };
    let mut out = Changes {
        created: before.is_none(),
        ..Changes::default()
    };
    // Nodes added, removed, updated or re-parented: excluded from the sibling-order moves.
    let mut changed: HashSet<&str> = HashSet::new();
    // Sibling lists whose order changed: (before, after).
    let mut reordered: Vec<(Vec<String>, &[String])> = vec![];
    for (id, write) in &c.nodes {
        let (shape, content) = match write {
            NodeWrite::Removed => {
                changed.insert(id);
                out.removed.push(id.clone());
                continue;
            }
            NodeWrite::Put { shape, content } => (shape, content),
        };
        let old = match &before {
            Some(v) => v.shape(id)?,
            None => None,
        };
        let Some(old) = old else {
            changed.insert(id); // new, or back after a removal
            out.added.push(id.clone());
            continue;
        };
        if content.is_some() {
            changed.insert(id);
            out.updated.push(id.clone());
        }
        if let Some(new) = shape {
            if new.parent != old.parent {
                changed.insert(id);
                out.moved.push(id.clone());
            }
            if new.children != old.children {
                reordered.push((old.children, &new.children));
            }
        }
    }
    if let (Some(v), Some(h)) = (&before, &c.header) {
        reordered.push((v.header()?.roots, &h.roots));
    }
    for (old, new) in reordered {
        let unchanged = |ids: &[String]| -> Vec<String> {
            ids.iter()
                .filter(|id| !changed.contains(id.as_str()))
                .cloned()
                .collect()
        };
        let unchanged_new = unchanged(new);
        out.moved.extend(
            moved_within(&unchanged(&old), &unchanged_new)
                .into_iter()
                .map(String::from),
        );
    }
    // `c.nodes` is in node-id order; the moves found among siblings are not.
    out.moved.sort();
    out.moved.dedup();
    Ok(out)
}

/// The ids present in both lists that changed place relative to the others: all shared ids
/// outside one longest subsequence whose order both lists agree on (O(n log n)).
pub fn moved_within<'a>(before: &[String], after: &'a [String]) -> Vec<&'a str> {
    if before == after {
        return vec![];
    }
    let pos: HashMap<&str, usize> = before
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    // The shared ids in their new order, with their old positions.
    let shared: Vec<(&str, usize)> = after
        .iter()
        .filter_map(|id| pos.get(id.as_str()).map(|&p| (id.as_str(), p)))
        .collect();
    // Longest strictly increasing run of old positions (patience sorting with back links).
    // tails[k]: index in `shared` of the smallest tail of an increasing run of length k + 1.
    let mut tails: Vec<usize> = vec![];
    let mut back: Vec<Option<usize>> = vec![None; shared.len()];
    for (i, &(_, p)) in shared.iter().enumerate() {
        let k = tails.partition_point(|&t| shared[t].1 < p);
        back[i] = k.checked_sub(1).map(|j| tails[j]);
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut kept = vec![false; shared.len()];
    let mut at = tails.last().copied();
    while let Some(i) = at {
        kept[i] = true;
        at = back[i];
    }
    shared
        .iter()
        .zip(kept)
        .filter(|(_, k)| !k)
        .map(|((id, _), _)| *id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::moved_within;

    fn ids(s: &str) -> Vec<String> {
        s.chars().map(String::from).collect()
    }

    #[test]
    fn moves_are_the_fewest_shared_ids_out_of_order() {
        // Insertions and removals of siblings move nothing.
        assert!(moved_within(&ids("abc"), &ids("axbc")).is_empty());
        assert!(moved_within(&ids("abc"), &ids("ac")).is_empty());
        assert!(moved_within(&ids("abc"), &ids("abc")).is_empty());
        // One node moved to the front or the back is one move.
        assert_eq!(moved_within(&ids("abcd"), &ids("dabc")), ["d"]);
        assert_eq!(moved_within(&ids("abcd"), &ids("bcda")), ["a"]);
        // A reversal of n keeps one in place.
        assert_eq!(moved_within(&ids("abcd"), &ids("dcba")).len(), 3);
        // A swap of two neighbours is one move.
        assert_eq!(moved_within(&ids("abcd"), &ids("bacd")).len(), 1);
        // Moved and inserted together.
        assert_eq!(moved_within(&ids("abc"), &ids("cxab")), ["c"]);
    }
}
