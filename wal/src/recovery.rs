//! Opening a shard's log: validate every segment, replay committed
//! transactions newer than the shard's applied LSN, repair a torn tail, and
//! hand back a writer positioned after the log.
//!
//! Policy:
//! * A damaged TAIL of the LAST segment (torn or zeroed unsynced writes) is
//!   truncated after the last complete transaction, with `tracing::warn!`
//!   naming file and offset. "Tail" means: no valid flush-start record follows
//!   the damage (a later flush would prove the damaged bytes had been synced).
//! * A last segment of at most one block whose header is invalid is a torn
//!   segment creation (the header is made durable before any record is written
//!   to a segment) and is removed.
//! * Anything else (bad bit mid-log, bad header, a missing segment = an LSN gap
//!   between segments, an LSN out of sequence) refuses to open with
//!   [`Error::Corruption`] naming shard, file and offset; unless
//!   `truncate_on_corruption`, which truncates the log there (deleting all
//!   later segments, newest first) with `tracing::error!`.
//! * Recovery always starts a fresh segment for new writes; the next LSN is
//!   `max(last LSN in the log, applied_lsn) + 1`, so LSNs are never reused.
//! * Recovery only truncates/removes what is not a complete transaction and is
//!   idempotent: a crash during recovery is repaired by recovering again.

use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::format::{DecodeError, Lsn, RecordType, BLOCK_SIZE};
use crate::fs::{FileSystem, WalFile};
use crate::reader::{list_segments, read_segment_header, scan_segment, SegmentEnd};
use crate::writer::{SegMeta, Wal, WalOptions};

/// A committed transaction to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredTx {
    pub txid: u64,
    /// LSN of its Commit record.
    pub commit_lsn: Lsn,
    /// The payload given to `append`, reassembled.
    pub payload: Vec<u8>,
}

/// Reassembles transactions from records in LSN order.
#[derive(Default)]
struct Replayer {
    applied_lsn: Lsn,
    pending: Option<(u64, Vec<u8>)>,
    out: Vec<RecoveredTx>,
}

impl Replayer {
    fn record(&mut self, rtype: RecordType, lsn: Lsn, txid: u64, payload: &[u8]) -> Result<()> {
        // Records of one transaction are contiguous (append is synchronous), so
        // a record of another transaction discards an unfinished one.
        if matches!(&self.pending, Some((t, _)) if *t != txid) {
            self.pending = None;
        }
        match rtype {
            RecordType::Data => {
                let p = self.pending.get_or_insert_with(|| (txid, Vec::new()));
                p.1.extend_from_slice(payload);
            }
            RecordType::Commit => {
                fail::fail_point!("wal::replay", |_| Err(Error::Injected(
                    "wal::replay".into()
                )));
                let mut data = self.pending.take().map(|p| p.1).unwrap_or_default();
                if lsn > self.applied_lsn {
                    data.extend_from_slice(payload);
                    self.out.push(RecoveredTx {
                        txid,
                        commit_lsn: lsn,
                        payload: data,
                    });
                }
            }
            RecordType::Abort => self.pending = None,
        }
        Ok(())
    }
}

