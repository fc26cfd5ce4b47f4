//! [`FaultFs`]: a wrapper over a real file system ([`crate::StdFs`], [`crate::ThreadFs`],
//! [`crate::GlommioFs`]) that fails chosen writes and fsyncs with `EIO`, so the log's fail-stop
//! behaviour is tested against the kernel's files rather than the simulated disk.
//!
//! Counting: every `write_at` of any file is one write; every `fdatasync` of any file and every
//! directory fsync (`sync_dir`) is one fsync. `fail_nth_write(n)` makes the n-th write from now
//! (1 = the next one) fail once with `EIO` without reaching the file; `fail_nth_fsync(n)` makes
//! the n-th fsync from now fail once with `EIO` after the inner fsync ran (as Linux reports a
//! writeback error: the data may or may not be on disk). Later calls succeed again, as a
//! disk that recovered would: the log must refuse further appends by itself.

use std::cell::{Cell, RefCell};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::fs::{FileSystem, WalFile};

/// Counters and armed faults, shared by the file system and its files.
#[derive(Debug, Default)]
struct Faults {
    writes: Cell<u64>,
    fsyncs: Cell<u64>,
    /// The value of `writes` at which a write fails (counted after it is incremented).
    fail_write: Cell<Option<u64>>,
    fail_fsync: Cell<Option<u64>>,
    injected: Cell<u64>,
    /// The directories fsynced, in order.
    synced_dirs: RefCell<Vec<PathBuf>>,
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

impl Faults {
    /// Counts one operation on `counter`; whether it is the armed one (then it is disarmed).
    fn hit(&self, counter: &Cell<u64>, armed: &Cell<Option<u64>>) -> bool {
        counter.set(counter.get() + 1);
        if armed.get() == Some(counter.get()) {
            armed.set(None);
            self.injected.set(self.injected.get() + 1);
            true
        } else {
            false
        }
    }
}

/// A file system whose chosen writes and fsyncs fail with `EIO`. Cloning shares the faults.
#[derive(Debug, Clone)]
pub struct FaultFs<F> {
    inner: F,
    faults: Rc<Faults>,
}

/// A file of [`FaultFs`].
#[derive(Debug)]
pub struct FaultFile<W> {
    inner: W,
    faults: Rc<Faults>,
}

impl<F: FileSystem> FaultFs<F> {
    pub fn new(inner: F) -> FaultFs<F> {
        FaultFs {
            inner,
            faults: Rc::default(),
        }
    }
    /// The `n`-th `write_at` from now (1 = the next) fails once with `EIO`, writing nothing.
    pub fn fail_nth_write(&self, n: u64) {
        let f = &self.faults;
        f.fail_write.set(Some(f.writes.get() + n.max(1)));
    }
    /// The `n`-th fsync from now (file `fdatasync` or directory fsync; 1 = the next) fails once
    /// with `EIO`.
    pub fn fail_nth_fsync(&self, n: u64) {
        let f = &self.faults;
        f.fail_fsync.set(Some(f.fsyncs.get() + n.max(1)));
    }
    /// `write_at` calls so far.
    pub fn writes(&self) -> u64 {
        self.faults.writes.get()
    }
    /// fsyncs (file and directory) so far.
    pub fn fsyncs(&self) -> u64 {
        self.faults.fsyncs.get()
    }
    /// The directories fsynced so far, in order.
    pub fn synced_dirs(&self) -> Vec<PathBuf> {
        self.faults.synced_dirs.borrow().clone()
    }
    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.faults.injected.get()
    }
}

impl<W: WalFile> WalFile for FaultFile<W> {
    async fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let f = &self.faults;
        if f.hit(&f.writes, &f.fail_write) {
            return Err(eio());
        }
        self.inner.write_at(buf, pos).await
    }
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        self.inner.read_at(pos, len).await
    }
    async fn fdatasync(&self) -> io::Result<()> {
        let f = &self.faults;
        let fail = f.hit(&f.fsyncs, &f.fail_fsync);
        self.inner.fdatasync().await?;
        if fail {
            return Err(eio());
        }
        Ok(())
    }
    async fn len(&self) -> io::Result<u64> {
        self.inner.len().await
    }
    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.inner.truncate(len).await
    }
}

impl<F: FileSystem> FileSystem for FaultFs<F> {
    type File = FaultFile<F::File>;
    async fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir).await
    }
    async fn create(&self, path: &Path) -> io::Result<Self::File> {
        Ok(FaultFile {
            inner: self.inner.create(path).await?,
            faults: self.faults.clone(),
        })
    }
    async fn open(&self, path: &Path) -> io::Result<Self::File> {
        Ok(FaultFile {
            inner: self.inner.open(path).await?,
            faults: self.faults.clone(),
        })
    }
    async fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir).await
    }
    async fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path).await
    }
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to).await
    }
    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let f = &self.faults;
        let fail = f.hit(&f.fsyncs, &f.fail_fsync);
        f.synced_dirs.borrow_mut().push(dir.to_path_buf());
        self.inner.sync_dir(dir).await?;
        if fail {
            return Err(eio());
        }
        Ok(())
    }
}
