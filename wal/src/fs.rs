//! File I/O behind a trait, so tests can inject faults and simulate crashes.
//!
//! Three implementations:
//! * [`GlommioFs`]: `glommio::io::DmaFile` (O_DIRECT; reads through io_uring, writes and
//!   fsyncs on a thread of its own, [`crate::sync_thread`]). For production.
//! * [`StdFs`]: blocking `std::fs`. For the ctl tool and tests.
//! * [`SimFs`]: an in-memory simulated disk that keeps unsynced data apart from
//!   durable data and can produce crash images and inject I/O errors.
//!
//! The traits use `async fn` without `Send` bounds: glommio is thread-per-core.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sync_thread::SyncThread;

/// One open file.
#[allow(async_fn_in_trait, clippy::len_without_is_empty)]
pub trait WalFile {
    /// Write all of `buf` at `pos`. The WAL only issues 4096-aligned writes
    /// whose length is a multiple of 4096.
    async fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Read up to `len` bytes at `pos`; shorter only at end of file.
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Make the file's data (and size) durable.
    async fn fdatasync(&self) -> io::Result<()>;
    /// Current file length.
    async fn len(&self) -> io::Result<u64>;
    /// Truncate (or extend with zeros) to `len`.
    async fn truncate(&self, len: u64) -> io::Result<()>;
}

/// Directory-level operations and opening files.
#[allow(async_fn_in_trait)]
pub trait FileSystem {
    type File: WalFile;
    /// Create a directory and its parents if missing.
    async fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Create a new file for reading and writing; fails if it exists.
    async fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Open an existing file for reading and writing.
    async fn open(&self, path: &Path) -> io::Result<Self::File>;
    /// File names (not paths) in `dir`.
    async fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Remove a file.
    async fn remove(&self, path: &Path) -> io::Result<()>;
    /// Rename a file.
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsync the directory, making created/removed/renamed entries durable.
    async fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

// ---------------------------------------------------------------------------
// StdFs

/// Blocking `std::fs` implementation (ctl tool, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

/// A file of [`StdFs`].
#[derive(Debug)]
pub struct StdFile(std::fs::File);

impl WalFile for StdFile {
    async fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, buf, pos)
    }
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        read_up_to(&self.0, pos, len)
    }
    async fn fdatasync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    async fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

impl FileSystem for StdFs {
    type File = StdFile;
    async fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    async fn create(&self, path: &Path) -> io::Result<StdFile> {
        Ok(StdFile(open_std(path, true)?))
    }
    async fn open(&self, path: &Path) -> io::Result<StdFile> {
        Ok(StdFile(open_std(path, false)?))
    }
    async fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        list_std(dir)
    }
    async fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }
}

/// Opens `path` for reading and writing; `create`: a new file, failing if it exists.
pub(crate) fn open_std(path: &Path, create: bool) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(create)
        .open(path)
}

