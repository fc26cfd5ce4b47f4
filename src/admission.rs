//! Admission by each connection's send backlog: a request is refused on arrival when the
//! responses its connection has not yet taken would keep it waiting past its bound.
//!
//! A shard's admission (`shards::runtime::Admission`) bounds the time a request waits for that
//! shard. It does not see what comes after: sending the response, which for large answers is
//! most of the time and is paced by how fast the client reads (HTTP/2 flow control). Nor does it
//! see reads answered on the router thread from the tree cache, which never reach a shard. A
//! burst of large answers then queued behind each other in the connection for as long as the
//! client took to read them all.
//!
//! So each connection keeps its backlog: the bytes of response data its handlers have produced
//! and the connection has not yet taken, and its pace, a moving estimate of the bytes per second
//! it takes while backlogged. A response body is handed to hyper in pieces of at most
//! `PIECE_BYTES`; hyper polls a body for its next frame only once the piece before it is in
//! h2's send buffer, which h2 fills only as the client's flow-control window allows, so a piece
//! counts as taken when the next one is asked for. A request arriving on a connection with `B`
//! bytes backlogged is expected to wait `B / pace` before its own response goes out; it is
//! refused at once when that ends after its client deadline (DEADLINE_EXCEEDED) or after
//! `--max-queue-wait-ms` (RESOURCE_EXHAUSTED). A connection without backlog admits everything.
//!
//! Across connections, the bytes held for all clients together are bounded too
//! (`--max-send-backlog-bytes`): past it every new request is refused with RESOURCE_EXHAUSTED
//! until clients take what they were sent, so many connections cannot together hold memory
//! without bound (each is bounded by its stream limit, but connections are not counted).
//!
//! Why per connection, not one count for the server: a client that stops reading keeps its own
//! responses unsent for as long as its connection lives (up to its stream limit). Counted
//! server-wide they would make every other client's requests look queued behind them. Per
//! connection, only that client's own requests wait.
//!
//! Not admitted here: probes (grpc.health.v1, TreeStore/Health), which must answer under
//! overload, Watch streams, which last as long as the client wants, and reflection.

use crate::grpc_errors::{method_of, rejected, Arrival};
use crate::metrics::Metrics;
use crate::security::incoming::PeerIdentity;
use crate::service::parse_timeout;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use prometheus::IntCounterVec;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::transport::server::TcpConnectInfo;
use tower::{Layer, Service};

/// Largest piece of response data handed to hyper at once: HTTP/2's default frame size, so a
/// piece is asked for about when the one before it went out.
pub const PIECE_BYTES: usize = 16 << 10;

/// The pace is sampled over spans of at least this long while backlogged.
const SAMPLE_SPAN: Duration = Duration::from_millis(5);

/// Weight of a new sample in the moving pace: 1/EWMA_DIVISOR.
const EWMA_DIVISOR: f64 = 8.0;

/// The pace of a connection before it has been measured: fast, so that a new connection is
/// refused nothing until it has shown it reads slowly (64 MiB/s).
const INITIAL_BYTES_PER_SEC: f64 = (64 << 20) as f64;

/// Methods that are never refused here (see the module comment).
fn exempt(path: &str) -> bool {
    !path.starts_with("/treestore.v1.TreeStore/")
        || path == "/treestore.v1.TreeStore/Health"
        || path == "/treestore.v1.TreeStore/Watch"
}

/// One connection's backlog and pace.
struct Backlog {
    /// The connection, as refusals name it.
    name: String,
    state: Mutex<BacklogState>,
}

struct BacklogState {
    /// Admitted requests whose response bodies have not ended (the entry lives while > 0).
    bodies: usize,
    /// Bytes of response data produced and not yet taken by the connection.
    bytes: u64,
    /// Moving estimate of the bytes per second the connection takes while backlogged.
    pace: f64,
    /// The current sample span: when it started and the bytes taken since.
    span_start: Instant,
    span_bytes: u64,
}

impl Backlog {
    fn state(&self) -> MutexGuard<'_, BacklogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `n` bytes of a response produced: backlogged until taken.
    fn produced(&self, n: usize) {
        let mut st = self.state();
        if st.bytes == 0 {
            // A backlogged spell starts its sample span.
            st.span_start = Instant::now();
            st.span_bytes = 0;
        }
        st.bytes += n as u64;
    }

    /// `n` bytes taken by the connection.
    fn taken(&self, n: u64) {
        let mut st = self.state();
        st.bytes = st.bytes.saturating_sub(n);
        st.span_bytes += n;
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(st.span_start);
        // A spell that drained within a span says only that the connection kept up: no sample.
        if elapsed < SAMPLE_SPAN {
            return;
        }
        let sample = st.span_bytes as f64 / elapsed.as_secs_f64();
        st.pace += (sample - st.pace) / EWMA_DIVISOR;
        st.span_start = now;
        st.span_bytes = 0;
    }
}

