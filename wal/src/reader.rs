//! Reading segments: list them, validate headers, iterate records in LSN order
//! with CRC validation, skipping padding, and report exactly where (file and
//! byte offset) anything is wrong. No repair here: `recovery.rs` decides.

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::format::{
    self, decode_header, verify_record, DecodeError, Lsn, RecordHeader, SegmentHeader, BLOCK_SIZE,
    FLAG_FLUSH_START, RECORD_HEADER_LEN,
};
use crate::fs::{FileSystem, WalFile};

/// A segment file found in the log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    pub path: PathBuf,
    /// First LSN according to the file name.
    pub first_lsn: Lsn,
}

/// List segment files of `dir` in LSN order. Other files are ignored.
pub async fn list_segments<F: FileSystem>(fs: &F, dir: &Path) -> Result<Vec<SegmentFile>> {
    let names = fs
        .list(dir)
        .await
        .ctx(|| format!("listing wal dir {}", dir.display()))?;
    let mut out: Vec<SegmentFile> = names
        .iter()
        .filter_map(|n| {
            format::parse_segment_file_name(n).map(|first_lsn| SegmentFile {
                path: dir.join(n),
                first_lsn,
            })
        })
        .collect();
    out.sort_by_key(|s| s.first_lsn);
    Ok(out)
}

/// Read and decode a segment's header block. Returns the decode result and
/// the file length.
pub async fn read_segment_header<F: FileSystem>(
    fs: &F,
    path: &Path,
) -> Result<(std::result::Result<SegmentHeader, DecodeError>, u64)> {
    let file = fs
        .open(path)
        .await
        .ctx(|| format!("opening {}", path.display()))?;
    let len = file
        .len()
        .await
        .ctx(|| format!("stat {}", path.display()))?;
    let hb = file
        .read_at(0, BLOCK_SIZE.min(len as usize))
        .await
        .ctx(|| format!("reading header of {}", path.display()))?;
    Ok((SegmentHeader::decode(&hb), len))
}

/// How the data of a segment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentEnd {
    /// All records valid; everything after `data_end` is zero (or EOF).
    Clean { data_end: u64 },
    /// Something invalid starts at `offset`.
    Damaged {
        offset: u64,
        reason: String,
        /// Offset of a valid flush-start record after the damage, if any: its
        /// presence proves the damaged bytes had been synced.
        later_flush: Option<u64>,
    },
}

/// Result of scanning one segment.
#[derive(Debug, Clone)]
pub struct SegmentScan {
    pub path: PathBuf,
    pub file_len: u64,
    pub header: std::result::Result<SegmentHeader, DecodeError>,
    /// Number of valid records.
    pub records: u64,
    /// LSN of the last valid record.
    pub last_lsn: Option<Lsn>,
    /// Offset just after the last valid record (or after the header block).
    pub valid_end: u64,
    pub end: SegmentEnd,
}

/// A window over a file to avoid one read per record.
struct Cursor<'a, W: WalFile> {
    file: &'a W,
    path: &'a Path,
    len: u64,
    win: Vec<u8>,
    win_start: u64,
}

const WINDOW: usize = 1 << 20;