/// Reads up to `len` bytes at `pos`: fewer only at the end of the file.
pub(crate) fn read_up_to(file: &std::fs::File, pos: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = std::os::unix::fs::FileExt::read_at(file, &mut out[got..], pos + got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    out.truncate(got);
    Ok(out)
}

/// fsync of a directory (its entries: creates, renames, removals) on the sync thread, so the
/// executor never blocks on it. Shared by `GlommioFs` and `ThreadFs`.
pub(crate) async fn sync_dir_std(sync: &SyncThread, dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    sync.run(move || std::fs::File::open(dir)?.sync_all()).await
}

pub(crate) fn list_std(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_file() {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

// ---------------------------------------------------------------------------
// GlommioFs

/// `glommio::io::DmaFile` implementation (O_DIRECT). Must be used inside a
/// glommio executor.
///
/// Reads go through io_uring; writes, fdatasync and the directory fsync run on
/// the file system's sync thread, so the executor does not spin while the disk
/// works (see [`crate::sync_thread`]). Directory operations (list, remove,
/// rename, create_dir_all) are rare (segment rotation and purge, every ~100 MB)
/// and are done inline with blocking `std::fs` calls.
/// glommio disables O_DIRECT by itself on tmpfs; on a file system that refuses
/// O_DIRECT the open fails with the OS error (EINVAL) in the `Io` context.
#[derive(Debug, Clone)]
pub struct GlommioFs {
    sync: Rc<SyncThread>,
}

impl GlommioFs {
    /// Starts the sync thread, named `name`; it inherits the caller's CPU affinity.
    pub fn new(name: &str) -> io::Result<GlommioFs> {
        Ok(GlommioFs {
            sync: Rc::new(SyncThread::start(name)?),
        })
    }
}

/// A file of [`GlommioFs`].
#[derive(Debug)]
pub struct GlommioFile {
    file: glommio::io::DmaFile,
    sync: Rc<SyncThread>,
}

impl GlommioFile {
    /// Is O_DIRECT set on the file descriptor? (glommio turns it off on tmpfs.)
    pub fn is_direct_io(&self) -> bool {
        // SAFETY: F_GETFL on a descriptor we own has no memory effects.
        let fl = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_GETFL) };
        fl >= 0 && (fl & libc::O_DIRECT) != 0
    }

    /// A descriptor of this file for the sync thread: this file may be closed before the
    /// thread is done with it (its future dropped), and its number reused.
    fn dup(&self) -> io::Result<std::fs::File> {
        // SAFETY: dup of a descriptor this file owns, open for the call.
        let fd = unsafe { libc::dup(self.file.as_raw_fd()) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

/// O_DIRECT wants buffers aligned like the blocks.
const DIRECT_IO_ALIGN: usize = 4096;

impl WalFile for GlommioFile {
    /// On the sync thread too: an O_DIRECT write that extends the file is punted to the
    /// kernel's io-wq workers, and the executor would spin until it completes.
    async fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let file = self.dup()?;
        let len = buf.len();
        let mut aligned = vec![0u8; len + DIRECT_IO_ALIGN];
        let off = aligned.as_ptr().align_offset(DIRECT_IO_ALIGN);
        aligned[off..off + len].copy_from_slice(buf);
        self.sync
            .run(move || file.write_all_at(&aligned[off..off + len], pos))
            .await
    }
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        let flen = self.file.file_size().await.map_err(io::Error::from)?;
        if pos >= flen || len == 0 {
            return Ok(Vec::new());
        }
        let len = len.min((flen - pos) as usize);
        let r = self.file.read_at(pos, len).await.map_err(io::Error::from)?;
        Ok(r.to_vec())
    }
    async fn fdatasync(&self) -> io::Result<()> {
        let file = self.dup()?;
        self.sync.run(move || file.sync_data()).await
    }
    async fn len(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(io::Error::from)
    }
    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.truncate(len).await.map_err(io::Error::from)
    }
}

impl FileSystem for GlommioFs {
    type File = GlommioFile;
    async fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    async fn create(&self, path: &Path) -> io::Result<GlommioFile> {
        let file = glommio::io::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .dma_open(path)
            .await
            .map_err(io::Error::from)?;
        Ok(GlommioFile {
            file,
            sync: self.sync.clone(),
        })
    }
    async fn open(&self, path: &Path) -> io::Result<GlommioFile> {
        let file = glommio::io::OpenOptions::new()
            .read(true)
            .write(true)
            .dma_open(path)
            .await
            .map_err(io::Error::from)?;
        Ok(GlommioFile {
            file,
            sync: self.sync.clone(),
        })
    }
    async fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        list_std(dir)
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

// ---------------------------------------------------------------------------
// SimFs

/// How the operation interrupted by a crash is left on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// The first `keep` bytes of the write reached the disk; the rest did not.
    Prefix { keep: usize },
    /// The first `keep` bytes reached the disk and the rest of the write's
    /// range holds garbage (seeded pseudo-random bytes).
    Garbage { keep: usize },
}

#[derive(Debug, Clone)]
enum Pending {
    Write { ino: u64, pos: u64, data: Vec<u8> },
    Truncate { ino: u64, len: u64 },
    Link { path: PathBuf, ino: Option<u64> },
}

#[derive(Debug, Clone, Default)]
struct Inode {
    current: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct SimState {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    log: Vec<Pending>,
    writes: u64,
    syncs: u64,
    dir_syncs: u64,
    fail_writes_after: Option<u64>,
    fail_syncs_after: Option<u64>,
    fail_dir_syncs_after: Option<u64>,
    sync_yields: bool,
    /// How long each `fdatasync` takes (yielding meanwhile), if set.
    sync_delay: Option<std::time::Duration>,
    before_sync: Option<SyncHook>,
    seed: u64,
}

/// What `SimFs::set_before_sync` runs.
#[derive(Clone)]
struct SyncHook(Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for SyncHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncHook")
    }
}

/// Simulated disk for tests. Cloning shares the same disk.
///
/// Each file keeps its durable bytes (as of its last `fdatasync`) apart from
/// its current bytes, and directory entries are durable only after
/// `sync_dir`. Every not-yet-durable operation is kept in order, so a crash
/// image can keep any prefix of them, optionally tearing the next write.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    st: Arc<Mutex<SimState>>,
}

