//! GlommioFs (O_DIRECT DmaFile) in a real temp dir under a glommio executor.

use std::future::Future;
use std::path::Path;
use std::rc::Rc;

use treestore_wal::{ctl, GlommioFs, RecoveredTx, WalOptions};

fn run<G, F, T>(g: G) -> T
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(512 << 10)
        .spawn(g)
        .expect("spawn executor")
        .join()
        .expect("executor thread")
}

/// Returns whether segment files were opened with O_DIRECT.
fn check_dir(base: &Path) -> bool {
    let dir = base.join("shard1").join("wal");
    let o = WalOptions {
        segment_size: 1 << 20,
        max_record_size: 64 << 10,
        ..WalOptions::default()
    };
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let (d, o2, big2) = (dir.clone(), o.clone(), big.clone());
    let written: Vec<u64> = run(move || async move {
        let (wal, rec) = treestore_wal::open(
            GlommioFs::new("test-wal-sync").expect("sync thread"),
            &d,
            1,
            0,
            o2,
        )
        .await
        .expect("open");
        assert!(rec.is_empty());
        let wal = Rc::new(wal);
        let mut tasks = Vec::new();
        for t in 1..=40u64 {
            let w = wal.clone();
            let p = if t == 7 {
                big2.clone()
            } else {
                format!("tx {t}").into_bytes()
            };
            tasks.push(glommio::spawn_local(async move {
                let l = w.append(t, &p).expect("append");
                w.wait_durable(l).await.expect("durable");
                l
            }));
        }
        let mut lsns = Vec::new();
        for t in tasks {
            lsns.push(t.await);
        }
        assert_eq!(wal.durable_lsn(), wal.last_lsn());
        lsns
    });
    assert_eq!(written.len(), 40);
    let v = ctl::verify(&dir).expect("verify");
    assert_eq!(v.exit_code(), 0, "{}", v.render());
    assert_eq!(v.committed_txs, 40);
    let d = dir.clone();
    let rec: Vec<RecoveredTx> = run(move || async move {
        let (wal, rec) = treestore_wal::open(
            GlommioFs::new("test-wal-sync").expect("sync thread"),
            &d,
            1,
            0,
            o,
        )
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
    let seg = ctl::dump(&dir).expect("dump");
    assert!(seg.contains("lsn=1 "));
    let d = dir.clone();
    run(move || async move {
        use treestore_wal::FileSystem;
        let fs = GlommioFs::new("test-wal-sync").expect("sync thread");
        let names = fs.list(&d).await.expect("list");
        let f = fs.open(&d.join(&names[0])).await.expect("open segment");
        f.is_direct_io()
    })
}

#[test]
fn glommio_append_sync_reopen_recover_var_cache() {
    std::fs::create_dir_all("/var/cache/treestore/tmp").ok();
    let tmp = tempfile::tempdir_in("/var/cache/treestore/tmp")
        .or_else(|_| tempfile::tempdir())
        .expect("tempdir");
    let direct = check_dir(tmp.path());
    eprintln!("O_DIRECT on {}: {direct}", tmp.path().display());
    // ext4 here: glommio must have enabled O_DIRECT
    let is_tmpfs = std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(tmp.path())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("tmpfs"))
        .unwrap_or(false);
    if !is_tmpfs {
        assert!(direct, "expected O_DIRECT on a non-tmpfs file system");
    }
}

#[test]
fn glommio_append_sync_reopen_recover_tmp() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let direct = check_dir(tmp.path());
    eprintln!("O_DIRECT on {}: {direct}", tmp.path().display());
}
