//! Read-path benchmarks of the shard engine on RocksDB (2 shards, `LocalRouter` over the column
//! families): node lookup, subtrees of ~100 and ~1000 nodes with and without text, ancestors of a
//! deep node, and reads at version 1 against the latest version of a document with 1000 versions.
//! Each read is measured twice: `store` reads RocksDB (no tree cache: a cold document, or a
//! transaction's read), `cached` answers from the shards' published trees (a hot document), and
//! `load` times building a document's tree from the store (two range scans).
//!
//! The store holds 10k PageIndex-like documents (10-50 nodes each) plus one 10k-node document
//! (depth 6); it is built once per bench process in a temporary directory under
//! `$TREESTORE_BENCH_DIR` (default /var/cache/treestore/bench-tmp, so it lands on a real disk).
//!
//! `cargo bench -p treestore-shards --bench engine`

use criterion::{black_box, Criterion};
use futures_lite::future::block_on;
use shards::engine::Engine;
use shards::local::LocalRouter;
use shards::request::WriteOpts;
use shards::shard::ShardConfig;
use shards::store::{KvStore, RocksDb, RocksStore};
use shards::*;
use std::sync::Arc;
use std::time::Instant;

const SMALL_DOCS: usize = 10_000;
const BIG_NODES: usize = 10_000;
const BIG_VERSIONS: usize = 1_000;

const WORDS: &[&str] = &[
    "monetary",
    "policy",
    "federal",
    "reserve",
    "interest",
    "rates",
    "inflation",
    "employment",
    "balance",
    "sheet",
    "liquidity",
    "capital",
    "requirements",
    "stress",
    "tests",
    "supervision",
    "regulation",
    "banking",
    "system",
    "financial",
    "stability",
    "risk",
    "assessment",
    "market",
    "conditions",
    "treasury",
    "securities",
    "mortgage",
    "backed",
    "operations",
    "discount",
    "window",
    "reserves",
    "payment",
    "services",
    "consumer",
    "protection",
    "community",
    "development",
    "economic",
    "outlook",
    "growth",
    "labor",
    "productivity",
    "wages",
    "prices",
    "energy",
    "housing",
    "credit",
    "lending",
    "standards",
    "survey",
    "results",
    "committee",
    "meeting",
    "minutes",
    "projections",
    "board",
    "governors",
    "district",
    "banks",
    "audit",
    "income",
    "expenses",
    "earnings",
    "remittances",
    "accounting",
    "disclosure",
    "climate",
    "cybersecurity",
    "technology",
    "innovation",
    "research",
    "international",
    "exchange",
    "dollar",
    "foreign",
    "currency",
    "swap",
    "lines",
    "facility",
    "program",
    "emergency",
    "pandemic",
    "recovery",
    "review",
    "framework",
    "strategy",
    "communications",
    "transparency",
    "accountability",
    "appendix",
    "table",
    "figure",
    "chapter",
    "section",
    "overview",
    "summary",
];

/// splitmix64: a fixed, seedable generator (no dependency, same data on every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn words(&mut self, n: usize) -> String {
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[self.below(WORDS.len())]);
        }
        s
    }
    fn title(&mut self) -> String {
        let n = self.range(2, 6);
        let mut t = self.words(n);
        t[..1].make_ascii_uppercase();
        t
    }
}

fn content(rng: &mut Rng, page: i64) -> NodeContent {
    let (summary_words, text_words) = (rng.range(10, 25), rng.range(30, 70));
    NodeContent {
        title: rng.title(),
        summary: Some(format!("{}.", rng.words(summary_words))),
        text: Some(format!("{}.", rng.words(text_words))),
        start_page: Some(page),
        end_page: Some(page + rng.range(0, 3) as i64),
        ..Default::default()
    }
}

/// A PageIndex-like document of `target` nodes: sections, subsections, ... with ids "0000",
/// "0001", ... in pre-order. `fanout` gives the children range per depth.
fn document(
    rng: &mut Rng,
    doc_id: &str,
    target: usize,
    fanout: &[(usize, usize)],
) -> DocumentInput {
    let mut next = 0usize;
    fn grow(
        rng: &mut Rng,
        depth: usize,
        fanout: &[(usize, usize)],
        left: &mut usize,
        next: &mut usize,
    ) -> Vec<NodeInput> {
        let Some(&(lo, hi)) = fanout.get(depth) else {
            return vec![];
        };
        let mut out = vec![];
        for _ in 0..rng.range(lo, hi) {
            if *left == 0 {
                break;
            }
            *left -= 1;
            let id = format!("{:04}", *next);
            *next += 1;
            let c = content(rng, *next as i64);
            out.push(NodeInput {
                node_id: id,
                content: c,
                children: grow(rng, depth + 1, fanout, left, next),
            });
        }
        out
    }
    let mut left = target;
    let mut roots = vec![];
    while left > 0 {
        roots.extend(grow(rng, 0, fanout, &mut left, &mut next));
    }
    DocumentInput {
        doc_id: doc_id.into(),
        name: rng.title(),
        description: rng.words(12),
        metadata: [("year".to_string(), format!("{}", 2000 + rng.below(25)))].into(),
        roots,
    }
}

