//! The `treestore.v1.TreeStore` service: one thin handler per RPC (grouped by family in the
//! submodules) run through `Service::run`, which applies the client's deadline, records metrics
//! and logs one line per request.

mod documents;
mod links;
mod nodes;
mod ops;
mod resolve;
mod search;
mod tenancy;
mod watch;

pub use tenancy::Caller;
use tenancy::Qualify;

use crate::convert;
use crate::grpc_errors::Arrival;
use crate::logging;
use crate::metrics::Metrics;
use crate::pb;
use crate::pb::server::tree_store_server::TreeStore;
use crate::status::{invalid, to_status};
use crate::wire;
use prost::Message;
use shards::engine::{Engine, ShardRouter};
use shards::request::WriteOpts;
use shards::Limits;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::{Code, Request, Response, Status};

/// Longest document id put into a log line (ids are validated later; garbage may be long).
const LOG_ID_BYTES: usize = 300;

pub struct Service<R: ShardRouter> {
    engine: Arc<Engine<R>>,
    limits: Limits,
    metrics: Arc<Metrics>,
    started: Instant,
    max_message_bytes: usize,
    default_txn_timeout_ms: u64,
    /// Turns true when the server shuts down: open watches end then.
    stop: tokio::sync::watch::Receiver<bool>,
}

impl<R: ShardRouter> Service<R> {
    pub fn new(
        engine: Arc<Engine<R>>,
        limits: Limits,
        metrics: Arc<Metrics>,
        max_message_bytes: usize,
        default_txn_timeout_ms: u64,
    ) -> Self {
        Service {
            engine,
            limits,
            metrics,
            started: Instant::now(),
            max_message_bytes,
            default_txn_timeout_ms,
            stop: tokio::sync::watch::channel(false).1,
        }
    }

    /// Watches end (UNAVAILABLE, "shutting down") when `stop` turns true.
    pub fn stopping_on(mut self, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        self.stop = stop;
        self
    }

    /// Runs one request: honours the client deadline (DEADLINE_EXCEEDED), records metrics and
    /// logs the request line. `doc` is the (qualified) document the request names, or "".
    async fn run<T>(
        &self,
        method: &'static str,
        caller: &Caller,
        doc: &str,
        deadline: Option<(Duration, Instant)>,
        fut: impl Future<Output = Result<T, Status>>,
    ) -> Result<Response<T>, Status> {
        let start = Instant::now();
        let expired = |d: Duration| {
            Err(Status::deadline_exceeded(format!(
                "{method}: the client deadline ({d:?}) expired"
            )))
        };
        // Every shard call the handler makes sees the client's deadline (shard admission).
        let fut = shards::runtime::with_deadline(deadline.map(|(_, at)| at), fut);
        let out = match deadline {
            Some((d, _)) if d.is_zero() => expired(d),
            Some((d, at)) => tokio::time::timeout_at(at.into(), fut)
                .await
                .unwrap_or_else(|_| expired(d)),
            None => fut.await,
        };
        let elapsed = start.elapsed();
        let code = match &out {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        };
        let shard = (!doc.is_empty()).then(|| self.engine.shard_for(doc));
        let doc = shards::namespace::public(doc);
        let mut end = doc.len().min(LOG_ID_BYTES);
        while !doc.is_char_boundary(end) {
            end -= 1;
        }
        self.metrics.observe(method, code, elapsed);
        logging::request(&logging::RequestLine {
            method,
            principal: &caller.principal.name,
            namespace: caller.namespace.name(),
            doc: &doc[..end],
            shard,
            code,
            latency: elapsed,
        });
        out.map(Response::new)
    }

    /// The options of a write made by the principal named `committed_by`.
    fn write_opts(
        &self,
        txn: String,
        effective_time: Option<i64>,
        message: String,
        committed_by: String,
    ) -> WriteOpts {
        WriteOpts {
            txn: convert::opt_str(txn),
            effective_time,
            message,
            commit_time: None,
            committed_by,
        }
    }

