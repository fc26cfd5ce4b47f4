//! EIO from the real file system (`FaultFs` over `StdFs` and `ThreadFs`, in a temp dir): for
//! every write and every fsync (file or directory) of a workload that appends, group-commits,
//! rotates and purges, that one call fails with EIO. The log reports the error, refuses every
//! later append, sync and purge (fail-stop), never reports a record durable that was not, and
//! reopening (without faults) recovers the acknowledged records in order: exactly them when a
//! write failed (its bytes never reached the file); them and possibly the records of the failed
//! flush when an fsync failed (the kernel may have written them anyway).

use std::path::Path;
use treestore_wal::{Error, FaultFs, FileSystem, StdFs, ThreadFs, Wal, WalOptions};

const TXS: u64 = 30;

fn opts() -> WalOptions {
    WalOptions {
        segment_size: 16 * 1024,
        keep_segments: 2,
        max_record_size: 2000,
        truncate_on_corruption: false,
    }
}

fn payload(t: u64) -> Vec<u8> {
    let len = (t * 397 % 3000) as usize;
    (0..len).map(|i| (i as u64 ^ t) as u8).collect()
}

/// What the workload saw.
#[derive(Debug, Default)]
struct Run {
    /// Transactions appended, in order, with their LSNs.
    appended: Vec<(u64, u64)>,
    /// How many of `appended` a successful sync acknowledged.
    acked: usize,
    /// The highest LSN passed to `purge`: a shard purges only what its store applied, so the
    /// reopen says this much was applied.
    purged_to: u64,
    /// The first error, if any.
    failure: Option<Error>,
}

/// Appends TXS transactions, syncing every third and purging everything durable every ninth.
/// Stops at the first error, after checking that the log refuses everything from then on.
async fn workload<F: FileSystem>(wal: &Wal<F>) -> Run {
    let mut run = Run::default();
    for t in 1..=TXS {
        let step = async {
            let lsn = wal.append(t, &payload(t))?;
            run.appended.push((t, lsn));
            if t % 3 == 0 {
                wal.sync().await?;
                run.acked = run.appended.len();
            }
            if t % 9 == 0 {
                run.purged_to = wal.durable_lsn();
                wal.purge(run.purged_to).await?;
            }
            Ok::<(), Error>(())
        };
        if let Err(e) = step.await {
            run.failure = Some(e);
            break;
        }
    }
    if run.failure.is_some() {
        // Fail-stop: nothing more is accepted, nothing more becomes durable.
        let durable = wal.durable_lsn();
        let acked_lsn = run.acked.checked_sub(1).map_or(0, |i| run.appended[i].1);
        assert!(durable >= acked_lsn);
        if let Some((_, first_unacked)) = run.appended.get(run.acked) {
            assert!(
                durable < *first_unacked,
                "an unacknowledged record reported durable"
            );
        }
        assert!(wal.is_poisoned());
        assert!(wal
            .append(999, b"after the failure")
            .unwrap_err()
            .is_poisoned());
        assert!(wal.sync().await.unwrap_err().is_poisoned());
        assert!(wal.purge(u64::MAX).await.unwrap_err().is_poisoned());
        assert_eq!(wal.durable_lsn(), durable);
    }
    run
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Write,
    Fsync,
}