struct Dataset {
    engine: Engine<LocalRouter<RocksStore>>,
    /// The same column families, read without tree caches.
    uncached: Engine<LocalRouter<RocksStore>>,
    db: Arc<RocksDb>,
    _dir: tempfile::TempDir,
    small_ids: Vec<(String, Vec<String>)>,
    sub100: (String, usize),
    sub1000: (String, usize),
    deep: (String, usize),
    edited: String,
}

/// Size of each node's subtree and its depth, by walking the input.
fn measure(nodes: &[NodeInput], depth: usize, out: &mut Vec<(String, usize, usize)>) -> usize {
    let mut total = 0;
    for n in nodes {
        let i = out.len();
        out.push((n.node_id.clone(), 0, depth));
        let size = 1 + measure(&n.children, depth + 1, out);
        out[i].1 = size;
        total += size;
    }
    total
}

fn build() -> Dataset {
    let base = std::env::var("TREESTORE_BENCH_DIR")
        .unwrap_or_else(|_| "/var/cache/treestore/bench-tmp".into());
    std::fs::create_dir_all(&base).expect("bench dir");
    let dir = tempfile::tempdir_in(&base).expect("temp dir");
    let db = RocksDb::open(dir.path(), 2, 512 << 20).expect("open rocksdb");
    let stores = (0..2).map(|i| db.store(i).expect("cf")).collect();
    let engine = Engine::new(Arc::new(
        LocalRouter::new(stores, ShardConfig::default).expect("router"),
    ));
    let mut rng = Rng(42);
    let t = Instant::now();
    let mut small_ids = vec![];
    let mut small_nodes = 0;
    for i in 0..SMALL_DOCS {
        let n = rng.range(10, 50);
        let d = document(
            &mut rng,
            &format!("doc-{i:05}"),
            n,
            &[(3, 8), (1, 5), (0, 3)],
        );
        let mut ids = vec![];
        measure(&d.roots, 1, &mut ids);
        small_nodes += ids.len();
        small_ids.push((d.doc_id.clone(), ids.into_iter().map(|x| x.0).collect()));
        block_on(engine.put_document(d, true, WriteOpts::default())).expect("put");
    }
    eprintln!(
        "built {SMALL_DOCS} documents ({small_nodes} nodes) in {:.1?}",
        t.elapsed()
    );
    let t = Instant::now();
    let fanout = [(12, 12), (3, 5), (3, 5), (3, 5), (3, 4), (2, 3)];
    let big = document(&mut rng, "big", BIG_NODES, &fanout);
    let mut nodes = vec![];
    measure(&big.roots, 1, &mut nodes);
    let closest = |target: usize| {
        let n = nodes
            .iter()
            .min_by_key(|(_, s, _)| s.abs_diff(target))
            .expect("nodes");
        (n.0.clone(), n.1)
    };
    let (sub100, sub1000) = (closest(100), closest(1000));
    let deepest = nodes.iter().max_by_key(|(_, _, d)| *d).expect("nodes");
    let deep = (deepest.0.clone(), deepest.2);
    block_on(engine.put_document(big, true, WriteOpts::default())).expect("put big");
    // 1000 small edits: half on one node, half spread over the ~100-node subtree.
    let in_sub: Vec<String> = {
        let v1 = block_on(engine.get_subtree(
            "big",
            Some(sub100.0.clone()),
            0,
            false,
            ReadAt::Latest,
            None,
        ))
        .expect("subtree");
        let mut ids = vec![];
        let mut stack: Vec<&NodeView> = v1.iter().collect();
        while let Some(n) = stack.pop() {
            ids.push(n.node_id.clone());
            stack.extend(n.children.iter());
        }
        ids
    };
    let edited = in_sub[in_sub.len() / 2].clone();
    let mask = FieldMask {
        title: true,
        summary: true,
        ..Default::default()
    };
    for i in 1..BIG_VERSIONS {
        let id = if i % 2 == 0 {
            edited.clone()
        } else {
            in_sub[rng.below(in_sub.len())].clone()
        };
        let c = NodeContent {
            title: format!("{} (rev {i})", rng.title()),
            summary: Some(rng.words(15)),
            ..Default::default()
        };
        block_on(engine.update_node("big", &id, c, mask.clone(), WriteOpts::default()))
            .expect("edit");
    }
    let v = block_on(engine.get_document("big", ReadAt::Latest, None)).expect("doc");
    eprintln!(
        "built the {BIG_NODES}-node document with {} versions in {:.1?}; subtrees of {} and {} \
         nodes, deepest node at depth {}",
        v.version,
        t.elapsed(),
        sub100.1,
        sub1000.1,
        deep.1
    );
    for i in 0..2 {
        db.store(i).and_then(|s| s.flush()).expect("flush");
    }
    let stores = (0..2).map(|i| db.store(i).expect("cf")).collect();
    let uncached = Engine::new(Arc::new(
        LocalRouter::new(stores, ShardConfig::default)
            .expect("router")
            .with_tree_cache(0),
    ));
    Dataset {
        engine,
        uncached,
        db,
        _dir: dir,
        small_ids,
        sub100,
        sub1000,
        deep,
        edited,
    }
}

