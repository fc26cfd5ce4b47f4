//! Segment writer with group commit.
//!
//! * [`Wal::append`] is synchronous: it assigns LSNs and encodes records into
//!   an in-memory buffer. Nothing is durable yet.
//! * [`Wal::wait_durable`] is awaited by every task that must acknowledge a
//!   client. The first waiter to find no flush in progress becomes the leader:
//!   it takes everything buffered so far, writes it in ONE write (padded to the
//!   4096-byte block boundary) and issues ONE fdatasync. Waiters that arrive
//!   meanwhile wait for that flush and, if their LSN was appended after it
//!   started, one of them leads the next flush. So N concurrent waiters cost
//!   one or two fdatasyncs, not N.
//! * A failed write or fdatasync POISONS the writer: the leader gets the I/O
//!   error, every other waiter and every later call gets [`Error::Poisoned`].
//!   Nothing is retried: after a failed fdatasync the page cache state is
//!   unknown, so the shard must restart and recover.
//! * Each flush starts on a fresh block, so a block that holds acknowledged
//!   records is never rewritten (a torn rewrite could destroy them). Cost: on
//!   average half a block (2 KiB) of zero padding per flush.
//!
//! Single-threaded (glommio): interior mutability with `Cell`/`RefCell`; no
//! borrow is held across an `.await`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, IoContext, Result};
use crate::format::{
    self, encode_record, mark_flush_start, Lsn, RecordType, SegmentHeader, BLOCK_SIZE,
    FORMAT_VERSION, MAX_RECORD_PAYLOAD,
};
use crate::fs::{FileSystem, WalFile};

/// WAL tuning.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// A new segment is started by the first flush after the current segment
    /// reached this size (soft limit: one flush may overshoot). Default 100 MB.
    pub segment_size: u64,
    /// `purge` never deletes the newest `keep_segments` segments. Default 3, min 1.
    pub keep_segments: usize,
    /// Transaction payloads larger than this are split into several Data
    /// records followed by a Commit record. Default 1 MiB.
    pub max_record_size: usize,
    /// On corruption that is not a torn tail of the last segment, truncate the
    /// log there (deleting later segments) instead of refusing to open.
    pub truncate_on_corruption: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 100 * 1000 * 1000,
            keep_segments: 3,
            max_record_size: format::DEFAULT_MAX_RECORD_SIZE,
            truncate_on_corruption: false,
        }
    }
}

impl WalOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.keep_segments < 1 {
            return Err(Error::InvalidOptions("keep_segments must be >= 1".into()));
        }
        if self.max_record_size == 0 || self.max_record_size > MAX_RECORD_PAYLOAD {
            return Err(Error::InvalidOptions(format!(
                "max_record_size must be in 1..={MAX_RECORD_PAYLOAD}"
            )));
        }
        if self.segment_size < 2 * BLOCK_SIZE as u64 {
            return Err(Error::InvalidOptions("segment_size must be >= 8192".into()));
        }
        Ok(())
    }
}

/// Metadata of one segment on disk.
#[derive(Debug, Clone)]
pub(crate) struct SegMeta {
    pub path: PathBuf,
    pub first_lsn: Lsn,
    /// LSN of the last record in it; for an empty segment the last LSN before it.
    pub last_lsn: Lsn,
    pub size: u64,
}

struct State<W> {
    buf: Vec<u8>,
    /// LSN of the first record in `buf`.
    buf_first_lsn: Lsn,
    next_lsn: Lsn,
    durable_lsn: Lsn,
    /// Last LSN written to a segment (becomes `prev_lsn` of the next segment).
    last_written_lsn: Lsn,
    segments: Vec<SegMeta>,
    current: Option<Rc<W>>,
    write_pos: u64,
    poisoned: Option<String>,
}

struct Inner<F: FileSystem> {
    fs: F,
    dir: PathBuf,
    shard_id: u64,
    opts: WalOptions,
    st: RefCell<State<F::File>>,
    flushing: Cell<bool>,
    flush_gen: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
    /// Told of every flush that made records durable (metrics).
    on_flush: RefCell<Option<FlushObserver>>,
}

type FlushObserver = Box<dyn Fn(&Flushed)>;

/// One flush that made records durable.
#[derive(Debug, Clone, Copy)]
pub struct Flushed {
    /// Records (LSNs) it made durable: a group commit's size.
    pub records: u64,
    pub bytes: usize,
    /// The write and its fdatasync.
    pub elapsed: std::time::Duration,
}

