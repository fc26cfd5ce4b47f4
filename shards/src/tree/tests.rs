//! Trees against the store: on random histories, the tree derived from the previous version
//! equals the tree loaded from the store, and every read answered from a tree equals the same
//! read through `DocView` at that version.

use super::*;
use crate::mutation::Mutation;
use crate::request::{Request, WriteOpts};
use crate::shard::{Shard, ShardConfig};
use crate::store::MemStore;
use crate::view::{read_head, DocView};

/// A small deterministic generator (xorshift64*).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn content(r: &mut Rng) -> NodeContent {
    NodeContent {
        title: format!("title {}", r.below(5)),
        summary: (r.below(2) == 0).then(|| format!("summary {}", r.below(3))),
        text: (r.below(3) == 0).then(|| format!("text {}", r.below(3))),
        start_page: (r.below(2) == 0).then_some(r.below(9) as i64),
        end_page: None,
        line_num: (r.below(4) == 0).then_some(7),
        extra_json: if r.below(4) == 0 {
            "{\"k\":1}".into()
        } else {
            String::new()
        },
    }
}

fn random_tree(r: &mut Rng, next_id: &mut usize, depth: usize) -> Vec<NodeInput> {
    let n = if depth > 3 { 0 } else { r.below(4) };
    (0..n)
        .map(|_| {
            *next_id += 1;
            NodeInput {
                node_id: format!("n{}", *next_id),
                content: content(r),
                children: random_tree(r, next_id, depth + 1),
            }
        })
        .collect()
}

/// The tree as comparable values: every field of every node, in pre-order.
type Flat = (
    VersionNo,
    Micros,
    Micros,
    DocHeader,
    Vec<(String, u32, u32, u32, NodeContent)>,
);

fn flat(t: &DocTree) -> Flat {
    let nodes = t
        .nodes()
        .iter()
        .map(|n| {
            (
                n.body.id.to_string(),
                n.parent,
                n.position,
                n.end,
                n.body.content.clone(),
            )
        })
        .collect();
    (
        t.version,
        t.created_at,
        t.commit_time,
        (*t.header).clone(),
        nodes,
    )
}

/// Every read of the tree equals the same read through the store at its version.
fn check_reads(shard: &Shard<MemStore>, t: &DocTree) {
    let view = DocView {
        store: &shard.store,
        doc: &t.doc_id,
        version: t.version,
        overlay: None,
    };
    let head = read_head(&shard.store, &t.doc_id).unwrap().unwrap();
    let mut doc = view.document(&head).unwrap();
    // `document` reports the head's creation time: the same for every version of one
    // incarnation, which is all a tree is ever made of.
    doc.created_at = t.created_at;
    assert_eq!(t.document(), doc);
    let mut ids: Vec<Option<String>> = vec![None, Some("missing".into())];
    ids.extend(t.nodes().iter().map(|n| Some(n.body.id.to_string())));
    for id in &ids {
        let id = id.as_deref();
        for text in [true, false] {
            assert_eq!(
                t.children_views(id, text).map_err(|e| e.to_string()),
                view.children(id, text).map_err(|e| e.to_string()),
                "children of {id:?}"
            );
            for depth in [0, 2] {
                assert_eq!(
                    t.subtree_views(id, depth, text).map_err(|e| e.to_string()),
                    view.subtree(id, depth, text).map_err(|e| e.to_string()),
                    "subtree of {id:?} depth {depth}"
                );
            }
            if let Some(id) = id {
                assert_eq!(
                    t.node_view(id, text).map_err(|e| e.to_string()),
                    view.node_view(id, text).map_err(|e| e.to_string()),
                    "node {id}"
                );
                assert_eq!(
                    t.ancestor_views(id, text).map_err(|e| e.to_string()),
                    view.ancestors(id, text).map_err(|e| e.to_string()),
                    "ancestors of {id}"
                );
            }
        }
    }
}

/// One random write to document `d` (or its deletion).
pub(crate) fn random_write(r: &mut Rng, shard: &Shard<MemStore>, next_id: &mut usize) -> Request {
    let doc_id = "d".to_string();
    let head = read_head(&shard.store, &doc_id)
        .unwrap()
        .filter(|h| !h.deleted);
    let ids: Vec<String> = match &head {
        Some(h) => DocView {
            store: &shard.store,
            doc: &doc_id,
            version: h.version,
            overlay: None,
        }
        .all_ids()
        .unwrap(),
        None => vec![],
    };
    let pick = |r: &mut Rng| ids[r.below(ids.len())].clone();
    // Now and then no committer (as versions of older builds have).
    let write = WriteOpts {
        committed_by: ["", "alice", "bob"][r.below(3)].to_string(),
        ..WriteOpts::default()
    };
    match (head.is_some(), ids.is_empty(), r.below(10)) {
        (false, _, _) | (true, _, 0) => Request::PutDocument {
            doc: DocumentInput {
                doc_id,
                name: format!("name {}", r.below(3)),
                roots: random_tree(r, next_id, 0),
                ..Default::default()
            },
            overwrite: true,
            write,
        },
        (true, _, 1) => Request::DeleteDocument {
            doc_id,
            expected_version: None,
        },
        (true, true, _) | (true, false, 2 | 3) => {
            *next_id += 1;
            let parent = (!ids.is_empty() && r.below(3) > 0).then(|| pick(r));
            Request::InsertNode {
                doc_id,
                parent,
                position: Some(0),
                node: NodeInput {
                    node_id: format!("n{next_id}"),
                    content: content(r),
                    children: random_tree(r, next_id, 2),
                },
                write,
            }
        }
        (true, false, 4..=6) => Request::UpdateNode {
            doc_id,
            node_id: pick(r),
            content: content(r),
            mask: FieldMask::ALL,
            write,
        },
        (true, false, 7 | 8) => Request::MoveNode {
            doc_id,
            node_id: pick(r),
            new_parent: (r.below(3) > 0).then(|| pick(r)),
            position: None,
            write,
        },
        (true, false, _) => Request::DeleteNode {
            doc_id,
            node_id: pick(r),
            write,
        },
    }
}

