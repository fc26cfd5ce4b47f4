//! `treestore-bench`: a load generator for a running TreeStore server over real gRPC.
//!
//! N concurrent clients (sharing a few HTTP/2 connections) run each workload for a set time:
//! Health (the gRPC stack's own baseline), GetNode, GetSubtree, GetAncestors, as-of reads,
//! durable writes (UpdateNode, acknowledged after the WAL fsync) and a mixed workload. For each
//! it prints throughput and p50/p99/p99.9 latency from an HDR histogram.
//!
//!     treestore serve --data-dir /tmp/bench &
//!     treestore-bench --addr 127.0.0.1:50051 --clients 64 --seconds 10

use clap::Parser;
use hdrhistogram::Histogram;
use std::io::Write;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use treestore::pb;
use treestore::pb::tree_store_client::TreeStoreClient;

#[derive(Parser, Debug, Clone)]
#[command(name = "treestore-bench", about = "TreeStore gRPC load generator")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// Concurrent clients (each runs one request at a time).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// HTTP/2 connections shared by the clients.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds per workload.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Workloads to run, comma separated.
    #[arg(
        long,
        default_value = "health,get_node,get_subtree,get_ancestors,as_of,write,mixed",
        value_delimiter = ','
    )]
    workloads: Vec<String>,
    /// Documents the reads spread over (each the same tree), placed by hash on the shards.
    #[arg(long, default_value_t = 8)]
    docs: usize,
    /// Tokio worker threads of the load generator (default: cores).
    #[arg(long)]
    threads: Option<usize>,
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

const ROOTS: usize = 10;
const CHILDREN: usize = 10;
const LEAVES: usize = 5;

/// The read documents (each the same tree) and their node ids, leaves last.
struct Tree {
    docs: Vec<String>,
    all: Vec<String>,
    leaves: Vec<String>,
    /// A time at which every read document has a version in force.
    as_of_time: i64,
}

fn node(id: String, children: Vec<pb::NodeInput>) -> pb::NodeInput {
    pb::NodeInput {
        title: format!("Section {id}"),
        summary: format!("Summary of section {id} with a few words"),
        text: format!("Body text of section {id}. ").repeat(8),
        start_page: Some(1),
        end_page: Some(2),
        node_id: id,
        children,
        ..Default::default()
    }
}

async fn setup(
    c: &mut TreeStoreClient<Channel>,
    docs: usize,
    clients: usize,
) -> Result<Tree, BoxErr> {
    let mut all = vec![];
    let mut leaves = vec![];
    let mut roots = vec![];
    for r in 0..ROOTS {
        let mut kids = vec![];
        for k in 0..CHILDREN {
            let mut ls = vec![];
            for l in 0..LEAVES {
                let id = format!("{r:02}.{k:02}.{l:02}");
                leaves.push(id.clone());
                ls.push(node(id, vec![]));
            }
            let id = format!("{r:02}.{k:02}");
            all.push(id.clone());
            kids.push(node(id, ls));
        }
        let id = format!("{r:02}");
        all.push(id.clone());
        roots.push(node(id, kids));
    }
    all.extend(leaves.iter().cloned());
    let docs: Vec<String> = (0..docs.max(1)).map(|i| format!("bench-doc-{i}")).collect();
    let mut as_of_time = 0;
    for doc in &docs {
        as_of_time = as_of_time.max(put_read_doc(c, doc, roots.clone()).await?);
    }
    for i in 0..clients {
        c.put_document(pb::PutDocumentRequest {
            doc_id: format!("bench-w-{i}"),
            roots: vec![node("w".into(), vec![])],
            overwrite: true,
            ..Default::default()
        })
        .await?;
    }
    Ok(Tree {
        docs,
        all,
        leaves,
        as_of_time,
    })
}

