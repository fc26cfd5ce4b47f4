#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::Poll;

use treestore_wal::{FileSystem, Lsn, RecoveredTx, Wal, WalOptions};

pub const DIR: &str = "/data/shard7/wal";
pub const SHARD: u64 = 7;

pub fn dir() -> PathBuf {
    PathBuf::from(DIR)
}

pub fn opts() -> WalOptions {
    WalOptions {
        segment_size: 24 * 1024,
        keep_segments: 2,
        max_record_size: 1000,
        truncate_on_corruption: false,
    }
}

/// Deterministic payload of varying size; some are split into several records.
pub fn payload(txid: u64) -> Vec<u8> {
    let len = match txid % 5 {
        0 => 0,
        1 => 17,
        2 => 999,
        3 => 2500,
        _ => 300,
    };
    (0..len)
        .map(|i| (txid as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

pub async fn open<F: FileSystem>(
    fs: F,
    applied: Lsn,
    o: WalOptions,
) -> treestore_wal::Result<(Wal<F>, Vec<RecoveredTx>)> {
    treestore_wal::open(fs, DIR, SHARD, applied, o).await
}

/// Poll all futures concurrently on the current task until all are done.
pub async fn join_all<'a, T>(futs: Vec<Pin<Box<dyn Future<Output = T> + 'a>>>) -> Vec<T> {
    let mut futs: Vec<Option<Pin<Box<dyn Future<Output = T> + 'a>>>> =
        futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (i, f) in futs.iter_mut().enumerate() {
            if let Some(fut) = f {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        out[i] = Some(v);
                        *f = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(
                out.iter_mut()
                    .map(|o| o.take().expect("each future completed once"))
                    .collect(),
            )
        }
    })
    .await
}

pub fn segment_paths(fs: &treestore_wal::SimFs) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs
        .paths()
        .into_iter()
        .filter(|p| {
            p.parent() == Some(Path::new(DIR)) && p.extension().map(|e| e == "wal").unwrap_or(false)
        })
        .collect();
    v.sort();
    v
}

/// (offset, lsn, txid) of every record of a segment.
pub async fn record_offsets<F: FileSystem>(fs: &F, path: &Path) -> Vec<(u64, Lsn, u64)> {
    let mut v = Vec::new();
    treestore_wal::reader::scan_segment(fs, path, |off, h, _| {
        v.push((off, h.lsn, h.txid));
        Ok(())
    })
    .await
    .unwrap();
    v
}
