//! TreeStore write-ahead log.
//!
//! One log directory per shard, made of segment files. The shard engine calls
//! [`Wal::append`] (synchronous, buffers, returns the transaction's LSN), then
//! awaits [`Wal::wait_durable`] before acknowledging the client: concurrent
//! waiters share one write + one fdatasync (group commit). On restart,
//! [`open`] validates the log, truncates a torn tail, and returns the committed
//! transactions newer than the shard's applied LSN.
//!
//! Modules, one concept each: [`format`] (byte layout, no I/O), [`fs`] (I/O
//! trait; glommio DMA, std, simulated disk), [`thread_fs`] (buffered files
//! with writes on a thread, for executors without io_uring), [`writer`] (group commit,
//! rotation, purge, poisoning), [`reader`] (validated iteration),
//! [`recovery`] (open/replay/repair), [`ctl`] (dump/verify), [`error`], [`fault_fs`]
//! (EIO injected into a real file system, for tests).
//! See `wal/DESIGN.md` for the byte layout and the disk assumptions.

pub mod ctl;
pub mod error;
pub mod fault_fs;
pub mod format;
pub mod fs;
pub mod reader;
pub mod recovery;
pub mod sync_thread;
pub mod thread_fs;
pub mod writer;

pub use error::{Error, Result};
pub use fault_fs::FaultFs;
pub use format::Lsn;
pub use fs::{FileSystem, GlommioFs, SimFs, StdFs, Tear, WalFile};
pub use recovery::{open, RecoveredTx};
pub use thread_fs::ThreadFs;
pub use writer::{Flushed, Wal, WalOptions};
