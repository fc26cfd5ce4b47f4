//! `Watch`: the change feed as a server stream. The engine plans the watch (errors are the
//! RPC's status) and runs it in a task of its own, sending into a small bounded channel: a
//! consumer that stops reading stops the task at its next send (HTTP/2 flow control pushes
//! back), never a shard. The task ends when the client goes away, when a shard stops serving
//! (UNAVAILABLE, the last item) or when the server shuts down.

use super::{Caller, Service};
use crate::status::to_status;
use crate::{convert, pb};
use shards::engine::{Contents, ShardRouter, WatchItem, WatchSpec, WatchStart};
use shards::feed::FeedEvent;
use std::pin::Pin;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

/// Items a watch task runs ahead of its consumer.
const WATCH_BUFFER: usize = 16;

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEvent, Status>> + Send>>;

impl<R: ShardRouter> Service<R> {
    pub(super) async fn do_watch(
        &self,
        r: pb::WatchRequest,
        caller: &Caller,
    ) -> Result<WatchStream, Status> {
        let start = match r.start {
            None => WatchStart::Now,
            Some(pb::watch_request::Start::ResumeToken(t)) => WatchStart::Token(t),
            Some(pb::watch_request::Start::FromVersions(v)) => {
                WatchStart::Versions(v.versions.into_iter().collect())
            }
        };
        let spec = WatchSpec {
            namespace: caller.namespace.clone(),
            doc_ids: r.doc_ids,
            prefix: r.prefix,
            start,
            include_contents: r.include_contents,
        };
        let plan = self
            .engine
            .plan_watch(spec, &self.limits)
            .map_err(to_status)?;
        let (tx, rx) = tokio::sync::mpsc::channel(WATCH_BUFFER);
        let engine = self.engine.clone();
        let mut stop = self.stop.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            metrics.watches.inc();
            let closed = tx.clone();
            let stopping = async move { stop.wait_for(|s| *s).await.is_ok() };
            let stopped = tokio::select! {
                _ = engine.run_watch(plan, tx) => false,
                true = stopping => true,
            };
            if stopped {
                let reason = "the server is shutting down; resume from the last resume_token";
                let _ = closed
                    .send(Err(shards::Error::Unavailable {
                        shard: 0,
                        reason: reason.into(),
                    }))
                    .await;
            }
            metrics.watches.dec();
        });
        let metrics = self.metrics.clone();
        Ok(Box::pin(ReceiverStream::new(rx).map(move |item| {
            let item = item.map_err(to_status)?;
            if matches!(item, WatchItem::Event { .. }) {
                metrics.watch_events.inc();
            }
            Ok(event(item))
        })))
    }
}

fn event(item: WatchItem) -> pb::WatchEvent {
    use pb::watch_event::Event;
    let (event, resume_token) = match item {
        WatchItem::Event {
            event,
            contents,
            token,
        } => {
            let e = match &*event {
                FeedEvent::Version(v) => {
                    let (nodes, contents_unavailable) = match contents {
                        Some(Contents::Nodes(n)) => (convert::nodes(n), false),
                        Some(Contents::Unavailable) => (vec![], true),
                        None => (vec![], false),
                    };
                    Event::Version(pb::VersionEvent {
                        doc_id: convert::public_id(v.doc_id.clone()),
                        version: Some(pb::Version {
                            version: v.version,
                            commit_time: v.commit_time,
                            effective_time: v.effective_time,
                            message: v.message.clone(),
                            nodes_changed: v.nodes_changed,
                            committed_by: v.committed_by.clone(),
                        }),
                        created: v.created,
                        added: v.added.clone(),
                        removed: v.removed.clone(),
                        updated: v.updated.clone(),
                        moved: v.moved.clone(),
                        header_changed: v.header_changed,
                        nodes,
                        contents_unavailable,
                    })
                }
                FeedEvent::Deleted(d) => Event::Deleted(pb::DeleteEvent {
                    doc_id: convert::public_id(d.doc_id.clone()),
                    last_version: d.last_version,
                    deleted_at: d.deleted_at,
                }),
            };
            (e, token)
        }
        WatchItem::CaughtUp { token } => (Event::CaughtUp(pb::CaughtUp {}), token),
        WatchItem::Lagged {
            lost,
            behind,
            token,
        } => (
            Event::Lagged(pb::Lagged {
                changes_lost: lost,
                behind,
            }),
            token,
        ),
    };
    pb::WatchEvent {
        event: Some(event),
        resume_token,
    }
}
