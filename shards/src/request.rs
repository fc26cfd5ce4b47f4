//! What a shard is asked and what it answers. This enum pair is the routing interface: the router
//! sends a `Request` to the shard that owns its document and gets one `Response` back, whether the
//! shard runs on an executor in this process or, later, in another one.

use crate::model::*;
use crate::mutation::{XrefSide, XrefValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Options of a write: the explicit transaction it belongs to (None = its own implicit
/// transaction) and, when it commits, its effective time, message and committer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOpts {
    pub txn: Option<String>,
    pub effective_time: Option<Micros>,
    pub message: String,
    /// Import only: the commit time of the new version instead of the shard's clock; it must
    /// be later than the document's last commit time and not later than now. Not honoured in
    /// transactions (the service refuses it there).
    pub commit_time: Option<Micros>,
    /// The principal making the write, recorded in the version it commits ("" = unknown).
    /// Unused inside a transaction: its version records the principal that commits it
    /// (`Request::Commit::committed_by`).
    pub committed_by: String,
}

/// One side of a link that a write removed with its node or document; the router removes the
/// other side, made at the same `created_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedLink {
    pub key: XrefKey,
    pub side: XrefSide,
    pub created_at: Micros,
}

/// What a write answers with of the state it made, so that its caller needs no second read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AfterImage {
    /// The node written (inserted, updated or moved), text included: at the new version, or as
    /// the transaction sees it.
    Node(NodeView),
    /// The document put, at the new version (or as it is, when nothing changed).
    Document(Document),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Creates `doc`; with `overwrite`, replaces it when it exists (else AlreadyExists).
    PutDocument {
        doc: DocumentInput,
        overwrite: bool,
        write: WriteOpts,
    },
    GetDocument {
        doc_id: String,
        at: ReadAt,
        txn: Option<String>,
    },
    ListDocuments {
        id_prefix: String,
        metadata: BTreeMap<String, String>,
        after: Option<String>,
        limit: usize,
    },
    /// Deletes a document and its history; with `expected_version`, only at that version.
    DeleteDocument {
        doc_id: String,
        expected_version: Option<VersionNo>,
    },
    ListVersions {
        doc_id: String,
        after: Option<VersionNo>,
        limit: usize,
    },
    VersionAsOf {
        doc_id: String,
        time: Micros,
        axis: TimeAxis,
    },
    Diff {
        doc_id: String,
        from: VersionNo,
        to: VersionNo,
    },

    GetNode {
        doc_id: String,
        node_id: String,
        at: ReadAt,
        include_text: bool,
        txn: Option<String>,
    },
    GetChildren {
        doc_id: String,
        node_id: Option<String>,
        at: ReadAt,
        include_text: bool,
        txn: Option<String>,
    },
    GetSubtree {
        doc_id: String,
        node_id: Option<String>,
        max_depth: usize,
        include_text: bool,
        at: ReadAt,
        txn: Option<String>,
    },
    GetAncestors {
        doc_id: String,
        node_id: String,
        at: ReadAt,
        include_text: bool,
        txn: Option<String>,
    },
    InsertNode {
        doc_id: String,
        parent: Option<String>,
        position: Option<u32>,
        node: NodeInput,
        write: WriteOpts,
    },
    UpdateNode {
        doc_id: String,
        node_id: String,
        content: NodeContent,
        mask: FieldMask,
        write: WriteOpts,
    },
    MoveNode {
        doc_id: String,
        node_id: String,
        new_parent: Option<String>,
        position: Option<u32>,
        write: WriteOpts,
    },
    DeleteNode {
        doc_id: String,
        node_id: String,
        write: WriteOpts,
    },
    /// Nodes containing every word; `after` resumes after a (doc, node) of an earlier page.
    /// Without `doc_id`, only the documents of `namespace`.
    Search {
        words: Vec<String>,
        doc_id: Option<String>,
        namespace: crate::namespace::Namespace,
        at: ReadAt,
        after: Option<(String, String)>,
        limit: usize,
    },

    /// Writes one side of a link. With `replaces`, only over an entry made at that time (else
    /// nothing is written): an add that lost to an existing link puts the link's own index
    /// entry back only if nothing changed it since.
    PutXref {
        key: XrefKey,
        side: XrefSide,
        label: String,
        created_at: Micros,
        replaces: Option<Micros>,
    },
    /// Removes one side of a link. With `created_at`, only the entry made at that time: a link
    /// removed and added again meanwhile keeps its new entry. Answers `XrefRemoved`.
    RemoveXref {
        key: XrefKey,
        side: XrefSide,
        created_at: Option<Micros>,
    },
    /// Links stored on this shard under `side` for each start: one node of a document, or
    /// (node None) every node of it. The starts are distinct and none is a node of a document
    /// also listed whole.
    ListXrefs {
        starts: Vec<(String, Option<String>)>,
        side: XrefSide,
        kind: Option<String>,
    },
    /// Each link's authoritative (outgoing) entry; None where there is none.
    LinkValues {
        keys: Vec<XrefKey>,
    },
    /// Whether each (document, node) exists at the latest version.
    NodesExist {
        nodes: Vec<(String, String)>,
    },
    /// Latest version of each document; None when missing or deleted.
    DocVersions {
        doc_ids: Vec<String>,
    },

    /// Stored with `stored_at` = the shard's clock and `expires_at` = that + `ttl_seconds`.
    PutToolResult {
        tool: String,
        args: String,
        result_json: String,
        ttl_seconds: u64,
        depends_on: Vec<DocRef>,
    },
    GetToolResult {
        tool: String,
        args: String,
    },

    /// Removes up to `limit` expired tool results (the runtime sends this periodically).
    SweepToolResults {
        limit: usize,
    },
    Begin {
        doc_id: String,
        timeout_ms: Option<u64>,
    },
    /// A transaction of another namespace's document is NotFound, as an unknown one.
    Commit {
        txn: String,
        namespace: crate::namespace::Namespace,
        effective_time: Option<Micros>,
        message: String,
        /// The principal committing the transaction (whoever began it or wrote in it): the
        /// one its version records.
        committed_by: String,
    },
    Rollback {
        txn: String,
        namespace: crate::namespace::Namespace,
    },

    Stats,
}

