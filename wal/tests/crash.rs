//! Crash-consistency and recovery tests on the simulated disk.

mod common;

use std::path::Path;

use common::*;
use futures_lite::future::block_on;
use treestore_wal::format::BLOCK_SIZE;
use treestore_wal::{Error, Lsn, RecoveredTx, SimFs, Tear, WalOptions};

type Hist = Vec<(u64, Vec<u8>, Lsn)>;

fn check_prefix(rec: &[RecoveredTx], hist: &Hist, acked: usize, what: &str) {
    assert!(
        rec.len() >= acked,
        "{what}: lost acknowledged txs: recovered {} < acked {acked}",
        rec.len()
    );
    assert!(
        rec.len() <= hist.len(),
        "{what}: recovered more than written"
    );
    for (r, h) in rec.iter().zip(hist) {
        assert_eq!((r.txid, r.commit_lsn), (h.0, h.2), "{what}: order");
        assert_eq!(r.payload, h.1, "{what}: payload of tx {}", h.0);
    }
}

/// Writes `rounds` synced flushes, then one flush of `final_txs` whose
/// fdatasync fails. Returns the disk, the history and the acked count.
fn build(o: &WalOptions, rounds: &[usize], final_txs: usize) -> (SimFs, Hist, usize) {
    block_on(async {
        let fs = SimFs::new(42);
        let (wal, rec) = open(fs.clone(), 0, o.clone()).await.unwrap();
        assert!(rec.is_empty());
        let mut hist = Hist::new();
        let mut txid = 1;
        for &n in rounds {
            for _ in 0..n {
                let p = payload(txid);
                let lsn = wal.append(txid, &p).unwrap();
                hist.push((txid, p, lsn));
                txid += 1;
            }
            assert_eq!(wal.sync().await.unwrap(), wal.last_lsn());
        }
        let acked = hist.len();
        for _ in 0..final_txs {
            let p = payload(txid);
            let lsn = wal.append(txid, &p).unwrap();
            hist.push((txid, p, lsn));
            txid += 1;
        }
        fs.fail_syncs_after(0);
        assert!(wal.sync().await.is_err());
        assert!(wal.is_poisoned());
        assert_eq!(wal.durable_lsn(), hist[acked - 1].2);
        fs.heal();
        (fs, hist, acked)
    })
}

/// Every crash image of the interrupted last flush recovers to a prefix that
/// holds every acknowledged transaction; recovering twice (also with a crash
/// during the first recovery) gives the same result.
fn crash_matrix(o: WalOptions, rounds: &[usize], final_txs: usize, garbage_step: usize) -> usize {
    let (fs, hist, acked) = build(&o, rounds, final_txs);
    let n_ops = fs.pending_ops();
    assert!(n_ops >= 1);
    let mut images = 0;
    block_on(async {
        for keep in 0..=n_ops {
            let mut tears: Vec<Option<Tear>> = vec![None];
            if let Some(len) = fs.pending_write_len(keep) {
                for b in 0..len {
                    tears.push(Some(Tear::Prefix { keep: b }));
                    if b % garbage_step == 0 {
                        tears.push(Some(Tear::Garbage { keep: b }));
                    }
                }
            }
            for tear in tears {
                images += 1;
                let what = format!("keep={keep} tear={tear:?}");
                let img = fs.crash_image(keep, tear);
                let pristine = img.crash_durable();
                let (w, rec) = open(img.clone(), 0, o.clone())
                    .await
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                check_prefix(&rec, &hist, acked, &what);
                let last = rec.last().map(|r| r.commit_lsn).unwrap_or(0);
                let lsn = w.append(999_999, b"after").unwrap();
                assert!(lsn > last, "{what}: lsn reused");
                drop(w);
                // recover again from what the first recovery left: same result
                let (_, rec2) = open(img.crash_durable(), 0, o.clone()).await.unwrap();
                assert_eq!(rec2, rec, "{what}: second recovery differs");
                // crash in the middle of recovery (some syncs fail), then recover
                if images % 41 == 0 {
                    for k in 0..4 {
                        let mid = pristine.crash_durable();
                        mid.fail_syncs_after(k);
                        let _ = open(mid.clone(), 0, o.clone()).await;
                        for img3 in [
                            mid.crash_durable(),
                            mid.crash_image(mid.pending_ops(), None),
                        ] {
                            let (_, rec3) = open(img3, 0, o.clone()).await.unwrap();
                            assert_eq!(
                                rec3, rec,
                                "{what}: recovery after crash in recovery (k={k})"
                            );
                        }
                    }
                }
            }
        }
    });
    images
}

