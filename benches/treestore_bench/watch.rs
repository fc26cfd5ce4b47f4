//! `--watchers N`: the change feed under load. N Watch streams (all documents, from now) over
//! `--connections` HTTP/2 connections, while `--clients` writers send durable UpdateNodes for
//! `--seconds`. Reports the writes' throughput and latency, and each event's delivery latency:
//! the time the watcher received it minus the version's commit time (the server's clock; run
//! the bench on the server's machine so both read one clock). `--watchers 0` gives the same
//! writes without watchers, for the feed's cost on writes.

use super::{BoxErr, Tree};
use crate::conn::Channel;
use hdrhistogram::Histogram;
use shards::engine::now_micros;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use treestore::pb;
use treestore::pb::tree_store_client::TreeStoreClient;
use treestore::pb::watch_event::Event;

/// One watcher: waits until caught up (then signals `ready`), records each version event's
/// delivery latency until `stop`.
async fn watcher(
    mut c: TreeStoreClient<Channel>,
    ready: tokio::sync::mpsc::Sender<()>,
    stop: Arc<AtomicBool>,
) -> Result<Histogram<u64>, BoxErr> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut s = c.watch(pb::WatchRequest::default()).await?.into_inner();
    loop {
        let next = tokio::time::timeout(Duration::from_millis(200), s.message()).await;
        let e = match next {
            Ok(m) => m?.ok_or("the watch stream ended")?,
            Err(_) if stop.load(Ordering::Relaxed) => return Ok(hist),
            Err(_) => continue,
        };
        match e.event {
            Some(Event::CaughtUp(_)) => {
                let _ = ready.send(()).await;
            }
            Some(Event::Version(v)) => {
                let committed = v.version.map_or(0, |v| v.commit_time);
                hist.saturating_record((now_micros() - committed).max(1) as u64);
            }
            _ => {}
        }
    }
}

/// One writer: durable title updates round robin over the documents until `stop`.
async fn writer(
    mut c: TreeStoreClient<Channel>,
    tree: Arc<Tree>,
    w: usize,
    writers: usize,
    stop: Arc<AtomicBool>,
) -> Result<Histogram<u64>, BoxErr> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    // Writer w writes titles w, w + writers, ...: no two writes set the same title on the
    // same node, so each one is a new version (an event).
    let mut i = w;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        c.update_node(pb::UpdateNodeRequest {
            doc_id: tree.docs[i % tree.docs.len()].clone(),
            node_id: tree.all[(i / tree.docs.len()) % tree.all.len()].clone(),
            node: Some(pb::NodeInput {
                title: format!("watched {i}"),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
            ..Default::default()
        })
        .await?;
        hist.saturating_record(t.elapsed().as_micros() as u64);
        i += writers;
    }
    Ok(hist)
}

/// Runs the writers for `seconds` beside `watchers` streams; returns the report line.
pub async fn run(
    channels: &[Channel],
    tree: Arc<Tree>,
    watchers: usize,
    writers: usize,
    seconds: u64,
    server: Option<super::probe::Cpu>,
) -> Result<String, BoxErr> {
    let stop_watching = Arc::new(AtomicBool::new(false));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(watchers.max(1));
    let mut watching = vec![];
    for i in 0..watchers {
        let c = TreeStoreClient::new(channels[i % channels.len()].clone());
        watching.push(tokio::spawn(watcher(
            c,
            ready_tx.clone(),
            stop_watching.clone(),
        )));
    }
    for _ in 0..watchers {
        ready_rx.recv().await.ok_or("a watcher failed to start")?;
    }
    let stop_writing = Arc::new(AtomicBool::new(false));
    let cpu_before = server.as_ref().map(|c| c.seconds()).transpose()?;
    let started = Instant::now();
    let mut writing = vec![];
    for w in 0..writers {
        let c = TreeStoreClient::new(channels[w % channels.len()].clone());
        let stop = stop_writing.clone();
        writing.push(tokio::spawn(writer(c, tree.clone(), w, writers, stop)));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop_writing.store(true, Ordering::Relaxed);
    let mut writes = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for w in writing {
        writes.add(w.await??)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Let the last events arrive, then stop the watchers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_watching.store(true, Ordering::Relaxed);
    let mut delivery = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for w in watching {
        delivery.add(w.await??)?;
    }
    let cpu_used = match (&server, cpu_before) {
        (Some(c), Some(before)) => Some(c.seconds()? - before),
        _ => None,
    };
    let ms = |us: u64| us as f64 / 1000.0;
    let mut line = format!(
        "{writers} writers beside {watchers} watchers, {seconds} s: {:.0} writes/s, write \
         latency p50 {:.2} ms p99 {:.2} ms",
        writes.len() as f64 / elapsed,
        ms(writes.value_at_quantile(0.5)),
        ms(writes.value_at_quantile(0.99)),
    );
    if let Some(cpu) = cpu_used {
        line += &format!(
            "; server CPU {:.1} us per write (watchers' reads included)",
            cpu * 1e6 / writes.len().max(1) as f64
        );
    }
    if watchers > 0 {
        line += &format!(
            "; {} events delivered ({:.2} per write and watcher), delivery latency commit -> \
             client p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            delivery.len(),
            delivery.len() as f64 / (writes.len().max(1) as f64 * watchers as f64),
            ms(delivery.value_at_quantile(0.5)),
            ms(delivery.value_at_quantile(0.99)),
            ms(delivery.max()),
        );
    }
    Ok(line)
}
