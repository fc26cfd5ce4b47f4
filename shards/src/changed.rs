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

/// `nodes_changed` of the version `c` creates, against the state before it: `store` must not
/// hold `c` yet (planning and `apply` both read the state the commit applies to).
pub fn nodes_changed(store: &dyn KvRead, c: &DocCommit) -> Result<u64> {
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
    let mut changed: HashSet<&str> = HashSet::new();
    // Sibling lists whose order changed: (before, after).
    let mut reordered: Vec<(Vec<String>, &[String])> = vec![];
    for (id, write) in &c.nodes {
        let (shape, content) = match write {
            NodeWrite::Removed => {
                changed.insert(id);
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
            continue;
        };
        if content.is_some() {
            changed.insert(id);
        }
        if let Some(new) = shape {
            if new.parent != old.parent {
                changed.insert(id);
            }
            if new.children != old.children {
                reordered.push((old.children, &new.children));
            }
        }
    }
    if let (Some(v), Some(h)) = (&before, &c.header) {
        reordered.push((v.header()?.roots, &h.roots));
    }
    let mut moved = 0;
    for (old, new) in reordered {
        let unchanged = |ids: &[String]| -> Vec<String> {
            ids.iter()
                .filter(|id| !changed.contains(id.as_str()))
                .cloned()
                .collect()
        };
        moved += moved_within(&unchanged(&old), &unchanged(new)).len();
    }
    Ok((changed.len() + moved) as u64)
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
