//! The whole log on ThreadFs (buffered files, writes and syncs on the sync thread) in a real temp
//! dir, driven without any io_uring executor: append, group commit, reopen, recover.

use treestore_wal::{ctl, ThreadFs, WalOptions};

#[test]
fn thread_fs_append_sync_reopen_recover() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("shard1").join("wal");
    let o = WalOptions {
        segment_size: 1 << 20,
        max_record_size: 64 << 10,
        ..WalOptions::default()
    };
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    futures_lite::future::block_on(async {
        let fs = ThreadFs::new("test-thread-sync").expect("sync thread");
        let (wal, rec) = treestore_wal::open(fs, &dir, 1, 0, o.clone())
            .await
            .expect("open");
        assert!(rec.is_empty());
        let flushed = std::rc::Rc::new(std::cell::Cell::new((0u64, 0u64)));
        let seen = flushed.clone();
        wal.on_flush(move |f| {
            let (n, records) = seen.get();
            seen.set((n + 1, records + f.records));
        });
        let mut last = 0;
        for t in 1..=40u64 {
            let p = if t == 7 {
                big.clone()
            } else {
                format!("tx {t}").into_bytes()
            };
            last = wal.append(t, &p).expect("append");
        }
        // One wait covers every record appended before it (group commit).
        wal.wait_durable(last).await.expect("durable");
        assert_eq!(wal.durable_lsn(), wal.last_lsn());
        // The observer saw every record made durable, in flushes it was told of.
        let (flushes, records) = flushed.get();
        assert!(flushes >= 1);
        assert_eq!(records, wal.last_lsn());
    });
    let v = ctl::verify(&dir).expect("verify");
    assert_eq!(v.exit_code(), 0, "{}", v.render());
    assert_eq!(v.committed_txs, 40);
    let rec = futures_lite::future::block_on(async {
        let fs = ThreadFs::new("test-thread-sync").expect("sync thread");
        let (wal, rec) = treestore_wal::open(fs, &dir, 1, 0, o)
            .await
            .expect("reopen");
        let l = wal.append(100, b"after reopen").expect("append");
        wal.sync().await.expect("sync");
        assert!(l > rec.last().map(|r| r.commit_lsn).unwrap_or(0));
        rec
    });
    assert_eq!(rec.len(), 40);
    let big_tx = rec.iter().find(|r| r.txid == 7).expect("tx 7");
    assert_eq!(big_tx.payload, big);
    assert!(rec.windows(2).all(|w| w[0].commit_lsn < w[1].commit_lsn));
    for r in rec.iter().filter(|r| r.txid != 7) {
        assert_eq!(r.payload, format!("tx {}", r.txid).into_bytes());
    }
    let v = ctl::verify(&dir).expect("verify");
    assert_eq!(v.exit_code(), 0, "{}", v.render());
    assert_eq!(v.committed_txs, 41);
}