#[test]
fn crash_images_of_last_flush_recover_acked_prefix() {
    // includes payloads split into several Data records + Commit
    let n = crash_matrix(opts(), &[1, 3, 2, 1, 4, 2, 3, 1, 2, 2], 3, 7);
    assert!(n > 4000, "{n}");
}

#[test]
fn crash_images_during_rotation() {
    // segment_size 8192: every second flush starts a new segment, so the
    // interrupted flush creates a segment (header write, dir entry).
    let o = WalOptions {
        segment_size: 8192,
        ..opts()
    };
    let (fs, _, _) = build(&o, &[1, 1, 1, 1], 1);
    assert!(fs.pending_ops() >= 2, "rotation expected in the last flush");
    crash_matrix(o, &[1, 1, 1, 1], 1, 31);
}

#[test]
fn uncommitted_transaction_is_never_returned() {
    // one big tx of 5 records in the final flush; tear between its records
    let o = opts();
    block_on(async {
        let fs = SimFs::new(1);
        let (wal, _) = open(fs.clone(), 0, o.clone()).await.unwrap();
        wal.append(1, b"one").unwrap();
        wal.sync().await.unwrap();
        let big: Vec<u8> = (0..4500u32).map(|i| i as u8).collect();
        wal.append(2, &big).unwrap();
        fs.fail_syncs_after(0);
        assert!(wal.sync().await.is_err());
        let len = fs.pending_write_len(0).unwrap();
        let mut seen_full = false;
        for b in 0..=len {
            let img = fs.crash_image(0, Some(Tear::Prefix { keep: b }));
            let (_, rec) = open(img, 0, o.clone()).await.unwrap();
            assert!(rec.len() == 1 || rec.len() == 2);
            assert_eq!(rec[0].payload, b"one");
            if rec.len() == 2 {
                assert_eq!(rec[1].payload, big);
                seen_full = true;
            }
        }
        assert!(seen_full);
    });
}

/// A log of many synced flushes over several segments.
fn synced_log(o: &WalOptions, n: u64) -> (SimFs, Hist) {
    block_on(async {
        let fs = SimFs::new(3);
        let (wal, _) = open(fs.clone(), 0, o.clone()).await.unwrap();
        let mut hist = Hist::new();
        for txid in 1..=n {
            let p = payload(txid);
            let lsn = wal.append(txid, &p).unwrap();
            hist.push((txid, p, lsn));
            if txid % 2 == 0 || txid == n {
                wal.sync().await.unwrap();
            }
        }
        (fs.crash_durable(), hist)
    })
}

#[test]
fn tail_corruption_at_every_byte_of_last_record() {
    let o = opts();
    block_on(async {
        let (fs, mut hist) = synced_log(&o, 20);
        // the last tx alone in the last flush
        let (wal, rec) = open(fs.clone(), 0, o.clone()).await.unwrap();
        check_prefix(&rec, &hist, hist.len(), "base");
        let lsn = wal.append(100, b"the last one").unwrap();
        hist.push((100, b"the last one".to_vec(), lsn));
        wal.sync().await.unwrap();
        drop(wal);
        let base = fs.crash_durable();
        let segs = segment_paths(&base);
        let last_seg = segs.last().unwrap();
        let recs = record_offsets(&base, last_seg).await;
        let (off, rlsn, _) = *recs.last().unwrap();
        assert_eq!(rlsn, lsn);
        let rec_len = 28 + 12;
        for i in 0..rec_len {
            let img = base.crash_durable();
            img.flip(last_seg, off + i, 1 << (i % 8)).unwrap();
            let (_, rec) = open(img.clone(), 0, o.clone())
                .await
                .unwrap_or_else(|e| panic!("byte {i}: {e}"));
            check_prefix(&rec, &hist, hist.len() - 1, &format!("byte {i}"));
            assert_eq!(
                rec.len(),
                hist.len() - 1,
                "byte {i}: damaged tx must not be returned"
            );
        }
        // zeroed tail block: same
        let img = base.crash_durable();
        img.poke(last_seg, off, &vec![0u8; BLOCK_SIZE]).unwrap();
        let (_, rec) = open(img, 0, o.clone()).await.unwrap();
        assert_eq!(rec.len(), hist.len() - 1);
    });
}

