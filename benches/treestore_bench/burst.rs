//! `--burst N`: N requests sent at once over `--connections` HTTP/2 connections (the overload
//! acceptance test's shape), each timed from its send to its answer; prints the latency
//! (p50, p99, max) and the count of each status. `--burst-deadline-ms` gives every request that
//! gRPC deadline (grpc-timeout); without it they carry none.

use super::{BoxErr, Tree};
use crate::conn::Channel;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use treestore::pb;
use treestore::pb::tree_store_client::TreeStoreClient;

/// The request kinds a burst sends: `get_subtree` (a whole document: 561 nodes, read on the
/// shard's blocking pool when not cached), `get_node`, `write` (UpdateNode, durable).
pub const WORKLOADS: &str = "get_subtree,get_node,write";

async fn one(
    mut c: TreeStoreClient<Channel>,
    workload: &str,
    tree: &Tree,
    i: usize,
    deadline: Option<Duration>,
) -> Result<(), tonic::Status> {
    let doc = tree.docs[i % tree.docs.len()].clone();
    fn with<T>(m: T, deadline: Option<Duration>) -> tonic::Request<T> {
        let mut r = tonic::Request::new(m);
        if let Some(d) = deadline {
            r.set_timeout(d);
        }
        r
    }
    match workload {
        "get_subtree" => {
            c.get_subtree(with(
                pb::GetSubtreeRequest {
                    doc_id: doc,
                    include_text: true,
                    ..Default::default()
                },
                deadline,
            ))
            .await?;
        }
        "get_node" => {
            c.get_node(with(
                pb::GetNodeRequest {
                    doc_id: doc,
                    node_id: tree.all[i % tree.all.len()].clone(),
                    ..Default::default()
                },
                deadline,
            ))
            .await?;
        }
        _ => {
            c.update_node(with(
                pb::UpdateNodeRequest {
                    doc_id: doc,
                    node_id: tree.all[i % tree.all.len()].clone(),
                    node: Some(pb::NodeInput {
                        title: format!("burst {i}"),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["title".into()],
                    }),
                    ..Default::default()
                },
                deadline,
            ))
            .await?;
        }
    }
    Ok(())
}

/// Sends `n` requests of `workload` at once; returns the report line.
pub async fn run(
    channels: &[Channel],
    tree: std::sync::Arc<Tree>,
    workload: &str,
    n: usize,
    deadline: Option<Duration>,
) -> Result<String, BoxErr> {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let c = TreeStoreClient::new(channels[i % channels.len()].clone())
            .max_decoding_message_size(usize::MAX);
        let tree = tree.clone();
        let workload = workload.to_string();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = one(c, &workload, &tree, i, deadline).await;
            (t.elapsed(), r.err().map(|s| s.code()))
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        let (elapsed, code) = t.await?;
        hist.saturating_record(elapsed.as_micros() as u64);
        let name = code.map_or_else(|| "OK".to_string(), |c| format!("{c:?}"));
        *codes.entry(name).or_default() += 1;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(format!(
        "burst of {n} {workload} over {} connections (deadline {}): all answered in {:.2} s; \
         latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {}",
        channels.len(),
        deadline.map_or_else(|| "none".to_string(), |d| format!("{d:?}")),
        start.elapsed().as_secs_f64(),
        ms(hist.value_at_quantile(0.5)),
        ms(hist.value_at_quantile(0.99)),
        ms(hist.max()),
        codes
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
