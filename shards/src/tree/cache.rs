//! A shard's published trees: decoded documents that reads on any thread may use without asking
//! the shard. Written only by the shard (publishing durable versions, storing loaded trees),
//! read by router threads; bounded in bytes, least recently used documents evicted first.
//!
//! Invariants (kept by the shard, see `staging.rs`): every tree here is a durable version of
//! its document's current incarnation, and a document's `latest`, when set, is its latest
//! durable version. So a read answered from here never sees a write a crash could undo, and a
//! write is published before it is acknowledged.

use super::DocTree;
use crate::model::VersionNo;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Counters and size of one shard's cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub bytes: u64,
    pub documents: u64,
}

/// Trees of older versions kept per document besides the latest (as-of reads of hot history).
const OLD_VERSIONS_PER_DOC: usize = 4;

struct Entry {
    /// The version of the latest tree in `trees`, when it is cached.
    latest: Option<VersionNo>,
    /// Newest version first.
    trees: Vec<Arc<DocTree>>,
    last_used: AtomicU64,
}

impl Entry {
    fn bytes(&self) -> usize {
        self.trees.iter().map(|t| t.bytes()).sum()
    }
}

#[derive(Default)]
struct Inner {
    docs: HashMap<String, Entry, ahash::RandomState>,
    bytes: usize,
}

pub struct TreeCache {
    inner: RwLock<Inner>,
    budget: usize,
    /// Recency of use: advanced by each insert, stamped on an entry by each read of it.
    clock: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl TreeCache {
    /// A cache holding at most about `budget` bytes of trees (0 disables it).
    pub fn new(budget: usize) -> TreeCache {
        TreeCache {
            inner: RwLock::default(),
            budget,
            clock: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The tree of `doc` at `version` (None = the latest), counting a hit when found. Misses
    /// are counted by the shard (`record_miss`): a read that missed is one the shard answers.
    pub fn get(&self, doc: &str, version: Option<VersionNo>) -> Option<Arc<DocTree>> {
        let found = self.peek(doc, version);
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// A read the cache could have answered reached the shard.
    pub fn record_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// `get` without counting or marking the document used.
    pub fn peek_latest(&self, doc: &str) -> Option<Arc<DocTree>> {
        let inner = self.read();
        let e = inner.docs.get(doc)?;
        let v = e.latest?;
        e.trees.iter().find(|t| t.version == v).cloned()
    }

    fn peek(&self, doc: &str, version: Option<VersionNo>) -> Option<Arc<DocTree>> {
        let inner = self.read();
        let e = inner.docs.get(doc)?;
        let v = version.or(e.latest)?;
        let t = e.trees.iter().find(|t| t.version == v)?.clone();
        // The clock moves on at each insert only: readers on several threads share its
        // cache line without writing it.
        e.last_used
            .store(self.clock.load(Ordering::Relaxed), Ordering::Relaxed);
        Some(t)
    }

    /// Whether any tree of `doc` is cached (not counted as a lookup).
    pub fn has_doc(&self, doc: &str) -> bool {
        self.read().docs.contains_key(doc)
    }

    /// Whether a tree of `doc` at `version` is cached.
    pub fn contains(&self, doc: &str, version: VersionNo) -> bool {
        self.read()
            .docs
            .get(doc)
            .is_some_and(|e| e.trees.iter().any(|t| t.version == version))
    }

    /// Makes `tree` its document's latest version (the previous latest is dropped).
    pub fn publish_latest(&self, tree: Arc<DocTree>) {
        self.store(tree, true);
    }

    /// Keeps `tree`, a durable version older than its document's latest.
    pub fn insert_version(&self, tree: Arc<DocTree>) {
        self.store(tree, false);
    }

    fn store(&self, tree: Arc<DocTree>, latest: bool) {
        if !self.enabled() || tree.bytes() > self.budget / 2 {
            if latest {
                self.invalidate_latest(&tree.doc_id);
            }
            return;
        }
        let now = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
        let mut inner = self.write();
        let inner = &mut *inner;
        let e = inner
            .docs
            .entry(tree.doc_id.clone())
            .or_insert_with(|| Entry {
                latest: None,
                trees: vec![],
                last_used: AtomicU64::new(now),
            });
        let before = e.bytes();
        if latest {
            if let Some(old) = e.latest {
                e.trees.retain(|t| t.version != old);
            }
            e.latest = Some(tree.version);
        }
        e.trees.retain(|t| t.version != tree.version);
        e.trees.push(tree);
        e.trees.sort_by_key(|t| std::cmp::Reverse(t.version));
        // Keep the latest and the newest few older versions.
        let keep = e.latest;
        let mut old = 0;
        e.trees.retain(|t| {
            if Some(t.version) == keep {
                return true;
            }
            old += 1;
            old <= OLD_VERSIONS_PER_DOC
        });
        e.last_used.store(now, Ordering::Relaxed);
        inner.bytes = inner.bytes + e.bytes() - before;
        self.evict(inner);
    }

    /// The document's latest tree is no longer its latest version (its older ones stay valid).
    pub fn invalidate_latest(&self, doc: &str) {
        let mut inner = self.write();
        let inner = &mut *inner;
        if let Some(e) = inner.docs.get_mut(doc) {
            let before = e.bytes();
            if let Some(v) = e.latest.take() {
                e.trees.retain(|t| t.version != v);
            }
            inner.bytes = inner.bytes + e.bytes() - before;
            if e.trees.is_empty() {
                inner.docs.remove(doc);
            }
        }
    }

    /// Forgets every tree of `doc` (it was deleted).
    pub fn remove(&self, doc: &str) {
        let mut inner = self.write();
        if let Some(e) = inner.docs.remove(doc) {
            inner.bytes -= e.bytes();
        }
    }

    /// Evicts least recently used documents until the cache is back under 90% of its budget.
    fn evict(&self, inner: &mut Inner) {
        if inner.bytes <= self.budget {
            return;
        }
        let target = self.budget / 10 * 9;
        let mut by_age: Vec<(u64, String, usize)> = inner
            .docs
            .iter()
            .map(|(d, e)| (e.last_used.load(Ordering::Relaxed), d.clone(), e.bytes()))
            .collect();
        by_age.sort_unstable();
        for (_, doc, bytes) in by_age {
            if inner.bytes <= target {
                break;
            }
            inner.docs.remove(&doc);
            inner.bytes -= bytes;
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.read();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            bytes: inner.bytes as u64,
            documents: inner.docs.len() as u64,
        }
    }
}
