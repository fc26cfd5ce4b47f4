//! Reading a shard's feed after a position, from another thread than the shard's: the ring
//! when the position is within it, the store below it (never past `published`, so nothing
//! applied but not yet durable is read).

use super::{FeedEvent, FeedLive};
use crate::keys;
use crate::model::VersionNo;
use crate::store::KvRead;
use crate::view::read_head;
use crate::{Error, Result};
use std::sync::Arc;

#[derive(Debug)]
pub enum FeedRead {
    /// Every event in `(after, through]`, in LSN order (empty: none). `from_store`: read below
    /// the ring (the reader is further behind than the ring holds).
    Events {
        events: Vec<(u64, Arc<FeedEvent>)>,
        through: u64,
        from_store: bool,
    },
    /// Retention removed events after the position: the feed goes on after `trimmed`.
    Lost { trimmed: u64 },
}

/// At most `max` events of the feed after LSN `after`.
pub fn read_after(live: &FeedLive, store: &dyn KvRead, after: u64, max: usize) -> Result<FeedRead> {
    let floor = {
        let ring = live.ring();
        if after >= ring.published {
            return Ok(FeedRead::Events {
                events: vec![],
                through: after,
                from_store: false,
            });
        }
        if after >= ring.floor {
            let first = ring.events.partition_point(|(lsn, _)| *lsn <= after);
            let events: Vec<_> = ring.events.range(first..).take(max).cloned().collect();
            let through = match events.last() {
                Some((lsn, _)) if events.len() == max => *lsn,
                _ => ring.published,
            };
            return Ok(FeedRead::Events {
                events,
                through,
                from_store: false,
            });
        }
        ring.floor
    };
    if after < live.trimmed() {
        return Ok(FeedRead::Lost {
            trimmed: live.trimmed(),
        });
    }
    let mut events = Vec::new();
    store.scan(
        &keys::feed(after + 1),
        &keys::feed(floor + 1),
        &mut |k, v| {
            let lsn = keys::feed_lsn(k)
                .ok_or_else(|| Error::DataLoss(format!("malformed change-feed key {k:?}")))?;
            events.push((lsn, Arc::new(FeedEvent::decode(v)?)));
            Ok(events.len() < max)
        },
    )?;
    // Raised before retention removes anything: unchanged now, the scan missed nothing.
    let trimmed = live.trimmed();
    if after < trimmed {
        return Ok(FeedRead::Lost { trimmed });
    }
    let through = match events.last() {
        Some((lsn, _)) if events.len() == max => *lsn,
        _ => floor,
    };
    Ok(FeedRead::Events {
        events,
        through,
        from_store: true,
    })
}

/// Where a watch of `doc` "after version v" starts in its shard's feed.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// Deliver the document's events with an LSN above this.
    After(u64),
    /// The event of that version is no longer kept (retention, or written before this server
    /// kept a feed): the watch starts at the oldest event kept, reporting the loss.
    Lost,
    /// The document has not reached that version.
    NotYet,
}

/// The start of a watch of `doc` after version `v` (0 = from the oldest event kept).
pub fn start_after_version(
    live: &FeedLive,
    store: &dyn KvRead,
    doc: &str,
    v: VersionNo,
) -> Result<Start> {
    if v == 0 {
        return Ok(Start::After(live.trimmed()));
    }
    if let Some(lsn) = store.get(&keys::feed_index(doc, v))? {
        return Ok(Start::After(keys::be_u64(&lsn)?));
    }
    match read_head(store, doc)? {
        Some(head) if head.version >= v => Ok(Start::Lost),
        _ => Ok(Start::NotYet),
    }
}
