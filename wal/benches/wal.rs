//! WAL throughput on a real disk, printed as a table (harness = false):
//!
//! - the raw rate of `write 4 KiB + fdatasync` on the same disk, measured in the same run;
//! - acknowledged durable writes per second (append of a 1 KiB payload, then `wait_durable`)
//!   with 1, 8 and 64 concurrent writers: glommio tasks on one executor, GlommioFs (O_DIRECT);
//!   group commit lets concurrent writers share one fdatasync;
//! - recovery replay speed: write ~200 MB of records, then time `treestore_wal::open`.
//!
//! `cargo bench -p treestore-wal --bench wal`. The log lives in a temporary directory under
//! `$TREESTORE_BENCH_DIR` (default /var/cache/treestore/bench-tmp); `WAL_BENCH_SECS` sets the
//! length of each timed phase (default 3), `WAL_BENCH_REPLAY_MB` the replayed volume (200).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};
use treestore_wal::{GlommioFs, WalOptions};

/// Opens (recovering) the log in `dir` on GlommioFs, as shard 0.
async fn open_wal(
    dir: &Path,
) -> treestore_wal::Result<(
    treestore_wal::Wal<GlommioFs>,
    Vec<treestore_wal::RecoveredTx>,
)> {
    let fs = GlommioFs::new("wal-sync").expect("sync thread");
    treestore_wal::open(fs, dir, 0, 0, WalOptions::default()).await
}

fn run<G, F, T>(g: G) -> T
where
    G: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = T> + 'static,
    T: Send + 'static,
{
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(512 << 10)
        .spawn(g)
        .expect("spawn executor")
        .join()
        .expect("executor thread")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `write 4 KiB + fdatasync` per second, appending to one file.
fn raw_fdatasync_rate(dir: &Path, secs: Duration) -> f64 {
    let path = dir.join("raw-fdatasync");
    let mut f = std::fs::File::create(&path).expect("create");
    let block = vec![0x5Au8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < secs {
        f.write_all(&block).expect("write");
        f.sync_data().expect("fdatasync");
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path).ok();
    rate
}

/// Acknowledged durable 1 KiB writes per second with `writers` concurrent tasks.
fn durable_write_rate(dir: PathBuf, writers: usize, secs: Duration) -> (f64, u64) {
    run(move || async move {
        let (wal, rec) = open_wal(&dir).await.expect("open");
        assert!(rec.is_empty());
        let wal = Rc::new(wal);
        let payload = Rc::new(vec![0xA5u8; 1024]);
        let next_tx = Rc::new(std::cell::Cell::new(1u64));
        let start = Instant::now();
        let deadline = start + secs;
        let mut tasks = vec![];
        for _ in 0..writers {
            let (w, p, ids) = (wal.clone(), payload.clone(), next_tx.clone());
            tasks.push(glommio::spawn_local(async move {
                let mut acked = 0u64;
                while Instant::now() < deadline {
                    let tx = ids.get();
                    ids.set(tx + 1);
                    let lsn = w.append(tx, &p).expect("append");
                    w.wait_durable(lsn).await.expect("durable");
                    acked += 1;
                }
                acked
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        (total as f64 / elapsed, total)
    })
}

/// Writes `mb` MB of 4 KiB transactions, then times a cold `open` that replays them all.
fn replay_rate(dir: PathBuf, mb: u64) -> (f64, f64, usize, f64) {
    let payload_len = 4096usize;
    let count = (mb * 1_000_000 / payload_len as u64) as usize;
    let d = dir.clone();
    run(move || async move {
        let (wal, _) = open_wal(&d).await.expect("open");
        let payload = vec![0x3Cu8; payload_len];
        for tx in 1..=count as u64 {
            wal.append(tx, &payload).expect("append");
            if tx % 256 == 0 {
                wal.sync().await.expect("sync");
            }
        }
        wal.sync().await.expect("sync");
    });
    let disk_bytes: u64 = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum();
    run(move || async move {
        let start = Instant::now();
        let (_wal, rec) = open_wal(&dir).await.expect("reopen");
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(rec.len(), count);
        let payload_bytes: usize = rec.iter().map(|r| r.payload.len()).sum();
        (
            disk_bytes as f64 / 1e6 / secs,
            payload_bytes as f64 / 1e6 / secs,
            rec.len(),
            secs,
        )
    })
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported (one table).
    let base = std::env::var("TREESTORE_BENCH_DIR")
        .unwrap_or_else(|_| "/var/cache/treestore/bench-tmp".into());
    std::fs::create_dir_all(&base).expect("bench dir");
    let tmp = tempfile::tempdir_in(&base).expect("temp dir");
    let secs = Duration::from_secs(env_u64("WAL_BENCH_SECS", 3));
    let mb = env_u64("WAL_BENCH_REPLAY_MB", 200);

    let raw = raw_fdatasync_rate(tmp.path(), secs);
    println!("disk under {base}");
    println!("{:<44} {:>12}", "measurement", "rate");
    println!("{:<44} {:>10.0}/s", "raw write 4 KiB + fdatasync", raw);
    for writers in [1usize, 8, 64] {
        let dir = tmp.path().join(format!("wal-{writers}"));
        let (rate, total) = durable_write_rate(dir, writers, secs);
        println!(
            "{:<44} {:>10.0}/s  ({total} acked, {:.1}x raw fdatasync)",
            format!("acked durable 1 KiB writes, {writers} writers"),
            rate,
            rate / raw
        );
    }
    let (disk_mbps, payload_mbps, n, t) = replay_rate(tmp.path().join("wal-replay"), mb);
    println!(
        "{:<44} {:>8.0} MB/s  (log bytes; {payload_mbps:.0} MB/s of payload, {n} txs in {t:.2} s)",
        format!("recovery replay ({mb} MB)"),
        disk_mbps
    );
}
