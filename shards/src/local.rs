//! `LocalRouter`: every shard in this process, each request run to completion on the caller's
//! thread, mutations applied at once with no log. For tests, the model-based property test and
//! benchmarks of the tree logic; the server uses `runtime::Runtime`.
//!
//! Each shard has a tree cache filled and published by the same rules as the runtime's (a
//! mutation is durable as soon as it is applied here), so the tests that run on this router
//! check cached reads too.

use crate::engine::{now_micros, ShardFuture, ShardRouter};
use crate::model::ReadAt;
use crate::mutation::Mutation;
use crate::request::{Request, Response};
use crate::shard::{Shard, ShardConfig};
use crate::store::KvStore;
use crate::tree::{self, CacheStats, DocTree, Loads, Staging, TreeCache};
use crate::view::read_head;
use crate::Result;
use std::sync::{Arc, Mutex};

/// Tree cache of each shard unless `with_tree_cache` says otherwise.
const DEFAULT_TREE_CACHE_BYTES: usize = 64 << 20;

struct LocalShard<S: KvStore> {
    shard: Shard<S>,
    lsn: u64,
    staging: Staging,
    loads: Loads,
}

pub struct LocalRouter<S: KvStore> {
    shards: Vec<Mutex<LocalShard<S>>>,
    caches: Vec<Arc<TreeCache>>,
    /// Clock override for tests (microseconds); None = wall clock.
    pub clock: Mutex<Option<i64>>,
}

impl<S: KvStore + 'static> LocalRouter<S> {
    pub fn new(stores: Vec<S>, config: impl Fn() -> ShardConfig) -> Result<Self> {
        let mut shards = vec![];
        for (i, s) in stores.into_iter().enumerate() {
            let shard = Shard::new(i, s, config(), 1);
            let lsn = shard.applied_lsn()?;
            shards.push(Mutex::new(LocalShard {
                shard,
                lsn,
                staging: Staging::default(),
                loads: Loads::default(),
            }));
        }
        let caches = (0..shards.len())
            .map(|_| Arc::new(TreeCache::new(DEFAULT_TREE_CACHE_BYTES)))
            .collect();
        Ok(LocalRouter {
            shards,
            caches,
            clock: Mutex::new(None),
        })
    }

    /// Gives each shard a tree cache of `bytes` (0: no cache, every read from the store).
    pub fn with_tree_cache(mut self, bytes: usize) -> Self {
        self.caches = (0..self.shards.len())
            .map(|_| Arc::new(TreeCache::new(bytes)))
            .collect();
        self
    }

    pub fn set_clock(&self, t: Option<i64>) {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    fn now(&self) -> i64 {
        self.clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(now_micros)
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, LocalShard<S>> {
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn run(&self, shard: usize, req: Request) -> Result<Response> {
        let now = self.now();
        let cache = &self.caches[shard];
        let mut guard = self.lock(shard);
        let s = &mut *guard;
        let cacheable = tree::cacheable_read(&req).map(str::to_string);
        if cacheable.is_some() {
            cache.record_miss();
        }
        let out = s.shard.handle(req, now)?;
        if let Some(m) = out.mutation {
            // Round-trip through the log encoding, as replay would see it.
            let m = Mutation::decode(&m.encode()?)?;
            s.lsn += 1;
            s.shard.apply(&m, s.lsn)?;
            s.staging.applied(cache, &m, s.lsn);
            s.staging.publish(cache, s.lsn);
        }
        if let (Some(doc), Some(version)) = (cacheable, tree::answered_version(&out.response)) {
            fill(s, cache, &doc, version)?;
        }
        Ok(out.response)
    }
}

/// Loads the tree a read missed, as the runtime does after such a read (here at once, under
/// the shard's lock, so nothing can change the document meanwhile: a failed load is a bug in
/// the store or the loader, and the read reports it).
fn fill<S: KvStore>(
    s: &mut LocalShard<S>,
    cache: &TreeCache,
    doc: &str,
    version: u64,
) -> Result<()> {
    let Some(head) = read_head(&s.shard.store, doc)? else {
        return Ok(());
    };
    if !s.loads.start(cache, doc, version, &head) {
        return Ok(());
    }
    let loaded = tree::load(&s.shard.store, doc, version, &head);
    let pending = s.staging.pending(doc);
    let loaded = match loaded {
        Ok(t) => Some(t),
        Err(e) => {
            s.loads
                .finish(cache, doc, version, None, Some(&head), pending);
            return Err(e);
        }
    };
    s.loads
        .finish(cache, doc, version, loaded, Some(&head), pending);
    Ok(())
}

impl<S: KvStore + 'static> ShardRouter for LocalRouter<S> {
    fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn call(&self, shard: usize, req: Request) -> ShardFuture {
        let r = self.run(shard, req);
        Box::pin(std::future::ready(r))
    }

    fn cached_tree(&self, shard: usize, doc: &str, at: ReadAt) -> Option<Arc<DocTree>> {
        let cache = self.caches.get(shard)?;
        let version = match at {
            ReadAt::Latest => None,
            ReadAt::Version(v) => Some(v),
            ReadAt::AsOf { time, axis } => {
                let s = self.lock(shard);
                Some(crate::view::version_as_of(&s.shard.store, doc, time, axis).ok()?)
            }
        };
        cache.get(doc, version)
    }

    fn tree_cache_stats(&self) -> Vec<CacheStats> {
        self.caches.iter().map(|c| c.stats()).collect()
    }
}