/// A file of [`SimFs`].
#[derive(Debug, Clone)]
pub struct SimFile {
    st: Arc<Mutex<SimState>>,
    ino: u64,
}

/// The disk's state; a panic while it was held (a failed test assertion) leaves it whole, as
/// every operation completes its change before releasing it.
fn lock(st: &Mutex<SimState>) -> MutexGuard<'_, SimState> {
    st.lock().unwrap_or_else(|e| e.into_inner())
}

fn sim_err(msg: &str) -> io::Error {
    io::Error::other(format!("simfs: {msg}"))
}

fn apply_write(buf: &mut Vec<u8>, pos: u64, data: &[u8]) {
    let pos = pos as usize;
    if buf.len() < pos + data.len() {
        buf.resize(pos + data.len(), 0);
    }
    buf[pos..pos + data.len()].copy_from_slice(data);
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The disk as it would be after power loss (see `SimFs::crash_image`).
/// The crash image of `s` (see [`SimFs::crash_image_dropping`]).
fn crash_image_of(s: &SimState, keep_ops: usize, tear: Option<Tear>, dropped: &[usize]) -> SimFs {
    let mut inodes: HashMap<u64, Inode> = s
        .inodes
        .iter()
        .map(|(k, v)| {
            (
                *k,
                Inode {
                    current: v.durable.clone(),
                    durable: Vec::new(),
                },
            )
        })
        .collect();
    let mut names = s.durable_names.clone();
    for (index, op) in s.log.iter().enumerate().take(keep_ops) {
        if matches!(op, Pending::Link { .. }) && dropped.contains(&index) {
            continue;
        }
        match op {
            Pending::Write { ino, pos, data } => {
                if let Some(i) = inodes.get_mut(ino) {
                    apply_write(&mut i.current, *pos, data);
                }
            }
            Pending::Truncate { ino, len } => {
                if let Some(i) = inodes.get_mut(ino) {
                    i.current.resize(*len as usize, 0);
                }
            }
            Pending::Link { path, ino } => match ino {
                Some(ino) => {
                    names.insert(path.clone(), *ino);
                }
                None => {
                    names.remove(path);
                }
            },
        }
    }
    let mut rng = s.seed ^ (keep_ops as u64).wrapping_mul(0x1234_5678_9abc_def1);
    if let (Some(tear), Some(Pending::Write { ino, pos, data })) = (tear, s.log.get(keep_ops)) {
        if let Some(i) = inodes.get_mut(ino) {
            let (keep, garbage) = match tear {
                Tear::Prefix { keep } => (keep.min(data.len()), false),
                Tear::Garbage { keep } => (keep.min(data.len()), true),
            };
            let mut torn = data[..keep].to_vec();
            if garbage {
                for _ in keep..data.len() {
                    torn.push(splitmix(&mut rng) as u8);
                }
            }
            apply_write(&mut i.current, *pos, &torn);
        }
    }
    for i in inodes.values_mut() {
        i.durable = i.current.clone();
    }
    let st = SimState {
        inodes,
        next_ino: s.next_ino,
        durable_names: names.clone(),
        names,
        seed: splitmix(&mut rng),
        ..SimState::default()
    };
    SimFs {
        st: Arc::new(Mutex::new(st)),
    }
}

impl SimFs {
    /// A new empty disk; `seed` drives garbage generation.
    pub fn new(seed: u64) -> SimFs {
        let fs = SimFs::default();
        lock(&fs.st).seed = seed;
        fs
    }

    /// Number of `fdatasync` calls so far (successful or not).
    pub fn fdatasync_count(&self) -> u64 {
        lock(&self.st).syncs
    }
    /// Number of `write_at` calls so far.
    pub fn write_count(&self) -> u64 {
        lock(&self.st).writes
    }
    /// Number of `sync_dir` calls so far.
    pub fn dir_sync_count(&self) -> u64 {
        lock(&self.st).dir_syncs
    }
    /// After `n` more successful writes, every `write_at` fails.
    pub fn fail_writes_after(&self, n: u64) {
        let mut s = lock(&self.st);
        s.fail_writes_after = Some(s.writes + n);
    }
    /// After `n` more successful fdatasyncs, every `fdatasync` fails.
    pub fn fail_syncs_after(&self, n: u64) {
        let mut s = lock(&self.st);
        s.fail_syncs_after = Some(s.syncs + n);
    }
    /// After `n` more successful directory fsyncs, every `sync_dir` fails (and makes nothing
    /// durable).
    pub fn fail_dir_syncs_after(&self, n: u64) {
        let mut s = lock(&self.st);
        s.fail_dir_syncs_after = Some(s.dir_syncs + n);
    }
    /// Make every `fdatasync` yield to the executor once before completing, so
    /// that other tasks run while a flush is in flight (group commit tests).
    pub fn set_sync_yields(&self, on: bool) {
        lock(&self.st).sync_yields = on;
    }
    /// Make every `fdatasync` take `delay` of real time, yielding to the executor meanwhile
    /// (its writes stay unsynced that long): a test running beside the executor can cut the
    /// power while flushes are in flight.
    pub fn set_sync_delay(&self, delay: Option<std::time::Duration>) {
        lock(&self.st).sync_delay = delay;
    }
    /// Runs `hook` in every `fdatasync`, after its delay and before its data becomes durable,
    /// with the disk unlocked: a test takes its crash image there to cut the power while a
    /// flush is in flight.
    pub fn set_before_sync(&self, hook: Option<Arc<dyn Fn() + Send + Sync>>) {
        lock(&self.st).before_sync = hook.map(SyncHook);
    }
    /// Stop injecting failures.
    pub fn heal(&self) {
        let mut s = lock(&self.st);
        s.fail_writes_after = None;
        s.fail_syncs_after = None;
        s.fail_dir_syncs_after = None;
    }

    /// Number of operations not yet durable (writes, truncates, entries).
    pub fn pending_ops(&self) -> usize {
        lock(&self.st).log.len()
    }
    /// Byte length of pending op `i` if it is a write.
    pub fn pending_write_len(&self, i: usize) -> Option<usize> {
        match lock(&self.st).log.get(i) {
            Some(Pending::Write { data, .. }) => Some(data.len()),
            _ => None,
        }
    }

    /// Indices (in the pending operations) of the directory changes not yet durable: creates,
    /// removes, renames.
    pub fn pending_dir_ops(&self) -> Vec<usize> {
        let s = lock(&self.st);
        (0..s.log.len())
            .filter(|&i| matches!(s.log[i], Pending::Link { .. }))
            .collect()
    }

    /// The disk as it would be after power loss: durable state plus the first
    /// `keep_ops` pending operations, with pending op number `keep_ops` torn as
    /// `tear` says (if it is a write). The image is a fresh, fully durable disk.
    pub fn crash_image(&self, keep_ops: usize, tear: Option<Tear>) -> SimFs {
        self.crash_image_dropping(keep_ops, tear, &[])
    }

    /// Like [`SimFs::crash_image`], but the pending directory changes at the indices in
    /// `dropped` are lost even if they are among the first `keep_ops`: the order in which a
    /// file system persists unsynced directory changes is not promised.
    pub fn crash_image_dropping(
        &self,
        keep_ops: usize,
        tear: Option<Tear>,
        dropped: &[usize],
    ) -> SimFs {
        crash_image_of(&lock(&self.st), keep_ops, tear, dropped)
    }

    /// `crash_image`, and `also` run at the same instant: no operation on this disk happens
    /// between the two. `pick` chooses `(keep_ops, tear)` from the operations pending at that
    /// instant (one entry each: a write's length, `None` for other operations). Something kept durable beside the disk (a store's flushed state) takes
    /// its own crash image in `also`, so both images are of one moment of power loss.
    pub fn crash_image_with<R>(
        &self,
        pick: impl FnOnce(&[Option<usize>]) -> (usize, Option<Tear>),
        also: impl FnOnce() -> R,
    ) -> (SimFs, R) {
        let s = lock(&self.st);
        let pending: Vec<Option<usize>> = s
            .log
            .iter()
            .map(|op| match op {
                Pending::Write { data, .. } => Some(data.len()),
                _ => None,
            })
            .collect();
        let (keep_ops, tear) = pick(&pending);
        let image = crash_image_of(&s, keep_ops, tear, &[]);
        (image, also())
    }

    /// Runs `f` between two operations on this disk: none runs meanwhile. Lets something kept
    /// beside the disk order its own changes with the disk's (see `crash_image_with`).
    pub fn atomically<R>(&self, f: impl FnOnce() -> R) -> R {
        let _held = lock(&self.st);
        f()
    }
    /// Crash image keeping only durable state.
    pub fn crash_durable(&self) -> SimFs {
        self.crash_image(0, None)
    }

    /// Current contents of a file (including unsynced writes).
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let s = lock(&self.st);
        let ino = s.names.get(path)?;
        s.inodes.get(ino).map(|i| i.current.clone())
    }

    /// Names of all files (current namespace).
    pub fn paths(&self) -> Vec<PathBuf> {
        lock(&self.st).names.keys().cloned().collect()
    }

    /// Durably overwrite bytes of a file (simulates media corruption).
    pub fn poke(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut s = lock(&self.st);
        let ino = *s
            .names
            .get(path)
            .ok_or_else(|| sim_err("poke: no such file"))?;
        let i = s
            .inodes
            .get_mut(&ino)
            .ok_or_else(|| sim_err("poke: no inode"))?;
        apply_write(&mut i.current, offset, bytes);
        apply_write(&mut i.durable, offset, bytes);
        Ok(())
    }

    /// XOR one byte of a file durably.
    pub fn flip(&self, path: &Path, offset: u64, mask: u8) -> io::Result<()> {
        let b = self
            .file_bytes(path)
            .ok_or_else(|| sim_err("flip: no such file"))?;
        let v = *b
            .get(offset as usize)
            .ok_or_else(|| sim_err("flip: beyond eof"))?;
        self.poke(path, offset, &[v ^ mask])
    }

    /// Durably truncate a file.
    pub fn set_len_durable(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = lock(&self.st);
        let ino = *s
            .names
            .get(path)
            .ok_or_else(|| sim_err("set_len: no such file"))?;
        let i = s
            .inodes
            .get_mut(&ino)
            .ok_or_else(|| sim_err("set_len: no inode"))?;
        i.current.resize(len as usize, 0);
        i.durable.resize(len as usize, 0);
        Ok(())
    }

    /// Durably delete a file.
    pub fn remove_durable(&self, path: &Path) -> io::Result<()> {
        let mut s = lock(&self.st);
        s.names
            .remove(path)
            .ok_or_else(|| sim_err("remove: no such file"))?;
        s.durable_names.remove(path);
        Ok(())
    }

    fn link(&self, path: &Path, ino: Option<u64>) {
        let mut s = lock(&self.st);
        match ino {
            Some(i) => {
                s.names.insert(path.to_path_buf(), i);
            }
            None => {
                s.names.remove(path);
            }
        }
        s.log.push(Pending::Link {
            path: path.to_path_buf(),
            ino,
        });
    }
}

