//! The shard engine's one error type. Every variant says what went wrong in terms a caller can
//! act on; the server maps each variant to one gRPC status code (see `src/status.rs`).

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A field of the request is malformed; `field` names it.
    #[error("invalid argument `{field}`: {reason}")]
    InvalidArgument { field: String, reason: String },

    #[error("{what} not found: {id}")]
    NotFound { what: &'static str, id: String },

    #[error("{what} already exists: {id}")]
    AlreadyExists { what: &'static str, id: String },

    /// The request is well formed but the state does not allow it (e.g. moving a node under its
    /// own descendant).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),

    /// A transaction's commit conflicts with a change committed after the transaction began.
    #[error("transaction conflict: {0}")]
    Conflict(String),

    /// A size limit or a queue bound was hit.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),

    /// The request could not be served before the client's deadline: refused on arrival or
    /// dropped from the queue, its work not done.
    #[error("deadline exceeded: {0}")]
    DeadlineExceeded(String),

    /// The shard cannot serve right now: recovering, shutting down, or poisoned by an I/O failure.
    #[error("shard {shard} unavailable: {reason}")]
    Unavailable { shard: usize, reason: String },

    /// Stored data failed validation (checksum, decoding); the data on disk is damaged.
    #[error("data loss: {0}")]
    DataLoss(String),

    /// The storage engine failed (I/O error, RocksDB error).
    #[error("storage error: {0}")]
    Storage(String),

    /// An invariant of the engine itself was broken; a bug, never a caller's mistake.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            id: id.into(),
        }
    }
    pub fn already_exists(what: &'static str, id: impl Into<String>) -> Self {
        Error::AlreadyExists {
            what,
            id: id.into(),
        }
    }
}

impl From<rocksdb::Error> for Error {
    fn from(e: rocksdb::Error) -> Self {
        Error::Storage(e.into_string())
    }
}

impl From<postcard::Error> for Error {
    fn from(e: postcard::Error) -> Self {
        Error::DataLoss(format!("undecodable record: {e}"))
    }
}
