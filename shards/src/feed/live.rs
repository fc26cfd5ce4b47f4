//! A shard's live feed: the position up to which its events are published, and a ring of the
//! most recent ones, shared between the shard (the one writer) and watchers on other threads.
//!
//! Invariants:
//! - Every event with LSN <= `published` is durable, and readable: from the ring when its LSN
//!   is above `floor`, else from the store (`f lsn`). Events enter the ring in LSN order.
//! - `published` never passes a record whose apply has not finished (the shard publishes up to
//!   the durable LSN below the one mutation it may be applying), so a reader that finds nothing
//!   up to `published` in the store has missed nothing.
//! - `trimmed` is raised before retention removes events at or below it, so a reader that
//!   checks it after reading the store knows whether its read could have missed removed events.
//!
//! The shard never waits for a reader: publishing takes a short lock and wakes watchers
//! through a `tokio::sync::watch` channel; a slow reader falls below the ring and reads the
//! store instead.

use super::FeedEvent;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Most events a shard's ring keeps, by default.
pub const RING_EVENTS: usize = 4096;
/// Most bytes (estimated) a shard's ring keeps: a whole-document put lists every node.
const RING_BYTES: usize = 4 << 20;

pub struct FeedLive {
    /// Most events the ring keeps.
    capacity: usize,
    ring: Mutex<Ring>,
    wake: watch::Sender<u64>,
    trimmed: AtomicU64,
}

pub(super) struct Ring {
    /// Events at or below this LSN are not in the ring.
    pub(super) floor: u64,
    /// Every event at or below this LSN is durable and readable.
    pub(super) published: u64,
    /// (LSN, event), LSN increasing, all above `floor` and at or below `published`.
    pub(super) events: VecDeque<(u64, Arc<FeedEvent>)>,
    bytes: usize,
}

fn estimated_bytes(e: &FeedEvent) -> usize {
    let ids = |v: &[String]| v.iter().map(|s| s.len() + 24).sum::<usize>();
    match e {
        FeedEvent::Version(v) => {
            128 + v.doc_id.len()
                + v.message.len()
                + v.committed_by.len()
                + ids(&v.added)
                + ids(&v.removed)
                + ids(&v.updated)
                + ids(&v.moved)
        }
        FeedEvent::Deleted(d) => 64 + d.doc_id.len(),
    }
}

impl Default for FeedLive {
    fn default() -> Self {
        FeedLive::new(RING_EVENTS)
    }
}

impl FeedLive {
    /// A feed whose ring keeps at most `capacity` events (and at most 4 MiB of them).
    pub fn new(capacity: usize) -> Self {
        FeedLive {
            capacity: capacity.max(1),
            ring: Mutex::new(Ring {
                floor: 0,
                published: 0,
                events: VecDeque::new(),
                bytes: 0,
            }),
            wake: watch::Sender::new(0),
            trimmed: AtomicU64::new(0),
        }
    }

    pub(super) fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After recovery: every event up to `lsn` is in the store, retention has removed those
    /// up to `trimmed`, and the ring starts empty above `lsn`.
    pub fn start_at(&self, lsn: u64, trimmed: u64) {
        self.trimmed.store(trimmed, Ordering::SeqCst);
        let mut ring = self.ring();
        ring.floor = lsn;
        ring.published = lsn;
        ring.events.clear();
        ring.bytes = 0;
        drop(ring);
        self.wake.send_replace(lsn);
    }

    /// The shard, in LSN order: adds `events` (all at or below `through`, above everything
    /// added before) and publishes `through`.
    pub fn publish(&self, events: impl IntoIterator<Item = (u64, Arc<FeedEvent>)>, through: u64) {
        let mut ring = self.ring();
        let before = ring.published;
        let through = through.max(before);
        for (lsn, event) in events {
            // The caller passes each event once, in order, at or below `through`.
            if lsn > before && lsn <= through {
                ring.bytes += estimated_bytes(&event);
                ring.events.push_back((lsn, event));
            }
        }
        while ring.events.len() > self.capacity
            || (ring.bytes > RING_BYTES && ring.events.len() > 1)
        {
            if let Some((lsn, e)) = ring.events.pop_front() {
                ring.bytes -= estimated_bytes(&e);
                ring.floor = lsn;
            }
        }
        ring.published = through;
        drop(ring);
        if through > before {
            self.wake.send_replace(through);
        }
    }

    /// Every event at or below this LSN is durable and readable.
    pub fn published(&self) -> u64 {
        self.ring().published
    }

    /// A receiver woken each time the published position moves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }

    /// Retention may have removed the events at or below this LSN.
    pub fn trimmed(&self) -> u64 {
        self.trimmed.load(Ordering::SeqCst)
    }

    /// Retention: called before removing the events at or below `lsn`.
    pub(super) fn raise_trimmed(&self, lsn: u64) {
        self.trimmed.fetch_max(lsn, Ordering::SeqCst);
    }
}