/// The write side of one shard's log. Cheap to clone (an `Rc`); clones share
/// the same log, so each task of the shard can hold one. Not `Send`.
pub struct Wal<F: FileSystem> {
    inner: Rc<Inner<F>>,
}

impl<F: FileSystem> Clone for Wal<F> {
    fn clone(&self) -> Self {
        Wal {
            inner: self.inner.clone(),
        }
    }
}

/// Resets the flushing flag and wakes waiters even if the leader's future is
/// dropped mid-flush (then the buffered records are lost, so it poisons).
struct FlushGuard<'a, F: FileSystem> {
    inner: &'a Inner<F>,
    done: bool,
}

impl<F: FileSystem> Drop for FlushGuard<'_, F> {
    fn drop(&mut self) {
        if !self.done {
            let mut st = self.inner.st.borrow_mut();
            if st.poisoned.is_none() {
                st.poisoned = Some("a flush was cancelled midway".into());
            }
        }
        self.inner.flushing.set(false);
        self.inner.flush_gen.set(self.inner.flush_gen.get() + 1);
        let ws = std::mem::take(&mut *self.inner.waiters.borrow_mut());
        for w in ws {
            w.wake();
        }
    }
}

struct FlushWait<'a, F: FileSystem> {
    inner: &'a Inner<F>,
    gen: u64,
}

