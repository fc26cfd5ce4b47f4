//! Admission: a request is served in time or refused at once, never queued past its deadline.
//!
//! Each shard counts the requests it has admitted and not yet answered (`outstanding`: queued in
//! the inbox, or in flight on the executor, the blocking pool or a log sync) and keeps a moving
//! estimate of its time per request: the time between answers while it is busy, so it covers
//! whatever the shard's requests wait for (the executor shared with other shards, the blocking
//! pool's two threads, group commit). A request arriving at a shard with `outstanding` requests
//! ahead of it would wait about `outstanding x per_request` before it starts. `admit` refuses it
//! on arrival when that wait ends after its queue deadline:
//!
//! - the client's deadline (`grpc-timeout`, set for the call with `with_deadline`): refused with
//!   `DeadlineExceeded`;
//! - otherwise, or when sooner, arrival + `max_queue_wait` (the server's bound on queueing):
//!   refused with `ResourceExhausted`.
//!
//! A request admitted anyway (the estimate is an estimate) and still queued at its deadline is
//! dropped when the shard takes it (`Reply::expired`), without doing its work. An idle shard
//! (nothing outstanding) admits everything, so a stale high estimate cannot refuse forever: the
//! next answers measure the shard again.

use crate::request::Response;
use crate::{Error, Result};
use futures_channel::oneshot;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

tokio::task_local! {
    /// The client's deadline of the request being handled on this task (None: no deadline).
    static CLIENT_DEADLINE: Option<Instant>;
}

/// Runs `fut` with `deadline` as the client deadline seen by every shard call it makes.
pub async fn with_deadline<F: std::future::Future>(deadline: Option<Instant>, fut: F) -> F::Output {
    CLIENT_DEADLINE.scope(deadline, fut).await
}

/// The client deadline of the current task (None outside `with_deadline`, or without one).
fn client_deadline() -> Option<Instant> {
    CLIENT_DEADLINE.try_with(|d| *d).ok().flatten()
}

/// Answers are sampled over spans of at least this long (or until the shard goes idle): one
/// group commit can answer hundreds of writes at once, so single intervals say nothing.
const SAMPLE_SPAN: Duration = Duration::from_millis(5);

/// Weight of a new sample in the moving estimate: 1/EWMA_DIVISOR.
const EWMA_DIVISOR: u64 = 8;

/// The estimate before the shard has answered anything: a point read's order of magnitude.
const INITIAL_PER_REQUEST: Duration = Duration::from_micros(50);

/// Why a request was refused (the label of `treestore_shard_refused_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// On arrival: the estimated wait ends after the client's deadline.
    Deadline,
    /// On arrival: the estimated wait is longer than `max_queue_wait`.
    QueueWait,
    /// When dequeued: its queue deadline (client's or `max_queue_wait`) had passed.
    Expired,
    /// On arrival: the inbox is full.
    InboxFull,
}

impl Refusal {
    pub const ALL: [Refusal; 4] = [
        Refusal::Deadline,
        Refusal::QueueWait,
        Refusal::Expired,
        Refusal::InboxFull,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::Deadline => "deadline",
            Refusal::QueueWait => "queue_wait",
            Refusal::Expired => "expired",
            Refusal::InboxFull => "inbox_full",
        }
    }
}

/// Whose bound a queue deadline is: it decides the status of a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    /// The client's deadline: DEADLINE_EXCEEDED.
    Client,
    /// The server's `max_queue_wait`: RESOURCE_EXHAUSTED (the client may retry with backoff).
    Server,
}

fn refused(shard: usize, bound: Bound, what: String) -> Error {
    match bound {
        Bound::Client => Error::DeadlineExceeded(format!("shard {shard}: {what}")),
        Bound::Server => Error::ResourceExhausted(format!(
            "shard {shard} is overloaded: {what}; retry with backoff"
        )),
    }
}

/// Answers counted over the current sample span.
struct Span {
    start: Instant,
    answers: u64,
}

/// One shard's admission state, shared by router threads (admit) and its executor (answers).
pub struct Admission {
    shard: usize,
    /// Requests admitted and not yet answered.
    outstanding: AtomicUsize,
    /// Moving estimate of the time per request while busy, in nanoseconds.
    per_request_nanos: AtomicU64,
    span: Mutex<Span>,
    /// The server's bound on queueing (None: only client deadlines bound it).
    max_queue_wait: Option<Duration>,
}

impl Admission {
    pub fn new(shard: usize, max_queue_wait: Option<Duration>) -> Arc<Admission> {
        Arc::new(Admission {
            shard,
            outstanding: AtomicUsize::new(0),
            per_request_nanos: AtomicU64::new(INITIAL_PER_REQUEST.as_nanos() as u64),
            span: Mutex::new(Span {
                start: Instant::now(),
                answers: 0,
            }),
            max_queue_wait,
        })
    }

