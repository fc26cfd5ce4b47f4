//! Document RPCs: PutDocument, GetDocument, ListDocuments, DeleteDocument, ListVersions.

use super::{Caller, Service};
use crate::status::{invalid, to_status};
use crate::wire::{self, Reply};
use crate::{convert, encode, paging, pb};
use shards::engine::ShardRouter;
use shards::request::AfterImage;
use shards::{DocumentInput, ReadAt};
use tonic::Status;

impl<R: ShardRouter> Service<R> {
    pub(super) async fn do_put_document(
        &self,
        r: pb::PutDocumentRequest,
        principal: String,
    ) -> Result<pb::PutDocumentResponse, Status> {
        let node_count = convert::count_inputs(&r.roots);
        let mut write = self.write_opts(r.transaction_id, r.effective_time, r.message, principal);
        if r.commit_time.is_some() && write.txn.is_some() {
            return Err(invalid(
                "commit_time",
                "is for imports outside transactions (a transaction's commit time is its commit's)",
            ));
        }
        write.commit_time = r.commit_time;
        let in_txn = write.txn.clone();
        let input = DocumentInput {
            doc_id: r.doc_id,
            name: r.name,
            description: r.description,
            metadata: r.metadata.into_iter().collect(),
            roots: r.roots.into_iter().map(convert::node_input).collect(),
        };
        // Inside a transaction nothing is committed: describe the document as written.
        let pending = in_txn.is_some().then(|| pb::Document {
            doc_id: convert::public_id(input.doc_id.clone()),
            name: input.name.clone(),
            description: input.description.clone(),
            metadata: input.metadata.clone().into_iter().collect(),
            node_count,
            ..Default::default()
        });
        let (id, res) = self
            .engine
            .put_document(input, r.overwrite, write)
            .await
            .map_err(to_status)?;
        // One shard call: the write answers with the document it made.
        let document = match (res.after, pending) {
            (_, Some(p)) => p,
            (Some(AfterImage::Document(d)), None) => convert::document(d),
            (other, None) => {
                return Err(Status::internal(format!(
                    "document {id}: a put answered without the document: {other:?}"
                )))
            }
        };
        Ok(pb::PutDocumentResponse {
            document: Some(document),
            version: Some(convert::opt_version(res.version)),
        })
    }

    pub(super) async fn do_get_document(
        &self,
        r: pb::GetDocumentRequest,
    ) -> Result<wire::GetDocumentResponse, Status> {
        let (at, txn) = convert::read_sel(r.read_at, r.transaction_id)?;
        if let Some(tree) = self.engine.cached_tree(&r.doc_id, at, txn.as_deref()) {
            let shape = r.include_tree.then_some(encode::Shape {
                depth: 0,
                include_text: r.include_text,
            });
            let document = convert::document(tree.document());
            let bytes = encode::get_document(&tree, &document, shape);
            self.check_encoded_size(bytes.len())?;
            return Ok(Reply::Encoded(bytes));
        }
        let d = self
            .engine
            .get_document(&r.doc_id, at, txn.clone())
            .await
            .map_err(to_status)?;
        let roots = if r.include_tree {
            // The tree of exactly the version described (or of the transaction's view).
            let at = if txn.is_some() {
                ReadAt::Latest
            } else {
                ReadAt::Version(d.version)
            };
            let tree = self
                .engine
                .get_subtree(&r.doc_id, None, 0, r.include_text, at, txn)
                .await
                .map_err(to_status)?;
            convert::nodes(tree)
        } else {
            vec![]
        };
        let resp = pb::GetDocumentResponse {
            document: Some(convert::document(d)),
            roots,
        };
        self.check_size(&resp)?;
        Ok(resp.into())
    }

    pub(super) async fn do_list_documents(
        &self,
        r: pb::ListDocumentsRequest,
        caller: &Caller,
    ) -> Result<pb::ListDocumentsResponse, Status> {
        let after = paging::decode('L', &r.page_token)?;
        let max = self.limits.max_page_size;
        let size = paging::size(r.page_size, 100, max);
        let page = self
            .engine
            .list_documents(
                &caller.namespace,
                &r.id_prefix,
                r.metadata_filter.into_iter().collect(),
                after,
                size,
                max,
            )
            .await
            .map_err(to_status)?;
        Ok(pb::ListDocumentsResponse {
            documents: page.items.into_iter().map(convert::document).collect(),
            next_page_token: page
                .next
                .map(|c| paging::encode('L', &c))
                .unwrap_or_default(),
        })
    }

    pub(super) async fn do_delete_document(
        &self,
        r: pb::DeleteDocumentRequest,
    ) -> Result<pb::DeleteDocumentResponse, Status> {
        let res = self
            .engine
            .delete_document(&r.doc_id, r.expected_version)
            .await
            .map_err(to_status)?;
        Ok(pb::DeleteDocumentResponse {
            nodes_deleted: res.removed_nodes,
            versions_deleted: res.removed_versions,
        })
    }

    pub(super) async fn do_list_versions(
        &self,
        r: pb::ListVersionsRequest,
    ) -> Result<pb::ListVersionsResponse, Status> {
        let after = match paging::decode('V', &r.page_token)? {
            None => None,
            Some(s) => Some(
                s.parse::<u64>()
                    .map_err(|_| invalid("page_token", "malformed"))?,
            ),
        };
        let max = self.limits.max_page_size;
        let size = paging::size(r.page_size, 100, max);
        // Ask for one more to know whether another page follows (the shard clamps to `max`).
        let mut versions = self
            .engine
            .list_versions(&r.doc_id, after, size + 1)
            .await
            .map_err(to_status)?;
        let more = versions.len() > size || (size == max && versions.len() == size);
        versions.truncate(size);
        let next_page_token = match (more, versions.last()) {
            (true, Some(v)) => paging::encode('V', &v.version.to_string()),
            _ => String::new(),
        };
        Ok(pb::ListVersionsResponse {
            versions: versions.into_iter().map(convert::version).collect(),
            next_page_token,
        })
    }
}
