//! The executors shards run on, and the one place that chooses between them. Shard code calls
//! only the functions here (spawn a local task, run blocking work, sleep), which dispatch to the
//! kind of executor running the calling thread:
//! - [`ExecutorKind::IoUring`]: glommio (io_uring), `glommio_rt`;
//! - [`ExecutorKind::Threads`]: a current-thread tokio runtime (epoll), `thread_rt`, for hosts
//!   whose seccomp profile denies io_uring.
//!
//! Both run a shard's tasks on one thread, never concurrently; shard logic is the same.

use super::{glommio_rt, thread_rt};
use futures_util::future::Either;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

/// What `--io-uring` asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoUringMode {
    /// io_uring if this host allows it, else plain threads (with one warning).
    #[default]
    Auto,
    /// io_uring or fail to start.
    On,
    /// Plain threads.
    Off,
}

/// The executors a runtime runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorKind {
    IoUring,
    Threads,
}

thread_local! {
    /// The kind of executor running this thread's tasks; set once, before its main future.
    static CURRENT: Cell<Option<ExecutorKind>> = const { Cell::new(None) };
}

fn current() -> ExecutorKind {
    CURRENT
        .get()
        .expect("runtime function called outside a shard executor thread")
}

/// Decides which executors to run. `Auto` starts a throwaway glommio executor, which sets up
/// io_uring and registers its I/O memory exactly as the shards' executors would; if that
/// fails (io_uring denied by seccomp, missing from the kernel, memlock limit too small), the
/// shards run on plain threads and one warning says why.
///
/// `On` checks only that the kernel allows io_uring (glommio would panic otherwise): a start
/// that fails later, e.g. on the memlock limit, is reported by the executors themselves.
pub fn choose(mode: IoUringMode) -> Result<ExecutorKind, String> {
    Ok(match mode {
        IoUringMode::Off => ExecutorKind::Threads,
        IoUringMode::On => match glommio_rt::kernel_allows_io_uring() {
            Ok(()) => ExecutorKind::IoUring,
            Err(why) => {
                return Err(format!(
                    "--io-uring=on, but io_uring is not available: {why}; --io-uring=auto or \
                     off runs the shards on plain threads"
                ))
            }
        },
        IoUringMode::Auto => match glommio_rt::probe() {
            Ok(()) => ExecutorKind::IoUring,
            Err(why) => {
                tracing::warn!(
                    reason = %why,
                    "io_uring is not available: shards run on plain threads (epoll); \
                     --io-uring=on would refuse to start, --io-uring=off silences this warning"
                );
                ExecutorKind::Threads
            }
        },
    })
}

/// An executor thread of either kind.
pub enum ExecutorHandle {
    IoUring(glommio_rt::ExecutorHandle),
    Threads(thread_rt::ExecutorHandle),
}

impl ExecutorHandle {
    /// Waits for the executor's main future to finish.
    pub fn join(self) {
        match self {
            ExecutorHandle::IoUring(h) => h.join(),
            ExecutorHandle::Threads(h) => h.join(),
        }
    }
}

/// Starts an executor thread of `kind` running `main` to completion; `cpu`: pin it to that
/// core. Returns once the executor runs, or the error that kept it from starting.
pub fn spawn_executor<F, Fut>(
    kind: ExecutorKind,
    name: &str,
    cpu: Option<usize>,
    main: F,
) -> std::io::Result<ExecutorHandle>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let main = move || {
        CURRENT.set(Some(kind));
        main()
    };
    Ok(match kind {
        ExecutorKind::IoUring => {
            ExecutorHandle::IoUring(glommio_rt::spawn_executor(name, cpu, main)?)
        }
        ExecutorKind::Threads => {
            ExecutorHandle::Threads(thread_rt::spawn_executor(name, cpu, main)?)
        }
    })
}

/// Runs `fut` as a task of the current executor, detached.
pub fn spawn_local(fut: impl Future<Output = ()> + 'static) {
    match current() {
        ExecutorKind::IoUring => glommio_rt::spawn_local(fut),
        ExecutorKind::Threads => thread_rt::spawn_local(fut),
    }
}

/// Runs `fut` as a task of the current executor; await the result to join it.
pub fn spawn_joinable<T: 'static>(
    fut: impl Future<Output = T> + 'static,
) -> impl Future<Output = T> {
    match current() {
        ExecutorKind::IoUring => Either::Left(glommio_rt::spawn_joinable(fut)),
        ExecutorKind::Threads => Either::Right(thread_rt::spawn_joinable(fut)),
    }
}

/// Runs `f` on the executor's blocking thread pool; the executor keeps serving meanwhile.
pub async fn spawn_blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    match current() {
        ExecutorKind::IoUring => glommio_rt::spawn_blocking(f).await,
        ExecutorKind::Threads => thread_rt::spawn_blocking(f).await,
    }
}

pub async fn sleep(d: Duration) {
    match current() {
        ExecutorKind::IoUring => glommio_rt::sleep(d).await,
        ExecutorKind::Threads => thread_rt::sleep(d).await,
    }
}
