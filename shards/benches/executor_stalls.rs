//! How long large requests hold up point reads on the same shard (`cargo bench -p
//! treestore-shards --bench executor_stalls`). A 10k-node document is put (created, then
//! replaced) and read whole while another thread reads one node of a small document on the same
//! shard in a loop; it prints each large request's time and the slowest point read meanwhile.

use futures_lite::future::block_on;
use shards::engine::Engine;
use shards::request::WriteOpts;
use shards::runtime::{Runtime, RuntimeConfig};
use shards::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn tree(nodes: usize) -> Vec<NodeInput> {
    (0..nodes / 10)
        .map(|i| NodeInput {
            node_id: format!("{i:05}"),
            content: NodeContent {
                title: format!("section {i} of the policy"),
                summary: Some("a summary of a few words ".repeat(3)),
                text: Some("body text ".repeat(50)),
                ..Default::default()
            },
            children: (0..9)
                .map(|j| NodeInput {
                    node_id: format!("{i:05}-{j}"),
                    content: NodeContent {
                        title: format!("clause {j}"),
                        text: Some("clause text ".repeat(40)),
                        ..Default::default()
                    },
                    children: vec![],
                })
                .collect(),
        })
        .collect()
}

fn doc(id: &str, name: &str, nodes: usize) -> DocumentInput {
    DocumentInput {
        doc_id: id.into(),
        name: name.into(),
        roots: tree(nodes),
        ..Default::default()
    }
}

/// Runs `large` while another thread reads a node of `small` in a loop; returns the time of
/// `large`, the slowest point read meanwhile and how many point reads completed.
fn while_probing<T>(
    e: &Arc<Engine<Runtime>>,
    large: impl FnOnce() -> T,
) -> (Duration, Duration, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let (probe_engine, probe_stop) = (e.clone(), stop.clone());
    let prober = std::thread::spawn(move || {
        let (mut worst, mut reads) = (Duration::ZERO, 0u64);
        while !probe_stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            block_on(probe_engine.get_node("small", "00000", ReadAt::Latest, true, None))
                .expect("point read");
            worst = worst.max(t.elapsed());
            reads += 1;
        }
        (worst, reads)
    });
    std::thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    large();
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (worst, reads) = prober.join().expect("prober");
    (took, worst, reads)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = Runtime::start(RuntimeConfig {
        data_dir: dir.path().into(),
        shards: Some(1),
        executors: Some(1),
        pin_cores: false,
        ..Default::default()
    })
    .expect("runtime");
    while !rt.all_serving() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let e = Arc::new(Engine::new(rt.clone()));
    block_on(e.put_document(doc("small", "small", 10), false, WriteOpts::default()))
        .expect("small put");
    println!(
        "{:<34} {:>10} {:>18} {:>12}",
        "large request", "ms", "worst GetNode ms", "GetNodes"
    );
    for round in 0..3 {
        let label = if round == 0 {
            "put 10k nodes (create)"
        } else {
            "put 10k nodes (replace)"
        };
        let (took, worst, reads) = while_probing(&e, || {
            block_on(e.put_document(
                doc("big", &format!("v{round}"), 10_000),
                true,
                WriteOpts::default(),
            ))
            .expect("large put")
        });
        report(label, took, worst, reads);
        let (took, worst, reads) = while_probing(&e, || {
            block_on(e.get_subtree("big", None, 0, true, ReadAt::Latest, None)).expect("subtree")
        });
        report("subtree of 10k nodes, with text", took, worst, reads);
    }
    rt.shutdown().expect("shutdown");
}

fn report(label: &str, took: Duration, worst: Duration, reads: u64) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{label:<34} {:>10.1} {:>18.2} {reads:>12}",
        ms(took),
        ms(worst)
    );
}
