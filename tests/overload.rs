//! Overload on the real server: a burst far beyond the shards' inboxes is answered promptly
//! (served, or refused at once with RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED), short client
//! deadlines are refused by the server rather than served late, and a client that stops reading
//! its responses holds bounded memory while other clients are served.

mod common;

use common::{http_get, leaf, Server};
use prost::Message;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::Channel;
use tonic::Code;
use treestore::pb;
use treestore::pb::tree_store_client::TreeStoreClient;

/// Children of each document's root: more than the 64 nodes a shard reads inline, so every
/// subtree read below is real work on the shard's blocking pool.
const CHILDREN: usize = 200;

/// A document: root "r" with `CHILDREN` children, each with `text_bytes` of text.
fn wide_doc(doc: &str, text_bytes: usize) -> pb::PutDocumentRequest {
    let mut root = leaf("r", "root");
    root.children = (0..CHILDREN)
        .map(|i| {
            let mut n = leaf(&format!("c{i:04}"), &format!("child {i}"));
            n.text = "x".repeat(text_bytes);
            n
        })
        .collect();
    pb::PutDocumentRequest {
        doc_id: doc.into(),
        name: doc.into(),
        roots: vec![root],
        ..Default::default()
    }
}

fn count_nodes(n: &pb::Node) -> usize {
    1 + n.children.iter().map(count_nodes).sum::<usize>()
}

/// The sum of every line of `series` (any labels) in a /metrics page.
fn sum_of(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `n` clients, each on its own HTTP/2 connection.
async fn connections(s: &Server, n: usize) -> Vec<TreeStoreClient<Channel>> {
    let mut out = vec![];
    for _ in 0..n {
        let ch = Channel::from_shared(s.url())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        out.push(TreeStoreClient::new(ch).max_decoding_message_size(64 << 20));
    }
    out
}

/// What one request of a burst got: its latency, and the nodes served or the status.
struct Outcome {
    elapsed: Duration,
    result: Result<usize, (Code, String)>,
}

/// What a burst sends.
#[derive(Clone, Copy)]
enum Kind {
    /// The TreeStore Health RPC: the whole gRPC stack, no shard (the baseline).
    Health,
    /// A subtree read on a shard's blocking pool.
    Subtree,
}

/// Sends `n` requests at once over `clients` and waits for every answer.
async fn burst(clients: &[TreeStoreClient<Channel>], n: usize, kind: Kind) -> Vec<Outcome> {
    let docs = ["d0", "d1", "d2", "d3"];
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let mut client = clients[i % clients.len()].clone();
        let doc = docs[i % docs.len()].to_string();
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let result = match kind {
                Kind::Health => client.health(pb::HealthRequest {}).await.map(|_| 0),
                Kind::Subtree => client
                    .get_subtree(pb::GetSubtreeRequest {
                        doc_id: doc,
                        node_id: "r".into(),
                        include_text: true,
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.get_ref().roots.iter().map(count_nodes).sum()),
            };
            Outcome {
                elapsed: start.elapsed(),
                result: result.map_err(|s| (s.code(), s.message().to_string())),
            }
        }));
    }
    let mut outcomes = Vec::with_capacity(n);
    for t in tasks {
        outcomes.push(t.await.expect("task"));
    }
    outcomes
}