fn expect_corruption(e: Error, file: &Path, offset: u64) -> String {
    match e {
        Error::Corruption {
            shard_id,
            file: f,
            offset: o,
            reason,
        } => {
            assert_eq!(shard_id, SHARD);
            assert_eq!(f, file);
            assert_eq!(o, offset);
            let msg = format!(
                "{}",
                Error::Corruption {
                    shard_id,
                    file: f,
                    offset: o,
                    reason: reason.clone()
                }
            );
            assert!(
                msg.contains("shard 7") && msg.contains(&file.display().to_string()),
                "{msg}"
            );
            reason
        }
        other => panic!("expected corruption, got {other}"),
    }
}

#[test]
fn flipped_bit_mid_log_is_refused_or_truncated() {
    let o = opts();
    block_on(async {
        let (fs, hist) = synced_log(&o, 40);
        let segs = segment_paths(&fs);
        assert!(segs.len() >= 3, "{segs:?}");
        // 1. in a non-last segment
        let recs = record_offsets(&fs, &segs[1]).await;
        let (off, dlsn, _) = recs[recs.len() / 2];
        let img = fs.crash_durable();
        img.flip(&segs[1], off + 40, 0x04).unwrap();
        let e = open(img.clone(), 0, o.clone())
            .await
            .err()
            .expect("must refuse");
        let reason = expect_corruption(e, &segs[1], off);
        assert!(reason.contains("crc"), "{reason}");
        // with truncate_on_corruption: everything before the damaged record
        let ot = WalOptions {
            truncate_on_corruption: true,
            ..o.clone()
        };
        let (w, rec) = open(img.clone(), 0, ot).await.unwrap();
        let want: Vec<_> = hist.iter().filter(|h| h.2 < dlsn).cloned().collect();
        assert!(!want.is_empty());
        check_prefix(&rec, &want, want.len(), "truncated");
        assert_eq!(rec.len(), want.len());
        let l = w.append(500, b"new").unwrap();
        w.sync().await.unwrap();
        drop(w);
        let (_, rec2) = open(img.crash_durable(), 0, o.clone()).await.unwrap();
        assert_eq!(rec2.len(), want.len() + 1);
        assert_eq!(rec2.last().unwrap().commit_lsn, l);

        // 2. in the last segment, but a later flush follows: still corruption
        let last = segs.last().unwrap();
        let recs = record_offsets(&fs, last).await;
        let first_flush = recs[0].0;
        assert!(recs
            .iter()
            .any(|r| r.0 % BLOCK_SIZE as u64 == 0 && r.0 > first_flush));
        let img = fs.crash_durable();
        img.flip(last, first_flush + 30, 0x80).unwrap();
        let e = open(img, 0, o.clone()).await.err().expect("must refuse");
        let reason = expect_corruption(e, last, first_flush);
        assert!(reason.contains("later flush"), "{reason}");
    });
}

#[test]
fn zeroed_sector_mid_log_is_refused() {
    let o = opts();
    block_on(async {
        let (fs, _) = synced_log(&o, 40);
        let segs = segment_paths(&fs);
        let recs = record_offsets(&fs, &segs[0]).await;
        // zero the 512-byte sector holding the second record's header
        let off = recs[1].0;
        let sector = off / 512 * 512;
        let img = fs.crash_durable();
        img.poke(&segs[0], sector, &[0u8; 512]).unwrap();
        let e = open(img, 0, o.clone()).await.err().expect("must refuse");
        assert!(e.is_corruption(), "{e}");
        // a zeroed block at a flush boundary (looks like the end) in a non-last segment
        let flush = recs
            .iter()
            .rev()
            .find(|r| r.0 % BLOCK_SIZE as u64 == 0 && r.0 > BLOCK_SIZE as u64)
            .unwrap()
            .0;
        let img = fs.crash_durable();
        img.poke(&segs[0], flush, &[0u8; 4096]).unwrap();
        let e = open(img, 0, o.clone()).await.err().expect("must refuse");
        match e {
            Error::Corruption { file, .. } => assert_eq!(file, segs[0]),
            other => panic!("{other}"),
        }
    });
}

