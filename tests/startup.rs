//! Starting the server where it cannot run fails at once, with exit status 1 and a message that
//! says what to change.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `treestore serve` on a fresh data directory with `extra` flags and `setup` applied to
/// the child before exec; returns its exit status and stderr (killing it after 60 s if it does
/// not exit).
fn serve_with(
    extra: &[&str],
    setup: impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_treestore"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(dir.path().join("data"))
    .args(["--shards", "2", "--executors", "2", "--no-pin-cores"])
    .arg("--insecure-plaintext")
    .args(extra)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    // SAFETY: `setup` only calls async-signal-safe functions (setrlimit, prctl).
    unsafe {
        cmd.pre_exec(setup);
    }
    let mut child = cmd.spawn().expect("start treestore");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("treestore kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("read stderr");
    (status.code().unwrap_or(-1), err)
}

fn small_memlock() -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: 64 << 10,
        rlim_max: 64 << 10,
    };
    // SAFETY: setrlimit with a valid struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `--io-uring=on` insists on glommio, whose executors lock I/O memory.
#[test]
fn with_io_uring_on_a_memlock_limit_too_small_fails_the_start_with_the_fix() {
    let (code, err) = serve_with(&["--io-uring", "on"], small_memlock);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("could not start"), "{err}");
    assert!(err.contains("memlock"), "{err}");
}

/// `--io-uring=on` where seccomp denies io_uring: a clear refusal naming the way out.
#[test]
fn with_io_uring_on_a_seccomp_filter_denying_io_uring_fails_the_start_with_the_fix() {
    let (code, err) = serve_with(&["--io-uring", "on"], common::deny_io_uring);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("could not start"), "{err}");
    assert!(err.contains("--io-uring=auto or off"), "{err}");
}