/// The connections with response bodies outstanding. An entry is removed by the last body to
/// end, under the lock that admits (map, then entry: always in that order), so a request is
/// never admitted by an entry already removed.
struct Connections {
    max_queue_wait: Option<Duration>,
    /// The bound on `held_bytes` (None: none).
    max_backlog_bytes: Option<u64>,
    /// Bytes backlogged on all connections together.
    held_bytes: AtomicU64,
    open: Mutex<HashMap<Option<SocketAddr>, Arc<Backlog>>>,
    refused: IntCounterVec,
}

/// Why a request was refused here (the label of `treestore_connection_refused_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    /// Its connection's backlog would hold it past its client deadline.
    Deadline,
    /// Its connection's backlog would hold it past `--max-queue-wait-ms`.
    QueueWait,
    /// The server holds `--max-send-backlog-bytes` for its clients already.
    Memory,
}

impl Refused {
    const ALL: [Refused; 3] = [Refused::Deadline, Refused::QueueWait, Refused::Memory];

    fn label(self) -> &'static str {
        match self {
            Refused::Deadline => "deadline",
            Refused::QueueWait => "queue_wait",
            Refused::Memory => "memory",
        }
    }
}

impl Connections {
    fn open(&self) -> MutexGuard<'_, HashMap<Option<SocketAddr>, Arc<Backlog>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a request arriving `now` on the connection of `peer`, or says why not.
    fn admit(
        self: &Arc<Self>,
        peer: Option<SocketAddr>,
        client_deadline: Option<Instant>,
        now: Instant,
    ) -> Result<Held, (Refused, tonic::Status)> {
        let held = self.held_bytes.load(Ordering::Relaxed);
        if let Some(max) = self.max_backlog_bytes.filter(|max| held >= *max) {
            return Err((
                Refused::Memory,
                tonic::Status::resource_exhausted(format!(
                    "the server is overloaded: it holds {:.1} MB of responses its clients have \
                     not yet taken, at its bound of {:.1} MB (--max-send-backlog-bytes); retry \
                     with backoff",
                    held as f64 / 1e6,
                    max as f64 / 1e6
                )),
            ));
        }
        let mut open = self.open();
        let backlog = open
            .entry(peer)
            .or_insert_with(|| {
                Arc::new(Backlog {
                    name: match peer {
                        Some(addr) => format!("the connection from {addr}"),
                        None => "the connection".to_string(),
                    },
                    state: Mutex::new(BacklogState {
                        bodies: 0,
                        bytes: 0,
                        pace: INITIAL_BYTES_PER_SEC,
                        span_start: now,
                        span_bytes: 0,
                    }),
                })
            })
            .clone();
        let mut st = backlog.state();
        let wait = Duration::from_secs_f64(st.bytes as f64 / st.pace.max(1.0));
        let server = self.max_queue_wait.and_then(|w| now.checked_add(w));
        let bound = match (client_deadline, server) {
            (Some(c), Some(s)) if s < c => Some((s, Refused::QueueWait)),
            (Some(c), _) => Some((c, Refused::Deadline)),
            (None, Some(s)) => Some((s, Refused::QueueWait)),
            (None, None) => None,
        };
        if let Some((at, why)) = bound {
            if st.bytes > 0 && now + wait > at {
                let ahead = format!(
                    "{:.1} MB of responses not yet taken ahead of this request would take about \
                     {wait:.1?} at its pace ({:.1} MB/s)",
                    st.bytes as f64 / 1e6,
                    st.pace / 1e6
                );
                let status = match why {
                    Refused::Deadline => tonic::Status::deadline_exceeded(format!(
                        "{}: {ahead}, beyond the client's deadline",
                        backlog.name
                    )),
                    _ => tonic::Status::resource_exhausted(format!(
                        "{} is overloaded: {ahead}, beyond the server's max queue wait \
                         ({:?}); read faster, or retry with backoff",
                        backlog.name,
                        self.max_queue_wait.unwrap_or_default()
                    )),
                };
                return Err((why, status));
            }
        }
        st.bodies += 1;
        drop(st);
        drop(open);
        Ok(Held {
            backlog,
            counted: 0,
            peer,
            connections: self.clone(),
        })
    }
}

