//! Free space on the file systems a shard writes to, checked before a write is logged.
//!
//! Why before: a log append that fails with ENOSPC poisons the shard (fail-stop: after a failed
//! write or fdatasync the state of the written blocks is unknown, see `wal/DESIGN.md`), and a
//! RocksDB flush that fails with ENOSPC stops RocksDB (below). So while the space available to
//! the server is below a reserve, the shard refuses writes with `ResourceExhausted` (nothing is
//! appended or applied) and postpones checkpoints; it serves reads, and takes writes again as
//! soon as space is back. The reserve must hold what can still be written once a write passed
//! the check: the log records and memtable flushes in flight, and what is written during
//! `TRUST_FOR` after a reading that found enough space (a `statvfs` took 30-40 µs on the 2-core
//! test VM: not once per write).
//!
//! A flush can still meet a full disk: the reserve is 0, RocksDB's file system is not the log's
//! and filled up, or another process took the space after the check. Observed (RocksDB 10.4,
//! `tests/disk_full.rs`): the flush fails ("IO error: No space left on device: While appending
//! to file: .../000008.sst"), RocksDB sets a hard background error and refuses every write to
//! every column family (every shard) with that error, and still serves reads; it keeps its
//! memtables. Its SstFileManager then retries the flush every 5 s, but only once RocksDB's file
//! system has room for a write buffer (64 MiB by default: "free space [8302592 bytes] is less
//! than required disk buffer [67108864 bytes] / Cannot clear hard error" until then); when that
//! flush succeeds, writes are taken again (no restart). The rust-rocksdb API has no `Resume`:
//! the shard cannot make RocksDB recover sooner. A write applied while RocksDB is stopped would
//! fail after its record is logged and poison the shard, so the shard asks the store before it
//! logs a write (`KvStore::accepts_writes`: RocksDB's count of background errors, which counts
//! every failed flush, ours and its own, and once that moved or one of our writes failed, an
//! empty write as a probe) and refuses with `ResourceExhausted`, nothing logged; checkpoints
//! are postponed (the log is kept) until the probe passes. Tested with a checkpoint's flush;
//! RocksDB's own flush of a full memtable takes the same path but is not tested. Not closed: a
//! write whose apply races with the failing flush (the flush fails between the write's check
//! and its apply, i.e. during its planning and log append) still poisons its shard; a restart
//! recovers it from the log.

use crate::{Error, Result};
use std::cell::Cell;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a reading that found enough space is trusted. A reading that found too little is
/// never reused: writes resume at the first request after space is back.
pub const TRUST_FOR: Duration = Duration::from_millis(50);

/// Bytes available to an unprivileged process on the file system holding `path`
/// (`statvfs`: `f_bavail * f_frsize`).
pub fn available_bytes(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `statvfs` is plain old data, for which all-zero bytes are a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated string and `st` a struct we own.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// The reserve of free space a shard keeps on the file systems of its directories.
#[derive(Clone, Debug)]
pub struct DiskReserve {
    /// The shard's log directory and the RocksDB directory (often one file system).
    paths: Vec<PathBuf>,
    /// Writes are refused while fewer bytes than this are available; 0 turns the check off.
    reserve: u64,
    /// When the last reading found enough space on every file system.
    enough_at: Cell<Option<Instant>>,
}

impl DiskReserve {
    pub fn new(paths: Vec<PathBuf>, reserve: u64) -> DiskReserve {
        DiskReserve {
            paths,
            reserve,
            enough_at: Cell::new(None),
        }
    }

    /// `Ok` while every directory's file system has at least the reserve available, else
    /// `ResourceExhausted` naming the directory. A file system whose space cannot be read
    /// (statvfs failed) does not refuse: the write's own I/O reports a real failure.
    pub fn check(&self) -> Result<()> {
        if self.reserve == 0 {
            return Ok(());
        }
        let now = Instant::now();
        if self
            .enough_at
            .get()
            .is_some_and(|at| now.duration_since(at) < TRUST_FOR)
        {
            return Ok(());
        }
        self.enough_at.set(None);
        self.measure()?;
        self.enough_at.set(Some(now));
        Ok(())
    }

    /// Reads every file system's available space now.
    fn measure(&self) -> Result<()> {
        for path in &self.paths {
            match available_bytes(path) {
                Ok(free) if free < self.reserve => {
                    return Err(Error::ResourceExhausted(format!(
                        "disk full: {free} bytes free on the file system of {}, below the \
                         reserve of {} bytes; writes are refused until space is freed (reads \
                         go on)",
                        path.display(),
                        self.reserve
                    )))
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "statvfs failed")
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_below_the_reserve_and_names_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let free = available_bytes(dir.path()).unwrap();
        assert!(free > 0);
        assert!(DiskReserve::new(vec![dir.path().into()], 0).check().is_ok());
        assert!(DiskReserve::new(vec![dir.path().into()], 1).check().is_ok());
        let full = DiskReserve::new(vec![dir.path().into()], u64::MAX);
        assert!(full.check().is_err());
        // A refusal is not remembered: every check reads the disk again.
        assert!(full.enough_at.get().is_none());
        let e = full.check().unwrap_err();
        let Error::ResourceExhausted(msg) = e else {
            panic!("{e:?}")
        };
        assert!(msg.contains("disk full"), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    }
}