impl<F: FileSystem> Future for FlushWait<'_, F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.flush_gen.get() != self.gen || !self.inner.flushing.get() {
            Poll::Ready(())
        } else {
            self.inner.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl<F: FileSystem> Wal<F> {
    /// Build a writer over already-recovered state (used by `recovery::open`).
    pub(crate) fn from_recovered(
        fs: F,
        dir: PathBuf,
        shard_id: u64,
        opts: WalOptions,
        segments: Vec<SegMeta>,
        last_written_lsn: Lsn,
        next_lsn: Lsn,
    ) -> Wal<F> {
        let st = State {
            buf: Vec::new(),
            buf_first_lsn: next_lsn,
            next_lsn,
            durable_lsn: next_lsn - 1,
            last_written_lsn,
            segments,
            current: None,
            write_pos: 0,
            poisoned: None,
        };
        Wal {
            inner: Rc::new(Inner {
                fs,
                dir,
                shard_id,
                opts,
                st: RefCell::new(st),
                flushing: Cell::new(false),
                flush_gen: Cell::new(0),
                waiters: RefCell::new(Vec::new()),
                on_flush: RefCell::new(None),
            }),
        }
    }

    fn poisoned_err(&self, cause: &str) -> Error {
        Error::Poisoned {
            shard_id: self.inner.shard_id,
            cause: cause.to_string(),
        }
    }

    fn poison(&self, cause: String) {
        let mut st = self.inner.st.borrow_mut();
        if st.poisoned.is_none() {
            tracing::error!(shard = self.inner.shard_id, cause = %cause, "wal poisoned");
            st.poisoned = Some(cause);
        }
    }

    /// Buffer a committed transaction. Returns the LSN of its Commit record
    /// (the transaction's LSN). Payloads above `max_record_size` are split into
    /// Data records followed by the Commit record; each record has its own LSN.
    /// Not durable until `wait_durable(lsn)` / `sync()` returned Ok.
    pub fn append(&self, txid: u64, payload: &[u8]) -> Result<Lsn> {
        fail::fail_point!("wal::append", |_| Err(Error::Injected(
            "wal::append".into()
        )));
        let mut st = self.inner.st.borrow_mut();
        if let Some(c) = &st.poisoned {
            return Err(self.poisoned_err(c));
        }
        let max = self.inner.opts.max_record_size;
        let n_chunks = payload.len().div_ceil(max).max(1);
        if st.buf.is_empty() {
            st.buf_first_lsn = st.next_lsn;
        }
        st.buf
            .reserve(payload.len() + n_chunks * format::RECORD_HEADER_LEN);
        for i in 0..n_chunks {
            let chunk = &payload[(i * max).min(payload.len())..((i + 1) * max).min(payload.len())];
            let rtype = if i + 1 == n_chunks {
                RecordType::Commit
            } else {
                RecordType::Data
            };
            let lsn = st.next_lsn;
            // A record never starts in the last RECORD_HEADER_LEN - 1 bytes of a block (the
            // buffer starts on a block boundary): the reader takes such a tail for padding.
            let room = BLOCK_SIZE - st.buf.len() % BLOCK_SIZE;
            if room < format::RECORD_HEADER_LEN {
                let padded = st.buf.len() + room;
                st.buf.resize(padded, 0);
            }
            encode_record(&mut st.buf, rtype, lsn, txid, chunk);
            st.next_lsn += 1;
        }
        Ok(st.next_lsn - 1)
    }

    /// Calls `f` after every flush that made records durable (before their waiters wake).
    pub fn on_flush(&self, f: impl Fn(&Flushed) + 'static) {
        *self.inner.on_flush.borrow_mut() = Some(Box::new(f));
    }

    /// Make everything appended so far durable (group commit). Returns the
    /// durable LSN.
    pub async fn sync(&self) -> Result<Lsn> {
        let last = self.last_lsn();
        self.wait_durable(last).await?;
        Ok(self.durable_lsn())
    }

    /// Wait until `lsn` is durable, leading a flush if none is in progress.
    /// Many tasks may await this concurrently; one fdatasync covers them all.
    pub async fn wait_durable(&self, lsn: Lsn) -> Result<()> {
        loop {
            {
                let st = self.inner.st.borrow();
                if let Some(c) = &st.poisoned {
                    return Err(self.poisoned_err(c));
                }
                if lsn <= st.durable_lsn {
                    return Ok(());
                }
                if lsn >= st.next_lsn {
                    return Err(Error::UnknownLsn {
                        lsn,
                        last: st.next_lsn - 1,
                    });
                }
            }
            if self.inner.flushing.get() {
                FlushWait {
                    inner: &self.inner,
                    gen: self.inner.flush_gen.get(),
                }
                .await;
                continue;
            }
            self.inner.flushing.set(true);
            let mut guard = FlushGuard {
                inner: &self.inner,
                done: false,
            };
            let res = self.flush_buffer().await;
            if let Err(e) = &res {
                self.poison(e.to_string());
            }
            guard.done = true;
            drop(guard);
            res?;
        }
    }

    /// One flush: write the whole buffer (padded) at the next block, fdatasync.
    async fn flush_buffer(&self) -> Result<()> {
        let (mut buf, first, last) = {
            let mut st = self.inner.st.borrow_mut();
            if st.buf.is_empty() {
                return Ok(());
            }
            (
                std::mem::take(&mut st.buf),
                st.buf_first_lsn,
                st.next_lsn - 1,
            )
        };
        mark_flush_start(&mut buf);
        buf.resize(format::align_up(buf.len() as u64) as usize, 0);
        fail::fail_point!("wal::sync::before", |_| Err(Error::Injected(
            "wal::sync::before".into()
        )));
        let need_rotate = {
            let st = self.inner.st.borrow();
            st.current.is_none() || st.write_pos >= self.inner.opts.segment_size
        };
        if need_rotate {
            self.rotate(first).await?;
        }
        let (file, pos, path) = {
            let st = self.inner.st.borrow();
            match (&st.current, st.segments.last()) {
                (Some(f), Some(m)) => (f.clone(), st.write_pos, m.path.clone()),
                _ => return Err(self.poisoned_err("no current segment")),
            }
        };
        let started = std::time::Instant::now();
        file.write_at(&buf, pos).await.ctx(|| {
            format!(
                "writing {} bytes at {} offset {pos}",
                buf.len(),
                path.display()
            )
        })?;
        file.fdatasync()
            .await
            .ctx(|| format!("fdatasync {}", path.display()))?;
        fail::fail_point!("wal::sync::after", |_| Err(Error::Injected(
            "wal::sync::after".into()
        )));
        if let Some(f) = &*self.inner.on_flush.borrow() {
            f(&Flushed {
                records: last + 1 - first,
                bytes: buf.len(),
                elapsed: started.elapsed(),
            });
        }
        let mut st = self.inner.st.borrow_mut();
        st.write_pos = pos + buf.len() as u64;
        st.durable_lsn = last;
        st.last_written_lsn = last;
        let wp = st.write_pos;
        if let Some(m) = st.segments.last_mut() {
            m.last_lsn = last;
            m.size = wp;
        }
        Ok(())
    }

    /// Start a new segment whose first record will have `first_lsn`: create the
    /// file, write and fdatasync its header block, fsync the directory. The
    /// header is durable before any record goes into the file, so a torn
    /// header can only be found in a file of at most one block.
    pub(crate) async fn rotate(&self, first_lsn: Lsn) -> Result<()> {
        fail::fail_point!("wal::rotate", |_| Err(Error::Injected(
            "wal::rotate".into()
        )));
        let prev_lsn = self.inner.st.borrow().last_written_lsn;
        let path = self.inner.dir.join(format::segment_file_name(first_lsn));
        let hdr = SegmentHeader {
            version: FORMAT_VERSION,
            shard_id: self.inner.shard_id,
            first_lsn,
            prev_lsn,
        }
        .encode_block();
        let f = self
            .inner
            .fs
            .create(&path)
            .await
            .ctx(|| format!("creating segment {}", path.display()))?;
        f.write_at(&hdr, 0)
            .await
            .ctx(|| format!("writing header of {}", path.display()))?;
        f.fdatasync()
            .await
            .ctx(|| format!("fdatasync {}", path.display()))?;
        self.inner
            .fs
            .sync_dir(&self.inner.dir)
            .await
            .ctx(|| format!("fsync dir {}", self.inner.dir.display()))?;
        tracing::debug!(shard = self.inner.shard_id, file = %path.display(), "wal segment created");
        let mut st = self.inner.st.borrow_mut();
        st.segments.push(SegMeta {
            path,
            first_lsn,
            last_lsn: prev_lsn,
            size: BLOCK_SIZE as u64,
        });
        st.current = Some(Rc::new(f));
        st.write_pos = BLOCK_SIZE as u64;
        Ok(())
    }

    /// Delete the oldest segments whose records all have LSN <= `checkpoint_lsn`
    /// (oldest first, fsyncing the directory after each), never the newest
    /// `keep_segments`. Returns how many were deleted.
    pub async fn purge(&self, checkpoint_lsn: Lsn) -> Result<usize> {
        fail::fail_point!("wal::purge", |_| Err(Error::Injected("wal::purge".into())));
        let victims: Vec<PathBuf> = {
            let st = self.inner.st.borrow();
            if let Some(c) = &st.poisoned {
                return Err(self.poisoned_err(c));
            }
            let n = st
                .segments
                .len()
                .saturating_sub(self.inner.opts.keep_segments);
            st.segments[..n]
                .iter()
                .take_while(|s| s.last_lsn <= checkpoint_lsn)
                .map(|s| s.path.clone())
                .collect()
        };
        if victims.is_empty() {
            return Ok(0);
        }
        // Oldest first, each removal made durable (directory fsync) before the next: the file
        // system does not promise to persist unsynced directory changes in order, and a newer
        // segment gone while an older one stays would be a hole in the chain, i.e. corruption.
        for v in &victims {
            self.inner
                .fs
                .remove(v)
                .await
                .ctx(|| format!("removing segment {}", v.display()))?;
            self.inner.st.borrow_mut().segments.retain(|s| &s.path != v);
            tracing::debug!(shard = self.inner.shard_id, file = %v.display(), "wal segment purged");
            // A failed directory fsync leaves unknown which entries are durable, and a later
            // fsync's success would not say (the kernel reports a writeback error once): like
            // a failed fdatasync, it poisons, so no later rotation relies on this directory.
            let synced = self
                .inner
                .fs
                .sync_dir(&self.inner.dir)
                .await
                .ctx(|| format!("fsync dir {}", self.inner.dir.display()));
            if let Err(e) = &synced {
                self.poison(e.to_string());
            }
            synced?;
        }
        Ok(victims.len())
    }

    /// Highest durable LSN.
    pub fn durable_lsn(&self) -> Lsn {
        self.inner.st.borrow().durable_lsn
    }
    /// Highest appended LSN (durable or not).
    pub fn last_lsn(&self) -> Lsn {
        self.inner.st.borrow().next_lsn - 1
    }
    /// Has a write or fdatasync failed?
    pub fn is_poisoned(&self) -> bool {
        self.inner.st.borrow().poisoned.is_some()
    }
    /// Total bytes of the segment files (as written; unflushed data excluded).
    pub fn disk_size(&self) -> u64 {
        self.inner.st.borrow().segments.iter().map(|s| s.size).sum()
    }
    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.inner.st.borrow().segments.len()
    }
    /// Paths of the segment files, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.inner
            .st
            .borrow()
            .segments
            .iter()
            .map(|s| s.path.clone())
            .collect()
    }
    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
    /// The shard id.
    pub fn shard_id(&self) -> u64 {
        self.inner.shard_id
    }
}
