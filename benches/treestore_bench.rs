//! `treestore-bench`: a load generator for a running TreeStore server over real gRPC.
//!
//! N concurrent clients (sharing a few HTTP/2 connections) run each workload for a set time and
//! it prints throughput and p50/p99/p99.9 latency from an HDR histogram per workload.
//!
//! Three modes:
//! * default: creates its own `--docs` documents and runs Health (the gRPC stack's own
//!   baseline), GetNode, GetSubtree, GetAncestors, as-of reads, durable writes (UpdateNode,
//!   acknowledged after the WAL fsync) and a mixed workload;
//! * `--corpus targets.json`: runs the workloads of `benches/vs_postgres` (see `corpus.rs`)
//!   against a corpus loaded before;
//! * `--load docs.jsonl [--load-xrefs xrefs.tsv]`: loads such a corpus and exits;
//!   `--prewarm docs.jsonl` reads all of it once and exits.
//!
//! `--watchers N` measures the change feed (see `watch.rs`).
//!
//! `--json FILE` writes the results as JSON; `--server-pid PID` adds the server's CPU time per
//! request, `--metrics-addr HOST:PORT` its own mean latency per request (from its metrics).
//! `--tls-ca CA.pem` connects with TLS, `--token T` sends a bearer token and `--namespace N`
//! works in a namespace (see `conn.rs`).
//!
//!     treestore serve --insecure-plaintext --data-dir /tmp/bench &
//!     treestore-bench --addr 127.0.0.1:50051 --clients 64 --seconds 10

use clap::Parser;
use conn::Channel;
use hdrhistogram::Histogram;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic_health::pb::health_client::HealthClient;
use treestore::pb;
use treestore::pb::tree_store_client::TreeStoreClient;

#[path = "treestore_bench/burst.rs"]
mod burst;
#[path = "treestore_bench/conn.rs"]
mod conn;
#[path = "treestore_bench/corpus.rs"]
mod corpus;
#[path = "treestore_bench/load.rs"]
mod load;
#[path = "treestore_bench/probe.rs"]
mod probe;
#[path = "treestore_bench/watch.rs"]
mod watch;

const SYNTHETIC_WORKLOADS: &str = "health,get_node,get_subtree,get_ancestors,as_of,write,mixed";

#[derive(Parser, Debug, Clone)]
#[command(name = "treestore-bench", about = "TreeStore gRPC load generator")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// Connect with TLS, trusting this CA (PEM).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// The name to verify the server's certificate against [default: the --addr host].
    #[arg(long, requires = "tls_ca")]
    tls_server_name: Option<String>,
    /// A bearer token sent with every request [default: $TREESTORE_TOKEN].
    #[arg(long)]
    token: Option<String>,
    /// The namespace every request works in (the `treestore-namespace` header) [default: the
    /// server's default namespace, no header].
    #[arg(long)]
    namespace: Option<String>,
    /// Concurrent clients (each runs one request at a time).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// HTTP/2 connections shared by the clients.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds per workload.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds each workload runs first without being measured (warms the server's caches).
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// Workloads to run, comma separated (default: all of the mode; synthetic:
    /// health,get_node,get_subtree,get_ancestors,as_of,write,mixed; corpus: grpc_health,
    /// health,node,children,subtree_100,subtree_1000,subtree_10000,ancestors,node_as_of,
    /// subtree_as_of,search,xref_2hop,update).
    #[arg(long, value_delimiter = ',')]
    workloads: Option<Vec<String>>,
    /// Documents the reads spread over (each the same tree), placed by hash on the shards.
    #[arg(long, default_value_t = 8)]
    docs: usize,
    /// Tokio worker threads of the load generator (default: cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Run the workloads of this targets file (benches/vs_postgres/corpus.py) against a
    /// corpus already loaded, instead of creating documents.
    #[arg(long, conflicts_with = "load")]
    corpus: Option<PathBuf>,
    /// Load this corpus (docs.jsonl of benches/vs_postgres/corpus.py) with --clients
    /// concurrent requests, then exit.
    #[arg(long)]
    load: Option<PathBuf>,
    /// Read every version of every document of this corpus file (docs.jsonl) once, with
    /// --clients concurrent requests, then exit (warms the server's caches).
    #[arg(long, conflicts_with_all = ["load", "corpus"])]
    prewarm: Option<PathBuf>,
    /// Send this many requests at once (of --workloads' first: get_subtree, get_node or
    /// write) on the synthetic documents, report their latency and statuses, then exit.
    #[arg(long, conflicts_with_all = ["load", "corpus", "prewarm"])]
    burst: Option<usize>,
    /// With --burst: the gRPC deadline of every request (none by default).
    #[arg(long, requires = "burst")]
    burst_deadline_ms: Option<u64>,
    /// Open this many Watch streams (all documents) while --clients writers send durable
    /// updates for --seconds; report write throughput and event delivery latency, then exit
    /// (0 = the same writes without watchers).
    #[arg(long, conflicts_with_all = ["load", "corpus", "prewarm", "burst"])]
    watchers: Option<usize>,
    /// With --load: also add these cross references (xrefs.tsv).
    #[arg(long, requires = "load")]
    load_xrefs: Option<PathBuf>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Report the CPU time (utime + stime, all threads) this server process spends per
    /// request of each workload; pin the load generator and the server apart for it.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The server's metrics address (e.g. 127.0.0.1:9090): report its own mean latency per
    /// request of each workload.
    #[arg(long)]
    metrics_addr: Option<String>,
}

