//! The latest version of a document, for responses that report it without reading nodes.

use super::Service;
use crate::status::to_status;
use shards::engine::ShardRouter;
use shards::request::{Request, Response};
use shards::{Error, VersionNo};
use tonic::Status;

impl<R: ShardRouter> Service<R> {
    /// The latest version of `doc`; NOT_FOUND when it does not exist.
    pub(super) async fn latest_version(&self, doc: &str) -> Result<VersionNo, Status> {
        self.limits
            .check_qualified_id("doc_id", doc)
            .map_err(to_status)?;
        let shard = self.engine.shard_for(doc);
        let req = Request::DocVersions {
            doc_ids: vec![doc.to_string()],
        };
        match self.engine.router().call(shard, req).await {
            Ok(Response::DocVersions(v)) => match v.into_iter().next().flatten() {
                Some(v) => Ok(v),
                None => Err(to_status(Error::not_found("document", doc))),
            },
            Ok(other) => Err(to_status(Error::Internal(format!(
                "shard answered DocVersions with {other:?}"
            )))),
            Err(e) => Err(to_status(e)),
        }
    }
}