    /// Requests admitted and not yet answered.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// The current estimate of the shard's time per request.
    #[cfg(test)]
    fn per_request(&self) -> Duration {
        Duration::from_nanos(self.per_request_nanos.load(Ordering::Relaxed))
    }

    /// The wait a request arriving now is expected to queue before the shard starts it.
    pub fn expected_wait(&self) -> Duration {
        let ahead = self.outstanding() as u64;
        Duration::from_nanos(ahead.saturating_mul(self.per_request_nanos.load(Ordering::Relaxed)))
    }

    /// Admits a request arriving `now` (with the current task's client deadline), or says why
    /// not. The ticket, carried by the reply, counts it outstanding until it is answered.
    pub fn admit(self: &Arc<Self>, now: Instant) -> Result<Ticket, (Refusal, Error)> {
        self.admit_with(client_deadline(), now)
    }

    fn admit_with(
        self: &Arc<Self>,
        client: Option<Instant>,
        now: Instant,
    ) -> Result<Ticket, (Refusal, Error)> {
        let server = self.max_queue_wait.and_then(|w| now.checked_add(w));
        let deadline = match (client, server) {
            (Some(c), Some(s)) if s < c => Some((s, Bound::Server)),
            (Some(c), _) => Some((c, Bound::Client)),
            (None, Some(s)) => Some((s, Bound::Server)),
            (None, None) => None,
        };
        if let Some((at, bound)) = deadline {
            let wait = self.expected_wait();
            // An idle shard admits everything (see the module comment).
            if self.outstanding() > 0 && now + wait > at {
                let why = match bound {
                    Bound::Client => Refusal::Deadline,
                    Bound::Server => Refusal::QueueWait,
                };
                let what = format!(
                    "{} requests ahead would take about {wait:?}, beyond the {}",
                    self.outstanding(),
                    match bound {
                        Bound::Client => "client's deadline".to_string(),
                        Bound::Server => format!(
                            "server's max queue wait ({:?})",
                            self.max_queue_wait.unwrap_or_default()
                        ),
                    }
                );
                return Err((why, refused(self.shard, bound, what)));
            }
        }
        if self.outstanding.fetch_add(1, Ordering::AcqRel) == 0 {
            // The shard was idle: a new busy period starts its sample span.
            let mut span = self.span.lock().unwrap_or_else(|e| e.into_inner());
            span.start = now;
            span.answers = 0;
        }
        Ok(Ticket {
            admission: self.clone(),
            deadline: deadline.map(|(at, bound)| QueueDeadline { at, bound }),
            started: false,
        })
    }

    /// A request left the shard: answered (`sampled`: its work counts in the estimate) or
    /// dropped.
    fn leave(&self, sampled: bool) {
        let left = self
            .outstanding
            .fetch_sub(1, Ordering::AcqRel)
            .saturating_sub(1);
        if !sampled {
            return;
        }
        let now = Instant::now();
        let mut span = self.span.lock().unwrap_or_else(|e| e.into_inner());
        span.answers += 1;
        let elapsed = now.saturating_duration_since(span.start);
        if elapsed < SAMPLE_SPAN && left > 0 {
            return;
        }
        let sample =
            (elapsed.as_nanos() / u128::from(span.answers)).min(u128::from(u64::MAX)) as u64;
        span.start = now;
        span.answers = 0;
        let old = self.per_request_nanos.load(Ordering::Relaxed);
        // old + (sample - old) / EWMA_DIVISOR, in integers without overflow.
        let new = old - old / EWMA_DIVISOR + sample / EWMA_DIVISOR;
        self.per_request_nanos.store(new.max(1), Ordering::Relaxed);
    }
}

/// When a request's queueing must end, and whose bound that is.
#[derive(Clone, Copy, Debug)]
pub struct QueueDeadline {
    at: Instant,
    bound: Bound,
}

impl QueueDeadline {
    /// The refusal to answer instead of starting the request at `now`, if it is past due.
    pub fn check(&self, shard: usize, now: Instant) -> Option<Error> {
        (now > self.at).then(|| {
            refused(
                shard,
                self.bound,
                format!(
                    "queued {:?} past its {}",
                    now - self.at,
                    match self.bound {
                        Bound::Client => "client's deadline",
                        Bound::Server => "server's max queue wait",
                    }
                ),
            )
        })
    }
}

/// An admitted request: outstanding on its shard until dropped (with its reply).
pub struct Ticket {
    admission: Arc<Admission>,
    deadline: Option<QueueDeadline>,
    /// Taken up by the shard (not dropped unserved): its answer is a sample of the estimate.
    started: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.leave(self.started);
    }
}

/// Where a shard sends a request's answer; it carries the request's admission ticket, so the
/// request counts as outstanding until answered (or dropped unanswered).
pub struct Reply {
    tx: oneshot::Sender<Result<Response>>,
    ticket: Option<Ticket>,
}

impl Reply {
    pub fn new(tx: oneshot::Sender<Result<Response>>, ticket: Ticket) -> Reply {
        Reply {
            tx,
            ticket: Some(ticket),
        }
    }