/// Runs the workload on a fresh directory with the `n`-th write or fsync failing; returns
/// whether a fault was injected (false once `n` is beyond the workload's calls).
async fn one_case<F: FileSystem + Clone>(inner: F, dir: &Path, fault: Fault, n: u64) -> bool {
    let fs = FaultFs::new(inner);
    let (wal, rec) = treestore_wal::open(fs.clone(), dir, 1, 0, opts())
        .await
        .expect("open");
    assert!(rec.is_empty());
    match fault {
        Fault::Write => fs.fail_nth_write(n),
        Fault::Fsync => fs.fail_nth_fsync(n),
    }
    let run = workload(&wal).await;
    drop(wal);
    let injected = fs.injected() == 1;
    assert_eq!(injected, run.failure.is_some(), "{fault:?} #{n}: {run:?}");
    if let Some(e) = &run.failure {
        let text = e.to_string();
        assert!(
            matches!(e, Error::Io { source, .. } if source.raw_os_error() == Some(libc::EIO)),
            "{fault:?} #{n}: the error must be the EIO itself: {text}"
        );
    } else {
        assert_eq!(run.acked, TXS as usize);
    }

    // Reopen without faults, as a shard whose store applied what was purged: every committed
    // record after that comes back.
    let applied = run.purged_to;
    let (wal, rec) = treestore_wal::open(StdFs, dir, 1, applied, opts())
        .await
        .expect("reopen");
    let want: Vec<(u64, u64)> = run
        .appended
        .iter()
        .copied()
        .filter(|(_, lsn)| *lsn > applied)
        .collect();
    let acked_kept = run.appended[..run.acked]
        .iter()
        .filter(|(_, lsn)| *lsn > applied)
        .count();
    assert!(
        rec.len() >= acked_kept,
        "{fault:?} #{n}: lost acknowledged records: {} of {acked_kept}",
        rec.len()
    );
    if fault == Fault::Write {
        assert_eq!(
            rec.len(),
            acked_kept,
            "{fault:?} #{n}: unacknowledged records"
        );
    }
    assert!(rec.len() <= want.len());
    for (r, (t, lsn)) in rec.iter().zip(&want) {
        assert_eq!((r.txid, r.commit_lsn), (*t, *lsn), "{fault:?} #{n}");
        assert_eq!(r.payload, payload(*t), "{fault:?} #{n}");
    }
    // The reopened log takes appends again.
    wal.append(1000, b"after reopen").expect("append");
    wal.sync().await.expect("sync");
    injected
}

fn matrix<F: FileSystem + Clone>(new_fs: impl Fn() -> F, label: &str) {
    for fault in [Fault::Write, Fault::Fsync] {
        let mut n = 1;
        loop {
            let tmp = tempfile::tempdir().expect("tempdir");
            let dir = tmp.path().join("wal");
            let injected = futures_lite::future::block_on(one_case(new_fs(), &dir, fault, n));
            if !injected {
                break;
            }
            n += 1;
        }
        // The workload does rotate and purge, so the matrix covered their calls.
        assert!(n > 10, "{label} {fault:?}: only {} calls", n - 1);
    }
}

#[test]
fn eio_on_any_write_or_fsync_of_std_fs_is_fail_stop() {
    matrix(|| StdFs, "StdFs");
}

#[test]
fn eio_on_any_write_or_fsync_of_thread_fs_is_fail_stop() {
    matrix(
        || ThreadFs::new("test-eio-sync").expect("sync thread"),
        "ThreadFs",
    );
}

// A new log directory is made durable in its parent (and each new ancestor in its own), so a
// crash cannot take the directory, with the acknowledged records in it, away.
#[test]
fn a_new_log_directory_is_fsynced_in_its_parent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data").join("wal").join("shard-3");
    futures_lite::future::block_on(async {
        let fs = FaultFs::new(StdFs);
        let (wal, _) = treestore_wal::open(fs.clone(), &dir, 3, 0, opts())
            .await
            .expect("open");
        wal.append(1, b"one").expect("append");
        wal.sync().await.expect("sync");
        let synced = fs.synced_dirs();
        for d in [
            tmp.path().to_path_buf(),
            tmp.path().join("data"),
            tmp.path().join("data").join("wal"),
            dir.clone(),
        ] {
            assert!(
                synced.contains(&d),
                "{} not fsynced: {synced:?}",
                d.display()
            );
        }
        // Reopening an existing directory does not fsync its parents again.
        drop(wal);
        let fs = FaultFs::new(StdFs);
        treestore_wal::open(fs.clone(), &dir, 3, 0, opts())
            .await
            .expect("reopen");
        assert!(
            fs.synced_dirs().iter().all(|d| *d == dir),
            "{:?}",
            fs.synced_dirs()
        );
    });
}