#[test]
fn missing_segment_is_refused_or_truncated() {
    let o = opts();
    block_on(async {
        let (fs, hist) = synced_log(&o, 40);
        let segs = segment_paths(&fs);
        assert!(segs.len() >= 3);
        let img = fs.crash_durable();
        img.remove_durable(&segs[1]).unwrap();
        let e = open(img.clone(), 0, o.clone())
            .await
            .err()
            .expect("must refuse");
        let reason = expect_corruption(e, &segs[2], 0);
        assert!(reason.contains("missing segment"), "{reason}");
        let last0 = record_offsets(&fs, &segs[0]).await.last().unwrap().1;
        let ot = WalOptions {
            truncate_on_corruption: true,
            ..o.clone()
        };
        let (_, rec) = open(img.clone(), 0, ot).await.unwrap();
        let want: Vec<_> = hist.iter().filter(|h| h.2 <= last0).cloned().collect();
        assert_eq!(rec.len(), want.len());
        check_prefix(&rec, &want, want.len(), "truncated at gap");
        assert!(!img.paths().contains(&segs[2]));
        // and the repaired log opens cleanly
        open(img.crash_durable(), 0, o.clone()).await.unwrap();
    });
}

#[test]
fn rotation_and_purge_boundaries() {
    let o = opts();
    block_on(async {
        let fs = SimFs::new(9);
        let (wal, _) = open(fs.clone(), 0, o.clone()).await.unwrap();
        let mut hist = Hist::new();
        for txid in 1..=60u64 {
            let p = payload(txid);
            let lsn = wal.append(txid, &p).unwrap();
            hist.push((txid, p, lsn));
            wal.sync().await.unwrap();
        }
        let n = wal.segment_count();
        assert!(n >= 5, "{n}");
        let size_before = wal.disk_size();
        // per-segment LSN ranges
        let mut ranges = Vec::new();
        for p in wal.segment_paths() {
            let r = record_offsets(&fs, &p).await;
            ranges.push((p, r.first().unwrap().1, r.last().unwrap().1));
        }
        // checkpoint inside segment 2: segments 0 and 1 may go, not 2
        let cp = ranges[2].1 + 1;
        assert_eq!(wal.purge(cp).await.unwrap(), 2);
        let left = wal.segment_paths();
        assert_eq!(left[0], ranges[2].0);
        assert!(wal.disk_size() < size_before);
        assert!(fs
            .crash_durable()
            .paths()
            .iter()
            .all(|p| *p != ranges[0].0 && *p != ranges[1].0));
        // checkpoint exactly at the end of segment 2: it can go now
        assert_eq!(wal.purge(ranges[2].2).await.unwrap(), 1);
        // never the last keep_segments, even with checkpoint beyond everything
        wal.purge(u64::MAX).await.unwrap();
        assert_eq!(wal.segment_count(), o.keep_segments);
        assert_eq!(wal.purge(u64::MAX).await.unwrap(), 0);
        // reopen with applied = checkpoint: replays exactly the newer txs
        let first_kept = record_offsets(&fs, &wal.segment_paths()[0]).await[0].1;
        drop(wal);
        let applied = first_kept - 1;
        let (_, rec) = open(fs.crash_durable(), applied, o.clone()).await.unwrap();
        let want: Vec<_> = hist.iter().filter(|h| h.2 > applied).cloned().collect();
        assert_eq!(rec.len(), want.len());
        check_prefix(&rec, &want, want.len(), "after purge");
        // but a shard that applied less than the purged range is refused
        let e = open(fs.crash_durable(), 0, o.clone())
            .await
            .err()
            .expect("must refuse");
        assert!(e.is_corruption(), "{e}");
    });
}