impl WalFile for SimFile {
    async fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let mut s = lock(&self.st);
        if let Some(limit) = s.fail_writes_after {
            if s.writes >= limit {
                s.writes += 1;
                return Err(sim_err("injected write failure"));
            }
        }
        s.writes += 1;
        let ino = self.ino;
        let i = s
            .inodes
            .get_mut(&ino)
            .ok_or_else(|| sim_err("write: no inode"))?;
        apply_write(&mut i.current, pos, buf);
        s.log.push(Pending::Write {
            ino,
            pos,
            data: buf.to_vec(),
        });
        Ok(())
    }
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        let s = lock(&self.st);
        let i = s
            .inodes
            .get(&self.ino)
            .ok_or_else(|| sim_err("read: no inode"))?;
        let start = (pos as usize).min(i.current.len());
        let end = (start + len).min(i.current.len());
        Ok(i.current[start..end].to_vec())
    }
    async fn fdatasync(&self) -> io::Result<()> {
        let (yields, delay, hook) = {
            let s = lock(&self.st);
            (s.sync_yields, s.sync_delay, s.before_sync.clone())
        };
        if yields {
            futures_lite::future::yield_now().await;
        }
        if let Some(delay) = delay {
            let until = std::time::Instant::now() + delay;
            while std::time::Instant::now() < until {
                futures_lite::future::yield_now().await;
            }
        }
        if let Some(SyncHook(hook)) = hook {
            hook();
        }
        let mut s = lock(&self.st);
        if let Some(limit) = s.fail_syncs_after {
            if s.syncs >= limit {
                s.syncs += 1;
                return Err(sim_err("injected fdatasync failure"));
            }
        }
        s.syncs += 1;
        let ino = self.ino;
        let i = s
            .inodes
            .get_mut(&ino)
            .ok_or_else(|| sim_err("sync: no inode"))?;
        i.durable = i.current.clone();
        s.log.retain(|op| match op {
            Pending::Write { ino: x, .. } | Pending::Truncate { ino: x, .. } => *x != ino,
            Pending::Link { .. } => true,
        });
        Ok(())
    }
    async fn len(&self) -> io::Result<u64> {
        let s = lock(&self.st);
        let i = s
            .inodes
            .get(&self.ino)
            .ok_or_else(|| sim_err("len: no inode"))?;
        Ok(i.current.len() as u64)
    }
    async fn truncate(&self, len: u64) -> io::Result<()> {
        let mut s = lock(&self.st);
        let ino = self.ino;
        let i = s
            .inodes
            .get_mut(&ino)
            .ok_or_else(|| sim_err("truncate: no inode"))?;
        i.current.resize(len as usize, 0);
        s.log.push(Pending::Truncate { ino, len });
        Ok(())
    }
}