    /// The ids a read names, checked as the writes check them: an id no write could have stored
    /// (empty, too long, a control character) is INVALID_ARGUMENT naming the field, never
    /// NOT_FOUND. `node_id` None: the read names no node (an empty optional node_id means the
    /// document's top level).
    fn check_read_ids(&self, doc_id: &str, node_id: Option<&str>) -> Result<(), Status> {
        self.limits
            .check_qualified_id("doc_id", doc_id)
            .map_err(crate::status::to_status)?;
        match node_id {
            Some(n) => self
                .limits
                .check_id("node_id", n)
                .map_err(crate::status::to_status),
            None => Ok(()),
        }
    }

    /// RESOURCE_EXHAUSTED when a response would exceed the message size limit.
    fn check_size<M: Message>(&self, resp: &M) -> Result<(), Status> {
        self.check_encoded_size(resp.encoded_len())
    }

    /// RESOURCE_EXHAUSTED when a response of `len` bytes exceeds the message size limit.
    fn check_encoded_size(&self, len: usize) -> Result<(), Status> {
        if len > self.max_message_bytes {
            return Err(to_status(shards::Error::ResourceExhausted(format!(
                "the response is {len} bytes; the message size limit is {}: use max_depth or \
                 include_text = false",
                self.max_message_bytes
            ))));
        }
        Ok(())
    }
}

fn required<T>(v: Option<T>, field: &str) -> Result<T, Status> {
    v.ok_or_else(|| invalid(field, "is required"))
}

/// The client's deadline: the `grpc-timeout` header ("<digits><unit>", unit one of H M S m u n)
/// and when it ends, counted from the request's arrival (see `grpc_errors::Arrival`).
pub fn deadline_of<T>(req: &Request<T>) -> Option<(Duration, Instant)> {
    let v = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    let timeout = parse_timeout(v)?;
    let arrival = req
        .extensions()
        .get::<Arrival>()
        .map_or_else(Instant::now, |a| a.0);
    Some((timeout, arrival.checked_add(timeout)?))
}

