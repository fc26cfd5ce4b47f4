//! The engine: every shard behind one `ShardRouter`, plus what spans shards: placement,
//! fan-out and merge of lists and searches, cross references whose two ends live on different
//! shards, and tool results that depend on documents anywhere.
//!
//! Cross-reference invariant: the outgoing entry (on the source document's shard) is the link;
//! the incoming entry (on the target's shard) is an index to it. Adding writes the index first,
//! removing deletes the link first, and incoming reads keep only entries whose link exists (and
//! take its label and time from the link), so a crash between the two writes, a delete on one
//! side, or a lost concurrent add never shows a link that is not there. An index entry is removed
//! only together with the link it was made for (same `created_at`), so a link removed and added
//! again concurrently keeps its index.

use crate::model::*;
use crate::mutation::{XrefSide, XrefValue};
use crate::namespace::Namespace;
use crate::placement::{shard_of, shard_of_tool};
use crate::request::{AfterImage, RemovedLink, Request, Response, ShardStats, WriteOpts};
use crate::shard::txn_shard;
use crate::tree::{CacheStats, DocTree};
use crate::{Error, Result};
use futures_util::future::join_all;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub type ShardFuture = Pin<Box<dyn Future<Output = Result<Response>> + Send>>;

/// How requests reach shards: in this process (executors with inboxes, or direct calls in
/// tests), or in another process later.
pub trait ShardRouter: Send + Sync + 'static {
    fn shard_count(&self) -> usize;
    fn call(&self, shard: usize, req: Request) -> ShardFuture;

    /// The published tree of `doc` at `at` in shard `shard`'s cache, read on the caller's thread
    /// without asking the shard: durable state only, and None when the shard is not serving or
    /// the tree is not cached.
    fn cached_tree(&self, _shard: usize, _doc: &str, _at: ReadAt) -> Option<Arc<DocTree>> {
        None
    }

    /// Shard `shard`'s change feed (None: this router keeps none, as `LocalRouter`).
    fn feed(&self, _shard: usize) -> Option<Arc<crate::feed::FeedLive>> {
        None
    }

    /// Runs `f` on shard `shard`'s store, on the caller's thread (what it reads is whatever is
    /// applied; the caller bounds it, e.g. by the feed's published position).
    fn read_store<T>(
        &self,
        shard: usize,
        _f: &mut dyn FnMut(&dyn crate::store::KvRead) -> Result<T>,
    ) -> Result<T> {
        Err(Error::Unavailable {
            shard,
            reason: "this server does not read stores from router threads".into(),
        })
    }

    /// Identifies the data directory (resume tokens name it).
    fn data_id(&self) -> u64 {
        0
    }

    /// Each shard's tree cache counters, in shard order (empty without caches).
    fn tree_cache_stats(&self) -> Vec<CacheStats> {
        vec![]
    }

    /// State and log position of each shard, in shard order.
    fn health(&self) -> Vec<ShardHealth> {
        (0..self.shard_count())
            .map(|shard| ShardHealth {
                shard,
                state: ShardState::Serving,
                ..Default::default()
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShardState {
    /// Replaying its log; requests get `Unavailable`.
    #[default]
    Recovering,
    Serving,
    /// Stopped after a failed log write or sync; requests get `Unavailable` until restart.
    Poisoned,
    /// Checkpointing on the way out; requests get `Unavailable`.
    Stopping,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardHealth {
    pub shard: usize,
    pub state: ShardState,
    /// Highest LSN known durable (fsynced).
    pub durable_lsn: u64,
    /// Highest LSN written.
    pub last_lsn: u64,
    /// Bytes of log segments on disk.
    pub wal_bytes: u64,
    /// Why the shard is not serving, when it is not.
    pub detail: String,
    /// Where its log is corrupt, when that is why it is not serving.
    pub corruption: Option<LogCorruption>,
}

/// Damage found in a shard's log at recovery that is not a torn tail (a bad CRC, a zeroed block
/// or a missing segment before the end): the shard stays out of service, the others serve.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogCorruption {
    /// The segment file.
    pub file: String,
    /// Byte offset of the damage in `file`.
    pub offset: u64,
    /// What is wrong there.
    pub reason: String,
}

pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as Micros)
        .unwrap_or(0)
}

/// Stats as the shards that answered give them: a shard out of service (poisoned by a
/// corrupt log or a failed apply, stopping, overloaded) does not hide the others' counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sums over the shards that answered.
    pub total: ShardStats,
    /// Each shard's counters, or the error its call ended with, in shard order.
    pub per_shard: Vec<Result<ShardStats>>,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Tool-result lookups by the shard holding the result, in shard order.
    pub cache_per_shard: Vec<CacheLookups>,
}

