//! A shard's inbox: a bounded lock-free queue (crossbeam `ArrayQueue`) plus an `AtomicWaker`.
//! Senders on any thread push and wake; the shard's task pops, and parks when empty — an idle
//! shard uses no CPU. A full inbox refuses at once (the router answers RESOURCE_EXHAUSTED).

use super::admission::Reply;
use crate::request::Request;
use atomic_waker::AtomicWaker;
use crossbeam::queue::ArrayQueue;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

pub struct Envelope {
    pub request: Request,
    /// Carries the request's admission ticket: it counts as outstanding until answered.
    pub reply: Reply,
}

pub struct Inbox {
    queue: ArrayQueue<Envelope>,
    waker: AtomicWaker,
    closed: AtomicBool,
}

#[derive(Debug)]
pub enum PushError {
    Full,
    Closed,
}

impl Inbox {
    pub fn new(capacity: usize) -> Inbox {
        Inbox {
            queue: ArrayQueue::new(capacity.max(1)),
            waker: AtomicWaker::new(),
            closed: AtomicBool::new(false),
        }
    }

    pub fn push(&self, e: Envelope) -> Result<(), PushError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(PushError::Closed);
        }
        self.queue.push(e).map_err(|_| PushError::Full)?;
        self.waker.wake();
        Ok(())
    }

    /// Envelopes waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Refuses later pushes and wakes the receiver so it can drain and stop.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// The next envelope; None once the inbox is closed and drained.
    pub async fn recv(&self) -> Option<Envelope> {
        poll_fn(|cx| {
            if let Some(e) = self.queue.pop() {
                return Poll::Ready(Some(e));
            }
            self.waker.register(cx.waker());
            // A push between the pop above and the registration would otherwise be missed.
            if let Some(e) = self.queue.pop() {
                return Poll::Ready(Some(e));
            }
            if self.closed.load(Ordering::Acquire) {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Response;
    use crate::Result;
    use futures_channel::oneshot;

    fn envelope() -> (Envelope, oneshot::Receiver<Result<Response>>) {
        let (tx, rx) = oneshot::channel();
        (
            Envelope {
                request: Request::Stats,
                reply: Reply::internal(tx),
            },
            rx,
        )
    }

    #[test]
    fn full_inbox_refuses_and_closed_inbox_drains_then_ends() {
        let inbox = Inbox::new(2);
        assert!(inbox.push(envelope().0).is_ok());
        assert!(inbox.push(envelope().0).is_ok());
        assert!(matches!(inbox.push(envelope().0), Err(PushError::Full)));
        inbox.close();
        assert!(matches!(inbox.push(envelope().0), Err(PushError::Closed)));
        futures_lite::future::block_on(async {
            assert!(inbox.recv().await.is_some());
            assert!(inbox.recv().await.is_some());
            assert!(inbox.recv().await.is_none());
        });
    }

    #[test]
    fn a_push_from_another_thread_wakes_a_parked_receiver() {
        let inbox = std::sync::Arc::new(Inbox::new(4));
        let sender = inbox.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(sender.push(envelope().0).is_ok());
        });
        let got = futures_lite::future::block_on(inbox.recv());
        assert!(got.is_some());
        t.join().unwrap();
    }
}
