//! A change-feed event: what one mutation did to one document, as a watcher sees it.
//! Stored (postcard) under `f lsn`; the encoding is pinned by `shards/tests/format.rs` and
//! documented in `docs/design.md`: change it only with a data-directory format version bump.

use crate::changed::Changes;
use crate::model::{Micros, VersionNo};
use crate::mutation::DocCommit;
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
        })
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
