//! Cross-reference RPCs: AddCrossReference, RemoveCrossReference, GetCrossReferences.

use super::{required, Service};
use crate::status::{invalid, to_status};
use crate::{convert, paging, pb};
use shards::engine::ShardRouter;
use shards::{CrossReference, Direction, NodeView, ReadAt, XrefKey};
use std::collections::HashMap;
use tonic::Status;

const XREF_PAGE: usize = 1000;
const XREF_PAGE_MAX: usize = 10_000;
const MAX_KIND_BYTES: usize = 256;
const MAX_LABEL_BYTES: usize = 4096;

fn check_kind(kind: &str) -> Result<(), Status> {
    if kind.len() > MAX_KIND_BYTES {
        return Err(invalid(
            "kind",
            format!("is {} bytes; the limit is {MAX_KIND_BYTES}", kind.len()),
        ));
    }
    if kind.chars().any(char::is_control) {
        return Err(invalid("kind", "must not contain control characters"));
    }
    Ok(())
}

fn collect_ids(nodes: &[NodeView], out: &mut Vec<String>) {
    for n in nodes {
        out.push(n.node_id.clone());
        collect_ids(&n.children, out);
    }
}

impl<R: ShardRouter> Service<R> {
    pub(super) async fn do_add_xref(
        &self,
        r: pb::AddCrossReferenceRequest,
    ) -> Result<pb::AddCrossReferenceResponse, Status> {
        let x = required(r.reference, "reference")?;
        check_kind(&x.kind)?;
        if x.label.len() > MAX_LABEL_BYTES {
            return Err(to_status(shards::Error::ResourceExhausted(format!(
                "`label` is {} bytes; the limit is {MAX_LABEL_BYTES}",
                x.label.len()
            ))));
        }
        let key = XrefKey {
            from_doc: x.from_doc_id,
            from_node: x.from_node_id,
            kind: x.kind,
            to_doc: x.to_doc_id,
            to_node: x.to_node_id,
        };
        // The engine's add overwrites an existing link: refuse a duplicate here. (Two concurrent
        // adds of the same link may both succeed; the link then exists once.)
        if self.stored_link(&key).await?.is_some() {
            return Err(to_status(shards::Error::already_exists(
                "cross reference",
                format!(
                    "{}/{} -> {}/{} ({:?})",
                    key.from_doc, key.from_node, key.to_doc, key.to_node, key.kind
                ),
            )));
        }
        self.engine
            .add_xref(key.clone(), x.label.clone())
            .await
            .map_err(to_status)?;
        // The engine stamps created_at; read the stored link back for it.
        let created_at = self
            .stored_link(&key)
            .await?
            .map(|l| l.created_at)
            .unwrap_or_else(shards::engine::now_micros);
        Ok(pb::AddCrossReferenceResponse {
            reference: Some(convert::xref(CrossReference {
                key,
                label: x.label,
                created_at,
                hops: 1,
            })),
        })
    }

    /// The stored link with exactly this key, if any (NOT_FOUND when its source node is gone).
    async fn stored_link(&self, key: &XrefKey) -> Result<Option<CrossReference>, Status> {
        let links = self
            .engine
            .get_xrefs(
                &key.from_doc,
                &key.from_node,
                Direction::Outgoing,
                1,
                Some(key.kind.clone()),
            )
            .await
            .map_err(to_status)?;
        Ok(links.into_iter().find(|l| &l.key == key))
    }

    pub(super) async fn do_remove_xref(
        &self,
        r: pb::RemoveCrossReferenceRequest,
    ) -> Result<pb::RemoveCrossReferenceResponse, Status> {
        check_kind(&r.kind)?;
        let key = XrefKey {
            from_doc: r.from_doc_id,
            from_node: r.from_node_id,
            kind: r.kind,
            to_doc: r.to_doc_id,
            to_node: r.to_node_id,
        };
        // The engine's remove succeeds on a missing link: report NOT_FOUND here.
        if self.stored_link(&key).await?.is_none() {
            return Err(to_status(shards::Error::not_found(
                "cross reference",
                format!(
                    "{}/{} -> {}/{} ({:?})",
                    key.from_doc, key.from_node, key.to_doc, key.to_node, key.kind
                ),
            )));
        }
        self.engine.remove_xref(key).await.map_err(to_status)?;
        Ok(pb::RemoveCrossReferenceResponse {})
    }

    pub(super) async fn do_get_xrefs(
        &self,
        r: pb::GetCrossReferencesRequest,
    ) -> Result<pb::GetCrossReferencesResponse, Status> {
        if r.max_hops > self.limits.max_hops {
            return Err(invalid(
                "max_hops",
                format!("is {}; the maximum is {}", r.max_hops, self.limits.max_hops),
            ));
        }
        if let Some(k) = &r.kind {
            check_kind(k)?;
        }
        let direction = convert::direction(r.direction)?;
        let offset = paging::decode_offset('X', &r.page_token)?;
        let size = paging::size(r.page_size, XREF_PAGE, XREF_PAGE_MAX);
        // The start nodes; reading them checks that the document and node exist.
        let starts = if r.node_id.is_empty() {
            let tree = self
                .engine
                .get_subtree(&r.doc_id, None, 0, false, ReadAt::Latest, None)
                .await
                .map_err(to_status)?;
            let mut ids = vec![];
            collect_ids(&tree, &mut ids);
            ids
        } else {
            self.engine
                .get_node(&r.doc_id, &r.node_id, ReadAt::Latest, false, None)
                .await
                .map_err(to_status)?;
            vec![r.node_id.clone()]
        };
        let mut found: HashMap<XrefKey, CrossReference> = HashMap::new();
        for start in &starts {
            let refs = self
                .engine
                .get_xrefs(&r.doc_id, start, direction, r.max_hops, r.kind.clone())
                .await
                .map_err(to_status)?;
            for x in refs {
                match found.get(&x.key) {
                    Some(old) if old.hops <= x.hops => {}
                    _ => {
                        found.insert(x.key.clone(), x);
                    }
                }
            }
        }
        let mut all: Vec<CrossReference> = found.into_values().collect();
        all.sort_by(|a, b| {
            let k = |x: &CrossReference| {
                (
                    x.hops,
                    x.key.from_doc.clone(),
                    x.key.from_node.clone(),
                    x.key.to_doc.clone(),
                    x.key.to_node.clone(),
                    x.key.kind.clone(),
                )
            };
            k(a).cmp(&k(b))
        });
        let total = all.len();
        let end = offset.saturating_add(size).min(total);
        let references = all
            .into_iter()
            .skip(offset)
            .take(size)
            .map(|x| pb::CrossReferenceHit {
                hops: x.hops,
                reference: Some(convert::xref(x)),
            })
            .collect();
        Ok(pb::GetCrossReferencesResponse {
            references,
            next_page_token: if end < total {
                paging::encode('X', &end.to_string())
            } else {
                String::new()
            },
        })
    }
}
