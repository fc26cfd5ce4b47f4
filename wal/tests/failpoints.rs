//! Failpoint tests (`cargo test -p treestore-wal --features failpoints`).
#![cfg(feature = "failpoints")]

mod common;

use common::*;
use futures_lite::future::block_on;
use treestore_wal::{Error, SimFs, WalOptions};

fn injected(e: &Error, name: &str) -> bool {
    matches!(e, Error::Injected(n) if n == name)
}

#[test]
fn fp_append() {
    let sc = fail::FailScenario::setup();
    block_on(async {
        let fs = SimFs::new(1);
        let (wal, _) = open(fs.clone(), 0, opts()).await.unwrap();
        fail::cfg("wal::append", "return").unwrap();
        assert!(injected(&wal.append(1, b"x").unwrap_err(), "wal::append"));
        fail::remove("wal::append");
        // nothing was buffered, the log is still usable
        let l = wal.append(2, b"y").unwrap();
        assert_eq!(l, 1);
        wal.sync().await.unwrap();
    });
    sc.teardown();
}

#[test]
fn fp_sync_before_and_after() {
    let sc = fail::FailScenario::setup();
    block_on(async {
        // before fdatasync: nothing written, poisoned
        let fs = SimFs::new(2);
        let (wal, _) = open(fs.clone(), 0, opts()).await.unwrap();
        let w0 = fs.write_count();
        let l = wal.append(1, b"a").unwrap();
        fail::cfg("wal::sync::before", "return").unwrap();
        assert!(injected(
            &wal.wait_durable(l).await.unwrap_err(),
            "wal::sync::before"
        ));
        fail::remove("wal::sync::before");
        assert_eq!(fs.write_count(), w0);
        assert!(wal.is_poisoned());
        assert!(wal.wait_durable(l).await.unwrap_err().is_poisoned());
        let (_, rec) = open(fs.crash_durable(), 0, opts()).await.unwrap();
        assert!(rec.is_empty());

        // after fdatasync: the data is durable but not acknowledged; poisoned
        let fs = SimFs::new(3);
        let (wal, _) = open(fs.clone(), 0, opts()).await.unwrap();
        let l = wal.append(1, b"a").unwrap();
        fail::cfg("wal::sync::after", "return").unwrap();
        assert!(injected(
            &wal.wait_durable(l).await.unwrap_err(),
            "wal::sync::after"
        ));
        fail::remove("wal::sync::after");
        assert!(wal.is_poisoned());
        assert_eq!(wal.durable_lsn(), 0);
        assert!(wal.append(2, b"b").unwrap_err().is_poisoned());
        let (_, rec) = open(fs.crash_durable(), 0, opts()).await.unwrap();
        assert_eq!(rec.len(), 1);
    });
    sc.teardown();
}

#[test]
fn fp_rotate() {
    let sc = fail::FailScenario::setup();
    block_on(async {
        let fs = SimFs::new(4);
        // open creates the first segment: refused
        fail::cfg("wal::rotate", "return").unwrap();
        let e = open(fs.clone(), 0, opts()).await.err().unwrap();
        assert!(injected(&e, "wal::rotate"));
        fail::remove("wal::rotate");
        // rotation during a flush poisons
        let o = WalOptions {
            segment_size: 8192,
            ..opts()
        };
        let (wal, _) = open(fs.clone(), 0, o.clone()).await.unwrap();
        wal.append(1, b"a").unwrap();
        wal.sync().await.unwrap(); // segment now full
        let l = wal.append(2, b"b").unwrap();
        fail::cfg("wal::rotate", "return").unwrap();
        assert!(injected(
            &wal.wait_durable(l).await.unwrap_err(),
            "wal::rotate"
        ));
        fail::remove("wal::rotate");
        assert!(wal.is_poisoned());
        let (_, rec) = open(fs.crash_durable(), 0, o).await.unwrap();
        assert_eq!(rec.len(), 1);
    });
    sc.teardown();
}

#[test]
fn fp_purge() {
    let sc = fail::FailScenario::setup();
    block_on(async {
        let fs = SimFs::new(5);
        let o = WalOptions {
            segment_size: 8192,
            keep_segments: 1,
            ..opts()
        };
        let (wal, _) = open(fs.clone(), 0, o.clone()).await.unwrap();
        for t in 1..=6u64 {
            wal.append(t, b"x").unwrap();
            wal.sync().await.unwrap();
        }
        let n = wal.segment_count();
        assert!(n >= 3);
        fail::cfg("wal::purge", "return").unwrap();
        assert!(injected(
            &wal.purge(u64::MAX).await.unwrap_err(),
            "wal::purge"
        ));
        fail::remove("wal::purge");
        assert_eq!(wal.segment_count(), n);
        assert!(!wal.is_poisoned());
        assert_eq!(wal.purge(u64::MAX).await.unwrap(), n - 1);
        assert_eq!(wal.segment_count(), 1);
    });
    sc.teardown();
}

#[test]
fn fp_replay() {
    let sc = fail::FailScenario::setup();
    block_on(async {
        let fs = SimFs::new(6);
        let (wal, _) = open(fs.clone(), 0, opts()).await.unwrap();
        for t in 1..=3u64 {
            wal.append(t, b"x").unwrap();
        }
        wal.sync().await.unwrap();
        drop(wal);
        fail::cfg("wal::replay", "1*off->return").unwrap();
        let e = open(fs.clone(), 0, opts()).await.err().unwrap();
        assert!(injected(&e, "wal::replay"));
        fail::remove("wal::replay");
        // a failed replay changed nothing: recover again, everything is there
        let (_, rec) = open(fs.clone(), 0, opts()).await.unwrap();
        assert_eq!(rec.len(), 3);
    });
    sc.teardown();
}
