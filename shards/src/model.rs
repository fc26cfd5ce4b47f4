//! The data model: documents made of nested nodes, their versions, and what reads return.
//!
//! Stored records (`NodeRecord`, `DocHeader`, `VersionInfo`, `DocHead`) are encoded with postcard
//! (see `codec.rs`); the types callers see (`Document`, `NodeView`, `Version`) are built from them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Microseconds since the Unix epoch.
pub type Micros = i64;
/// A document version: 1 for the first commit, +1 for each later commit of that document.
pub type VersionNo = u64;

/// What a node says: everything but its place in the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeContent {
    pub title: String,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub start_page: Option<i64>,
    pub end_page: Option<i64>,
    /// Line number of the heading in PageIndex's markdown mode.
    pub line_num: Option<i64>,
    /// Every other key of the source JSON node, as a JSON object text ("" when none).
    pub extra_json: String,
}

/// A node's place in the tree at one version: its parent and its ordered children. A node's
/// position is its index in its parent's list (or in the document's `roots`). Stored apart from
/// the node's content (`keys::shape`), so structural edits and positions never decode text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeShape {
    pub parent: Option<String>,
    pub children: Vec<String>,
}

/// A whole node at one version: its shape and its content (stored under two keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub parent: Option<String>,
    pub children: Vec<String>,
    pub content: NodeContent,
}

impl NodeRecord {
    pub fn new(shape: NodeShape, content: NodeContent) -> NodeRecord {
        NodeRecord {
            parent: shape.parent,
            children: shape.children,
            content,
        }
    }
}

/// The versioned part of a document besides its nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocHeader {
    pub name: String,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    /// Top-level node ids in order.
    pub roots: Vec<String>,
}

/// The latest state of a document, kept unversioned for cheap checks.
/// Invariant: `version` is the greatest version whose `VersionInfo` is stored; a deleted document
/// keeps its head (with `deleted = true`) so a re-created one continues the version sequence and
/// nothing that recorded an old version can mistake the new document for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocHead {
    pub version: VersionNo,
    /// Nodes at `version`.
    pub node_count: u64,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub last_commit_time: Micros,
    pub deleted: bool,
}

/// One committed change of a document. Stored with `VersionInfo::encode` (never
/// `codec::encode`): the serde fields are the record's base, `committed_by` is appended after
/// it (`appended.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: VersionNo,
    pub commit_time: Micros,
    pub effective_time: Micros,
    pub message: String,
    /// How many nodes this version wrote; their ids are under `keys::changes` (kept apart so
    /// resolving a version never decodes a long list).
    pub nodes_changed: u64,
    pub header_changed: bool,
    pub node_count: u64,
    /// The principal that committed the version; "" when unknown (written by a build before
    /// principals were recorded, or by a caller that named none). Not in the base layout.
    #[serde(skip)]
    pub committed_by: String,
}

impl VersionInfo {
    pub fn encode(&self) -> crate::Result<Vec<u8>> {
        crate::appended::encode_with_committer(self, &self.committed_by)
    }

    /// Reads both layouts: without the appended committer (older builds) and with it.
    pub fn decode(bytes: &[u8]) -> crate::Result<VersionInfo> {
        let (mut info, committed_by) =
            crate::appended::decode_with_committer::<VersionInfo>(bytes)?;
        info.committed_by = committed_by;
        Ok(info)
    }
}

/// Which time axis an as-of read uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeAxis {
    /// When the change was committed.
    Commit,
    /// When the change takes effect (a policy's effective date).
    Effective,
}

/// At which state of a document a read is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadAt {
    #[default]
    Latest,
    Version(VersionNo),
    AsOf {
        time: Micros,
        axis: TimeAxis,
    },
}

/// A document as returned to callers, at the version read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub doc_id: String,
    pub name: String,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub version: VersionNo,
    pub node_count: u64,
}

/// A node as returned to callers. `children` is filled only by subtree reads, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub node_id: String,
    pub parent_id: Option<String>,
    pub position: u32,
    pub content: NodeContent,
    pub has_children: bool,
    pub children: Vec<NodeView>,
}

/// A node of a tree being written: content plus nested children.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInput {
    pub node_id: String,
    pub content: NodeContent,
    pub children: Vec<NodeInput>,
}

/// A whole document being written by PutDocument.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentInput {
    pub doc_id: String,
    pub name: String,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    pub roots: Vec<NodeInput>,
}

