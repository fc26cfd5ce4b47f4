//! Retention: a shard keeps the feed events of its last `keep_records` log records. Older
//! events (and their `q` index entries) are removed at checkpoints, off the shard's executor,
//! in one batch that also records how far the feed is trimmed (`m feed_trimmed`).
//!
//! The batch is not logged: it only removes events the log no longer needs to recreate. After
//! a crash the store holds either the state before it or after it (RocksDB keeps a prefix of
//! its batches), and recovery reads `feed_trimmed` from that same state.

use super::{FeedEvent, FeedLive};
use crate::keys;
use crate::store::{KvStore, WriteBatch};
use crate::Result;

/// Most events one pass removes (the rest go at the next checkpoint).
const TRIM_BATCH_EVENTS: usize = 100_000;

/// Removes the events of records older than the last `keep_records` up to the published
/// position; returns the new trimmed LSN when it moved.
pub fn trim(live: &FeedLive, store: &dyn KvStore, keep_records: u64) -> Result<Option<u64>> {
    let published = live.published();
    let from = live.trimmed();
    let cut = published.saturating_sub(keep_records);
    if cut <= from {
        return Ok(None);
    }
    let mut batch = WriteBatch::default();
    let mut last = from;
    let mut seen = 0usize;
    store.scan(&keys::feed(from + 1), &keys::feed(cut + 1), &mut |k, v| {
        if let Some(lsn) = keys::feed_lsn(k) {
            if let Ok(FeedEvent::Version(c)) = FeedEvent::decode(v) {
                batch.delete(keys::feed_index(&c.doc_id, c.version));
            }
            last = lsn;
        }
        seen += 1;
        Ok(seen < TRIM_BATCH_EVENTS)
    })?;
    let upto = if seen >= TRIM_BATCH_EVENTS { last } else { cut };
    batch.delete_range(keys::feed(from + 1), keys::feed(upto + 1));
    batch.put(keys::FEED_TRIMMED.to_vec(), upto.to_be_bytes().to_vec());
    live.raise_trimmed(upto);
    store.write(batch)?;
    Ok(Some(upto))
}

/// How far the feed in `store` is trimmed (0 = nothing removed).
pub fn trimmed_in(store: &dyn crate::store::KvRead) -> Result<u64> {
    match store.get(keys::FEED_TRIMMED)? {
        Some(v) => keys::be_u64(&v),
        None => Ok(0),
    }
}
