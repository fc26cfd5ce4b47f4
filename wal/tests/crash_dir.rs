//! Directory entries on the simulated disk: a segment's creation or removal is durable only
//! once its directory is fsynced, and unsynced directory changes may be persisted in any order
//! (`SimFs::crash_image_dropping`). A workload that creates the log, appends, group-commits,
//! rotates and purges is stopped at every fdatasync and at every directory fsync in turn (that
//! call fails); every crash image then (each prefix of the pending operations, each subset of
//! the pending directory changes dropped) recovers every acknowledged record, in order.

mod common;

use common::*;
use futures_lite::future::block_on;
use treestore_wal::{Error, Lsn, SimFs, WalOptions};

const TXS: u64 = 36;

fn o() -> WalOptions {
    WalOptions {
        segment_size: 8192,
        keep_segments: 1,
        ..opts()
    }
}

#[derive(Debug, Default)]
struct Run {
    appended: Vec<(u64, Lsn)>,
    acked: usize,
    /// The highest checkpoint LSN given to `purge` (the store applied that far).
    purged_to: Lsn,
    /// The most segments one purge removed.
    most_purged: usize,
    failure: Option<Error>,
}

/// Opens a new log, appends TXS transactions, syncing every third and purging what is durable
/// every twelfth; stops at the first error.
async fn workload(fs: &SimFs) -> Run {
    let mut run = Run::default();
    let wal = match open(fs.clone(), 0, o()).await {
        Ok((wal, _)) => wal,
        Err(e) => {
            run.failure = Some(e);
            return run;
        }
    };
    for t in 1..=TXS {
        let step = async {
            let lsn = wal.append(t, &payload(t))?;
            run.appended.push((t, lsn));
            if t % 3 == 0 {
                wal.sync().await?;
                run.acked = run.appended.len();
            }
            if t % 12 == 0 {
                run.purged_to = wal.durable_lsn();
                let removed = wal.purge(run.purged_to).await?;
                run.most_purged = run.most_purged.max(removed);
            }
            Ok::<(), Error>(())
        };
        if let Err(e) = step.await {
            run.failure = Some(e);
            break;
        }
    }
    if run.failure.is_some() {
        assert!(wal.is_poisoned(), "{run:?}");
    }
    run
}

/// Every subset of `items` (all of them when there are few; else the empty set, each single
/// item, and all of them).
fn subsets(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 5 {
        (0..1u32 << items.len())
            .map(|mask| {
                (0..items.len())
                    .filter(|b| mask & (1 << b) != 0)
                    .map(|b| items[b])
                    .collect()
            })
            .collect()
    } else {
        let mut v = vec![vec![], items.to_vec()];
        v.extend(items.iter().map(|&i| vec![i]));
        v
    }
}

/// Runs the workload with the `k`-th fdatasync or directory fsync failing and recovers every
/// crash image; returns whether the fault was reached.
fn one_case(dir_sync: bool, k: u64) -> (bool, usize) {
    let fs = SimFs::new(k);
    if dir_sync {
        fs.fail_dir_syncs_after(k);
    } else {
        fs.fail_syncs_after(k);
    }
    let run = block_on(workload(&fs));
    let what = format!("{} #{k}", if dir_sync { "dir fsync" } else { "fdatasync" });
    if run.failure.is_none() {
        assert_eq!(run.acked, TXS as usize, "{what}");
        assert!(
            run.most_purged >= 2,
            "{what}: no purge removed two segments"
        );
        return (false, 0);
    }
    fs.heal();
    let applied = run.purged_to;
    let must: Vec<(u64, Lsn)> = run.appended[..run.acked]
        .iter()
        .copied()
        .filter(|(_, l)| *l > applied)
        .collect();
    let may: Vec<(u64, Lsn)> = run
        .appended
        .iter()
        .copied()
        .filter(|(_, l)| *l > applied)
        .collect();
    let mut images = 0;
    block_on(async {
        for keep in 0..=fs.pending_ops() {
            let dir_ops: Vec<usize> = fs
                .pending_dir_ops()
                .into_iter()
                .filter(|&i| i < keep)
                .collect();
            for dropped in subsets(&dir_ops) {
                images += 1;
                let img = fs.crash_image_dropping(keep, None, &dropped);
                let (_, rec) = open(img, applied, o())
                    .await
                    .unwrap_or_else(|e| panic!("{what} keep={keep} dropped={dropped:?}: {e}"));
                assert!(
                    rec.len() >= must.len() && rec.len() <= may.len(),
                    "{what} keep={keep} dropped={dropped:?}: recovered {} of {} acknowledged",
                    rec.len(),
                    must.len()
                );
                for (r, (t, l)) in rec.iter().zip(&may) {
                    assert_eq!((r.txid, r.commit_lsn), (*t, *l), "{what}");
                    assert_eq!(r.payload, payload(*t), "{what}");
                }
            }
        }
    });
    (true, images)
}

#[test]
fn crash_images_at_every_sync_of_create_rotate_and_purge_keep_acknowledged_records() {
    for dir_sync in [false, true] {
        let (mut k, mut images) = (0, 0);
        loop {
            let (reached, n) = one_case(dir_sync, k);
            if !reached {
                break;
            }
            images += n;
            k += 1;
        }
        // Several rotations and purges were interrupted.
        assert!(k >= 5, "dir_sync={dir_sync}: only {k} faults");
        assert!(images > k as usize, "dir_sync={dir_sync}: {images} images");
    }
}

// A removal or creation not yet covered by a directory fsync is lost in a crash image.
#[test]
fn unsynced_directory_changes_are_lost_in_a_crash() {
    block_on(async {
        let fs = SimFs::new(3);
        let (wal, _) = open(fs.clone(), 0, o()).await.unwrap();
        let lsn = wal.append(1, b"one").unwrap();
        wal.sync().await.unwrap();
        let segs = segment_paths(&fs);
        assert_eq!(segment_paths(&fs.crash_durable()), segs);
        // Another segment: created, its header synced, its directory fsync failing.
        fs.fail_dir_syncs_after(0);
        wal.append(2, &vec![7u8; 9000]).unwrap();
        assert!(wal.sync().await.is_err());
        assert!(wal.is_poisoned());
        assert!(segment_paths(&fs).len() > segs.len());
        // Its entry is not durable; the acknowledged record is.
        assert_eq!(segment_paths(&fs.crash_durable()), segs);
        fs.heal();
        let (_, rec) = open(fs.crash_durable(), 0, o()).await.unwrap();
        assert_eq!(rec.len(), 1);
        assert_eq!(rec[0].commit_lsn, lsn);
    });
}