impl FileSystem for SimFs {
    type File = SimFile;
    async fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    async fn create(&self, path: &Path) -> io::Result<SimFile> {
        let ino = {
            let mut s = lock(&self.st);
            if s.names.contains_key(path) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "simfs: file exists",
                ));
            }
            s.next_ino += 1;
            let ino = s.next_ino;
            s.inodes.insert(ino, Inode::default());
            ino
        };
        self.link(path, Some(ino));
        Ok(SimFile {
            st: self.st.clone(),
            ino,
        })
    }
    async fn open(&self, path: &Path) -> io::Result<SimFile> {
        let s = lock(&self.st);
        let ino = *s
            .names
            .get(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "simfs: no such file"))?;
        Ok(SimFile {
            st: self.st.clone(),
            ino,
        })
    }
    async fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = lock(&self.st);
        Ok(s.names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }
    async fn remove(&self, path: &Path) -> io::Result<()> {
        if !lock(&self.st).names.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "simfs: no such file",
            ));
        }
        self.link(path, None);
        Ok(())
    }
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let ino = *self
            .st
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .names
            .get(from)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "simfs: no such file"))?;
        self.link(to, Some(ino));
        self.link(from, None);
        Ok(())
    }
    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = lock(&self.st);
        if let Some(limit) = s.fail_dir_syncs_after {
            if s.dir_syncs >= limit {
                s.dir_syncs += 1;
                return Err(sim_err("injected directory fsync failure"));
            }
        }
        s.dir_syncs += 1;
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        let mut durable: BTreeMap<PathBuf, u64> = s
            .durable_names
            .iter()
            .filter(|(p, _)| !in_dir(p))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (p, i) in s.names.iter().filter(|(p, _)| in_dir(p)) {
            durable.insert(p.clone(), *i);
        }
        s.durable_names = durable;
        s.log
            .retain(|op| !matches!(op, Pending::Link { path, .. } if path.parent() == Some(dir)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn simfs_keeps_unsynced_apart() {
        block_on(async {
            let fs = SimFs::new(1);
            let dir = Path::new("/d");
            let p = dir.join("a");
            let f = fs.create(&p).await.unwrap();
            f.write_at(&[1u8; 8], 0).await.unwrap();
            // nothing durable: entry not synced
            assert!(fs.crash_durable().file_bytes(&p).is_none());
            fs.sync_dir(dir).await.unwrap();
            assert_eq!(fs.crash_durable().file_bytes(&p).unwrap(), Vec::<u8>::new());
            f.fdatasync().await.unwrap();
            f.write_at(&[2u8; 8], 8).await.unwrap();
            assert_eq!(fs.crash_durable().file_bytes(&p).unwrap(), vec![1u8; 8]);
            let torn = fs.crash_image(0, Some(Tear::Prefix { keep: 3 }));
            let mut want = vec![1u8; 8];
            want.extend_from_slice(&[2, 2, 2]);
            assert_eq!(torn.file_bytes(&p).unwrap(), want);
            assert_eq!(fs.crash_image(1, None).file_bytes(&p).unwrap().len(), 16);
            let g = fs.crash_image(0, Some(Tear::Garbage { keep: 2 }));
            assert_eq!(g.file_bytes(&p).unwrap().len(), 16);
            assert_eq!(fs.fdatasync_count(), 1);
            fs.fail_syncs_after(0);
            assert!(f.fdatasync().await.is_err());
            fs.fail_writes_after(0);
            assert!(f.write_at(&[0u8; 1], 0).await.is_err());
        });
    }
}
