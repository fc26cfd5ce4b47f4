//! `LocalRouter`: every shard in this process, each request run to completion on the caller's
//! thread, mutations applied at once with no log. For tests, the model-based property test and
//! benchmarks of the tree logic; the server uses `runtime::Runtime`.

use crate::engine::{now_micros, ShardFuture, ShardRouter};
use crate::mutation::Mutation;
use crate::request::{Request, Response};
use crate::shard::{Shard, ShardConfig};
use crate::store::KvStore;
use crate::Result;
use std::sync::Mutex;

pub struct LocalRouter<S: KvStore> {
    shards: Vec<Mutex<(Shard<S>, u64)>>,
    /// Clock override for tests (microseconds); None = wall clock.
    pub clock: Mutex<Option<i64>>,
}

impl<S: KvStore + 'static> LocalRouter<S> {
    pub fn new(stores: Vec<S>, config: impl Fn() -> ShardConfig) -> Result<Self> {
        let mut shards = vec![];
        for (i, s) in stores.into_iter().enumerate() {
            let shard = Shard::new(i, s, config(), 1);
            let lsn = shard.applied_lsn()?;
            shards.push(Mutex::new((shard, lsn)));
        }
        Ok(LocalRouter {
            shards,
            clock: Mutex::new(None),
        })
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

    pub fn run(&self, shard: usize, req: Request) -> Result<Response> {
        let now = self.now();
        let mut guard = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        let (s, lsn) = &mut *guard;
        let out = s.handle(req, now)?;
        if let Some(m) = out.mutation {
            // Round-trip through the log encoding, as replay would see it.
            let m = Mutation::decode(&m.encode()?)?;
            *lsn += 1;
            s.apply(&m, *lsn)?;
        }
        Ok(out.response)
    }
}

impl<S: KvStore + 'static> ShardRouter for LocalRouter<S> {
    fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn call(&self, shard: usize, req: Request) -> ShardFuture {
        let r = self.run(shard, req);
        Box::pin(std::future::ready(r))
    }
}