/// Builds the tree of "big" (latest version) from the store, as the cache does after a miss.
fn load_bench(c: &mut Criterion, ds: &Dataset) {
    let shard = ds.engine.shard_for("big");
    let store = ds.db.store(shard).expect("cf");
    let head = shards::view::read_head(&store, "big")
        .expect("head")
        .expect("big exists");
    c.bench_function(&format!("load/tree_of_{BIG_NODES}_nodes"), |b| {
        b.iter(|| black_box(shards::tree::load(&store, "big", head.version, &head).expect("load")))
    });
}

fn benches(c: &mut Criterion, ds: &Dataset) {
    load_bench(c, ds);
    for (path, e) in [("store", &ds.uncached), ("cached", &ds.engine)] {
        reads(c, ds, e, path);
    }
}

fn reads(c: &mut Criterion, ds: &Dataset, e: &Engine<LocalRouter<RocksStore>>, path: &str) {
    let mut rng = Rng(7);
    c.bench_function(&format!("node_lookup/random_small_doc/{path}"), |b| {
        b.iter(|| {
            let (d, ids) = &ds.small_ids[rng.below(ds.small_ids.len())];
            let n = &ids[rng.below(ids.len())];
            black_box(block_on(e.get_node(d, n, ReadAt::Latest, true, None)).expect("node"))
        })
    });
    c.bench_function(&format!("node_lookup/big_doc/{path}"), |b| {
        b.iter(|| {
            let n = format!("{:04}", rng.below(BIG_NODES));
            black_box(block_on(e.get_node("big", &n, ReadAt::Latest, true, None)).expect("node"))
        })
    });
    for (name, (root, size)) in [("subtree_100", &ds.sub100), ("subtree_1000", &ds.sub1000)] {
        for text in [false, true] {
            let label = format!(
                "{name}/{size}_nodes/{}/{path}",
                if text { "with_text" } else { "no_text" }
            );
            c.bench_function(&label, |b| {
                b.iter(|| {
                    let r = e.get_subtree("big", Some(root.clone()), 0, text, ReadAt::Latest, None);
                    black_box(block_on(r).expect("subtree"))
                })
            });
        }
    }
    c.bench_function(&format!("ancestors/depth_{}/{path}", ds.deep.1), |b| {
        b.iter(|| {
            let r = e.get_ancestors("big", &ds.deep.0, ReadAt::Latest, false, None);
            black_box(block_on(r).expect("ancestors"))
        })
    });
    let v1 = block_on(e.list_versions("big", None, 1)).expect("versions")[0].clone();
    let at = [
        ("v1", ReadAt::Version(1)),
        ("latest", ReadAt::Latest),
        (
            "as_of_commit_time_v1",
            ReadAt::AsOf {
                time: v1.commit_time,
                axis: TimeAxis::Commit,
            },
        ),
    ];
    for (label, at) in at {
        c.bench_function(&format!("as_of/node_edited_500x/{label}/{path}"), |b| {
            b.iter(|| {
                black_box(block_on(e.get_node("big", &ds.edited, at, true, None)).expect("n"))
            })
        });
        c.bench_function(
            &format!("as_of/subtree_{}/{label}/{path}", ds.sub100.1),
            |b| {
                b.iter(|| {
                    let r = e.get_subtree("big", Some(ds.sub100.0.clone()), 0, true, at, None);
                    black_box(block_on(r).expect("subtree"))
                })
            },
        );
    }
}

fn main() {
    let ds = build();
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &ds);
    c.final_summary();
}