#[test]
fn sync_failure_poisons_every_waiter_and_later_calls() {
    block_on(async {
        let fs = SimFs::new(5);
        let (wal, _) = open(fs.clone(), 0, opts()).await.unwrap();
        let a = wal.append(1, b"acked").unwrap();
        wal.wait_durable(a).await.unwrap();
        fs.set_sync_yields(true);
        fs.fail_syncs_after(0);
        let mut futs: Vec<
            std::pin::Pin<Box<dyn std::future::Future<Output = treestore_wal::Result<()>>>>,
        > = Vec::new();
        for t in 2..12u64 {
            let w = wal.clone();
            futs.push(Box::pin(async move {
                let l = w.append(t, b"x")?;
                w.wait_durable(l).await
            }));
        }
        let res = join_all(futs).await;
        assert!(res.iter().all(|r| r.is_err()), "{res:?}");
        assert!(
            res.iter()
                .filter(|r| matches!(r, Err(Error::Io { .. })))
                .count()
                == 1
        );
        assert!(
            res.iter()
                .filter(|r| matches!(r, Err(e) if e.is_poisoned()))
                .count()
                == 9
        );
        assert!(wal.is_poisoned());
        assert_eq!(wal.durable_lsn(), a);
        fs.heal();
        assert!(wal.append(50, b"y").unwrap_err().is_poisoned());
        assert!(wal.sync().await.unwrap_err().is_poisoned());
        assert!(wal.purge(0).await.unwrap_err().is_poisoned());
        assert_eq!(
            fs.fdatasync_count(),
            3,
            "no retry after the failed fdatasync"
        );
        let (_, rec) = open(fs.crash_durable(), 0, opts()).await.unwrap();
        assert_eq!(rec.len(), 1);
        assert_eq!(rec[0].payload, b"acked");
    });
}

#[test]
fn write_failure_poisons() {
    block_on(async {
        let fs = SimFs::new(5);
        let (wal, _) = open(fs.clone(), 0, opts()).await.unwrap();
        let l = wal.append(1, b"a").unwrap();
        fs.fail_writes_after(0);
        let e = wal.wait_durable(l).await.unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(e.to_string().contains("writing"), "{e}");
        assert!(wal.wait_durable(l).await.unwrap_err().is_poisoned());
        assert!(wal.append(2, b"b").unwrap_err().is_poisoned());
        assert_eq!(wal.durable_lsn(), 0);
    });
}

#[test]
fn group_commit_one_fdatasync_for_many_waiters() {
    block_on(async {
        let fs = SimFs::new(6);
        let o = WalOptions {
            segment_size: 100 << 20,
            ..opts()
        };
        let (wal, _) = open(fs.clone(), 0, o).await.unwrap();
        let syncs0 = fs.fdatasync_count();
        let writes0 = fs.write_count();
        // many appends, then many concurrent waiters: one write, one fdatasync
        let lsns: Vec<Lsn> = (1..=100u64)
            .map(|t| wal.append(t, &payload(t)).unwrap())
            .collect();
        fs.set_sync_yields(true);
        let futs: Vec<
            std::pin::Pin<Box<dyn std::future::Future<Output = treestore_wal::Result<()>>>>,
        > = lsns
            .iter()
            .map(|&l| {
                let w = wal.clone();
                Box::pin(async move { w.wait_durable(l).await }) as _
            })
            .collect();
        assert!(join_all(futs).await.iter().all(|r| r.is_ok()));
        assert_eq!(fs.fdatasync_count() - syncs0, 1);
        assert_eq!(fs.write_count() - writes0, 1);
        assert_eq!(wal.durable_lsn(), *lsns.last().unwrap());
        // tasks that append while a flush is in flight share the next one
        let syncs1 = fs.fdatasync_count();
        let futs: Vec<
            std::pin::Pin<Box<dyn std::future::Future<Output = treestore_wal::Result<()>>>>,
        > = (200..250u64)
            .map(|t| {
                let w = wal.clone();
                Box::pin(async move {
                    let l = w.append(t, b"p")?;
                    w.wait_durable(l).await
                }) as _
            })
            .collect();
        assert!(join_all(futs).await.iter().all(|r| r.is_ok()));
        assert_eq!(fs.fdatasync_count() - syncs1, 2);
        assert!(wal.wait_durable(wal.last_lsn() + 1).await.is_err());
    });
}