impl<W: WalFile> Cursor<'_, W> {
    /// Up to `n` bytes at `pos` (fewer only at EOF).
    async fn get(&mut self, pos: u64, n: usize) -> Result<&[u8]> {
        let end = (pos + n as u64).min(self.len);
        if pos < self.win_start || end > self.win_start + self.win.len() as u64 {
            let want = n.max(WINDOW);
            self.win = self
                .file
                .read_at(pos, want)
                .await
                .ctx(|| format!("reading {} at offset {pos}", self.path.display()))?;
            self.win_start = pos;
        }
        let s = (pos - self.win_start) as usize;
        let e = ((end.max(pos) - self.win_start) as usize).min(self.win.len());
        Ok(&self.win[s.min(e)..e])
    }

    /// First non-zero byte offset in `[from, to)`, if any.
    async fn first_nonzero(&mut self, from: u64, to: u64) -> Result<Option<u64>> {
        let mut pos = from;
        while pos < to {
            let n = ((to - pos) as usize).min(WINDOW);
            let b = self.get(pos, n).await?;
            if b.is_empty() {
                return Ok(None);
            }
            if let Some(i) = b.iter().position(|&x| x != 0) {
                return Ok(Some(pos + i as u64));
            }
            pos += b.len() as u64;
        }
        Ok(None)
    }

    /// Try to decode a full valid record at `pos`.
    async fn valid_record_at(&mut self, pos: u64) -> Result<Option<RecordHeader>> {
        let hb = self.get(pos, RECORD_HEADER_LEN).await?.to_vec();
        let Ok(h) = decode_header(&hb) else {
            return Ok(None);
        };
        let total = RECORD_HEADER_LEN + h.len as usize;
        if pos + total as u64 > self.len {
            return Ok(None);
        }
        let rec = self.get(pos, total).await?;
        if verify_record(&rec[..RECORD_HEADER_LEN], &rec[RECORD_HEADER_LEN..]).is_err() {
            return Ok(None);
        }
        Ok(Some(h))
    }
}

