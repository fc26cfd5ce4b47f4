//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Result alias for the WAL.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the WAL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed. `context` says what was being done to which file.
    #[error("wal i/o error: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// The log is damaged at a place that is not a torn tail of the last segment.
    #[error("wal corruption in shard {shard_id}: {file}, offset {offset}: {reason}")]
    Corruption {
        shard_id: u64,
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A segment belongs to another shard.
    #[error("wal segment {file} belongs to shard {found}, expected shard {expected}")]
    WrongShard {
        file: PathBuf,
        expected: u64,
        found: u64,
    },
    /// A segment file is not a TreeStore WAL file or has an unsupported version.
    #[error("wal segment {file} refused: {reason}")]
    BadSegment { file: PathBuf, reason: String },
    /// An earlier write or fdatasync failed: nothing more is accepted. The
    /// shard must be restarted and recover from the log.
    #[error("wal of shard {shard_id} is poisoned by an earlier i/o failure ({cause}); restart and recover")]
    Poisoned { shard_id: u64, cause: String },
    /// `wait_durable` was asked about an LSN that was never appended.
    #[error("lsn {lsn} was never appended (last lsn is {last})")]
    UnknownLsn { lsn: u64, last: u64 },
    /// Bad options.
    #[error("invalid wal options: {0}")]
    InvalidOptions(String),
    /// A failpoint injected an error (only with the `failpoints` feature).
    #[error("injected failure at failpoint {0}")]
    Injected(String),
}

impl Error {
    /// Build an `Io` error with context.
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Is this the `Poisoned` error?
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Poisoned { .. })
    }

    /// Is this a `Corruption` error?
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }
}

/// Attach context to io results.
pub(crate) trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}