#[test]
fn next_lsn_exceeds_applied_lsn_and_log() {
    let o = opts();
    block_on(async {
        let fs = SimFs::new(8);
        let (wal, _) = open(fs.clone(), 0, o.clone()).await.unwrap();
        for t in 1..=5u64 {
            wal.append(t, b"x").unwrap();
        }
        wal.sync().await.unwrap();
        drop(wal);
        // RocksDB is ahead of the log (applied 1000)
        let (wal, rec) = open(fs.clone(), 1000, o.clone()).await.unwrap();
        assert!(rec.is_empty());
        let l = wal.append(6, b"y").unwrap();
        assert_eq!(l, 1001);
        wal.sync().await.unwrap();
        drop(wal);
        let (wal, rec) = open(fs.clone(), 3, o.clone()).await.unwrap();
        let lsns: Vec<Lsn> = rec.iter().map(|r| r.commit_lsn).collect();
        assert_eq!(lsns, vec![4, 5, 1001]);
        assert_eq!(wal.append(7, b"z").unwrap(), 1002);
        drop(wal);
        // applied filter
        let (_, rec) = open(fs.clone(), 1001, o.clone()).await.unwrap();
        assert!(rec.is_empty());
    });
}

#[test]
fn foreign_wrong_shard_and_wrong_version_are_refused() {
    let o = opts();
    block_on(async {
        let (fs, _) = synced_log(&o, 4);
        let e = treestore_wal::open(fs.crash_durable(), DIR, 8, 0, o.clone())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                e,
                Error::WrongShard {
                    expected: 8,
                    found: 7,
                    ..
                }
            ),
            "{e}"
        );
        // wrong version
        let segs = segment_paths(&fs);
        let img = fs.crash_durable();
        let mut hdr = img.file_bytes(&segs[0]).unwrap()[..40].to_vec();
        hdr[5] = 9;
        let crc = crc32fast::hash(&hdr[..36]);
        hdr[36..40].copy_from_slice(&crc.to_le_bytes());
        img.poke(&segs[0], 0, &hdr).unwrap();
        let e = open(img, 0, o.clone()).await.err().unwrap();
        assert!(
            matches!(e, Error::BadSegment { .. }) && e.to_string().contains("version 9"),
            "{e}"
        );
        // foreign file with a segment name
        let img = fs.crash_durable();
        img.poke(&segs[0], 0, b"#!/bin/sh\necho not a wal\n")
            .unwrap();
        let e = open(
            img,
            0,
            WalOptions {
                truncate_on_corruption: true,
                ..o.clone()
            },
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(e, Error::BadSegment { .. }) && e.to_string().contains("magic"),
            "{e}"
        );
    });
}

#[test]
fn torn_segment_creation_is_removed() {
    let o = opts();
    block_on(async {
        let (fs, hist) = synced_log(&o, 6);
        // a new segment file that only got half of its header
        let p = Path::new(DIR).join("00000000000000009999.wal");
        let h = treestore_wal::format::SegmentHeader {
            version: 1,
            shard_id: SHARD,
            first_lsn: 9999,
            prev_lsn: 1,
        }
        .encode_block();
        use treestore_wal::{FileSystem, WalFile};
        let f = fs.create(&p).await.unwrap();
        f.write_at(&h[..20], 0).await.unwrap();
        f.fdatasync().await.unwrap();
        fs.sync_dir(Path::new(DIR)).await.unwrap();
        let (_, rec) = open(fs.clone(), 0, o.clone()).await.unwrap();
        assert_eq!(rec.len(), hist.len());
        assert!(!fs.paths().contains(&p));
    });
}

#[test]
fn empty_and_large_payloads_roundtrip() {
    let o = WalOptions {
        max_record_size: 4096,
        ..opts()
    };
    block_on(async {
        let fs = SimFs::new(10);
        let (wal, _) = open(fs.clone(), 0, o.clone()).await.unwrap();
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let l0 = wal.append(1, b"").unwrap();
        let l1 = wal.append(2, &big).unwrap();
        assert_eq!(l1 - l0, 100_000u64.div_ceil(4096));
        wal.sync().await.unwrap();
        drop(wal);
        let (_, rec) = open(fs.crash_durable(), 0, o).await.unwrap();
        assert_eq!(rec.len(), 2);
        assert!(rec[0].payload.is_empty());
        assert_eq!(rec[1].payload, big);
    });
}

