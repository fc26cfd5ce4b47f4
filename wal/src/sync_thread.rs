//! A thread that runs the log's writes and fsyncs for an executor.
//!
//! glommio does not put an executor to sleep while any io_uring request of it is in flight: it
//! polls its rings until the request completes. An fdatasync there, or an O_DIRECT write that
//! extends the file (which the kernel hands to its io-wq workers), would keep the executor's
//! core busy for as long as the disk takes (milliseconds), which on a machine whose cores also
//! run the router takes CPU from it. Run on this thread, they leave the executor free to serve
//! requests or sleep; the awaiting task is woken when they complete.

use futures_channel::oneshot;
use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() -> io::Result<()> + Send>;

pub struct SyncThread {
    jobs: Option<mpsc::Sender<(Job, oneshot::Sender<io::Result<()>>)>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SyncThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncThread").finish_non_exhaustive()
    }
}

impl SyncThread {
    /// Starts the thread. It inherits the CPU affinity of the calling thread, so a shard's
    /// fsyncs run on the shard's core.
    pub fn start(name: &str) -> io::Result<SyncThread> {
        let (tx, rx) = mpsc::channel::<(Job, oneshot::Sender<io::Result<()>>)>();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // Ends when every sender is gone (the file system was dropped).
                for (job, done) in rx {
                    // Tests hold the log's writes and syncs here (the executor runs on).
                    fail::fail_point!("wal::sync_thread");
                    // The waiter may have gone (its future was dropped): nothing to tell.
                    let _ = done.send(job());
                }
            })?;
        Ok(SyncThread {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Runs `job` on the thread and returns its result.
    pub async fn run(
        &self,
        job: impl FnOnce() -> io::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        let gone = || io::Error::other("the log's sync thread has stopped");
        let (done, result) = oneshot::channel();
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send((Box::new(job), done))
            .map_err(|_| gone())?;
        result.await.map_err(|_| gone())?
    }
}

impl Drop for SyncThread {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            // Waits at most for the fsync in progress.
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_in_order_reports_their_errors_and_stops_when_dropped() {
        let t = SyncThread::start("test-sync").unwrap();
        let order = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
        futures_lite::future::block_on(async {
            for i in 0..3 {
                let o = order.clone();
                t.run(move || {
                    o.lock().unwrap().push(i);
                    Ok(())
                })
                .await
                .unwrap();
            }
            let e = t
                .run(|| Err(io::Error::other("disk on fire")))
                .await
                .unwrap_err();
            assert_eq!(e.to_string(), "disk on fire");
        });
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        // Dropping joins the thread: this returns.
        drop(t);
    }

    #[test]
    fn a_job_that_panics_stops_the_thread_and_later_calls_fail() {
        let t = SyncThread::start("test-sync").unwrap();
        futures_lite::future::block_on(async {
            let e = t.run(|| panic!("injected")).await.unwrap_err();
            assert!(e.to_string().contains("stopped"), "{e}");
            let e = t.run(|| Ok(())).await.unwrap_err();
            assert!(e.to_string().contains("stopped"), "{e}");
        });
    }
}
