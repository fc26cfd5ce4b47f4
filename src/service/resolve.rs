//! Which version a read sees. Node reads answer with "the version read", which the engine's node
//! reads do not return: the version is resolved first and the read made at exactly that version,
//! so the two always agree.

use super::Service;
use crate::status::to_status;
use shards::engine::ShardRouter;
use shards::request::{Request, Response};
use shards::{Error, ReadAt, VersionNo};
use tonic::Status;

/// A read pinned to one version: the selector to pass to the engine, the transaction (if any)
/// and the version number to report.
pub(super) struct Pinned {
    pub at: ReadAt,
    pub txn: Option<String>,
    pub version: VersionNo,
}

impl<R: ShardRouter> Service<R> {
    /// The latest version of `doc`; NOT_FOUND when it does not exist.
    pub(super) async fn latest_version(&self, doc: &str) -> Result<VersionNo, Status> {
        self.limits.check_id("doc_id", doc).map_err(to_status)?;
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

    pub(super) async fn pin(
        &self,
        doc: &str,
        at: ReadAt,
        txn: Option<String>,
    ) -> Result<Pinned, Status> {
        if let Some(t) = txn {
            let d = self
                .engine
                .get_document(doc, ReadAt::Latest, Some(t.clone()))
                .await
                .map_err(to_status)?;
            return Ok(Pinned {
                at: ReadAt::Latest,
                txn: Some(t),
                version: d.version,
            });
        }
        let version = match at {
            ReadAt::Version(v) => v,
            ReadAt::Latest => self.latest_version(doc).await?,
            ReadAt::AsOf { time, axis } => {
                self.engine
                    .version_as_of(doc, time, axis)
                    .await
                    .map_err(to_status)?
                    .version
            }
        };
        Ok(Pinned {
            at: ReadAt::Version(version),
            txn: None,
            version,
        })
    }
}