impl Request {
    /// The explicit transaction a document request runs in, if any: such a request goes to the
    /// transaction's shard, which checks that the transaction is on the request's document.
    pub fn txn(&self) -> Option<&str> {
        match self {
            Request::PutDocument { write, .. }
            | Request::InsertNode { write, .. }
            | Request::UpdateNode { write, .. }
            | Request::MoveNode { write, .. }
            | Request::DeleteNode { write, .. } => write.txn.as_deref(),
            Request::GetDocument { txn, .. }
            | Request::GetNode { txn, .. }
            | Request::GetChildren { txn, .. }
            | Request::GetSubtree { txn, .. }
            | Request::GetAncestors { txn, .. } => txn.as_deref(),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStats {
    pub documents: u64,
    pub nodes: u64,
    pub versions: u64,
    pub active_transactions: u64,
    pub tool_results: u64,
    pub applied_lsn: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Document(Document),
    Documents(Vec<Document>),
    /// A write's result: the version it created (None inside a transaction or when nothing
    /// changed) and the link entries its removed nodes took with them, with the side removed
    /// (for the router to remove the other side).
    Written {
        version: Option<Version>,
        /// The state the write made, as the caller asked for it (see `AfterImage`).
        after: Option<AfterImage>,
        removed_links: Vec<RemovedLink>,
        removed_nodes: u64,
        removed_versions: u64,
    },
    Versions(Vec<Version>),
    Version(Version),
    Diff(Diff),
    /// A node and the version it was read at.
    Node(NodeView, VersionNo),
    /// Nodes and the version they were read at.
    Nodes(Vec<NodeView>, VersionNo),
    Hits(Vec<SearchHit>),
    Xrefs(Vec<CrossReference>),
    Bools(Vec<bool>),
    LinkValues(Vec<Option<XrefValue>>),
    /// The creation time of the link entry removed; None when none matched.
    XrefRemoved(Option<Micros>),
    DocVersions(Vec<Option<VersionNo>>),
    ToolResult(ToolLookup),
    /// What GetToolResult found on the result's shard; the router adds staleness.
    StoredToolResult(Option<StoredToolResult>),
    Began {
        txn: String,
        snapshot_version: VersionNo,
    },
    Done,
    Stats(ShardStats),
}
