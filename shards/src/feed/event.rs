//! A change-feed event: what one mutation did to one document, as a watcher sees it.
//! Stored (postcard) under `f lsn` with `FeedEvent::encode`; the encoding is pinned by
//! `shards/tests/format.rs` and documented in `docs/design.md`: change it only with a
//! data-directory format version bump, or by a field appended after the base (`appended.rs`),
//! as `VersionChange::committed_by` is.

use crate::appended;
use crate::changed::Changes;
use crate::model::{Micros, VersionNo};
use crate::mutation::DocCommit;
use crate::Result;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeedEvent {
    /// A committed version.
    Version(VersionChange),
    /// The document was deleted (after `last_version`).
    Deleted(Deletion),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionChange {
    pub doc_id: String,
    pub version: VersionNo,
    pub commit_time: Micros,
    pub effective_time: Micros,
    pub message: String,
    pub nodes_changed: u64,
    pub header_changed: bool,
    /// The first version of the document (new, or created again after a deletion).
    pub created: bool,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub updated: Vec<String>,
    pub moved: Vec<String>,
    /// The principal that committed the version ("" when unknown). Not in the base layout:
    /// `FeedEvent::encode` appends it.
    #[serde(skip)]
    pub committed_by: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    pub doc_id: String,
    pub last_version: VersionNo,
    pub deleted_at: Micros,
}

impl FeedEvent {
    /// The event of commit `c`, whose changes against the state before it are `changes`.
    pub fn version(c: &DocCommit, changes: Changes) -> FeedEvent {
        FeedEvent::Version(VersionChange {
            doc_id: c.doc_id.clone(),
            version: c.version,
            commit_time: c.commit_time,
            effective_time: c.effective_time,
            message: c.message.clone(),
            nodes_changed: changes.count(),
            header_changed: c.header.is_some(),
            created: changes.created,
            added: changes.added,
            removed: changes.removed,
            updated: changes.updated,
            moved: changes.moved,
            committed_by: c.committed_by.clone(),
        })
    }

    /// The stored event: its base encoding, and for a version its committer appended (when it
    /// has one).
    pub fn encode(&self) -> Result<Vec<u8>> {
        match self {
            FeedEvent::Version(v) => appended::encode_with_committer(self, &v.committed_by),
            FeedEvent::Deleted(_) => crate::codec::encode(self),
        }
    }

    /// Reads events of both layouts: a version without an appended committer (older builds)
    /// has committer "".
    pub fn decode(bytes: &[u8]) -> Result<FeedEvent> {
        let (mut e, rest) = appended::take_base::<FeedEvent>(bytes)?;
        // A deletion has no appended fields; bytes after it are ignored, as postcard always did.
        if let FeedEvent::Version(v) = &mut e {
            v.committed_by = appended::committer_after_base(rest)?;
        }
        Ok(e)
    }

    pub fn doc_id(&self) -> &str {
        match self {
            FeedEvent::Version(v) => &v.doc_id,
            FeedEvent::Deleted(d) => &d.doc_id,
        }
    }

    /// When it happened (commit time, or deletion time): what retention measures.
    pub fn time(&self) -> Micros {
        match self {
            FeedEvent::Version(v) => v.commit_time,
            FeedEvent::Deleted(d) => d.deleted_at,
        }
    }
}