/// Counts of each status (and the first message of each), for assertion messages.
fn summary(outcomes: &[Outcome]) -> String {
    let mut kinds: std::collections::BTreeMap<String, (usize, Duration, String)> =
        Default::default();
    for o in outcomes {
        let (key, msg) = match &o.result {
            Ok(_) => ("OK".to_string(), String::new()),
            Err((c, m)) => (format!("{c:?}"), m.chars().take(100).collect()),
        };
        let e = kinds.entry(key).or_default();
        e.0 += 1;
        e.1 = e.1.max(o.elapsed);
        if e.2.is_empty() {
            e.2 = msg;
        }
    }
    kinds
        .iter()
        .map(|(k, (n, slowest, m))| format!("{n} {k} (slowest {slowest:?}) {m}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn slowest(outcomes: &[Outcome]) -> Duration {
    outcomes.iter().map(|o| o.elapsed).max().unwrap_or_default()
}

/// A server with inboxes of 16 per shard (2 shards), the tree cache off (so every subtree read
/// reaches a shard) and a max queue wait of 1 s; documents d0..d3 (on both shards).
async fn loaded_server() -> Server {
    let s = Server::start(&[
        "--inbox-capacity",
        "16",
        "--tree-cache-bytes",
        "0",
        "--max-queue-wait-ms",
        "1000",
    ])
    .await;
    let mut c = s.client().await;
    for d in ["d0", "d1", "d2", "d3"] {
        c.put_document(wide_doc(d, 100)).await.expect("put");
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_far_beyond_the_inboxes_is_answered_about_as_fast_as_the_server_answers_anything() {
    const BURST: usize = 5000;
    let s = loaded_server().await;
    let clients = connections(&s, 4).await;
    // The baseline: the same burst of requests that never reach a shard.
    let base = burst(&clients, BURST, Kind::Health).await;
    assert!(base.iter().all(|o| o.result.is_ok()), "{}", summary(&base));
    let reads = burst(&clients, BURST, Kind::Subtree).await;
    let report = format!(
        "health burst: {}\nsubtree burst: {}",
        summary(&base),
        summary(&reads)
    );
    eprintln!("{report}");
    // Served (the whole subtree) or refused at once; nothing else.
    for o in &reads {
        match &o.result {
            Ok(nodes) => assert_eq!(*nodes, CHILDREN + 1, "{report}"),
            Err((Code::ResourceExhausted, _)) => {}
            Err((code, m)) => panic!("unexpected {code:?}: {m}\n{report}"),
        }
    }
    assert!(reads.iter().any(|o| o.result.is_ok()), "{report}");
    assert!(
        reads.iter().any(|o| o.result.is_err()),
        "never overloaded: {report}"
    );
    // Every request answered promptly: admission bounds the expected queue wait on a shard by
    // 1 s (max_queue_wait) and drops what is still queued after it, so the burst's slowest
    // answer is the gRPC stack's own time to get through 5,000 requests (the Health burst's)
    // plus about a second. The bound is 3x the Health burst's slowest plus 5 s: generous, as
    // the machine's load (CI, or other work on it) may change between the two bursts. Without
    // admission the requests admitted past the inboxes queued on the shards' blocking pools,
    // tens of seconds here.
    let bound = slowest(&base) * 3 + Duration::from_secs(5);
    assert!(slowest(&reads) < bound, "slowest over {bound:?}: {report}");
    let m = http_get(&s.metrics_addr, "/metrics").await;
    assert!(sum_of(&m, "treestore_shard_refused_total") > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_deadlines_are_refused_at_once_by_a_busy_shard_not_served_late() {
    let s = loaded_server().await;
    // Keep both shards busy: 128 clients reading subtrees back to back, without deadlines.
    let busy = connections(&s, 2).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = vec![];
    for i in 0..128 {
        let mut c = busy[i % busy.len()].clone();
        let stop = stop.clone();
        load.push(tokio::spawn(async move {
            let mut bad = vec![];
            while !stop.load(Ordering::Acquire) {
                let r = c
                    .get_subtree(pb::GetSubtreeRequest {
                        doc_id: format!("d{}", i % 4),
                        node_id: "r".into(),
                        ..Default::default()
                    })
                    .await;
                match r {
                    Ok(r) if count_nodes(&r.get_ref().roots[0]) == CHILDREN + 1 => {}
                    Err(s) if s.code() == Code::ResourceExhausted => {}
                    other => bad.push(format!("{other:?}")),
                }
            }
            bad
        }));
    }
    // Until a shard expects a queue wait of over 0.3 s (the gauge of admission's estimate).
    let started = Instant::now();
    loop {
        let m = http_get(&s.metrics_addr, "/metrics").await;
        let waits: Vec<f64> = m
            .lines()
            .filter(|l| l.starts_with("treestore_shard_expected_wait_seconds{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        if waits.iter().any(|w| *w > 0.3) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the shards never got busy: {waits:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Requests with a 100 ms deadline, on a connection of their own, one at a time.
    let mut c = connections(&s, 1).await.remove(0);
    let deadline = Duration::from_millis(100);
    let (mut refused_on_arrival, mut results) = (0, vec![]);
    for i in 0..40 {
        let mut req = tonic::Request::new(pb::GetSubtreeRequest {
            doc_id: format!("d{}", i % 4),
            node_id: "r".into(),
            ..Default::default()
        });
        req.set_timeout(deadline);
        let start = Instant::now();
        let r = c.get_subtree(req).await;
        let elapsed = start.elapsed();
        match &r {
            // Served: in time (plus 1 s for this client's own scheduling on a loaded machine).
            Ok(r) => {
                assert_eq!(count_nodes(&r.get_ref().roots[0]), CHILDREN + 1);
                assert!(elapsed < deadline + Duration::from_secs(1), "{elapsed:?}");
            }
            Err(s) if s.code() == Code::DeadlineExceeded => {
                if s.message().contains("requests ahead") {
                    refused_on_arrival += 1;
                }
            }
            // The client's own timer (tonic enforces the deadline too), or a full inbox.
            Err(s) if matches!(s.code(), Code::Cancelled | Code::ResourceExhausted) => {}
            Err(s) => panic!("unexpected {s:?}"),
        }
        results.push(format!(
            "{:?} {elapsed:?}",
            r.map(|_| ()).map_err(|s| s.code())
        ));
    }
    stop.store(true, Ordering::Release);
    for t in load {
        let bad = t.await.expect("load task");
        assert!(bad.is_empty(), "{bad:?}");
    }
    // The shard's admission refused short deadlines it could not meet, at once.
    assert!(refused_on_arrival > 0, "{results:?}");
    let m = http_get(&s.metrics_addr, "/metrics").await;
    assert!(
        sum_of(&m, "treestore_shard_refused_total{reason=\"deadline\"")
            >= refused_on_arrival as f64
    );
}

/// A TCP stream whose reads stop (pending forever, never woken) once `stop` is set: an HTTP/2
/// client over it keeps writing requests but never reads another frame, response or PING.
struct StopReading {
    inner: tokio::net::TcpStream,
    stop: Arc<AtomicBool>,
}

impl AsyncRead for StopReading {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.stop.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Writes of a test stream go straight to its TCP stream (`inner`); only its reads differ.
macro_rules! writes_pass_through {
    ($t:ty) => {
        impl AsyncWrite for $t {
            fn poll_write(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<std::io::Result<usize>> {
                Pin::new(&mut self.inner).poll_write(cx, buf)
            }
            fn poll_flush(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<std::io::Result<()>> {
                Pin::new(&mut self.inner).poll_flush(cx)
            }
            fn poll_shutdown(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<std::io::Result<()>> {
                Pin::new(&mut self.inner).poll_shutdown(cx)
            }
        }
    };
}

writes_pass_through!(StopReading);

/// A gRPC request body: the 5-byte frame header, then the message.
fn grpc_body<M: prost::Message>(m: &M) -> bytes::Bytes {
    let msg = m.encode_to_vec();
    let mut b = Vec::with_capacity(5 + msg.len());
    b.push(0);
    b.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    b.extend_from_slice(&msg);
    b.into()
}

fn grpc_request(method: &str) -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost/treestore.v1.TreeStore/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("request")
}

/// The server's resident memory, bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_holds_bounded_memory_and_others_are_served() {
    const STREAMS: u32 = 32;
    let s = Server::start(&[
        "--http2-max-concurrent-streams",
        &STREAMS.to_string(),
        "--http2-keepalive-interval-secs",
        "1",
        "--http2-keepalive-timeout-secs",
        "2",
    ])
    .await;
    let pid = s.child.as_ref().expect("server process").id();
    let mut c = s.client().await;
    // A subtree of about 200 KB encoded (200 children of 1,000 bytes of text).
    c.put_document(wide_doc("big", 1000)).await.expect("put");
    let subtree = pb::GetSubtreeRequest {
        doc_id: "big".into(),
        node_id: "r".into(),
        include_text: true,
        ..Default::default()
    };
    let one = c.get_subtree(subtree.clone()).await.expect("read");
    assert_eq!(count_nodes(&one.get_ref().roots[0]), CHILDREN + 1);
    let before = rss_bytes(pid);

    // The non-reading client: one round trip first (so the SETTINGS exchange, with the
    // server's stream limit, is done), then it stops reading and asks for the subtree 2,000
    // times: 400 MB of responses if the server took them all.
    let stop = Arc::new(AtomicBool::new(false));
    let tcp = tokio::net::TcpStream::connect(&s.addr)
        .await
        .expect("connect");
    let io = StopReading {
        inner: tcp,
        stop: stop.clone(),
    };
    let (send, conn) = h2::client::handshake(io).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut send = send.clone().ready().await.expect("ready");
    let (resp, mut body) = send
        .send_request(grpc_request("GetSubtree"), false)
        .expect("send");
    body.send_data(grpc_body(&subtree), true).expect("body");
    let resp = resp.await.expect("response");
    assert_eq!(resp.status(), 200);
    let mut data = resp.into_body();
    while let Some(chunk) = data.data().await {
        let chunk = chunk.expect("chunk");
        let _ = data.flow_control().release_capacity(chunk.len());
    }
    stop.store(true, Ordering::Release);
    let mut pending = vec![];
    for _ in 0..2000 {
        // A handle of its own per request: h2 lets each queue one stream beyond the limit.
        match send.clone().send_request(grpc_request("GetSubtree"), false) {
            Ok((resp, mut body)) => {
                if body.send_data(grpc_body(&subtree), true).is_err() {
                    break;
                }
                pending.push(resp);
            }
            Err(_) => break,
        }
    }
    assert_eq!(pending.len(), 2000);

    // While it holds its requests: others are served promptly (a generous 5 s for a debug
    // build on a shared machine; such a read takes milliseconds), and correctly.
    let mut peak = 0;
    for _ in 0..20 {
        let start = Instant::now();
        let r = c
            .get_subtree(subtree.clone())
            .await
            .expect("another client served");
        assert_eq!(count_nodes(&r.get_ref().roots[0]), CHILDREN + 1);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        peak = peak.max(rss_bytes(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server holds at most STREAMS of its responses (32 x ~200 KB, plus their encodings):
    // growth stays far below the 400 MB the 2,000 requests would take. Bound: 150 MB.
    let growth = peak.saturating_sub(before);
    eprintln!(
        "non-reading client with {} requests: server RSS {} MB -> peak {} MB",
        pending.len(),
        before >> 20,
        peak >> 20
    );
    assert!(growth < 150 << 20, "server RSS grew by {} MB", growth >> 20);
    drop(pending);
}

/// A TCP stream that reads at most `PER_TICK` bytes every `TICK` (about 1.6 MB/s): a client on
/// a slow link, or busy elsewhere.
struct Throttled {
    inner: tokio::net::TcpStream,
    /// Until when the next read must wait.
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

const PER_TICK: usize = 16 << 10;
const TICK: Duration = Duration::from_millis(10);

impl AsyncRead for Throttled {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(pause) = self.pause.as_mut() {
            std::task::ready!(pause.as_mut().poll(cx));
            self.pause = None;
        }
        let n = buf.remaining().min(PER_TICK);
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(n));
        std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, &mut limited))?;
        let read = limited.filled().len();
        buf.advance(read);
        if read > 0 {
            self.pause = Some(Box::pin(tokio::time::sleep(TICK)));
        }
        Poll::Ready(Ok(()))
    }
}

writes_pass_through!(Throttled);

/// What one raw HTTP/2 request got: its grpc-status (0 OK), grpc-message and DATA bytes.
struct RawAnswer {
    status: i32,
    message: String,
    bytes: usize,
}

/// Reads one response on a raw h2 connection, giving its window back as data arrives.
async fn read_answer(resp: h2::client::ResponseFuture) -> RawAnswer {
    let status_of = |h: &http::HeaderMap| {
        h.get("grpc-status")
            .and_then(|v| v.to_str().ok()?.parse::<i32>().ok())
    };
    let message_of = |h: &http::HeaderMap| {
        h.get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .map(treestore::grpc_errors::percent_decode)
            .unwrap_or_default()
    };
    let resp = resp.await.expect("response headers");
    // A refusal is trailers-only: its status is in the headers.
    if let Some(status) = status_of(resp.headers()) {
        return RawAnswer {
            status,
            message: message_of(resp.headers()),
            bytes: 0,
        };
    }
    let mut body = resp.into_body();
    let mut bytes = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("chunk");
        bytes += chunk.len();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.expect("trailers").unwrap_or_default();
    RawAnswer {
        status: status_of(&trailers).expect("grpc-status in the trailers"),
        message: message_of(&trailers),
        bytes,
    }
}

// A connection whose client reads its large answers slowly: once the connection has shown its
// pace (the bytes per second it takes), requests that its backlog of responses not yet taken
// would hold past the server's bound (`--max-queue-wait-ms`, 1 s here) are refused at once with
// RESOURCE_EXHAUSTED naming the connection, instead of queueing behind those responses for as
// long as the client takes. The reads are answered on the router thread from the tree cache, so
// no shard admission sees them (without the connection's admission every request here was
// admitted). Another connection is not held back by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reading_connection_is_refused_what_it_cannot_receive_in_time() {
    let s = Server::start(&["--max-queue-wait-ms", "1000"]).await;
    let mut c = s.client().await;
    // About 200 KB a subtree (200 children of 1,000 bytes of text).
    c.put_document(wide_doc("big", 1000)).await.expect("put");
    let subtree = pb::GetSubtreeRequest {
        doc_id: "big".into(),
        node_id: "r".into(),
        include_text: true,
        ..Default::default()
    };
    let whole = c.get_subtree(subtree.clone()).await.expect("read");
    assert_eq!(count_nodes(&whole.get_ref().roots[0]), CHILDREN + 1);

    // The slow client: 16 KiB read from its socket every 10 ms (about 1.6 MB/s: some 8 answers
    // a second), with HTTP/2's default 64 KiB windows.
    let tcp = tokio::net::TcpStream::connect(&s.addr)
        .await
        .expect("connect");
    let io = Throttled {
        inner: tcp,
        pause: None,
    };
    let (send, conn) = h2::client::handshake(io).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let send = send.ready().await.expect("ready");
    let ask = |n: usize| {
        (0..n)
            .map(|_| {
                // A handle of its own per request (h2 queues one request per handle).
                let (resp, mut body) = send
                    .clone()
                    .send_request(grpc_request("GetSubtree"), false)
                    .expect("send");
                body.send_data(grpc_body(&subtree), true).expect("body");
                tokio::spawn(read_answer(resp))
            })
            .collect::<Vec<_>>()
    };
    // First 24 requests (about 4.8 MB), all admitted: a new connection is refused nothing until
    // it has shown its pace. 1.5 s later it has taken about half of them and still owes over
    // 2 MB: more than a second at its pace.
    let first = ask(24);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = ask(40);

    // Meanwhile another connection is served at once.
    for _ in 0..5 {
        let r = c.get_subtree(subtree.clone()).await.expect("other client");
        assert_eq!(count_nodes(&r.get_ref().roots[0]), CHILDREN + 1);
    }

    let mut refused = vec![];
    let (mut served, full) = (0, whole.get_ref().encoded_len());
    for t in first.into_iter().chain(second) {
        let a = t.await.expect("reader task");
        match a.status {
            0 => {
                // The 5-byte gRPC frame header, then the message.
                assert_eq!(a.bytes, 5 + full);
                served += 1;
            }
            8 => refused.push(a.message),
            other => panic!("unexpected grpc-status {other}: {}", a.message),
        }
    }
    eprintln!(
        "slow reader: {served} served, {} refused; first refusal: {:?}",
        refused.len(),
        refused.first()
    );
    assert!(served >= 24, "the first 24 were admitted: {served} served");
    assert!(!refused.is_empty(), "nothing refused: {served} served");
    assert!(
        refused
            .iter()
            .all(|m| m.contains("the connection from") && m.contains("overloaded")),
        "{refused:?}"
    );
    let m = http_get(&s.metrics_addr, "/metrics").await;
    assert!(
        sum_of(
            &m,
            "treestore_connection_refused_total{reason=\"queue_wait\"}"
        ) >= refused.len() as f64
    );
}