pub(crate) type BoxErr = Box<dyn std::error::Error + Send + Sync>;

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
pub(crate) struct Rng(u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, v: &'a [String]) -> &'a str {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

async fn synthetic_one(
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

/// The gRPC method a synthetic workload calls (None: several).
fn synthetic_method(workload: &str) -> Option<&'static str> {
    Some(match workload {
        "health" => "Health",
        "get_node" | "as_of" => "GetNode",
        "get_subtree" => "GetSubtree",
        "get_ancestors" => "GetAncestors",
        "write" => "UpdateNode",
        _ => return None,
    })
}

/// What the clients run: the synthetic documents or a loaded corpus.
enum Plan {
    Synthetic(Tree),
    Corpus(corpus::Targets),
}

/// One client's connections: the TreeStore service and the standard gRPC Health service.
struct Clients {
    ts: TreeStoreClient<Channel>,
    health: HealthClient<Channel>,
}

impl Clients {
    fn new(channel: Channel) -> Clients {
        Clients {
            ts: TreeStoreClient::new(channel.clone())
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX),
            health: HealthClient::new(channel),
        }
    }
}

async fn one(
    c: &mut Clients,
    plan: &Plan,
    workload: &str,
    rng: &mut Rng,
    client: usize,
    seq: u64,
) -> Result<(), tonic::Status> {
    match plan {
        Plan::Synthetic(tree) => synthetic_one(&mut c.ts, workload, tree, rng, client, seq).await,
        Plan::Corpus(t) => {
            corpus::one(&mut c.ts, &mut c.health, t, workload, rng, client, seq).await
        }
    }
}

struct Outcome {
    ops: u64,
    errors: u64,
    first_error: Option<String>,
    hist: Histogram<u64>,
    elapsed: Duration,
}

async fn run_workload(
    channels: &[Channel],
    args: &Args,
    plan: &Arc<Plan>,
    workload: &str,
    seconds: u64,
) -> Result<Outcome, BoxErr> {
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut tasks = vec![];
    for i in 0..args.clients {
        let mut c = Clients::new(channels[i % channels.len()].clone());
        let plan = plan.clone();
        let workload = workload.to_string();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(7919));
            let (mut ops, mut errors, mut seq) = (0u64, 0u64, 0u64);
            let mut first_error = None;
            while Instant::now() < end {
                let t = Instant::now();
                seq += 1;
                match one(&mut c, &plan, &workload, &mut rng, i, seq).await {
                    Ok(()) => {
                        hist.saturating_record(t.elapsed().as_micros() as u64);
                        ops += 1;
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            Ok::<_, BoxErr>((ops, errors, first_error, hist))
        }));
    }
    let mut total = Outcome {
        ops: 0,
        errors: 0,
        first_error: None,
        hist: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (ops, errors, first_error, hist) = t.await??;
        total.ops += ops;
        total.errors += errors;
        if total.first_error.is_none() {
            total.first_error = first_error;
        }
        total.hist.add(&hist)?;
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

pub(crate) fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn main_async(args: Args) -> Result<(), BoxErr> {
    let channels = conn::connect(&args).await?;
    if let Some(docs) = &args.load {
        report(&format!(
            "treestore-bench: loading {} with {} clients",
            docs.display(),
            args.clients
        ));
        let summary = load::load(&channels, args.clients, docs, args.load_xrefs.as_ref()).await?;
        report(&format!("loaded: {summary}"));
        if let Some(path) = &args.json {
            std::fs::write(path, summary + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        }
        return Ok(());
    }
    if let Some(docs) = &args.prewarm {
        let summary = load::prewarm(&channels, args.clients, docs).await?;
        report(&format!("prewarmed: {summary}"));
        if let Some(path) = &args.json {
            std::fs::write(path, summary + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        }
        return Ok(());
    }
    if let Some(n) = args.burst {
        let workload = args
            .workloads
            .as_ref()
            .and_then(|w| w.first().cloned())
            .unwrap_or_else(|| "get_subtree".into());
        if !burst::WORKLOADS.split(',').any(|w| w == workload) {
            return Err(format!("--burst runs one of {}", burst::WORKLOADS).into());
        }
        let mut setup_client = TreeStoreClient::new(channels[0].clone());
        let tree = Arc::new(setup(&mut setup_client, args.docs, 0).await?);
        let deadline = args.burst_deadline_ms.map(Duration::from_millis);
        let line = burst::run(&channels, tree, &workload, n, deadline).await?;
        report(&line);
        return Ok(());
    }
    if let Some(n) = args.watchers {
        let mut setup_client = TreeStoreClient::new(channels[0].clone());
        let tree = Arc::new(setup(&mut setup_client, args.docs, 0).await?);
        let cpu = args.server_pid.map(probe::Cpu::new).transpose()?;
        let line = watch::run(&channels, tree, n, args.clients, args.seconds, cpu).await?;
        report(&line);
        return Ok(());
    }
    let (plan, workloads, what) = match &args.corpus {
        Some(path) => {
            let targets = corpus::Targets::read(path)?;
            let workloads = args
                .workloads
                .clone()
                .unwrap_or_else(|| corpus::WORKLOADS.iter().map(|w| w.to_string()).collect());
            targets.check(&workloads)?;
            (
                Plan::Corpus(targets),
                workloads,
                format!("corpus targets {}", path.display()),
            )
        }
        None => {
            let workloads = args
                .workloads
                .clone()
                .unwrap_or_else(|| SYNTHETIC_WORKLOADS.split(',').map(String::from).collect());
            if let Some(w) = workloads
                .iter()
                .find(|w| !SYNTHETIC_WORKLOADS.split(',').any(|k| k == w.as_str()))
            {
                return Err(format!(
                    "unknown workload {w:?}: without --corpus the workloads are {SYNTHETIC_WORKLOADS}"
                )
                .into());
            }
            let mut setup_client = TreeStoreClient::new(channels[0].clone());
            let tree = setup(&mut setup_client, args.docs, args.clients).await?;
            let what = format!(
                "reads over {} documents of {} nodes",
                tree.docs.len(),
                tree.all.len()
            );
            (Plan::Synthetic(tree), workloads, what)
        }
    };
    let plan = Arc::new(plan);
    let cpu = args.server_pid.map(probe::Cpu::new).transpose()?;
    report(&format!(
        "treestore-bench: {} clients over {} connections, {} s per workload, {what}",
        args.clients,
        channels.len(),
        args.seconds,
    ));
    report(&format!(
        "{:<14} {:>10} {:>8} {:>12} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "workload",
        "ops",
        "errors",
        "ops/s",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "srv cpu us",
        "srv mean us"
    ));
    let mut rates = std::collections::HashMap::new();
    let mut results = vec![];
    for w in &workloads {
        if args.warmup > 0 {
            run_workload(&channels, &args, &plan, w, args.warmup).await?;
        }
        let cpu0 = cpu.as_ref().map(|c| c.seconds()).transpose()?;
        let lat0 = args
            .metrics_addr
            .as_deref()
            .map(probe::scrape)
            .transpose()?;
        let o = run_workload(&channels, &args, &plan, w, args.seconds).await?;
        let cpu_us = match (&cpu, cpu0) {
            (Some(c), Some(c0)) if o.ops > 0 => Some((c.seconds()? - c0) * 1e6 / o.ops as f64),
            _ => None,
        };
        let method = match &*plan {
            Plan::Corpus(_) => corpus::method(w),
            Plan::Synthetic(_) => synthetic_method(w),
        };
        let server_us = match (&args.metrics_addr, lat0, method) {
            (Some(addr), Some(l0), Some(m)) => probe::mean_us(&l0, &probe::scrape(addr)?, m),
            _ => None,
        };
        let rate = o.ops as f64 / o.elapsed.as_secs_f64();
        rates.insert(w.clone(), rate);
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        report(&format!(
            "{:<14} {:>10} {:>8} {:>12.0} {:>10} {:>10} {:>10} {:>12} {:>12}",
            w,
            o.ops,
            o.errors,
            rate,
            o.hist.value_at_quantile(0.5),
            o.hist.value_at_quantile(0.99),
            o.hist.value_at_quantile(0.999),
            opt(cpu_us),
            opt(server_us),
        ));
        if let Some(e) = &o.first_error {
            report(&format!("  first error of {w}: {e}"));
        }
        results.push(serde_json::json!({
            "workload": w,
            "ops": o.ops,
            "errors": o.errors,
            "first_error": o.first_error,
            "seconds": o.elapsed.as_secs_f64(),
            "ops_per_s": rate,
            "mean_us": o.hist.mean(),
            "p50_us": o.hist.value_at_quantile(0.5),
            "p99_us": o.hist.value_at_quantile(0.99),
            "p999_us": o.hist.value_at_quantile(0.999),
            "server_cpu_us_per_op": cpu_us,
            "server_method": method,
            "server_mean_us": server_us,
        }));
    }
    for base in ["health", "grpc_health"] {
        for point in ["get_node", "node"] {
            if let (Some(h), Some(g)) = (rates.get(base), rates.get(point)) {
                report(&format!(
                    "{point} throughput = {:.1}% of the {base} baseline",
                    100.0 * g / h
                ));
            }
        }
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "tool": "treestore-bench",
            "addr": args.addr,
            "clients": args.clients,
            "connections": channels.len(),
            "seconds_per_workload": args.seconds,
            "warmup_seconds": args.warmup,
            "threads": args.threads,
            "server_pid": args.server_pid,
            "mode": if args.corpus.is_some() { "corpus" } else { "synthetic" },
            "results": results,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .map_err(|e| format!("{}: {e}", path.display()))?;
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