pub fn parse_timeout(v: &str) -> Option<Duration> {
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// One RPC: deadline, caller, the request's names put into the caller's namespace (one body
/// for every form: a request is never handled unqualified), the document for the log line, the
/// handler. A call ending in `, caller` gives the handler the caller too; one ending in
/// `, by principal` gives a write's handler the name of the principal making it, which its
/// version records.
macro_rules! rpc {
    ($self:ident, $name:literal, $req:ident, |$r:ident| $doc:expr, $handler:ident) => {
        rpc!(@run $self, $name, $req, |$r, caller| $doc, $self.$handler($r))
    };
    ($self:ident, $name:literal, $req:ident, |$r:ident| $doc:expr, $handler:ident, caller) => {
        rpc!(@run $self, $name, $req, |$r, caller| $doc, $self.$handler($r, &caller))
    };
    ($self:ident, $name:literal, $req:ident, |$r:ident| $doc:expr, $handler:ident, by principal) => {
        rpc!(@run $self, $name, $req, |$r, caller| $doc, $self.$handler($r, caller.committer()))
    };
    (@run $self:ident, $name:literal, $req:ident, |$r:ident, $caller:ident| $doc:expr, $call:expr) => {{
        let deadline = deadline_of(&$req);
        let $caller = Caller::of(&$req);
        let mut $r = $req.into_inner();
        let qualified = Qualify::qualify(&mut $r, &$caller);
        let doc: String = $doc;
        let handled = async {
            qualified?;
            $call.await
        };
        $self.run($name, &$caller, &doc, deadline, handled).await
    }};
}

type Res<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl<R: ShardRouter> TreeStore for Service<R> {
    async fn put_document(
        &self,
        q: Request<pb::PutDocumentRequest>,
    ) -> Res<pb::PutDocumentResponse> {
        rpc!(
            self,
            "PutDocument",
            q,
            |r| r.doc_id.clone(),
            do_put_document,
            by principal
        )
    }
    async fn get_document(
        &self,
        q: Request<pb::GetDocumentRequest>,
    ) -> Res<wire::GetDocumentResponse> {
        rpc!(
            self,
            "GetDocument",
            q,
            |r| r.doc_id.clone(),
            do_get_document
        )
    }
    async fn list_documents(
        &self,
        q: Request<pb::ListDocumentsRequest>,
    ) -> Res<pb::ListDocumentsResponse> {
        rpc!(
            self,
            "ListDocuments",
            q,
            |r| String::new(),
            do_list_documents,
            caller
        )
    }
    async fn delete_document(
        &self,
        q: Request<pb::DeleteDocumentRequest>,
    ) -> Res<pb::DeleteDocumentResponse> {
        rpc!(
            self,
            "DeleteDocument",
            q,
            |r| r.doc_id.clone(),
            do_delete_document
        )
    }
    async fn list_versions(
        &self,
        q: Request<pb::ListVersionsRequest>,
    ) -> Res<pb::ListVersionsResponse> {
        rpc!(
            self,
            "ListVersions",
            q,
            |r| r.doc_id.clone(),
            do_list_versions
        )
    }
    async fn get_node(&self, q: Request<pb::GetNodeRequest>) -> Res<wire::GetNodeResponse> {
        rpc!(self, "GetNode", q, |r| r.doc_id.clone(), do_get_node)
    }
    async fn get_subtree(
        &self,
        q: Request<pb::GetSubtreeRequest>,
    ) -> Res<wire::GetSubtreeResponse> {
        rpc!(self, "GetSubtree", q, |r| r.doc_id.clone(), do_get_subtree)
    }
    async fn get_children(
        &self,
        q: Request<pb::GetChildrenRequest>,
    ) -> Res<wire::GetChildrenResponse> {
        rpc!(
            self,
            "GetChildren",
            q,
            |r| r.doc_id.clone(),
            do_get_children
        )
    }
    async fn get_ancestors(
        &self,
        q: Request<pb::GetAncestorsRequest>,
    ) -> Res<wire::GetAncestorsResponse> {
        rpc!(
            self,
            "GetAncestors",
            q,
            |r| r.doc_id.clone(),
            do_get_ancestors
        )
    }
    async fn insert_node(&self, q: Request<pb::InsertNodeRequest>) -> Res<pb::InsertNodeResponse> {
        rpc!(
            self,
            "InsertNode",
            q,
            |r| r.doc_id.clone(),
            do_insert_node,
            by principal
        )
    }
    async fn update_node(&self, q: Request<pb::UpdateNodeRequest>) -> Res<pb::UpdateNodeResponse> {
        rpc!(
            self,
            "UpdateNode",
            q,
            |r| r.doc_id.clone(),
            do_update_node,
            by principal
        )
    }
    async fn move_node(&self, q: Request<pb::MoveNodeRequest>) -> Res<pb::MoveNodeResponse> {
        rpc!(
            self,
            "MoveNode",
            q,
            |r| r.doc_id.clone(),
            do_move_node,
            by principal
        )
    }
    async fn delete_node(&self, q: Request<pb::DeleteNodeRequest>) -> Res<pb::DeleteNodeResponse> {
        rpc!(
            self,
            "DeleteNode",
            q,
            |r| r.doc_id.clone(),
            do_delete_node,
            by principal
        )
    }
    async fn search_nodes(
        &self,
        q: Request<pb::SearchNodesRequest>,
    ) -> Res<pb::SearchNodesResponse> {
        rpc!(
            self,
            "SearchNodes",
            q,
            |r| r.doc_id.clone(),
            do_search_nodes,
            caller
        )
    }
    async fn get_version_as_of(
        &self,
        q: Request<pb::GetVersionAsOfRequest>,
    ) -> Res<pb::GetVersionAsOfResponse> {
        rpc!(
            self,
            "GetVersionAsOf",
            q,
            |r| r.doc_id.clone(),
            do_get_version_as_of
        )
    }
    async fn diff_versions(
        &self,
        q: Request<pb::DiffVersionsRequest>,
    ) -> Res<pb::DiffVersionsResponse> {
        rpc!(
            self,
            "DiffVersions",
            q,
            |r| r.doc_id.clone(),
            do_diff_versions
        )
    }
    async fn add_cross_reference(
        &self,
        q: Request<pb::AddCrossReferenceRequest>,
    ) -> Res<pb::AddCrossReferenceResponse> {
        rpc!(
            self,
            "AddCrossReference",
            q,
            |r| r
                .reference
                .as_ref()
                .map(|x| x.from_doc_id.clone())
                .unwrap_or_default(),
            do_add_xref
        )
    }
    async fn remove_cross_reference(
        &self,
        q: Request<pb::RemoveCrossReferenceRequest>,
    ) -> Res<pb::RemoveCrossReferenceResponse> {
        rpc!(
            self,
            "RemoveCrossReference",
            q,
            |r| r.from_doc_id.clone(),
            do_remove_xref
        )
    }
    async fn get_cross_references(
        &self,
        q: Request<pb::GetCrossReferencesRequest>,
    ) -> Res<pb::GetCrossReferencesResponse> {
        rpc!(
            self,
            "GetCrossReferences",
            q,
            |r| r.doc_id.clone(),
            do_get_xrefs,
            caller
        )
    }
    async fn store_tool_result(
        &self,
        q: Request<pb::StoreToolResultRequest>,
    ) -> Res<pb::StoreToolResultResponse> {
        rpc!(
            self,
            "StoreToolResult",
            q,
            |r| String::new(),
            do_store_tool_result
        )
    }
    async fn get_tool_result(
        &self,
        q: Request<pb::GetToolResultRequest>,
    ) -> Res<pb::GetToolResultResponse> {
        rpc!(
            self,
            "GetToolResult",
            q,
            |r| String::new(),
            do_get_tool_result
        )
    }
    async fn begin_transaction(
        &self,
        q: Request<pb::BeginTransactionRequest>,
    ) -> Res<pb::BeginTransactionResponse> {
        rpc!(self, "BeginTransaction", q, |r| r.doc_id.clone(), do_begin)
    }
    async fn commit_transaction(
        &self,
        q: Request<pb::CommitTransactionRequest>,
    ) -> Res<pb::CommitTransactionResponse> {
        rpc!(
            self,
            "CommitTransaction",
            q,
            |r| String::new(),
            do_commit,
            caller
        )
    }
    async fn rollback_transaction(
        &self,
        q: Request<pb::RollbackTransactionRequest>,
    ) -> Res<pb::RollbackTransactionResponse> {
        rpc!(
            self,
            "RollbackTransaction",
            q,
            |r| String::new(),
            do_rollback,
            caller
        )
    }
    async fn health(&self, q: Request<pb::HealthRequest>) -> Res<pb::HealthResponse> {
        rpc!(self, "Health", q, |r| String::new(), do_health)
    }
    async fn stats(&self, q: Request<pb::StatsRequest>) -> Res<pb::StatsResponse> {
        rpc!(self, "Stats", q, |r| String::new(), do_stats)
    }

    type WatchStream = watch::WatchStream;

    /// The stream's setup (checks, start positions) is the logged request; its life is not
    /// bounded by the call's deadline (a watch runs until the client cancels).
    async fn watch(&self, q: Request<pb::WatchRequest>) -> Res<Self::WatchStream> {
        let caller = Caller::of(&q);
        let mut r = q.into_inner();
        let qualified = Qualify::qualify(&mut r, &caller);
        let doc = (r.doc_ids.first())
            .map(|d| caller.namespace.qualify(d))
            .unwrap_or_default();
        let handled = async {
            qualified?;
            self.do_watch(r, &caller).await
        };
        self.run("Watch", &caller, &doc, None, handled).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_timeout("10m"), Some(Duration::from_millis(10)));
        assert_eq!(parse_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("5"), None);
        assert_eq!(parse_timeout("1x"), None);
        assert_eq!(parse_timeout("123456789S"), None);
    }
}