    /// A reply to a request the shard made itself (not admitted, never refused).
    pub fn internal(tx: oneshot::Sender<Result<Response>>) -> Reply {
        Reply { tx, ticket: None }
    }

    /// Sends the answer; false when the caller has gone (deadline, cancellation).
    pub fn send(mut self, answer: Result<Response>) -> bool {
        let sent = self.tx.send(answer).is_ok();
        drop(self.ticket.take());
        sent
    }

    /// Called when the shard takes the request from its inbox at `now`: the refusal to answer
    /// instead of doing its work when its queue deadline has passed; otherwise marks it started.
    pub fn expired(&mut self, shard: usize, now: Instant) -> Option<Error> {
        let ticket = self.ticket.as_mut()?;
        let refusal = ticket.deadline.and_then(|d| d.check(shard, now));
        ticket.started = refusal.is_none();
        refusal
    }

    /// The request's queue deadline, for a later queue it waits in (the blocking pool).
    pub fn deadline(&self) -> Option<QueueDeadline> {
        self.ticket.as_ref()?.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(t: Ticket) -> (Reply, oneshot::Receiver<Result<Response>>) {
        let (tx, rx) = oneshot::channel();
        (Reply::new(tx, t), rx)
    }

    #[test]
    fn an_idle_shard_admits_and_a_busy_one_refuses_what_it_cannot_start_in_time() {
        let a = Admission::new(0, Some(Duration::from_secs(1)));
        a.per_request_nanos.store(
            Duration::from_millis(10).as_nanos() as u64,
            Ordering::Relaxed,
        );
        let now = Instant::now();
        // Idle: admitted even with a deadline shorter than one request.
        let first = a
            .admit_with(Some(now + Duration::from_millis(1)), now)
            .unwrap();
        // One ahead (10 ms): a 5 ms deadline is refused, a 50 ms one admitted.
        let (why, e) = a
            .admit_with(Some(now + Duration::from_millis(5)), now)
            .err()
            .unwrap();
        assert_eq!(why, Refusal::Deadline);
        assert!(matches!(e, Error::DeadlineExceeded(_)), "{e:?}");
        let mut held = vec![first];
        held.push(
            a.admit_with(Some(now + Duration::from_millis(50)), now)
                .unwrap(),
        );
        assert_eq!(a.outstanding(), 2);
        // 101 ahead at 10 ms = 1.01 s: without a deadline, the server's 1 s bound refuses.
        for _ in 0..99 {
            held.push(a.admit_with(None, now).unwrap());
        }
        let (why, e) = a.admit_with(None, now).err().unwrap();
        assert_eq!(why, Refusal::QueueWait);
        assert!(matches!(e, Error::ResourceExhausted(_)), "{e:?}");
        // A client deadline later than the server's bound is refused by the server's bound.
        let (why, _) = a
            .admit_with(Some(now + Duration::from_secs(60)), now)
            .err()
            .unwrap();
        assert_eq!(why, Refusal::QueueWait);
        held.clear();
        assert_eq!(a.outstanding(), 0);
    }

    #[test]
    fn a_request_past_its_deadline_when_dequeued_is_refused_and_not_sampled() {
        let a = Admission::new(0, None);
        let now = Instant::now();
        let (mut r, _rx) = reply(
            a.admit_with(Some(now + Duration::from_millis(1)), now)
                .unwrap(),
        );
        let e = r.expired(0, now + Duration::from_millis(2));
        assert!(matches!(e, Some(Error::DeadlineExceeded(_))), "{e:?}");
        let before = a.per_request();
        drop(r);
        assert_eq!(a.outstanding(), 0);
        assert_eq!(a.per_request(), before);
        // In time: started, and no refusal.
        let (mut r, _rx) = reply(
            a.admit_with(Some(now + Duration::from_secs(1)), now)
                .unwrap(),
        );
        assert!(r.expired(0, now).is_none());
        // Without any deadline nothing expires.
        let (mut r2, _rx2) = reply(a.admit_with(None, now).unwrap());
        assert!(r2.expired(0, now + Duration::from_secs(3600)).is_none());
        drop((r, r2));
    }

    #[test]
    fn the_estimate_follows_the_time_between_answers_while_busy() {
        let a = Admission::new(0, None);
        // Busy for 20 answers of about 1 ms each (spans of >= 5 ms): the estimate moves from
        // 50 us towards 1 ms.
        let mut tickets: Vec<_> = (0..20)
            .map(|_| a.admit_with(None, Instant::now()).unwrap())
            .collect();
        while let Some(mut t) = tickets.pop() {
            std::thread::sleep(Duration::from_millis(1));
            t.started = true;
        }
        let est = a.per_request();
        assert!(est > INITIAL_PER_REQUEST, "{est:?}");
        assert!(est < Duration::from_millis(100), "{est:?}");
    }
}