impl Stats {
    /// True when some shard did not answer: `total` then counts only the others.
    pub fn partial(&self) -> bool {
        self.per_shard.iter().any(|s| s.is_err())
    }
}

/// Tool-result cache lookups that hit and that missed (absent, expired or stale).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheLookups {
    pub hits: u64,
    pub misses: u64,
}

pub struct Engine<R: ShardRouter> {
    router: Arc<R>,
    /// Per shard: tool-result lookups that hit, and that missed.
    cache_lookups: Vec<[AtomicU64; 2]>,
    ids: AtomicU64,
    /// Default lifetime of a cached tool result.
    pub default_ttl_seconds: u64,
}

fn unexpected(r: Response) -> Error {
    Error::Internal(format!("shard answered with an unexpected response: {r:?}"))
}

macro_rules! expect {
    ($resp:expr, $pat:pat => $out:expr) => {
        match $resp {
            $pat => Ok($out),
            other => Err(unexpected(other)),
        }
    };
}

// After `expect!`: macros are in scope only below their definition.
mod links;
mod tool_cache;
mod watch;
mod watch_token;

pub use watch::{Contents, WatchItem, WatchPlan, WatchSpec, WatchStart, MAX_WATCH_DOCS};

pub use tool_cache::canonical_json;

/// Result of a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteResult {
    pub version: Option<Version>,
    /// The node or document as the write left it (see `AfterImage`).
    pub after: Option<AfterImage>,
    pub removed_nodes: u64,
    pub removed_versions: u64,
}