/// Puts one read document; returns the commit time of its version in force.
async fn put_read_doc(
    c: &mut TreeStoreClient<Channel>,
    doc: &str,
    roots: Vec<pb::NodeInput>,
) -> Result<i64, BoxErr> {
    let put = c
        .put_document(pb::PutDocumentRequest {
            doc_id: doc.into(),
            name: "bench".into(),
            roots,
            overwrite: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    // An unchanged document (a rerun on the same server) gets no new version: read the time of
    // the one in force now.
    let v = match put.version.filter(|v| v.version != 0) {
        Some(v) => v,
        None => c
            .get_version_as_of(pb::GetVersionAsOfRequest {
                doc_id: doc.into(),
                as_of: Some(pb::AsOf {
                    time: i64::MAX,
                    axis: pb::TimeAxis::Commit as i32,
                }),
            })
            .await?
            .into_inner()
            .version
            .unwrap_or_default(),
    };
    Ok(v.commit_time)
}

/// xorshift64*: deterministic per client, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, v: &'a [String]) -> &'a str {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

async fn one(
    c: &mut TreeStoreClient<Channel>,
    workload: &str,
    tree: &Tree,
    rng: &mut Rng,
    client: usize,
    seq: u64,
) -> Result<(), tonic::Status> {
    let kind = if workload == "mixed" {
        match rng.next() % 100 {
            0..=69 => "get_node",
            70..=79 => "get_subtree",
            80..=89 => "get_ancestors",
            90..=94 => "as_of",
            _ => "write",
        }
    } else {
        workload
    };
    match kind {
        "health" => {
            c.health(pb::HealthRequest {}).await?;
        }
        "get_node" => {
            c.get_node(pb::GetNodeRequest {
                doc_id: rng.pick(&tree.docs).into(),
                node_id: rng.pick(&tree.all).into(),
                ..Default::default()
            })
            .await?;
        }
        "get_subtree" => {
            c.get_subtree(pb::GetSubtreeRequest {
                doc_id: rng.pick(&tree.docs).into(),
                node_id: rng.pick(&tree.all[..ROOTS * (CHILDREN + 1)]).into(),
                max_depth: 2,
                ..Default::default()
            })
            .await?;
        }
        "get_ancestors" => {
            c.get_ancestors(pb::GetAncestorsRequest {
                doc_id: rng.pick(&tree.docs).into(),
                node_id: rng.pick(&tree.leaves).into(),
                include_self: true,
                ..Default::default()
            })
            .await?;
        }
        "as_of" => {
            c.get_node(pb::GetNodeRequest {
                doc_id: rng.pick(&tree.docs).into(),
                node_id: rng.pick(&tree.all).into(),
                read_at: Some(pb::ReadAt {
                    at: Some(pb::read_at::At::AsOf(pb::AsOf {
                        time: tree.as_of_time,
                        axis: pb::TimeAxis::Commit as i32,
                    })),
                }),
                ..Default::default()
            })
            .await?;
        }
        _ => {
            c.update_node(pb::UpdateNodeRequest {
                doc_id: format!("bench-w-{client}"),
                node_id: "w".into(),
                node: Some(pb::NodeInput {
                    title: format!("title {seq}"),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".into()],
                }),
                ..Default::default()
            })
            .await?;
        }
    }
    Ok(())
}

struct Outcome {
    ops: u64,
    errors: u64,
    hist: Histogram<u64>,
    elapsed: Duration,
}

async fn run_workload(
    channels: &[Channel],
    args: &Args,
    tree: &std::sync::Arc<Tree>,
    workload: &str,
) -> Result<Outcome, BoxErr> {
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut tasks = vec![];
    for i in 0..args.clients {
        let mut c = TreeStoreClient::new(channels[i % channels.len()].clone());
        let tree = tree.clone();
        let workload = workload.to_string();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(7919));
            let (mut ops, mut errors, mut seq) = (0u64, 0u64, 0u64);
            while Instant::now() < end {
                let t = Instant::now();
                seq += 1;
                match one(&mut c, &workload, &tree, &mut rng, i, seq).await {
                    Ok(()) => {
                        hist.saturating_record(t.elapsed().as_micros() as u64);
                        ops += 1;
                    }
                    Err(_) => errors += 1,
                }
            }
            Ok::<_, BoxErr>((ops, errors, hist))
        }));
    }
    let mut total = Outcome {
        ops: 0,
        errors: 0,
        hist: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (ops, errors, hist) = t.await??;
        total.ops += ops;
        total.errors += errors;
        total.hist.add(&hist)?;
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn main_async(args: Args) -> Result<(), BoxErr> {
    let url = format!("http://{}", args.addr);
    let mut channels = vec![];
    for _ in 0..args.connections.max(1) {
        channels.push(Channel::from_shared(url.clone())?.connect().await?);
    }
    let mut setup_client = TreeStoreClient::new(channels[0].clone());
    let tree = std::sync::Arc::new(setup(&mut setup_client, args.docs, args.clients).await?);
    report(&format!(
        "treestore-bench: {} clients over {} connections, {} s per workload, reads over {} documents of {} nodes",
        args.clients,
        channels.len(),
        args.seconds,
        tree.docs.len(),
        tree.all.len()
    ));
    report(&format!(
        "{:<14} {:>10} {:>8} {:>12} {:>10} {:>10} {:>10}",
        "workload", "ops", "errors", "ops/s", "p50 us", "p99 us", "p99.9 us"
    ));
    let mut rates = std::collections::HashMap::new();
    for w in &args.workloads {
        let o = run_workload(&channels, &args, &tree, w).await?;
        let rate = o.ops as f64 / o.elapsed.as_secs_f64();
        rates.insert(w.clone(), rate);
        report(&format!(
            "{:<14} {:>10} {:>8} {:>12.0} {:>10} {:>10} {:>10}",
            w,
            o.ops,
            o.errors,
            rate,
            o.hist.value_at_quantile(0.5),
            o.hist.value_at_quantile(0.99),
            o.hist.value_at_quantile(0.999)
        ));
    }
    if let (Some(h), Some(g)) = (rates.get("health"), rates.get("get_node")) {
        report(&format!(
            "GetNode throughput = {:.1}% of the Health baseline",
            100.0 * g / h
        ));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = args.threads {
        b.worker_threads(t);
    }
    let rt = match b.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "treestore-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(main_async(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "treestore-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
