//! Workloads against an existing corpus (`--corpus targets.json`, written by
//! `benches/vs_postgres/corpus.py`): each request picks a random target of its workload from
//! the file, the same target sets the Python client and pgbench use.

use crate::conn::Channel;
use crate::Rng;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use tonic_health::pb::health_client::HealthClient;
use treestore::pb;
use treestore::pb::tree_store_client::TreeStoreClient;

/// Every corpus workload, in the order they run by default (writes last: they change the
/// data the reads see).
pub const WORKLOADS: &[&str] = &[
    "grpc_health",
    "health",
    "node",
    "children",
    "subtree_100",
    "subtree_1000",
    "subtree_10000",
    "ancestors",
    "node_as_of",
    "subtree_as_of",
    "search",
    "xref_2hop",
    "update",
];

/// The gRPC method a workload calls (the `method` label of the server's latency histogram).
pub fn method(workload: &str) -> Option<&'static str> {
    Some(match workload {
        "health" => "Health",
        "node" | "node_as_of" => "GetNode",
        "children" => "GetChildren",
        "subtree_100" | "subtree_1000" | "subtree_10000" | "subtree_as_of" => "GetSubtree",
        "ancestors" => "GetAncestors",
        "search" => "SearchNodes",
        "xref_2hop" => "GetCrossReferences",
        "update" => "UpdateNode",
        _ => return None,
    })
}

#[derive(Deserialize, Debug)]
pub struct Target {
    #[serde(default)]
    pub doc: String,
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub as_of: Option<i64>,
    #[serde(default)]
    pub query: Option<String>,
}

#[derive(Deserialize, Debug)]
pub struct Targets {
    pub workloads: HashMap<String, Vec<Target>>,
}

impl Targets {
    pub fn read(path: &Path) -> Result<Targets, crate::BoxErr> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let t: Targets = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a targets file: {e}", path.display()))?;
        Ok(t)
    }

    /// Checks that every workload to run has targets (the health ones need none).
    pub fn check(&self, workloads: &[String]) -> Result<(), crate::BoxErr> {
        for w in workloads {
            if !WORKLOADS.contains(&w.as_str()) {
                return Err(format!(
                    "unknown corpus workload {w:?} (known: {})",
                    WORKLOADS.join(",")
                )
                .into());
            }
            if !w.ends_with("health") && self.workloads.get(w).is_none_or(|t| t.is_empty()) {
                return Err(format!("the targets file has no targets for {w:?}").into());
            }
        }
        Ok(())
    }

    fn pick(&self, workload: &str, rng: &mut Rng) -> &Target {
        // check() guarantees a non-empty list for every workload that calls pick.
        let list = &self.workloads[workload];
        &list[(rng.next() % list.len() as u64) as usize]
    }
}

fn as_of(t: &Target) -> Option<pb::ReadAt> {
    t.as_of.map(|time| pb::ReadAt {
        at: Some(pb::read_at::At::AsOf(pb::AsOf {
            time,
            axis: pb::TimeAxis::Effective as i32,
        })),
    })
}

/// One request of a corpus workload (the same call the Python client makes for it).
pub async fn one(
    c: &mut TreeStoreClient<Channel>,
    health: &mut HealthClient<Channel>,
    targets: &Targets,
    workload: &str,
    rng: &mut Rng,
    client: usize,
    seq: u64,
) -> Result<(), tonic::Status> {
    match workload {
        "grpc_health" => {
            health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await?;
        }
        "health" => {
            c.health(pb::HealthRequest {}).await?;
        }
        "node" | "node_as_of" => {
            let t = targets.pick(workload, rng);
            c.get_node(pb::GetNodeRequest {
                doc_id: t.doc.clone(),
                node_id: t.node.clone(),
                read_at: as_of(t),
                ..Default::default()
            })
            .await?;
        }
        "children" => {
            let t = targets.pick(workload, rng);
            c.get_children(pb::GetChildrenRequest {
                doc_id: t.doc.clone(),
                node_id: t.node.clone(),
                ..Default::default()
            })
            .await?;
        }
        "subtree_100" | "subtree_1000" | "subtree_10000" | "subtree_as_of" => {
            let t = targets.pick(workload, rng);
            c.get_subtree(pb::GetSubtreeRequest {
                doc_id: t.doc.clone(),
                node_id: t.node.clone(),
                read_at: as_of(t),
                ..Default::default()
            })
            .await?;
        }
        "ancestors" => {
            let t = targets.pick(workload, rng);
            c.get_ancestors(pb::GetAncestorsRequest {
                doc_id: t.doc.clone(),
                node_id: t.node.clone(),
                ..Default::default()
            })
            .await?;
        }
        "search" => {
            let t = targets.pick(workload, rng);
            c.search_nodes(pb::SearchNodesRequest {
                query: t.query.clone().unwrap_or_default(),
                limit: 20,
                ..Default::default()
            })
            .await?;
        }
        "xref_2hop" => {
            let t = targets.pick(workload, rng);
            c.get_cross_references(pb::GetCrossReferencesRequest {
                doc_id: t.doc.clone(),
                node_id: t.node.clone(),
                max_hops: 2,
                ..Default::default()
            })
            .await?;
        }
        "update" => {
            let t = targets.pick(workload, rng);
            c.update_node(pb::UpdateNodeRequest {
                doc_id: t.doc.clone(),
                node_id: t.node.clone(),
                node: Some(pb::NodeInput {
                    title: format!("treestore-bench {client} {seq}"),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".into()],
                }),
                ..Default::default()
            })
            .await?;
        }
        other => {
            return Err(tonic::Status::invalid_argument(format!(
                "unknown corpus workload {other:?}"
            )))
        }
    }
    Ok(())
}
