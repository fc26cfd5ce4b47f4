//! `Watch`: a stream of the selected documents' feed events, merged over the shards.
//!
//! A watch keeps, per shard, the LSN up to which it has delivered (`positions`, what its resume
//! tokens carry) and reads each shard's feed after it on the caller's thread (`feed::read_after`:
//! the shard's ring of recent events, or its store when the watch is further behind). It never
//! makes a shard wait: the shard publishes and wakes, and a watch whose consumer is slow simply
//! reads later (from the store once it has fallen out of the ring, which it is told with a
//! `Lagged` item). What it delivers is durable (the feed publishes only durable events), and
//! per document in version order with no gaps (one shard's feed is in log order).
//!
//! Errors end the stream: a shard not serving (recovering, poisoned, stopping) is `Unavailable`
//! (the client resumes from its last token).

use super::watch_token::ResumeToken;
use super::{Engine, ShardRouter, ShardState};
use crate::feed::{read_after, start_after_version, FeedEvent, FeedLive, FeedRead, Start};
use crate::model::{NodeView, ReadAt, VersionNo};
use crate::namespace::Namespace;
use crate::view::{resolve, DocView};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Most documents one watch may name.
pub const MAX_WATCH_DOCS: usize = 1000;
/// Events read from one shard at a time.
const READ_BATCH: usize = 256;
/// How often an idle watch checks that its shards still serve.
const STATE_CHECK: Duration = Duration::from_millis(500);

/// What a client asks to watch.
#[derive(Clone, Debug, Default)]
pub struct WatchSpec {
    /// The namespace of the documents: `doc_ids`, `prefix` and the keys of
    /// `WatchStart::Versions` are public ids in it (the plan qualifies them), and a prefix
    /// selects this namespace's documents only.
    pub namespace: Namespace,
    /// These documents; empty = every document whose id starts with `prefix`.
    pub doc_ids: Vec<String>,
    pub prefix: String,
    pub start: WatchStart,
    /// Version events carry the nodes added, updated or moved.
    pub include_contents: bool,
}

#[derive(Clone, Debug, Default)]
pub enum WatchStart {
    /// Changes durable after the watch started.
    #[default]
    Now,
    /// After the event that carried this token.
    Token(Vec<u8>),
    /// Per document, after this version (0 = its oldest event kept).
    Versions(BTreeMap<String, VersionNo>),
}

/// The nodes a version event carries when contents were asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Contents {
    /// The nodes added, updated or moved, sorted by id, as of the version (text included).
    Nodes(Vec<NodeView>),
    /// The version is no longer stored (the document was deleted since).
    Unavailable,
}

#[derive(Clone, Debug)]
pub enum WatchItem {
    Event {
        event: Arc<FeedEvent>,
        contents: Option<Contents>,
        token: Vec<u8>,
    },
    /// Everything selected that was durable when the watch started has been delivered.
    CaughtUp { token: Vec<u8> },
    /// Behind: `lost` = retention removed events the watch had not read (it goes on after
    /// them); else it fell out of its shard's ring and reads the store. `behind` = log records
    /// between its position and the shard's published one.
    Lagged {
        lost: bool,
        behind: u64,
        token: Vec<u8>,
    },
}

/// Which documents a watch delivers (qualified ids, see `namespace`).
enum Selection {
    Docs(HashSet<String>),
    /// The documents of the namespace whose public id starts with the prefix.
    Prefix(Namespace, String),
}

impl Selection {
    fn selects(&self, doc: &str) -> bool {
        match self {
            Selection::Docs(ids) => ids.contains(doc),
            Selection::Prefix(ns, p) => {
                ns.contains(doc) && crate::namespace::public(doc).starts_with(p.as_str())
            }
        }
    }
}

/// A validated watch, ready to run.
pub struct WatchPlan {
    selection: Selection,
    include_contents: bool,
    data_id: u64,
    /// Shards the watch reads (those its documents live on; all for a prefix).
    shards: Vec<usize>,
    /// Per shard: delivered up to this LSN.
    positions: Vec<u64>,
    /// Per shard: events at or below this LSN are delivered only for the documents of
    /// `doc_starts` (a watch "after versions" starts the other documents now).
    now: Vec<u64>,
    /// Per document: deliver its events above this LSN.
    doc_starts: HashMap<String, u64>,
    /// Per shard: the published LSN when the watch started (CaughtUp once all are reached).
    caught_up_at: Vec<u64>,
    /// Shards whose start was lost to retention: the first item says so.
    lost_at_start: Vec<usize>,
    feeds: Vec<Arc<FeedLive>>,
}

