//! Executor threads without io_uring: a current-thread tokio runtime (epoll) with a `LocalSet`
//! per executor thread, so shard tasks stay on their thread exactly as under glommio, and a
//! small blocking pool per executor. Used when io_uring is denied (containerd 2.x and Docker 25+
//! default seccomp profiles) or turned off (`--io-uring=off`).

use std::future::Future;
use std::time::Duration;

/// Threads in each executor's blocking pool, as under glommio.
const BLOCKING_THREADS: usize = 2;

/// An executor thread.
pub struct ExecutorHandle(std::thread::JoinHandle<()>);

impl ExecutorHandle {
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("executor thread panicked");
        }
    }
}

/// Pins the calling thread to `cpu`. A failure (e.g. a cpuset without that core) is logged and
/// the thread runs unpinned.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside it; sched_setaffinity
    // reads `size_of::<cpu_set_t>()` bytes of it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        tracing::warn!(cpu, error = %std::io::Error::last_os_error(), "could not pin thread to core");
    }
}

/// Starts an executor thread running `main` to completion. `cpu`: pin the thread and its
/// blocking pool to that core.
pub fn spawn_executor<F, Fut>(
    name: &str,
    cpu: Option<usize>,
    main: F,
) -> std::io::Result<ExecutorHandle>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder
        .enable_time()
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name(format!("{name}-blocking"));
    if let Some(c) = cpu {
        builder.on_thread_start(move || pin_to(c));
    }
    let runtime = builder
        .build()
        .map_err(|e| std::io::Error::other(format!("starting executor {name}: {e}")))?;
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            if let Some(c) = cpu {
                pin_to(c);
            }
            tokio::task::LocalSet::new().block_on(&runtime, main());
        })
        .map_err(|e| std::io::Error::other(format!("starting executor {name}: {e}")))?;
    Ok(ExecutorHandle(thread))
}

/// A task's panic, raised again in whoever awaits it (as glommio does).
fn joined<T>(r: Result<T, tokio::task::JoinError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            // Cancelled: only when the runtime shuts down, which ends this thread's tasks too.
            Err(e) => panic!("executor task cancelled: {e}"),
        },
    }
}

pub fn spawn_local(fut: impl Future<Output = ()> + 'static) {
    drop(tokio::task::spawn_local(fut));
}

pub fn spawn_joinable<T: 'static>(
    fut: impl Future<Output = T> + 'static,
) -> impl Future<Output = T> {
    let task = tokio::task::spawn_local(fut);
    async move { joined(task.await) }
}

pub async fn spawn_blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    joined(tokio::task::spawn_blocking(f).await)
}

pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await
}