fn corruption(shard_id: u64, file: &Path, offset: u64, reason: impl Into<String>) -> Error {
    Error::Corruption {
        shard_id,
        file: file.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

/// Open (recover) the log of shard `shard_id` in `dir`, creating the directory
/// if needed. Returns the writer and the committed transactions with
/// `commit_lsn > applied_lsn`, in LSN order.
pub async fn open<F: FileSystem>(
    fs: F,
    dir: impl AsRef<Path>,
    shard_id: u64,
    applied_lsn: Lsn,
    opts: WalOptions,
) -> Result<(Wal<F>, Vec<RecoveredTx>)> {
    opts.validate()?;
    let dir = dir.as_ref().to_path_buf();
    create_dir_durably(&fs, &dir).await?;
    let segs = list_segments(&fs, &dir).await?;
    let mut rp = Replayer {
        applied_lsn,
        ..Replayer::default()
    };
    let mut metas: Vec<SegMeta> = Vec::new();
    // Effective last LSN of the log so far (None before the first segment).
    let mut log_last: Option<Lsn> = None;
    let mut dir_dirty = false;
    let n = segs.len();
    let mut i = 0;
    while i < n {
        let seg = &segs[i];
        let is_last = i + 1 == n;
        let (hdr, file_len) = read_segment_header(&fs, &seg.path).await?;
        // 1. segment header
        let header = match &hdr {
            Ok(h) => *h,
            Err(DecodeError::BadVersion(v)) => {
                return Err(Error::BadSegment {
                    file: seg.path.clone(),
                    reason: format!("unsupported format version {v}"),
                })
            }
            Err(DecodeError::BadMagic) if !(is_last && file_len <= BLOCK_SIZE as u64) => {
                return Err(Error::BadSegment {
                    file: seg.path.clone(),
                    reason: "bad magic: not a TreeStore WAL segment (or its header was zeroed)"
                        .into(),
                })
            }
            Err(e) => {
                if is_last && file_len <= BLOCK_SIZE as u64 {
                    tracing::warn!(shard = shard_id, file = %seg.path.display(),
                        "removing segment with torn header ({e}); it held no records");
                    fs.remove(&seg.path)
                        .await
                        .ctx(|| format!("removing {}", seg.path.display()))?;
                    dir_dirty = true;
                    break;
                }
                let err = corruption(shard_id, &seg.path, 0, format!("bad segment header: {e}"));
                truncate_or_fail(&fs, &dir, &segs[i..], &opts, err).await?;
                dir_dirty = true;
                break;
            }
        };
        if header.shard_id != shard_id {
            return Err(Error::WrongShard {
                file: seg.path.clone(),
                expected: shard_id,
                found: header.shard_id,
            });
        }
        if header.first_lsn != seg.first_lsn {
            let err = corruption(
                shard_id,
                &seg.path,
                0,
                format!(
                    "header first lsn {} does not match the file name",
                    header.first_lsn
                ),
            );
            truncate_or_fail(&fs, &dir, &segs[i..], &opts, err).await?;
            dir_dirty = true;
            break;
        }
        // 2. continuity with the previous segment (a missing segment is a gap)
        match log_last {
            Some(last) if header.prev_lsn != last => {
                let err = corruption(
                    shard_id,
                    &seg.path,
                    0,
                    format!(
                        "missing segment: this segment follows lsn {} but the previous segment ends at lsn {last}",
                        header.prev_lsn
                    ),
                );
                truncate_or_fail(&fs, &dir, &segs[i..], &opts, err).await?;
                dir_dirty = true;
                break;
            }
            None if header.prev_lsn > applied_lsn => {
                return Err(corruption(
                    shard_id,
                    &seg.path,
                    0,
                    format!(
                        "log starts after lsn {} but the shard has only applied up to lsn {applied_lsn}: segments are missing",
                        header.prev_lsn
                    ),
                ));
            }
            _ => {}
        }
        // 3. records
        // Offsets just after the last Commit/Abort, and its LSN.
        let mut complete_end: u64 = BLOCK_SIZE as u64;
        let mut complete_last: Option<Lsn> = None;
        let scan = scan_segment(&fs, &seg.path, |off, h, payload| {
            rp.record(h.rtype, h.lsn, h.txid, payload)?;
            if h.rtype != RecordType::Data {
                complete_end = off + (crate::format::RECORD_HEADER_LEN as u64) + h.len as u64;
                complete_last = Some(h.lsn);
            }
            Ok(())
        })
        .await?;
        let mut keep_len = scan.file_len;
        let mut seg_last = scan.last_lsn.unwrap_or(header.prev_lsn);
        let mut stop = false;
        match &scan.end {
            SegmentEnd::Clean { data_end } if !is_last && *data_end < scan.file_len => {
                // A sealed segment ends exactly after its last flush: whole
                // zero blocks at its end mean lost (zeroed) records.
                let err = corruption(
                    shard_id,
                    &seg.path,
                    *data_end,
                    format!(
                        "zeroed blocks from offset {data_end} to the end ({}) of a sealed segment",
                        scan.file_len
                    ),
                );
                truncate_or_fail(&fs, &dir, &segs[i + 1..], &opts, err).await?;
                dir_dirty = true;
                stop = true;
                keep_len = complete_end;
                seg_last = complete_last.unwrap_or(header.prev_lsn);
            }
            SegmentEnd::Clean { .. } => {
                if is_last {
                    // The last segment is sealed at the end of its last complete
                    // transaction (drops padding, zeroed tail blocks, and the
                    // records of an unfinished transaction).
                    if rp.pending.is_some() || complete_end < scan.valid_end {
                        tracing::warn!(shard = shard_id, file = %seg.path.display(), offset = complete_end,
                            "dropping records of an unfinished transaction at the end of the log");
                    }
                    keep_len = complete_end;
                    seg_last = complete_last.unwrap_or(header.prev_lsn);
                }
            }
            SegmentEnd::Damaged {
                offset,
                reason,
                later_flush,
            } => {
                if is_last && later_flush.is_none() {
                    tracing::warn!(shard = shard_id, file = %seg.path.display(), offset = *offset,
                        reason = %reason, truncate_at = complete_end, "truncating torn tail of the wal");
                } else {
                    let why = match later_flush {
                        Some(l) => format!("{reason} (a valid later flush at offset {l} proves it had been synced)"),
                        None => reason.clone(),
                    };
                    let err = corruption(shard_id, &seg.path, *offset, why);
                    truncate_or_fail(&fs, &dir, &segs[i + 1..], &opts, err).await?;
                    dir_dirty = true;
                    stop = true;
                }
                keep_len = complete_end;
                seg_last = complete_last.unwrap_or(header.prev_lsn);
            }
        }
        let keep_len = keep_len.min(scan.file_len);
        if keep_len < scan.file_len {
            let f = fs
                .open(&seg.path)
                .await
                .ctx(|| format!("opening {}", seg.path.display()))?;
            f.truncate(keep_len)
                .await
                .ctx(|| format!("truncating {} to {keep_len}", seg.path.display()))?;
            f.fdatasync()
                .await
                .ctx(|| format!("fdatasync {}", seg.path.display()))?;
        }
        metas.push(SegMeta {
            path: seg.path.clone(),
            first_lsn: header.first_lsn,
            last_lsn: seg_last,
            size: keep_len,
        });
        log_last = Some(seg_last);
        i += 1;
        if stop {
            break;
        }
    }
    // An empty last segment (no records) is removed: the new segment replaces it.
    if let Some(m) = metas.last() {
        if m.last_lsn < m.first_lsn {
            fs.remove(&m.path)
                .await
                .ctx(|| format!("removing empty segment {}", m.path.display()))?;
            dir_dirty = true;
            metas.pop();
        }
    }
    if dir_dirty {
        fs.sync_dir(&dir)
            .await
            .ctx(|| format!("fsync dir {}", dir.display()))?;
    }
    let last_written = log_last.unwrap_or(0);
    let next_lsn = last_written.max(applied_lsn) + 1;
    let txs = std::mem::take(&mut rp.out);
    tracing::info!(shard = shard_id, dir = %dir.display(), segments = metas.len(), last_lsn = last_written,
        applied_lsn, replay = txs.len(), "wal recovered");
    let wal = Wal::from_recovered(fs, dir, shard_id, opts, metas, last_written, next_lsn);
    wal.rotate(next_lsn).await?;
    Ok((wal, txs))
}

/// Creates `dir` and its missing ancestors, and fsyncs the parent of each one created, so that
/// a new log directory cannot vanish in a crash with the acknowledged records in it.
async fn create_dir_durably<F: FileSystem>(fs: &F, dir: &Path) -> Result<()> {
    // The directories missing, innermost first (`list` fails on a missing directory).
    let mut missing = Vec::new();
    let mut next = Some(dir);
    while let Some(d) = next.filter(|d| !d.as_os_str().is_empty()) {
        if fs.list(d).await.is_ok() {
            break;
        }
        missing.push(d.to_path_buf());
        next = d.parent();
    }
    fs.create_dir_all(dir)
        .await
        .ctx(|| format!("creating wal dir {}", dir.display()))?;
    for d in missing.iter().rev() {
        let parent = match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs.sync_dir(parent)
            .await
            .ctx(|| format!("fsync dir {}", parent.display()))?;
    }
    Ok(())
}

/// Corruption found: refuse, or (with `truncate_on_corruption`) delete the
/// segments in `later` (newest first) and go on with the prefix.
async fn truncate_or_fail<F: FileSystem>(
    fs: &F,
    dir: &Path,
    later: &[crate::reader::SegmentFile],
    opts: &WalOptions,
    err: Error,
) -> Result<()> {
    if !opts.truncate_on_corruption {
        return Err(err);
    }
    tracing::error!(error = %err, dir = %dir.display(), deleting = later.len(),
        "WAL CORRUPTION: truncate_on_corruption is set, truncating the log here; later transactions are LOST");
    for s in later.iter().rev() {
        fs.remove(&s.path)
            .await
            .ctx(|| format!("removing {}", s.path.display()))?;
    }
    fs.sync_dir(dir)
        .await
        .ctx(|| format!("fsync dir {}", dir.display()))?;
    Ok(())
}