#[test]
fn derived_and_loaded_trees_agree_and_answer_like_the_store() {
    for seed in 1..=16u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut shard = Shard::new(0, MemStore::new(), ShardConfig::default(), 1);
        let cache = TreeCache::new(64 << 20);
        let mut staging = Staging::default();
        let mut next_id = 0;
        let mut lsn = 0;
        let mut versions: Vec<VersionNo> = vec![];
        for step in 0..60 {
            let req = random_write(&mut r, &shard, &mut next_id);
            let Ok(out) = shard.handle(req, 1_000 + step) else {
                continue; // refused (e.g. a move under its own subtree)
            };
            let Some(m) = out.mutation else { continue };
            lsn += 1;
            shard.apply(&m, lsn).unwrap();
            staging.applied(&cache, &m, lsn);
            staging.publish(&cache, lsn);
            let Some(head) = read_head(&shard.store, "d").unwrap().filter(|h| !h.deleted) else {
                assert!(
                    cache.peek_latest("d").is_none(),
                    "seed {seed}: a deleted doc is cached"
                );
                versions.clear();
                continue;
            };
            if matches!(m, Mutation::Commit(_)) {
                versions.push(head.version);
            }
            let loaded = load(&shard.store, "d", head.version, &head).unwrap();
            match cache.peek_latest("d") {
                Some(derived) => assert_eq!(flat(&derived), flat(&loaded), "seed {seed}"),
                // Nothing cached yet (new or re-created document): publish what a read loads.
                None => cache.publish_latest(Arc::new(
                    load(&shard.store, "d", head.version, &head).unwrap(),
                )),
            }
            check_reads(&shard, &loaded);
            if step % 4 == 0 {
                // An older version still reads as it did.
                let old = versions[r.below(versions.len())];
                check_reads(&shard, &load(&shard.store, "d", old, &head).unwrap());
            }
        }
    }
}

#[test]
fn the_cache_stays_within_its_budget_and_forgets_deleted_documents() {
    let mut shard = Shard::new(0, MemStore::new(), ShardConfig::default(), 1);
    let mut trees = vec![];
    for (i, doc_id) in ["a", "b", "c", "e"].into_iter().enumerate() {
        // The same five nodes in each: trees of one size.
        let roots = (0..5)
            .map(|n| NodeInput {
                node_id: format!("x{n}"),
                content: NodeContent {
                    title: "a title of some length".into(),
                    ..Default::default()
                },
                children: vec![],
            })
            .collect();
        let put = Request::PutDocument {
            doc: DocumentInput {
                doc_id: doc_id.into(),
                roots,
                ..Default::default()
            },
            overwrite: false,
            write: WriteOpts::default(),
        };
        let m = shard.handle(put, 10).unwrap().mutation.unwrap();
        shard.apply(&m, i as u64 + 1).unwrap();
        let head = read_head(&shard.store, doc_id).unwrap().unwrap();
        trees.push(Arc::new(load(&shard.store, doc_id, 1, &head).unwrap()));
    }
    let one = trees[0].bytes();
    assert!(trees.iter().all(|t| t.bytes() == one));
    // Room for about two documents: the least recently used ones go first.
    let cache = TreeCache::new(one * 2 + one / 2);
    cache.publish_latest(trees[0].clone());
    cache.publish_latest(trees[1].clone());
    assert!(cache.get("a", None).is_some());
    cache.publish_latest(trees[2].clone());
    cache.publish_latest(trees[3].clone());
    let s = cache.stats();
    assert!(s.bytes as usize <= one * 2 + one / 2, "{s:?}");
    assert!(s.evictions >= 1, "{s:?}");
    assert!(cache.peek_latest("e").is_some(), "the newest stays");
    assert!(
        cache.peek_latest("b").is_none(),
        "b was used least recently"
    );
    cache.remove("e");
    assert!(cache.peek_latest("e").is_none());
    assert_eq!(cache.get("zz", None).map(|t| t.version), None);
    assert_eq!(cache.stats().hits, 1, "the one read of a");
}
