//! Typed mutation records: every change to a shard is one `Mutation`, fully resolved (versions,
//! timestamps and after-images decided) before it is logged. `apply.rs` turns a mutation into one
//! write batch deterministically, so replaying the log reproduces the state exactly.
//! The encoding is the WAL payload: changing it needs a data-directory format version bump, or
//! a field appended after a variant's base (`appended.rs`), as `DocCommit::committed_by` is.

use crate::appended;
use crate::codec;
use crate::model::*;
use crate::Result;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocCommit {
    pub doc_id: String,
    pub version: VersionNo,
    pub commit_time: Micros,
    pub effective_time: Micros,
    pub message: String,
    /// When the document was created: `commit_time` for a commit that creates it (first
    /// version, or first after a delete), else the creation time of the version it follows.
    pub created_at: Micros,
    /// The new header, when it changed.
    pub header: Option<DocHeader>,
    /// What this version writes of each node it changes, in node-id order.
    pub nodes: Vec<(String, NodeWrite)>,
    pub node_count: u64,
    /// The principal that committed the version ("" when unknown). Not in the base layout:
    /// `Mutation::encode` appends it after the commit, so a replay records it again.
    #[serde(skip)]
    pub committed_by: String,
}

/// What a version writes of one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeWrite {
    /// The node leaves the tree.
    Removed,
    /// The node is new, or its shape or content changed. `None` = unchanged from the version
    /// before; a node that is new (or back after a removal) has both.
    Put {
        shape: Option<NodeShape>,
        content: Option<NodeContent>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum XrefSide {
    /// The link as stored with its source node (authoritative).
    Out,
    /// The index entry stored with its target node, for incoming lookups.
    In,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XrefValue {
    pub label: String,
    pub created_at: Micros,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mutation {
    Commit(DocCommit),
    DeleteDocument {
        doc_id: String,
        deleted_at: Micros,
    },
    PutXref {
        key: XrefKey,
        side: XrefSide,
        value: XrefValue,
    },
    RemoveXref {
        key: XrefKey,
        side: XrefSide,
    },
    PutToolResult {
        tool: String,
        args: String,
        record: ToolResultRecord,
    },
    RemoveToolResults {
        keys: Vec<(String, String)>,
    },
}

impl Mutation {
    /// The log payload: the mutation's base encoding, and for a commit its committer appended
    /// (when it has one).
    pub fn encode(&self) -> Result<Vec<u8>> {
        match self {
            Mutation::Commit(c) => appended::encode_with_committer(self, &c.committed_by),
            _ => codec::encode(self),
        }
    }

    /// Reads payloads of both layouts: a commit without an appended committer (older builds)
    /// has committer "".
    pub fn decode(bytes: &[u8]) -> Result<Mutation> {
        let (mut m, rest) = appended::take_base::<Mutation>(bytes)?;
        // Only a commit has appended fields; bytes after another variant are ignored, as
        // postcard always did.
        if let Mutation::Commit(c) = &mut m {
            c.committed_by = appended::committer_after_base(rest)?;
        }
        Ok(m)
    }
}