/// Which content fields an update sets. Fields not in the mask keep their value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMask {
    pub title: bool,
    pub summary: bool,
    pub text: bool,
    pub start_page: bool,
    pub end_page: bool,
    pub line_num: bool,
    pub extra_json: bool,
}

impl FieldMask {
    pub const ALL: FieldMask = FieldMask {
        title: true,
        summary: true,
        text: true,
        start_page: true,
        end_page: true,
        line_num: true,
        extra_json: true,
    };

    /// Parses field-mask paths ("title", "summary", ...); unknown paths are an error.
    pub fn from_paths<S: AsRef<str>>(paths: &[S]) -> crate::Result<FieldMask> {
        let mut m = FieldMask::default();
        for p in paths {
            match p.as_ref() {
                "title" => m.title = true,
                "summary" => m.summary = true,
                "text" => m.text = true,
                "start_page" => m.start_page = true,
                "end_page" => m.end_page = true,
                "line_num" => m.line_num = true,
                "extra_json" => m.extra_json = true,
                other => {
                    return Err(crate::Error::invalid(
                        "update_mask",
                        format!("unknown field path {other:?}"),
                    ))
                }
            }
        }
        Ok(m)
    }

    pub fn apply(&self, target: &mut NodeContent, from: &NodeContent) {
        if self.title {
            target.title = from.title.clone();
        }
        if self.summary {
            target.summary = from.summary.clone();
        }
        if self.text {
            target.text = from.text.clone();
        }
        if self.start_page {
            target.start_page = from.start_page;
        }
        if self.end_page {
            target.end_page = from.end_page;
        }
        if self.line_num {
            target.line_num = from.line_num;
        }
        if self.extra_json {
            target.extra_json = from.extra_json.clone();
        }
    }
}

/// A version as returned to callers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub version: VersionNo,
    pub commit_time: Micros,
    pub effective_time: Micros,
    pub message: String,
    pub nodes_changed: u64,
    /// The principal that committed it ("" when unknown: see `VersionInfo::committed_by`).
    pub committed_by: String,
}

impl From<&VersionInfo> for Version {
    fn from(v: &VersionInfo) -> Self {
        Version {
            version: v.version,
            commit_time: v.commit_time,
            effective_time: v.effective_time,
            message: v.message.clone(),
            nodes_changed: v.nodes_changed,
            committed_by: v.committed_by.clone(),
        }
    }
}

/// How a node differs between two versions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    pub from_version: VersionNo,
    pub to_version: VersionNo,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Node id and the content fields whose value differs.
    pub changed: Vec<(String, Vec<String>)>,
    pub moved: Vec<MovedNode>,
    /// The principals that committed the versions after the older side up to the newer one
    /// (whose changes this diff shows), distinct and sorted; "" stands for versions whose
    /// committer is unknown.
    pub committed_by: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedNode {
    pub node_id: String,
    pub old_parent: Option<String>,
    pub old_position: u32,
    pub new_parent: Option<String>,
    pub new_position: u32,
}

/// A directed link between two nodes, possibly in different documents.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct XrefKey {
    pub from_doc: String,
    pub from_node: String,
    pub kind: String,
    pub to_doc: String,
    pub to_node: String,
}

impl std::fmt::Display for XrefKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} -[{}]-> {}/{}",
            self.from_doc, self.from_node, self.kind, self.to_doc, self.to_node
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossReference {
    pub key: XrefKey,
    pub label: String,
    pub created_at: Micros,
    /// 1 for a direct link; n for a link found n hops away in a transitive query.
    pub hops: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Outgoing,
    Incoming,
    Both,
}

/// A search hit: a node all of whose query words occur in its title, summary or text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub doc_id: String,
    pub node_id: String,
    pub title: String,
    /// Total occurrences of the query words in the node.
    pub score: u32,
}

/// A document version a cached tool result was computed from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRef {
    pub doc_id: String,
    pub version: VersionNo,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResultRecord {
    pub result_json: String,
    pub stored_at: Micros,
    pub expires_at: Micros,
    pub depends_on: Vec<DocRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MissReason {
    NotFound,
    Expired,
    Stale,
}

/// A tool result as its shard found it. The shard knows expiry; only the router can tell
/// staleness (the documents it depends on live on other shards), so the router turns this into
/// a `ToolLookup`, where a stale entry reports `Stale` even when it has expired too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToolResult {
    pub record: ToolResultRecord,
    pub expired: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToolLookup {
    Hit(ToolResultRecord),
    Miss(MissReason),
}
