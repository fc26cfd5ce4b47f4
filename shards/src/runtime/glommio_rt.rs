//! Everything glommio: executor threads, local tasks, blocking offload, timers. The rest of the
//! runtime calls only these functions, so another thread-per-core runtime could replace glommio
//! here without touching shard logic.

use glommio::{CpuSet, LocalExecutorBuilder, Placement, PoolPlacement};
use std::future::Future;
use std::time::Duration;

/// Memory glommio registers for I/O per executor: small enough for an 8 MiB memlock limit with a
/// few executors, large enough for the log's reads at recovery (larger buffers fall back to the
/// heap). Log writes do not use it: they run on the log's sync thread.
const IO_MEMORY: usize = 512 << 10;

/// Threads in each executor's blocking pool: a RocksDB flush (seconds at worst) must not hold
/// up the snapshot reads queued behind it.
const BLOCKING_THREADS: usize = 2;

/// An executor thread.
pub struct ExecutorHandle(glommio::ExecutorJoinHandle<()>);

impl ExecutorHandle {
    /// Waits for the executor's main future to finish.
    pub fn join(self) {
        if let Err(e) = self.0.join() {
            tracing::error!(error = %e, "executor thread ended with an error");
        }
    }
}

/// Starts an executor thread running `main` to completion. `cpu`: pin to that core. Returns
/// once the executor runs, or the error that kept it from starting (such as a memlock limit too
/// small for its I/O memory).
pub fn spawn_executor<F, Fut>(
    name: &str,
    cpu: Option<usize>,
    main: F,
) -> std::io::Result<ExecutorHandle>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let (placement, pool) = match cpu {
        // The blocking threads share the executor's core, as everything of a shard does.
        Some(c) => {
            let core = CpuSet::online()
                .map_err(|e| std::io::Error::other(format!("listing cpus: {e}")))?
                .filter(|l| l.cpu == c);
            (
                Placement::Fixed(c),
                PoolPlacement::Custom(vec![core; BLOCKING_THREADS]),
            )
        }
        None => (Placement::Unbound, PoolPlacement::Unbound(BLOCKING_THREADS)),
    };
    let (started, running) = std::sync::mpsc::channel::<()>();
    let handle = LocalExecutorBuilder::new(placement)
        .name(name)
        .blocking_thread_pool_placement(pool)
        .io_memory(IO_MEMORY)
        .spawn(move || {
            // Runs only once the executor is set up.
            let _ = started.send(());
            main()
        })
        .map_err(|e| std::io::Error::other(format!("starting executor {name}: {e}")))?;
    if running.recv().is_ok() {
        return Ok(ExecutorHandle(handle));
    }
    // The thread ended before running `main`: its setup failed.
    let why = match handle.join() {
        Err(e) => e.to_string(),
        Ok(()) => "it stopped before running".to_string(),
    };
    let hint = if why.contains("MemLockLimit") {
        format!(
            " (each executor locks {} KiB of I/O memory: raise the memlock limit, e.g. \
             `ulimit -l 8192` or `docker run --ulimit memlock=8388608`)",
            IO_MEMORY >> 10
        )
    } else {
        String::new()
    };
    Err(std::io::Error::other(format!(
        "executor {name} could not start: {why}{hint}"
    )))
}

/// Whether the kernel lets this process set up an io_uring: one `io_uring_setup` call, its ring
/// closed at once. Checked before glommio starts, which panics when the call is refused.
pub fn kernel_allows_io_uring() -> Result<(), String> {
    // struct io_uring_params is 120 bytes; zeroed asks for the defaults.
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup(entries, params) writes at most sizeof(io_uring_params) bytes into
    // `params`; the returned descriptor is ours and closed here.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd >= 0 {
        // SAFETY: closing the descriptor io_uring_setup just returned.
        unsafe { libc::close(fd as i32) };
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    Err(match err.raw_os_error() {
        Some(libc::EPERM) => {
            "io_uring_setup is not permitted (e.g. a container's seccomp profile denies it)".into()
        }
        Some(libc::ENOSYS) => "this kernel has no io_uring (or a seccomp profile hides it)".into(),
        _ => format!("io_uring_setup failed: {err}"),
    })
}

/// Whether shards can run on glommio here: the kernel allows io_uring, and an executor that
/// does nothing starts and stops (it sets up its rings and registers its I/O memory exactly as
/// the shards' executors would, so a memlock limit too small shows here). Returns why not.
pub fn probe() -> Result<(), String> {
    kernel_allows_io_uring()?;
    spawn_executor("treestore-io-uring-probe", None, || async {})
        .map(ExecutorHandle::join)
        .map_err(|e| e.to_string())
}

/// Runs `fut` as a task of the current executor, detached.
pub fn spawn_local(fut: impl Future<Output = ()> + 'static) {
    glommio::spawn_local(fut).detach();
}

/// Runs `fut` as a task of the current executor; await the result to join it.
pub fn spawn_joinable<T: 'static>(
    fut: impl Future<Output = T> + 'static,
) -> impl Future<Output = T> {
    glommio::spawn_local(fut)
}

/// Runs `f` on the executor's blocking thread pool; the executor keeps serving meanwhile.
pub async fn spawn_blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    glommio::executor().spawn_blocking(f).await
}

pub async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
