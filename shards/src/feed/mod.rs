//! The change feed: one event per committed version and per document deletion, what `Watch`
//! streams.
//!
//! - `event.rs`: the event record, stored under `f lsn` by the batch that applies the mutation
//!   (with `q doc \0 v -> lsn` for a version), so the feed is exactly as durable as the data and
//!   a log replay rewrites it identically.
//! - `live.rs`: each shard's published position and its ring of recent events, filled in log
//!   order as the log becomes durable; readers on other threads never block the shard.
//! - `read.rs`: reading a shard's feed after a position (ring first, the store below the
//!   ring), and where a document's versions start.
//! - `retention.rs`: removing events older than the retention, at checkpoints.

mod event;
mod live;
mod read;
mod retention;

pub use event::{Deletion, FeedEvent, VersionChange};
pub use live::{FeedLive, RING_EVENTS};
pub use read::{read_after, start_after_version, FeedRead, Start};
pub use retention::{trim, trimmed_in};
#[cfg(test)]
mod tests;