/// A read's answer and the version it was made at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtVersion<T> {
    pub value: T,
    pub version: VersionNo,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<R: ShardRouter> Engine<R> {
    pub fn new(router: Arc<R>) -> Self {
        Engine {
            cache_lookups: (0..router.shard_count())
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
            router,
            ids: AtomicU64::new(0),
            default_ttl_seconds: 3600,
        }
    }

    pub fn router(&self) -> &Arc<R> {
        &self.router
    }

    pub fn shard_count(&self) -> usize {
        self.router.shard_count()
    }

    pub fn shard_for(&self, doc_id: &str) -> usize {
        shard_of(doc_id, self.shard_count())
    }

    /// The published tree of `doc_id` at `at`, read without asking its shard; None inside a
    /// transaction (which reads its own writes) or when the tree is not cached.
    pub fn cached_tree(&self, doc_id: &str, at: ReadAt, txn: Option<&str>) -> Option<Arc<DocTree>> {
        if txn.is_some() {
            return None;
        }
        self.router.cached_tree(self.shard_for(doc_id), doc_id, at)
    }

    /// Sends a document request to the document's shard, or to its transaction's shard when it
    /// names one (a transaction used with another document then gets the same clear error
    /// wherever that document lives).
    async fn on_doc(&self, doc_id: &str, req: Request) -> Result<Response> {
        let shard = req
            .txn()
            .and_then(txn_shard)
            .filter(|s| *s < self.shard_count())
            .unwrap_or_else(|| self.shard_for(doc_id));
        self.router.call(shard, req).await
    }

    async fn on_all(&self, make: impl Fn() -> Request) -> Result<Vec<Response>> {
        let futs: Vec<ShardFuture> = (0..self.shard_count())
            .map(|s| self.router.call(s, make()))
            .collect();
        let mut out = Vec::with_capacity(futs.len());
        for f in futs {
            out.push(f.await?);
        }
        Ok(out)
    }

    async fn write(&self, doc_id: &str, req: Request) -> Result<WriteResult> {
        let resp = self.on_doc(doc_id, req).await?;
        self.written(resp).await
    }

    async fn written(&self, resp: Response) -> Result<WriteResult> {
        match resp {
            Response::Written {
                version,
                after,
                removed_links,
                removed_nodes,
                removed_versions,
            } => {
                self.clean_peers(removed_links).await;
                Ok(WriteResult {
                    version,
                    after,
                    removed_nodes,
                    removed_versions,
                })
            }
            other => Err(unexpected(other)),
        }
    }

    /// Removes the other side of links that left with a deleted node or document. Best effort:
    /// reads verify links (see the module comment), so a failure here leaves garbage, never a
    /// wrong answer.
    /// Only the far entry made with the removed one goes: a link added again meanwhile stays.
    async fn clean_peers(&self, removed: Vec<RemovedLink>) {
        for gone in removed {
            let (peer, side) = match gone.side {
                XrefSide::Out => (gone.key.to_doc.clone(), XrefSide::In),
                XrefSide::In => (gone.key.from_doc.clone(), XrefSide::Out),
            };
            let req = Request::RemoveXref {
                key: gone.key,
                side,
                created_at: Some(gone.created_at),
            };
            if let Err(e) = self.on_doc(&peer, req).await {
                tracing::warn!(error = %e, "could not remove the far side of a link; reads filter it");
            }
        }
    }

    fn new_doc_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let t = now_micros();
        let salt = xxhash_rust::xxh3::xxh3_64(
            format!("{t}-{n}-{:?}", std::thread::current().id()).as_bytes(),
        );
        format!("{t:016x}{salt:016x}")
    }

    /// Creates a document, or replaces it when `overwrite`; returns its (qualified) id: 32 hex
    /// characters, generated in the id's namespace, when its public part is empty.
    pub async fn put_document(
        &self,
        mut doc: DocumentInput,
        overwrite: bool,
        write: WriteOpts,
    ) -> Result<(String, WriteResult)> {
        if crate::namespace::public(&doc.doc_id).is_empty() {
            if write.txn.is_some() {
                return Err(Error::invalid("doc_id", "is required inside a transaction"));
            }
            doc.doc_id = Namespace::of(&doc.doc_id).qualify(&self.new_doc_id());
        }
        let id = doc.doc_id.clone();
        let r = self
            .write(
                &id.clone(),
                Request::PutDocument {
                    doc,
                    overwrite,
                    write,
                },
            )
            .await?;
        Ok((id, r))
    }

    pub async fn get_document(
        &self,
        doc_id: &str,
        at: ReadAt,
        txn: Option<String>,
    ) -> Result<Document> {
        if let Some(t) = self.cached_tree(doc_id, at, txn.as_deref()) {
            return Ok(t.document());
        }
        expect!(self.on_doc(doc_id, Request::GetDocument { doc_id: doc_id.into(), at, txn }).await?, Response::Document(d) => d)
    }

    /// The documents of `namespace` whose public id starts with `id_prefix`, after the
    /// (qualified) `page_token`.
    pub async fn list_documents(
        &self,
        namespace: &Namespace,
        id_prefix: &str,
        metadata: BTreeMap<String, String>,
        page_token: Option<String>,
        page_size: usize,
        max_page: usize,
    ) -> Result<Page<Document>> {
        let limit = if page_size == 0 { 100 } else { page_size }.min(max_page);
        let resps = self
            .on_all(|| Request::ListDocuments {
                id_prefix: namespace.qualify(id_prefix),
                metadata: metadata.clone(),
                after: page_token.clone(),
                limit,
            })
            .await?;
        let mut all = vec![];
        for r in resps {
            all.extend(expect!(r, Response::Documents(d) => d)?);
        }
        all.sort_by(|a, b| a.doc_id.cmp(&b.doc_id));
        let more = all.len() > limit;
        all.truncate(limit);
        let next = if more || all.len() == limit {
            all.last().map(|d| d.doc_id.clone())
        } else {
            None
        };
        Ok(Page { items: all, next })
    }

    pub async fn delete_document(
        &self,
        doc_id: &str,
        expected_version: Option<VersionNo>,
    ) -> Result<WriteResult> {
        self.write(
            doc_id,
            Request::DeleteDocument {
                doc_id: doc_id.into(),
                expected_version,
            },
        )
        .await
    }

    pub async fn list_versions(
        &self,
        doc_id: &str,
        after: Option<VersionNo>,
        limit: usize,
    ) -> Result<Vec<Version>> {
        expect!(self.on_doc(doc_id, Request::ListVersions { doc_id: doc_id.into(), after, limit }).await?, Response::Versions(v) => v)
    }

    pub async fn version_as_of(
        &self,
        doc_id: &str,
        time: Micros,
        axis: TimeAxis,
    ) -> Result<Version> {
        expect!(self.on_doc(doc_id, Request::VersionAsOf { doc_id: doc_id.into(), time, axis }).await?, Response::Version(v) => v)
    }

    pub async fn diff(&self, doc_id: &str, from: VersionNo, to: VersionNo) -> Result<Diff> {
        expect!(self.on_doc(doc_id, Request::Diff { doc_id: doc_id.into(), from, to }).await?, Response::Diff(d) => d)
    }

    pub async fn get_node(
        &self,
        doc_id: &str,
        node_id: &str,
        at: ReadAt,
        include_text: bool,
        txn: Option<String>,
    ) -> Result<NodeView> {
        Ok(self
            .get_node_at(doc_id, node_id, at, include_text, txn)
            .await?
            .value)
    }

    pub async fn get_node_at(
        &self,
        doc_id: &str,
        node_id: &str,
        at: ReadAt,
        include_text: bool,
        txn: Option<String>,
    ) -> Result<AtVersion<NodeView>> {
        if let Some(t) = self.cached_tree(doc_id, at, txn.as_deref()) {
            let value = t.node_view(node_id, include_text)?;
            return Ok(AtVersion {
                value,
                version: t.version,
            });
        }
        let req = Request::GetNode {
            doc_id: doc_id.into(),
            node_id: node_id.into(),
            at,
            include_text,
            txn,
        };
        expect!(self.on_doc(doc_id, req).await?, Response::Node(n, v) => AtVersion { value: n, version: v })
    }

    pub async fn get_children(
        &self,
        doc_id: &str,
        node_id: Option<String>,
        at: ReadAt,
        include_text: bool,
        txn: Option<String>,
    ) -> Result<Vec<NodeView>> {
        Ok(self
            .get_children_at(doc_id, node_id, at, include_text, txn)
            .await?
            .value)
    }

    pub async fn get_children_at(
        &self,
        doc_id: &str,
        node_id: Option<String>,
        at: ReadAt,
        include_text: bool,
        txn: Option<String>,
    ) -> Result<AtVersion<Vec<NodeView>>> {
        if let Some(t) = self.cached_tree(doc_id, at, txn.as_deref()) {
            let value = t.children_views(node_id.as_deref(), include_text)?;
            return Ok(AtVersion {
                value,
                version: t.version,
            });
        }
        let req = Request::GetChildren {
            doc_id: doc_id.into(),
            node_id,
            at,
            include_text,
            txn,
        };
        expect!(self.on_doc(doc_id, req).await?, Response::Nodes(n, v) => AtVersion { value: n, version: v })
    }

    pub async fn get_subtree(
        &self,
        doc_id: &str,
        node_id: Option<String>,
        max_depth: usize,
        include_text: bool,
        at: ReadAt,
        txn: Option<String>,
    ) -> Result<Vec<NodeView>> {
        Ok(self
            .get_subtree_at(doc_id, node_id, max_depth, include_text, at, txn)
            .await?
            .value)
    }

    pub async fn get_subtree_at(
        &self,
        doc_id: &str,
        node_id: Option<String>,
        max_depth: usize,
        include_text: bool,
        at: ReadAt,
        txn: Option<String>,
    ) -> Result<AtVersion<Vec<NodeView>>> {
        if let Some(t) = self.cached_tree(doc_id, at, txn.as_deref()) {
            let value = t.subtree_views(node_id.as_deref(), max_depth, include_text)?;
            return Ok(AtVersion {
                value,
                version: t.version,
            });
        }
        let req = Request::GetSubtree {
            doc_id: doc_id.into(),
            node_id,
            max_depth,
            include_text,
            at,
            txn,
        };
        expect!(self.on_doc(doc_id, req).await?, Response::Nodes(n, v) => AtVersion { value: n, version: v })
    }

    pub async fn get_ancestors(
        &self,
        doc_id: &str,
        node_id: &str,
        at: ReadAt,
        include_text: bool,
        txn: Option<String>,
    ) -> Result<Vec<NodeView>> {
        Ok(self
            .get_ancestors_at(doc_id, node_id, at, include_text, txn)
            .await?
            .value)
    }

    pub async fn get_ancestors_at(
        &self,
        doc_id: &str,
        node_id: &str,
        at: ReadAt,
        include_text: bool,
        txn: Option<String>,
    ) -> Result<AtVersion<Vec<NodeView>>> {
        if let Some(t) = self.cached_tree(doc_id, at, txn.as_deref()) {
            let value = t.ancestor_views(node_id, include_text)?;
            return Ok(AtVersion {
                value,
                version: t.version,
            });
        }
        let req = Request::GetAncestors {
            doc_id: doc_id.into(),
            node_id: node_id.into(),
            at,
            include_text,
            txn,
        };
        expect!(self.on_doc(doc_id, req).await?, Response::Nodes(n, v) => AtVersion { value: n, version: v })
    }

    pub async fn insert_node(
        &self,
        doc_id: &str,
        parent: Option<String>,
        position: Option<u32>,
        node: NodeInput,
        write: WriteOpts,
    ) -> Result<WriteResult> {
        self.write(
            doc_id,
            Request::InsertNode {
                doc_id: doc_id.into(),
                parent,
                position,
                node,
                write,
            },
        )
        .await
    }

    pub async fn update_node(
        &self,
        doc_id: &str,
        node_id: &str,
        content: NodeContent,
        mask: FieldMask,
        write: WriteOpts,
    ) -> Result<WriteResult> {
        self.write(
            doc_id,
            Request::UpdateNode {
                doc_id: doc_id.into(),
                node_id: node_id.into(),
                content,
                mask,
                write,
            },
        )
        .await
    }

    pub async fn move_node(
        &self,
        doc_id: &str,
        node_id: &str,
        new_parent: Option<String>,
        position: Option<u32>,
        write: WriteOpts,
    ) -> Result<WriteResult> {
        self.write(
            doc_id,
            Request::MoveNode {
                doc_id: doc_id.into(),
                node_id: node_id.into(),
                new_parent,
                position,
                write,
            },
        )
        .await
    }

    pub async fn delete_node(
        &self,
        doc_id: &str,
        node_id: &str,
        write: WriteOpts,
    ) -> Result<WriteResult> {
        self.write(
            doc_id,
            Request::DeleteNode {
                doc_id: doc_id.into(),
                node_id: node_id.into(),
                write,
            },
        )
        .await
    }

    /// Nodes holding every word of `query`, ordered by (document, node); `page_token` resumes.
    /// Without `doc_id`, in the documents of `namespace`.
    pub async fn search(
        &self,
        query: &str,
        doc_id: Option<String>,
        namespace: &Namespace,
        at: ReadAt,
        page_token: Option<String>,
        limit: usize,
    ) -> Result<Page<SearchHit>> {
        let mut words: Vec<String> = vec![];
        for w in crate::words::words(query) {
            if !words.contains(&w) {
                words.push(w);
            }
        }
        if words.is_empty() {
            return Err(Error::invalid("query", "has no words"));
        }
        let limit = if limit == 0 { 20 } else { limit };
        let after = match &page_token {
            None => None,
            Some(t) => Some(
                t.split_once('\u{1}')
                    .map(|(d, n)| (d.to_string(), n.to_string()))
                    .ok_or_else(|| Error::invalid("page_token", "malformed"))?,
            ),
        };
        let make = || Request::Search {
            words: words.clone(),
            doc_id: doc_id.clone(),
            namespace: namespace.clone(),
            at,
            after: after.clone(),
            limit,
        };
        let resps = match &doc_id {
            Some(d) => vec![self.on_doc(d, make()).await?],
            None => self.on_all(make).await?,
        };
        let mut hits = vec![];
        for r in resps {
            hits.extend(expect!(r, Response::Hits(h) => h)?);
        }
        hits.sort_by(|a, b| (&a.doc_id, &a.node_id).cmp(&(&b.doc_id, &b.node_id)));
        hits.truncate(limit);
        let next = (hits.len() == limit)
            .then(|| {
                hits.last()
                    .map(|h| format!("{}\u{1}{}", h.doc_id, h.node_id))
            })
            .flatten();
        Ok(Page { items: hits, next })
    }

    pub async fn begin(
        &self,
        doc_id: &str,
        timeout_ms: Option<u64>,
    ) -> Result<(String, VersionNo)> {
        expect!(self.on_doc(doc_id, Request::Begin { doc_id: doc_id.into(), timeout_ms }).await?, Response::Began { txn, snapshot_version } => (txn, snapshot_version))
    }

    fn txn_route(&self, txn: &str) -> Result<usize> {
        txn_shard(txn)
            .filter(|s| *s < self.shard_count())
            .ok_or_else(|| Error::not_found("transaction", txn))
    }

    /// Commits `txn` as one version, recorded as committed by `committed_by` (the caller of the
    /// commit, whoever began the transaction; "" = unknown). NotFound when `txn` is unknown, or
    /// when its document is not in `namespace`.
    pub async fn commit(
        &self,
        txn: &str,
        namespace: &Namespace,
        effective_time: Option<Micros>,
        message: String,
        committed_by: String,
    ) -> Result<WriteResult> {
        let shard = self.txn_route(txn)?;
        let resp = self
            .router
            .call(
                shard,
                Request::Commit {
                    txn: txn.into(),
                    namespace: namespace.clone(),
                    effective_time,
                    message,
                    committed_by,
                },
            )
            .await?;
        self.written(resp).await
    }

    /// Rolls `txn` back; NotFound when unknown, or when its document is not in `namespace`.
    pub async fn rollback(&self, txn: &str, namespace: &Namespace) -> Result<()> {
        let shard = self.txn_route(txn)?;
        let req = Request::Rollback {
            txn: txn.into(),
            namespace: namespace.clone(),
        };
        expect!(self.router.call(shard, req).await?, Response::Done => ())
    }

    pub async fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        for [hits, misses] in &self.cache_lookups {
            let shard = CacheLookups {
                hits: hits.load(Ordering::Relaxed),
                misses: misses.load(Ordering::Relaxed),
            };
            s.cache_hits += shard.hits;
            s.cache_misses += shard.misses;
            s.cache_per_shard.push(shard);
        }
        // Every shard is asked at once; each answer is awaited on its own, so one failing
        // shard leaves the others' counters in the answer.
        let futs: Vec<ShardFuture> = (0..self.shard_count())
            .map(|shard| self.router.call(shard, Request::Stats))
            .collect();
        for f in futs {
            let answer = match f.await {
                Ok(r) => expect!(r, Response::Stats(x) => x),
                Err(e) => Err(e),
            };
            if let Ok(x) = &answer {
                s.total.documents += x.documents;
                s.total.nodes += x.nodes;
                s.total.versions += x.versions;
                s.total.active_transactions += x.active_transactions;
                s.total.tool_results += x.tool_results;
            }
            s.per_shard.push(answer);
        }
        // With no shard answering there are no counters to give: the first shard's error.
        if !s.per_shard.iter().any(|a| a.is_ok()) {
            if let Some(Err(e)) = s.per_shard.first() {
                return Err(e.clone());
            }
        }
        Ok(s)
    }
}
