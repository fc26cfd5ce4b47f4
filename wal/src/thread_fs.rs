//! [`ThreadFs`]: the log's file system for executors without io_uring.
//!
//! Buffered `std::fs` files (no O_DIRECT). Writes, fdatasync and the directory fsync run on
//! the file system's sync thread ([`crate::sync_thread`]), as with [`crate::GlommioFs`], so the
//! shard's executor keeps serving while the disk works. Reads happen at recovery only and are
//! done inline with `pread`. Durability is the same as with `GlommioFs`: an acknowledged record
//! was written and `fdatasync`ed (through the page cache rather than around it), and new or
//! removed segment files are made durable by the directory fsync the writer issues.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use crate::fs::{FileSystem, WalFile};
use crate::sync_thread::SyncThread;

/// Buffered files whose writes and syncs run on a thread of their own.
#[derive(Debug, Clone)]
pub struct ThreadFs {
    sync: Rc<SyncThread>,
}

impl ThreadFs {
    /// Starts the sync thread, named `name`; it inherits the caller's CPU affinity.
    pub fn new(name: &str) -> io::Result<ThreadFs> {
        Ok(ThreadFs {
            sync: Rc::new(SyncThread::start(name)?),
        })
    }
}

/// A file of [`ThreadFs`]. The sync thread holds its own reference to the file while a job
/// runs, so a file dropped meanwhile is closed only after the job.
#[derive(Debug)]
pub struct ThreadFile {
    file: Arc<std::fs::File>,
    sync: Rc<SyncThread>,
}

impl WalFile for ThreadFile {
    async fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let file = self.file.clone();
        let data = buf.to_vec();
        self.sync.run(move || file.write_all_at(&data, pos)).await
    }
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        crate::fs::read_up_to(&self.file, pos, len)
    }
    async fn fdatasync(&self) -> io::Result<()> {
        let file = self.file.clone();
        self.sync.run(move || file.sync_data()).await
    }
    async fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
    async fn truncate(&self, len: u64) -> io::Result<()> {
        // In order with the writes queued before it.
        let file = self.file.clone();
        self.sync.run(move || file.set_len(len)).await
    }
}

impl ThreadFs {
    fn wrap(&self, file: std::fs::File) -> ThreadFile {
        ThreadFile {
            file: Arc::new(file),
            sync: self.sync.clone(),
        }
    }
}

impl FileSystem for ThreadFs {
    type File = ThreadFile;
    async fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    async fn create(&self, path: &Path) -> io::Result<ThreadFile> {
        Ok(self.wrap(crate::fs::open_std(path, true)?))
    }
    async fn open(&self, path: &Path) -> io::Result<ThreadFile> {
        Ok(self.wrap(crate::fs::open_std(path, false)?))
    }
    async fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        crate::fs::list_std(dir)
    }
    async fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        crate::fs::sync_dir_std(&self.sync, dir).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FileSystem, WalFile};

    #[test]
    fn writes_read_back_survive_reopen_and_truncate_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        futures_lite::future::block_on(async {
            let fs = ThreadFs::new("test-thread-fs").unwrap();
            let f = fs.create(&path).await.unwrap();
            f.write_at(&[7u8; 4096], 0).await.unwrap();
            f.write_at(&[9u8; 4096], 4096).await.unwrap();
            f.fdatasync().await.unwrap();
            assert_eq!(f.len().await.unwrap(), 8192);
            f.truncate(4096).await.unwrap();
            drop(f);
            fs.sync_dir(dir.path()).await.unwrap();
            let f = fs.open(&path).await.unwrap();
            assert_eq!(f.read_at(0, 10_000).await.unwrap(), vec![7u8; 4096]);
            assert!(f.read_at(4096, 10).await.unwrap().is_empty());
            assert!(
                fs.create(&path).await.is_err(),
                "create must not replace a file"
            );
            assert_eq!(fs.list(dir.path()).await.unwrap(), vec!["seg".to_string()]);
        });
    }
}
