//! Server-side cost of node-read responses: encoding a GetSubtreeResponse straight from a
//! cached tree (`treestore::encode`) against the path of a read that misses the cache (build
//! `NodeView`s, convert them to `pb::Node`s, prost-encode), for subtrees of about 100 and 1,000
//! nodes and a whole 10,000-node document (PageIndex-like: 4-word titles, 40-word summaries,
//! no text in the response). Reports time per response; divide by the node count for per node.
//!
//! `cargo bench --bench encode`

use criterion::{black_box, Criterion};
use prost::Message;
use shards::request::{Request, WriteOpts};
use shards::shard::{Shard, ShardConfig};
use shards::store::MemStore;
use shards::tree::DocTree;
use shards::{DocumentInput, NodeContent, NodeInput};
use treestore::{convert, encode, pb};

const WORDS: &[&str] = &[
    "policy",
    "capital",
    "reserve",
    "market",
    "liquidity",
    "rates",
    "review",
    "risk",
    "stress",
    "board",
    "credit",
    "supervision",
    "banking",
    "stability",
    "outlook",
    "inflation",
];

fn words(seed: &mut u64, n: usize) -> String {
    (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            WORDS[(*seed >> 33) as usize % WORDS.len()]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// 10 chapters of 10 sections of 10 subsections of 10 paragraphs: 11,110 nodes.
fn document() -> DocTree {
    fn level(prefix: &str, depth: usize, seed: &mut u64) -> Vec<NodeInput> {
        if depth == 4 {
            return vec![];
        }
        (0..10)
            .map(|i| {
                let id = format!("{prefix}{i}");
                NodeInput {
                    node_id: id.clone(),
                    content: NodeContent {
                        title: words(seed, 4),
                        summary: Some(words(seed, 40)),
                        start_page: Some(i as i64),
                        end_page: Some(i as i64 + 2),
                        ..Default::default()
                    },
                    children: level(&format!("{id}."), depth + 1, seed),
                }
            })
            .collect()
    }
    let mut seed = 7;
    let doc = DocumentInput {
        doc_id: "big".into(),
        roots: level("n", 0, &mut seed),
        ..Default::default()
    };
    let mut shard = Shard::new(0, MemStore::new(), ShardConfig::default(), 1);
    let put = Request::PutDocument {
        doc,
        overwrite: false,
        write: WriteOpts::default(),
    };
    let m = shard
        .handle(put, 1)
        .expect("put")
        .mutation
        .expect("a commit");
    shard.apply(&m, 1).expect("apply");
    let head = shards::view::read_head(&shard.store, "big")
        .expect("head")
        .expect("exists");
    shards::tree::load(&shard.store, "big", head.version, &head).expect("load")
}

fn main() {
    let tree = document();
    let mut c = Criterion::default().configure_from_args();
    // n0.0 has 111 nodes, n0 1,111, and the whole document 11,110.
    for (label, root) in [
        ("subtree_111", Some("n0.0")),
        ("subtree_1111", Some("n0")),
        ("document_11110", None),
    ] {
        let roots: Vec<u32> = match root {
            Some(id) => vec![tree.find(id).expect("root")],
            None => tree.children(None).collect(),
        };
        let shape = encode::Shape {
            depth: 0,
            include_text: false,
        };
        c.bench_function(&format!("{label}/encoded_from_tree"), |b| {
            b.iter(|| {
                let bytes = encode::NodesReply::new(&tree, roots.clone(), shape)
                    .finish(|buf| encode::put_version(buf, 2, tree.version));
                black_box(bytes)
            })
        });
        c.bench_function(&format!("{label}/views_then_prost"), |b| {
            b.iter(|| {
                let views = tree.subtree_views(root, 0, false).expect("views");
                let resp = pb::GetSubtreeResponse {
                    roots: convert::nodes(views),
                    version: tree.version,
                };
                black_box(resp.encode_to_vec())
            })
        });
    }
    c.final_summary();
}