#[test]
fn ctl_verify_and_dump() {
    use treestore_wal::{ctl, StdFs};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let o = opts();
    block_on(async {
        let (wal, _) = treestore_wal::open(StdFs, &dir, 3, 0, o.clone())
            .await
            .unwrap();
        for t in 1..=30u64 {
            wal.append(t, &payload(t)).unwrap();
            if t % 3 == 0 {
                wal.sync().await.unwrap();
            }
        }
        wal.sync().await.unwrap();
    });
    let r = ctl::verify(&dir).unwrap();
    assert_eq!(r.exit_code(), 0, "{}", r.render());
    assert_eq!(r.committed_txs, 30);
    let d = ctl::dump(&dir).unwrap();
    assert!(d.contains("lsn=1 txid=1 type=Commit"), "{d}");
    assert!(d.contains("type=Data"), "{d}");
    // torn tail of last segment -> 1
    let mut segs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let last = segs.last().unwrap().clone();
    let len = std::fs::metadata(&last).unwrap().len();
    if len <= BLOCK_SIZE as u64 {
        // the reopen-created empty segment is last; use the previous one for the tail test
        std::fs::remove_file(&last).unwrap();
        segs.pop();
    }
    let last = segs.last().unwrap().clone();
    let mut bytes = std::fs::read(&last).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0xff;
    // find the last non-zero byte and flip it to simulate a torn last record
    let pos = bytes.iter().rposition(|&b| b != 0).unwrap();
    bytes[pos] ^= 0x01;
    bytes[n - 100] ^= 0xff;
    std::fs::write(&last, &bytes).unwrap();
    let r = ctl::verify(&dir).unwrap();
    assert_eq!(r.exit_code(), 1, "{}", r.render());
    // mid-log corruption -> 2
    let first = segs[0].clone();
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[BLOCK_SIZE + 40] ^= 0x10;
    std::fs::write(&first, &bytes).unwrap();
    let r = ctl::verify(&dir).unwrap();
    assert_eq!(r.exit_code(), 2, "{}", r.render());
    assert!(
        r.problems[0].contains(&first.display().to_string()),
        "{}",
        r.render()
    );
    assert!(ctl::dump(&dir).unwrap().contains("INVALID"));
}

/// A flush that ends 1..=27 bytes before a block boundary, followed by another flush: the short
/// zero tail is padding, not a record header whose type byte lies in the next flush (found by the
/// kill -9 test: recovery refused such a log as corrupt). Also records inside one flush that would
/// start in a block's last bytes.
#[test]
fn flush_ending_just_before_a_block_boundary_is_read_back() {
    block_on(async {
        for tail in 1..=27usize {
            let fs = SimFs::new(tail as u64);
            let o = WalOptions {
                max_record_size: 1 << 20,
                ..opts()
            };
            let (w, _) = open(fs.clone(), 0, o.clone()).await.unwrap();
            // First record starts at block 1; 28-byte header + payload ends `tail` bytes short.
            let first = vec![7u8; 4096 - 28 - tail];
            w.append(1, &first).unwrap();
            w.sync().await.unwrap();
            w.append(2, b"next flush").unwrap();
            w.sync().await.unwrap();
            // Two records in one flush, the second would start in the last bytes of a block.
            w.append(3, &first).unwrap();
            w.append(4, b"same flush").unwrap();
            w.sync().await.unwrap();
            drop(w);
            let (_, rec) = open(fs.crash_durable(), 0, o.clone())
                .await
                .unwrap_or_else(|e| panic!("tail {tail}: {e}"));
            let got: Vec<u64> = rec.iter().map(|r| r.txid).collect();
            assert_eq!(got, [1, 2, 3, 4], "tail {tail}");
            assert_eq!(rec[1].payload, b"next flush");
            assert_eq!(rec[3].payload, b"same flush");
        }
    });
}