/// An admitted request's response on its connection: the bytes it has backlogged there.
struct Held {
    backlog: Arc<Backlog>,
    /// Bytes of this response counted in the backlog and not yet taken.
    counted: u64,
    peer: Option<SocketAddr>,
    connections: Arc<Connections>,
}

impl Held {
    fn produced(&mut self, n: usize) {
        self.counted += n as u64;
        self.connections
            .held_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        self.backlog.produced(n);
    }

    fn taken(&mut self, n: usize) {
        let n = (n as u64).min(self.counted);
        self.counted -= n;
        self.connections.held_bytes.fetch_sub(n, Ordering::Relaxed);
        self.backlog.taken(n);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Every byte this body added to the server's count is taken out once, here or as taken.
        self.connections
            .held_bytes
            .fetch_sub(self.counted, Ordering::Relaxed);
        let last = {
            let mut st = self.backlog.state();
            st.bytes = st.bytes.saturating_sub(self.counted);
            st.bodies = st.bodies.saturating_sub(1);
            st.bodies == 0
        };
        if last {
            let mut open = self.connections.open();
            // Admission happens under this lock: no body here means none holds the entry.
            if open
                .get(&self.peer)
                .is_some_and(|b| Arc::ptr_eq(b, &self.backlog) && b.state().bodies == 0)
            {
                open.remove(&self.peer);
            }
        }
    }
}

/// The tower layer: innermost, after authentication (an unauthenticated request costs nothing
/// to refuse and is not counted).
#[derive(Clone)]
pub struct ConnectionAdmissionLayer {
    connections: Arc<Connections>,
    metrics: Arc<Metrics>,
}

impl ConnectionAdmissionLayer {
    /// `max_queue_wait`: the server's bound on a request's expected wait (None: only client
    /// deadlines bound it); `max_backlog_bytes`: the bound on the bytes held for all clients
    /// together (None: none). Registers `treestore_connection_refused_total{reason}`.
    pub fn new(
        max_queue_wait: Option<Duration>,
        max_backlog_bytes: Option<u64>,
        metrics: Arc<Metrics>,
    ) -> Result<ConnectionAdmissionLayer, prometheus::Error> {
        let refused = IntCounterVec::new(
            prometheus::Opts::new(
                "treestore_connection_refused_total",
                "Requests refused on arrival because the responses their connection had not \
                 yet taken would keep them past their bound: reason deadline \
                 (DEADLINE_EXCEEDED) or queue_wait (RESOURCE_EXHAUSTED); or because the server \
                 held --max-send-backlog-bytes for its clients: memory (RESOURCE_EXHAUSTED)",
            ),
            &["reason"],
        )?;
        metrics.registry().register(Box::new(refused.clone()))?;
        for why in Refused::ALL {
            refused.with_label_values(&[why.label()]);
        }
        Ok(ConnectionAdmissionLayer {
            connections: Arc::new(Connections {
                max_queue_wait,
                max_backlog_bytes,
                held_bytes: AtomicU64::new(0),
                open: Mutex::new(HashMap::new()),
                refused,
            }),
            metrics,
        })
    }
}

impl<S> Layer<S> for ConnectionAdmissionLayer {
    type Service = ConnectionAdmission<S>;
    fn layer(&self, inner: S) -> ConnectionAdmission<S> {
        ConnectionAdmission {
            inner,
            connections: self.connections.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ConnectionAdmission<S> {
    inner: S,
    connections: Arc<Connections>,
    metrics: Arc<Metrics>,
}

/// The remote address of the request's connection (plain TCP or TLS).
fn peer_of<B>(req: &http::Request<B>) -> Option<SocketAddr> {
    let ext = req.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(|c| c.remote_addr())
        .or_else(|| ext.get::<PeerIdentity>().and_then(|p| p.remote))
}

/// The client's deadline: `grpc-timeout` counted from the request's arrival.
fn client_deadline_of<B>(req: &http::Request<B>, now: Instant) -> Option<Instant> {
    let timeout = req
        .headers()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_timeout)?;
    let arrival = req.extensions().get::<Arrival>().map_or(now, |a| a.0);
    arrival.checked_add(timeout)
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ConnectionAdmission<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<Admitted<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        if exempt(req.uri().path()) {
            let fut = self.inner.call(req);
            return Box::pin(async move { Ok(fut.await?.map(Admitted::unheld)) });
        }
        let now = Instant::now();
        let admitted = self
            .connections
            .admit(peer_of(&req), client_deadline_of(&req, now), now);
        let held = match admitted {
            Ok(held) => held,
            Err((why, status)) => {
                self.connections
                    .refused
                    .with_label_values(&[why.label()])
                    .inc();
                let method = method_of(req.uri().path());
                rejected(&self.metrics, &method, status.code(), now, "send backlog");
                let resp = status.into_http::<ResBody>().map(Admitted::unheld);
                return Box::pin(std::future::ready(Ok(resp)));
            }
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            // On an error (or if this future is dropped) `held` is dropped: nothing backlogged.
            let resp = fut.await?;
            Ok(resp.map(|body| Admitted {
                inner: body,
                held: Some(held),
                rest: Bytes::new(),
                yielded: 0,
            }))
        })
    }
}