impl<R: ShardRouter> Engine<R> {
    /// Checks a watch request (ids against `lim`, the server's limits) and fixes where it
    /// starts in each shard's feed.
    pub fn plan_watch(&self, spec: WatchSpec, lim: &crate::limits::Limits) -> Result<WatchPlan> {
        let n = self.shard_count();
        let feeds = (0..n)
            .map(|s| {
                self.router
                    .feed(s)
                    .ok_or_else(|| Error::Internal("this server keeps no change feed".to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let selection = if spec.doc_ids.is_empty() {
            if spec.prefix.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "prefix",
                    "must not contain control characters",
                ));
            }
            Selection::Prefix(spec.namespace.clone(), spec.prefix)
        } else {
            if !spec.prefix.is_empty() {
                return Err(Error::invalid(
                    "prefix",
                    "must be empty when doc_ids is given",
                ));
            }
            if spec.doc_ids.len() > MAX_WATCH_DOCS {
                return Err(Error::invalid(
                    "doc_ids",
                    format!(
                        "names {} documents; at most {MAX_WATCH_DOCS}",
                        spec.doc_ids.len()
                    ),
                ));
            }
            for id in &spec.doc_ids {
                lim.check_id("doc_ids", id)?;
            }
            let ns = &spec.namespace;
            Selection::Docs(spec.doc_ids.iter().map(|d| ns.qualify(d)).collect())
        };
        let shards: Vec<usize> = match &selection {
            Selection::Docs(ids) => {
                let mut s: Vec<usize> = ids.iter().map(|d| self.shard_for(d)).collect();
                s.sort_unstable();
                s.dedup();
                s
            }
            Selection::Prefix(..) => (0..n).collect(),
        };
        let published: Vec<u64> = feeds.iter().map(|f| f.published()).collect();
        let data_id = self.router.data_id();
        let mut plan = WatchPlan {
            selection,
            include_contents: spec.include_contents,
            data_id,
            shards,
            positions: published.clone(),
            now: vec![0; n],
            doc_starts: HashMap::new(),
            caught_up_at: published.clone(),
            lost_at_start: vec![],
            feeds,
        };
        match spec.start {
            WatchStart::Now => {}
            WatchStart::Token(bytes) => {
                let token = ResumeToken::decode(&bytes)?;
                if token.data_id != data_id || token.positions.len() != n {
                    return Err(Error::FailedPrecondition(
                        "resume_token was issued for another data directory".into(),
                    ));
                }
                for (s, (&at, &p)) in token.positions.iter().zip(&published).enumerate() {
                    if at > p {
                        return Err(Error::FailedPrecondition(format!(
                            "resume_token is ahead of shard {s}'s log (at {at}, log at {p}): \
                             a token of another data directory?"
                        )));
                    }
                }
                plan.positions = token.positions;
            }
            WatchStart::Versions(versions) => {
                plan.now = published;
                for (public_doc, v) in versions {
                    lim.check_id("from_versions", &public_doc)?;
                    let doc = spec.namespace.qualify(&public_doc);
                    if !plan.selection.selects(&doc) {
                        return Err(Error::invalid(
                            "from_versions",
                            format!("document {public_doc:?} is not selected by doc_ids or prefix"),
                        ));
                    }
                    let s = self.shard_for(&doc);
                    let feed = &plan.feeds[s];
                    let start = self
                        .router
                        .read_store(s, &mut |st| start_after_version(feed, st, &doc, v))?;
                    let after = match start {
                        Start::After(lsn) => lsn,
                        Start::Lost => {
                            plan.lost_at_start.push(s);
                            feed.trimmed()
                        }
                        Start::NotYet => {
                            return Err(Error::FailedPrecondition(format!(
                                "document {doc:?} has no version {v}"
                            )))
                        }
                    };
                    plan.positions[s] = plan.positions[s].min(after);
                    plan.doc_starts.insert(doc, after);
                }
            }
        }
        Ok(plan)
    }

    /// Runs a planned watch, sending its items to `out` until the receiver is dropped (the
    /// client went away) or an error ends it (sent as the last item).
    pub async fn run_watch(&self, mut plan: WatchPlan, out: mpsc::Sender<Result<WatchItem>>) {
        if let Err(e) = self.watch_loop(&mut plan, &out).await {
            let _ = out.send(Err(e)).await;
        }
    }

    async fn watch_loop(
        &self,
        plan: &mut WatchPlan,
        out: &mpsc::Sender<Result<WatchItem>>,
    ) -> Result<()> {
        let mut wakers: Vec<watch::Receiver<u64>> = plan
            .shards
            .iter()
            .map(|&s| plan.feeds[s].subscribe())
            .collect();
        // Per shard: reading the ring (live) rather than the store.
        let mut live = vec![false; plan.positions.len()];
        for s in std::mem::take(&mut plan.lost_at_start) {
            let behind = plan.feeds[s].published().saturating_sub(plan.positions[s]);
            let token = plan.token();
            send(
                out,
                WatchItem::Lagged {
                    lost: true,
                    behind,
                    token,
                },
            )
            .await?;
        }
        let mut caught_up = false;
        // A shard that stops serving publishes nothing more: checked at the start and whenever
        // the watch has been idle for STATE_CHECK.
        self.check_serving(plan)?;
        loop {
            for w in wakers.iter_mut() {
                w.borrow_and_update();
            }
            let mut progressed = false;
            for i in 0..plan.shards.len() {
                let s = plan.shards[i];
                progressed |= self.pump_shard(plan, s, &mut live[s], out).await?;
            }
            if !caught_up && plan.caught_up() {
                caught_up = true;
                send(
                    out,
                    WatchItem::CaughtUp {
                        token: plan.token(),
                    },
                )
                .await?;
            }
            if progressed {
                continue;
            }
            let changed =
                futures_util::future::select_all(wakers.iter_mut().map(|w| Box::pin(w.changed())));
            tokio::select! {
                _ = changed => {}
                _ = out.closed() => return Ok(()),
                _ = tokio::time::sleep(STATE_CHECK) => self.check_serving(plan)?,
            }
        }
    }

    fn check_serving(&self, plan: &WatchPlan) -> Result<()> {
        let health = self.router.health();
        for &s in &plan.shards {
            if let Some(h) = health.get(s) {
                if h.state != ShardState::Serving {
                    let reason = match h.state {
                        ShardState::Recovering => "recovering".to_string(),
                        ShardState::Stopping => "shutting down".to_string(),
                        _ => h.detail.clone(),
                    };
                    return Err(Error::Unavailable { shard: s, reason });
                }
            }
        }
        Ok(())
    }

    /// Delivers the next events of shard `s`; whether its position moved.
    async fn pump_shard(
        &self,
        plan: &mut WatchPlan,
        s: usize,
        live: &mut bool,
        out: &mpsc::Sender<Result<WatchItem>>,
    ) -> Result<bool> {
        let after = plan.positions[s];
        let feed = plan.feeds[s].clone();
        let read = self
            .router
            .read_store(s, &mut |st| read_after(&feed, st, after, READ_BATCH))?;
        match read {
            FeedRead::Lost { trimmed } => {
                let behind = feed.published().saturating_sub(after);
                plan.positions[s] = trimmed.max(after);
                *live = false;
                send(
                    out,
                    WatchItem::Lagged {
                        lost: true,
                        behind,
                        token: plan.token(),
                    },
                )
                .await?;
                Ok(true)
            }
            FeedRead::Events {
                events,
                through,
                from_store,
            } => {
                if from_store && *live {
                    let behind = feed.published().saturating_sub(after);
                    send(
                        out,
                        WatchItem::Lagged {
                            lost: false,
                            behind,
                            token: plan.token(),
                        },
                    )
                    .await?;
                }
                *live = !from_store;
                for (lsn, event) in events {
                    if !plan.wants(s, lsn, event.doc_id()) {
                        continue;
                    }
                    let contents = match (&*event, plan.include_contents) {
                        (FeedEvent::Version(v), true) => Some(self.contents(s, v)?),
                        _ => None,
                    };
                    plan.positions[s] = lsn;
                    let token = plan.token();
                    send(
                        out,
                        WatchItem::Event {
                            event,
                            contents,
                            token,
                        },
                    )
                    .await?;
                }
                plan.positions[s] = through.max(plan.positions[s]);
                Ok(through > after)
            }
        }
    }

    /// The nodes a version added, updated or moved, as of that version.
    fn contents(&self, s: usize, v: &crate::feed::VersionChange) -> Result<Contents> {
        let mut ids: Vec<&str> = v
            .added
            .iter()
            .chain(&v.updated)
            .chain(&v.moved)
            .map(String::as_str)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        self.router.read_store(s, &mut |st| {
            let version = match resolve(st, &v.doc_id, ReadAt::Version(v.version)) {
                Ok((_, version)) => version,
                Err(Error::NotFound { .. }) => return Ok(Contents::Unavailable),
                Err(e) => return Err(e),
            };
            let view = DocView {
                store: st,
                doc: &v.doc_id,
                version,
                overlay: None,
            };
            let nodes = ids
                .iter()
                .map(|id| view.node_view(id, true))
                .collect::<Result<Vec<_>>>()?;
            Ok(Contents::Nodes(nodes))
        })
    }
}

impl WatchPlan {
    fn token(&self) -> Vec<u8> {
        ResumeToken {
            data_id: self.data_id,
            positions: self.positions.clone(),
        }
        .encode()
    }

    fn caught_up(&self) -> bool {
        self.shards
            .iter()
            .all(|&s| self.positions[s] >= self.caught_up_at[s])
    }

    /// Whether the event of `doc` at `lsn` on shard `s` is delivered.
    fn wants(&self, s: usize, lsn: u64, doc: &str) -> bool {
        self.selection.selects(doc)
            && lsn > self.doc_starts.get(doc).copied().unwrap_or(self.now[s])
    }
}

async fn send(out: &mpsc::Sender<Result<WatchItem>>, item: WatchItem) -> Result<()> {
    // The receiver is gone: the client went away. Ending quietly is all there is to do.
    out.send(Ok(item)).await.map_err(|_| Error::Unavailable {
        shard: 0,
        reason: "watch closed by the client".into(),
    })
}
