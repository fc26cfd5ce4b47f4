//! Functions behind `treestore wal dump DIR` and `treestore wal verify DIR`.
//! Read-only; blocking (`StdFs`); they return text / a report, the CLI prints.

use std::fmt::Write as _;
use std::path::Path;

use futures_lite::future::block_on;

use crate::error::Result;
use crate::format::{Lsn, RecordType};
use crate::fs::{FileSystem, StdFs};
use crate::reader::{list_segments, read_segment_header, scan_segment, SegmentEnd};

/// Outcome of `verify`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: usize,
    pub records: u64,
    pub committed_txs: u64,
    pub first_lsn: Option<Lsn>,
    pub last_lsn: Option<Lsn>,
    /// A torn tail of the last segment (normal after a crash; recovery
    /// truncates it). Not an error.
    pub torn_tail: Option<String>,
    /// Corruption: recovery would refuse to open. Each names file and offset.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// No corruption (a torn tail is fine).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
    /// Process exit status: 0 clean, 1 torn tail only (recoverable), 2 corrupt.
    pub fn exit_code(&self) -> i32 {
        if !self.problems.is_empty() {
            2
        } else if self.torn_tail.is_some() {
            1
        } else {
            0
        }
    }
    /// Human readable summary.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "segments: {}  records: {}  committed transactions: {}  lsn range: {}..={}",
            self.segments,
            self.records,
            self.committed_txs,
            self.first_lsn
                .map(|l| l.to_string())
                .unwrap_or_else(|| "-".into()),
            self.last_lsn
                .map(|l| l.to_string())
                .unwrap_or_else(|| "-".into()),
        );
        if let Some(t) = &self.torn_tail {
            let _ = writeln!(s, "torn tail (will be truncated by recovery): {t}");
        }
        for p in &self.problems {
            let _ = writeln!(s, "CORRUPTION: {p}");
        }
        let _ = writeln!(
            s,
            "{}",
            match self.exit_code() {
                0 => "OK",
                1 => "OK (torn tail)",
                _ => "CORRUPT",
            }
        );
        s
    }
}

/// Print every record of every segment of `dir`.
pub fn dump(dir: &Path) -> Result<String> {
    block_on(dump_with(&StdFs, dir))
}

/// `dump` over any file system.
pub async fn dump_with<F: FileSystem>(fs: &F, dir: &Path) -> Result<String> {
    let mut out = String::new();
    for seg in list_segments(fs, dir).await? {
        let (hdr, len) = read_segment_header(fs, &seg.path).await?;
        match hdr {
            Ok(h) => {
                let _ = writeln!(
                    out,
                    "segment {} len={len} version={} shard={} first_lsn={} prev_lsn={}",
                    seg.path.display(),
                    h.version,
                    h.shard_id,
                    h.first_lsn,
                    h.prev_lsn
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "segment {} len={len} BAD HEADER: {e}",
                    seg.path.display()
                );
                continue;
            }
        }
        let name = seg
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let scan = scan_segment(fs, &seg.path, |off, h, payload| {
            let _ = writeln!(
                out,
                "{name} offset={off} lsn={} txid={} type={} flags={} len={} crc=ok",
                h.lsn,
                h.txid,
                h.rtype,
                h.flags,
                payload.len()
            );
            Ok(())
        })
        .await?;
        match scan.end {
            SegmentEnd::Clean { data_end } => {
                let _ = writeln!(out, "{name} end of data at offset {data_end}");
            }
            SegmentEnd::Damaged {
                offset,
                reason,
                later_flush,
            } => {
                let _ = writeln!(
                    out,
                    "{name} offset={offset} INVALID: {reason}{}",
                    later_flush
                        .map(|l| format!(" (valid flush follows at offset {l})"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(out)
}

/// Check a whole log directory without changing it.
pub fn verify(dir: &Path) -> Result<VerifyReport> {
    block_on(verify_with(&StdFs, dir))
}

/// `verify` over any file system.
pub async fn verify_with<F: FileSystem>(fs: &F, dir: &Path) -> Result<VerifyReport> {
    let mut r = VerifyReport::default();
    let segs = list_segments(fs, dir).await?;
    r.segments = segs.len();
    let mut prev_last: Option<Lsn> = None;
    let mut shard: Option<u64> = None;
    for (i, seg) in segs.iter().enumerate() {
        let is_last = i + 1 == segs.len();
        let (hdr, len) = read_segment_header(fs, &seg.path).await?;
        let h = match hdr {
            Ok(h) => h,
            Err(e) => {
                if is_last && len <= crate::format::BLOCK_SIZE as u64 {
                    r.torn_tail =
                        Some(format!("{}: torn segment header ({e})", seg.path.display()));
                } else {
                    r.problems.push(format!(
                        "{} offset 0: bad segment header: {e}",
                        seg.path.display()
                    ));
                }
                continue;
            }
        };
        if let Some(s) = shard {
            if s != h.shard_id {
                r.problems.push(format!(
                    "{}: belongs to shard {}, other segments to shard {s}",
                    seg.path.display(),
                    h.shard_id
                ));
            }
        }
        shard = Some(h.shard_id);
        if h.first_lsn != seg.first_lsn {
            r.problems.push(format!(
                "{} offset 0: header first lsn {} does not match the file name",
                seg.path.display(),
                h.first_lsn
            ));
        }
        if let Some(p) = prev_last {
            if p != h.prev_lsn {
                r.problems.push(format!(
                    "{} offset 0: missing segment: follows lsn {} but the previous segment ends at lsn {p}",
                    seg.path.display(),
                    h.prev_lsn
                ));
            }
        }
        let mut records = 0u64;
        let mut commits = 0u64;
        let mut first = None;
        let scan = scan_segment(fs, &seg.path, |_, rh, _| {
            records += 1;
            first.get_or_insert(rh.lsn);
            if rh.rtype == RecordType::Commit {
                commits += 1;
            }
            Ok(())
        })
        .await?;
        r.records += records;
        r.committed_txs += commits;
        if r.first_lsn.is_none() {
            r.first_lsn = first;
        }
        if scan.last_lsn.is_some() {
            r.last_lsn = scan.last_lsn;
        }
        prev_last = Some(scan.last_lsn.unwrap_or(h.prev_lsn));
        if let SegmentEnd::Damaged {
            offset,
            reason,
            later_flush,
        } = scan.end
        {
            let msg = format!("{} offset {offset}: {reason}", seg.path.display());
            if is_last && later_flush.is_none() {
                r.torn_tail = Some(msg);
            } else {
                r.problems.push(msg);
            }
        }
    }
    Ok(r)
}