/// A response body that counts its data in its connection's backlog until taken, handing it
/// to hyper in pieces of at most `PIECE_BYTES`. Its place ends with the body (trailers, end of
/// stream, error) or when dropped.
pub struct Admitted<B> {
    inner: B,
    /// None: not admitted here (exempt, or a refusal), passed through as it is.
    held: Option<Held>,
    /// What is left of the data frame being handed out.
    rest: Bytes,
    /// Length of the piece yielded last: taken once hyper asks for the next frame.
    yielded: usize,
}

impl<B> Admitted<B> {
    fn unheld(inner: B) -> Admitted<B> {
        Admitted {
            inner,
            held: None,
            rest: Bytes::new(),
            yielded: 0,
        }
    }

    /// The next piece of `rest`, counted as yielded.
    fn next_piece(&mut self) -> Bytes {
        let piece = self.rest.split_to(self.rest.len().min(PIECE_BYTES));
        self.yielded = piece.len();
        piece
    }
}

impl<B: Default> Default for Admitted<B> {
    fn default() -> Self {
        Admitted::unheld(B::default())
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Admitted<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let Some(held) = this.held.as_mut() else {
            return Pin::new(&mut this.inner).poll_frame(cx);
        };
        // Asked for the next frame: the piece before it is in h2's send buffer.
        if this.yielded > 0 {
            held.taken(this.yielded);
            this.yielded = 0;
        }
        if !this.rest.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(this.next_piece()))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    held.produced(data.len());
                    this.rest = data;
                    Poll::Ready(Some(Ok(Frame::data(this.next_piece()))))
                }
                Err(frame) => {
                    // Trailers: the body ends.
                    this.held = None;
                    Poll::Ready(Some(Ok(frame)))
                }
            },
            Poll::Ready(other) => {
                this.held = None;
                Poll::Ready(other)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + rest);
        }
        hint.set_lower(hint.lower() + rest);
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn connections(max_queue_wait: Duration) -> Arc<Connections> {
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        ConnectionAdmissionLayer::new(Some(max_queue_wait), Some(64 << 20), metrics)
            .expect("layer")
            .connections
    }

    fn addr(port: u16) -> Option<SocketAddr> {
        Some(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    fn backlog_of(c: &Connections, peer: Option<SocketAddr>) -> Option<(usize, u64)> {
        let open = c.open();
        let st = open.get(&peer)?.state();
        Some((st.bodies, st.bytes))
    }

    #[test]
    fn probes_watches_and_other_services_are_never_admitted_here() {
        assert!(exempt("/grpc.health.v1.Health/Check"));
        assert!(exempt("/treestore.v1.TreeStore/Health"));
        assert!(exempt("/treestore.v1.TreeStore/Watch"));
        assert!(exempt(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!exempt("/treestore.v1.TreeStore/GetSubtree"));
        assert!(!exempt("/treestore.v1.TreeStore/PutDocument"));
    }

    #[test]
    fn a_body_is_handed_out_in_pieces_and_its_bytes_leave_the_backlog_as_taken() {
        let c = connections(Duration::from_secs(5));
        let held = c.admit(addr(1000), None, Instant::now()).ok().unwrap();
        let data = Bytes::from(vec![7u8; 2 * PIECE_BYTES + 100]);
        let mut body = Admitted {
            inner: http_body_util::Full::new(data.clone()),
            held: Some(held),
            rest: Bytes::new(),
            yielded: 0,
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut poll = |body: &mut Admitted<_>| match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(f))) => Some(f.into_data().expect("data").len()),
            Poll::Ready(None) => None,
            other => panic!("{other:?}"),
        };
        assert_eq!(poll(&mut body), Some(PIECE_BYTES));
        // The whole frame is backlogged; the piece yielded is not taken until the next poll.
        assert_eq!(backlog_of(&c, addr(1000)), Some((1, data.len() as u64)));
        assert_eq!(poll(&mut body), Some(PIECE_BYTES));
        assert_eq!(
            backlog_of(&c, addr(1000)),
            Some((1, (PIECE_BYTES + 100) as u64))
        );
        assert_eq!(poll(&mut body), Some(100));
        assert_eq!(backlog_of(&c, addr(1000)), Some((1, 100)));
        // The end: nothing backlogged, and the connection's entry is gone.
        assert_eq!(poll(&mut body), None);
        assert!(body.held.is_none());
        assert!(c.open().is_empty());
    }

    #[test]
    fn a_dropped_body_leaves_no_backlog() {
        let c = connections(Duration::from_secs(5));
        let mut a = c.admit(addr(1100), None, Instant::now()).ok().unwrap();
        let b = c.admit(addr(1100), None, Instant::now()).ok().unwrap();
        a.produced(1000);
        assert_eq!(backlog_of(&c, addr(1100)), Some((2, 1000)));
        drop(a);
        assert_eq!(backlog_of(&c, addr(1100)), Some((1, 0)));
        drop(b);
        assert!(c.open().is_empty());
    }

    #[test]
    fn a_slow_connection_is_refused_what_it_cannot_take_in_time_and_others_are_not() {
        let c = connections(Duration::from_secs(1));
        let now = Instant::now();
        let mut first = c.admit(addr(2000), None, now).ok().unwrap();
        // 10 MB backlogged on a connection measured at 1 MB/s: 10 s ahead.
        first.produced(10_000_000);
        c.open()[&addr(2000)].state().pace = 1e6;
        let (why, status) = c.admit(addr(2000), None, now).err().unwrap();
        assert_eq!(why, Refused::QueueWait);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            status
                .message()
                .contains("the connection from 127.0.0.1:2000"),
            "{status:?}"
        );
        // A client deadline shorter than the server's bound: DEADLINE_EXCEEDED.
        let (why, status) = c
            .admit(addr(2000), Some(now + Duration::from_millis(10)), now)
            .err()
            .unwrap();
        assert_eq!(why, Refused::Deadline);
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        // Another connection is not behind that backlog.
        assert!(c.admit(addr(2001), None, now).is_ok());
        // Taken down to 0.5 MB (half a second at 1 MB/s): admitted again.
        first.taken(9_500_000);
        assert!(c.admit(addr(2000), None, now).is_ok());
    }

    #[test]
    fn past_the_servers_bound_on_bytes_held_every_connection_is_refused_until_clients_read() {
        let c = connections(Duration::from_secs(3600));
        let now = Instant::now();
        // Two connections hold 40 MB each: 80 MB, over the bound of 64 MiB.
        let mut a = c.admit(addr(4000), None, now).ok().unwrap();
        let mut b = c.admit(addr(4001), None, now).ok().unwrap();
        a.produced(40_000_000);
        b.produced(40_000_000);
        for peer in [addr(4000), addr(4001), addr(4002)] {
            let (why, status) = c.admit(peer, None, now).err().unwrap();
            assert_eq!(why, Refused::Memory);
            assert_eq!(status.code(), tonic::Code::ResourceExhausted);
            assert!(
                status.message().contains("--max-send-backlog-bytes"),
                "{status:?}"
            );
        }
        // One connection takes half of its bytes: 60 MB held, under the bound again.
        a.taken(20_000_000);
        assert!(c.admit(addr(4002), None, now).is_ok());
        // Dropped bodies give back what they still held: nothing is counted twice or left.
        drop((a, b));
        assert_eq!(c.held_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_pace_follows_the_bytes_taken_while_backlogged() {
        let c = connections(Duration::from_secs(5));
        let mut held = c.admit(addr(3000), None, Instant::now()).ok().unwrap();
        held.produced(1 << 30);
        // 1 MiB taken in each span of 10 ms (about 105 MB/s), 30 spans: the pace moves from
        // 64 MiB/s to about that. (Each span is made to have started 10 ms ago, so the
        // machine's speed does not enter.)
        for _ in 0..30 {
            c.open()[&addr(3000)].state().span_start = Instant::now() - Duration::from_millis(10);
            held.taken(1 << 20);
        }
        let pace = c.open()[&addr(3000)].state().pace;
        assert!(pace > 1.0e8 && pace < 1.05e8, "{pace}");
        drop(held);
        // The body collected whole still gives the bytes in order.
        let data = Bytes::from(vec![1u8; 3 * PIECE_BYTES]);
        let body = Admitted {
            inner: http_body_util::Full::new(data.clone()),
            held: Some(c.admit(addr(3001), None, Instant::now()).ok().unwrap()),
            rest: Bytes::new(),
            yielded: 0,
        };
        let collected = block_on(body.collect()).expect("collect");
        assert_eq!(collected.to_bytes(), data);
        assert!(c.open().is_empty());
    }

    /// Polls a future to completion on this thread (the bodies here never wait).
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }
}
