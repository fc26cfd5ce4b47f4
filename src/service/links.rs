//! Cross-reference RPCs: AddCrossReference, RemoveCrossReference, GetCrossReferences.

use super::{required, Caller, Service};
use crate::status::{invalid, to_status};
use crate::{convert, paging, pb};
use shards::engine::ShardRouter;
use shards::{CrossReference, ReadAt, XrefKey};
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
        // ALREADY_EXISTS for a duplicate, NOT_FOUND for a missing node: checked by the engine.
        let created_at = self
            .engine
            .add_xref(key.clone(), x.label.clone())
            .await
            .map_err(to_status)?;
        Ok(pb::AddCrossReferenceResponse {
            reference: Some(convert::xref(CrossReference {
                key,
                label: x.label,
                created_at,
                hops: 1,
            })),
        })
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
        // NOT_FOUND when the link does not exist: checked by the engine.
        self.engine.remove_xref(key).await.map_err(to_status)?;
        Ok(pb::RemoveCrossReferenceResponse {})
    }

    pub(super) async fn do_get_xrefs(
        &self,
        r: pb::GetCrossReferencesRequest,
        caller: &Caller,
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
        self.check_read_ids(
            &r.doc_id,
            Some(r.node_id.as_str()).filter(|n| !n.is_empty()),
        )?;
        let direction = convert::direction(r.direction)?;
        let offset = paging::decode_offset('X', &r.page_token)?;
        let size = paging::size(r.page_size, XREF_PAGE, XREF_PAGE_MAX);
        // The start: one node, or every node of the document; reading it checks that it exists.
        let start = if r.node_id.is_empty() {
            self.engine
                .get_document(&r.doc_id, ReadAt::Latest, None)
                .await
                .map_err(to_status)?;
            (r.doc_id.clone(), None)
        } else {
            self.engine
                .get_node(&r.doc_id, &r.node_id, ReadAt::Latest, false, None)
                .await
                .map_err(to_status)?;
            (r.doc_id.clone(), Some(r.node_id.clone()))
        };
        let found = self
            .engine
            .get_xrefs_from(start, direction, r.max_hops, r.kind.clone(), &|d| {
                caller.may_see(d)
            })
            .await
            .map_err(to_status)?;
        let mut all = found;
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