/// Scan one segment, calling `visit(offset, header, payload)` for every valid
/// record in order. Stops at the first problem, which is reported in the
/// result (not as an error); `Err` is only for I/O failures or errors returned
/// by `visit`.
pub async fn scan_segment<F, V>(fs: &F, path: &Path, mut visit: V) -> Result<SegmentScan>
where
    F: FileSystem,
    V: FnMut(u64, &RecordHeader, &[u8]) -> Result<()>,
{
    let file = fs
        .open(path)
        .await
        .ctx(|| format!("opening {}", path.display()))?;
    let len = file
        .len()
        .await
        .ctx(|| format!("stat {}", path.display()))?;
    let mut cur = Cursor {
        file: &file,
        path,
        len,
        win: Vec::new(),
        win_start: 0,
    };
    let hb = cur.get(0, BLOCK_SIZE).await?.to_vec();
    let header = SegmentHeader::decode(&hb);
    let mut scan = SegmentScan {
        path: path.to_path_buf(),
        file_len: len,
        header: header.clone(),
        records: 0,
        last_lsn: None,
        valid_end: (BLOCK_SIZE as u64).min(len),
        end: SegmentEnd::Clean {
            data_end: (BLOCK_SIZE as u64).min(len),
        },
    };
    let Ok(header) = header else {
        scan.end = SegmentEnd::Damaged {
            offset: 0,
            reason: "bad segment header".into(),
            later_flush: None,
        };
        return Ok(scan);
    };
    let block = BLOCK_SIZE as u64;
    let mut pos = block;
    let mut expected = header.first_lsn;
    let damaged = |offset: u64, reason: String| (offset, reason);
    let problem: Option<(u64, String)> = loop {
        if pos >= len {
            scan.end = SegmentEnd::Clean {
                data_end: len.min(pos),
            };
            break None;
        }
        let head = cur.get(pos, RECORD_HEADER_LEN).await?;
        // Fewer bytes than a record header before the block ends: padding (the writer never
        // starts a record there), whatever the next block holds.
        let block_tail = block - (pos & (block - 1)) < RECORD_HEADER_LEN as u64;
        let type_zero = block_tail
            || head
                .get(4)
                .map(|&b| b == 0)
                .unwrap_or_else(|| head.iter().all(|&b| b == 0));
        if type_zero {
            if pos & (block - 1) == 0 {
                // End of data: everything after must be zero.
                match cur.first_nonzero(pos, len).await? {
                    None => {
                        scan.end = SegmentEnd::Clean { data_end: pos };
                        break None;
                    }
                    Some(nz) => {
                        break Some(damaged(
                            pos,
                            format!("non-zero bytes at offset {nz} after the end of data"),
                        ))
                    }
                }
            }
            let block_end = format::align_up(pos).min(len);
            match cur.first_nonzero(pos, block_end).await? {
                None => {
                    pos = block_end;
                    continue;
                }
                Some(nz) => {
                    break Some(damaged(
                        pos,
                        format!("non-zero byte at offset {nz} inside padding"),
                    ))
                }
            }
        }
        let h = match decode_header(head) {
            Ok(h) => h,
            Err(e) => break Some(damaged(pos, format!("bad record header: {e}"))),
        };
        let total = RECORD_HEADER_LEN + h.len as usize;
        if pos + total as u64 > len {
            break Some(damaged(
                pos,
                format!(
                    "record of {} bytes runs past end of file ({len} bytes)",
                    total
                ),
            ));
        }
        let rec = cur.get(pos, total).await?;
        if let Err(e) = verify_record(&rec[..RECORD_HEADER_LEN], &rec[RECORD_HEADER_LEN..]) {
            break Some(damaged(pos, format!("record (lsn {}): {e}", h.lsn)));
        }
        if h.lsn != expected {
            break Some(damaged(
                pos,
                format!("record has lsn {}, expected {expected}", h.lsn),
            ));
        }
        visit(pos, &h, &rec[RECORD_HEADER_LEN..])?;
        scan.records += 1;
        scan.last_lsn = Some(h.lsn);
        expected += 1;
        pos += total as u64;
        scan.valid_end = pos;
    };
    if let Some((offset, reason)) = problem {
        // Look for a valid flush-start record after the damage.
        let mut later_flush = None;
        let mut b = format::align_up(offset + 1);
        while b < len {
            if let Some(h) = cur.valid_record_at(b).await? {
                if h.flags & FLAG_FLUSH_START != 0 {
                    later_flush = Some(b);
                    break;
                }
            }
            b += block;
        }
        scan.end = SegmentEnd::Damaged {
            offset,
            reason,
            later_flush,
        };
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_record, mark_flush_start, RecordType, FORMAT_VERSION};
    use crate::fs::SimFs;
    use futures_lite::future::block_on;

    fn segment(records: &[(u64, &[u8])]) -> Vec<u8> {
        let h = SegmentHeader {
            version: FORMAT_VERSION,
            shard_id: 1,
            first_lsn: 1,
            prev_lsn: 0,
        };
        let mut out = h.encode_block();
        for (lsn, p) in records {
            let mut r = Vec::new();
            encode_record(&mut r, RecordType::Commit, *lsn, *lsn, p);
            mark_flush_start(&mut r);
            r.resize(format::align_up(r.len() as u64) as usize, 0);
            out.extend_from_slice(&r);
        }
        out
    }

    #[test]
    fn scan_reports_offsets() {
        block_on(async {
            let fs = SimFs::new(0);
            let p = Path::new("/w/00000000000000000001.wal");
            let bytes = segment(&[(1, b"a"), (2, b"b"), (3, b"c")]);
            fs.create(p)
                .await
                .unwrap()
                .write_at(&bytes, 0)
                .await
                .unwrap();
            let mut seen = Vec::new();
            let s = scan_segment(&fs, p, |off, h, pl| {
                seen.push((off, h.lsn, pl.to_vec()));
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(s.records, 3);
            assert_eq!(seen[1].0, 2 * BLOCK_SIZE as u64);
            assert!(matches!(s.end, SegmentEnd::Clean { .. }));
            // corrupt the second record: damaged at its offset, later flush found
            fs.flip(p, 2 * BLOCK_SIZE as u64 + 20, 0x10).unwrap();
            let s = scan_segment(&fs, p, |_, _, _| Ok(())).await.unwrap();
            assert_eq!(s.records, 1);
            match s.end {
                SegmentEnd::Damaged {
                    offset,
                    later_flush,
                    ..
                } => {
                    assert_eq!(offset, 2 * BLOCK_SIZE as u64);
                    assert_eq!(later_flush, Some(3 * BLOCK_SIZE as u64));
                }
                e => panic!("{e:?}"),
            }
        });
    }
}
