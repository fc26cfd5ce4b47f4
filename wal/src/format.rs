//! On-disk byte layout of WAL segments and records (no I/O here).
//!
//! See `wal/DESIGN.md` for the table. All integers are little endian.
//!
//! A segment file is a 4096-byte header block followed by records. A record is
//! a 28-byte header followed by `len` payload bytes. Records are packed back to
//! back inside one flush; every flush is zero padded up to the next 4096-byte
//! boundary and the next flush starts on a fresh block. The record type byte is
//! never 0, so a zero type byte means "padding: skip to the next block", and a
//! zero type byte at a block boundary means "end of the data in this segment".

use std::fmt;

/// Log sequence number. Every record has its own LSN; consecutive records in a
/// segment have consecutive LSNs. A transaction's LSN is the LSN of its Commit
/// record.
pub type Lsn = u64;

/// Flush and alignment unit. Writes are always `BLOCK_SIZE`-aligned and sized.
pub const BLOCK_SIZE: usize = 4096;
/// Segment file magic.
pub const SEGMENT_MAGIC: &[u8; 5] = b"TSWAL";
/// Current segment format version.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes of the segment header that are meaningful (the rest of the block is zero).
pub const SEGMENT_HEADER_LEN: usize = 40;
/// Record header length.
pub const RECORD_HEADER_LEN: usize = 28;
/// Hard upper bound of one record's payload (the `len` field is a u32; we
/// refuse anything above 256 MiB as corruption).
pub const MAX_RECORD_PAYLOAD: usize = 256 << 20;
/// Default split size for transaction payloads.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 1 << 20;

/// Record op type. 0 is reserved for padding and never valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// A non-final fragment of a transaction payload.
    Data = 1,
    /// The final fragment of a transaction payload; the transaction commits.
    Commit = 2,
    /// The transaction is abandoned; earlier Data records of it are ignored.
    Abort = 3,
}

impl RecordType {
    /// Decode from the type byte.
    pub fn from_u8(v: u8) -> Option<RecordType> {
        match v {
            1 => Some(RecordType::Data),
            2 => Some(RecordType::Commit),
            3 => Some(RecordType::Abort),
            _ => None,
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            RecordType::Data => "Data",
            RecordType::Commit => "Commit",
            RecordType::Abort => "Abort",
        };
        f.write_str(s)
    }
}

/// Decoded record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub crc: u32,
    pub rtype: RecordType,
    pub flags: u8,
    pub len: u32,
    pub lsn: Lsn,
    pub txid: u64,
}

/// Why bytes did not decode as a record / segment header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header or the declared payload length.
    Truncated { needed: usize, available: usize },
    /// The type byte is not a known record type (and not 0).
    UnknownType(u8),
    /// The declared payload length is implausible.
    BadLength(u32),
    /// Reserved bytes are non-zero.
    BadReserved,
    /// The checksum does not match.
    BadCrc { stored: u32, computed: u32 },
    /// Segment header: bad magic (not a TreeStore WAL file).
    BadMagic,
    /// Segment header: unsupported format version.
    BadVersion(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { needed, available } => {
                write!(f, "truncated: need {needed} bytes, have {available}")
            }
            DecodeError::UnknownType(t) => write!(f, "unknown record type {t}"),
            DecodeError::BadLength(l) => write!(f, "bad payload length {l}"),
            DecodeError::BadReserved => write!(f, "non-zero reserved bytes"),
            DecodeError::BadCrc { stored, computed } => {
                write!(
                    f,
                    "crc mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            DecodeError::BadMagic => write!(f, "bad magic (not a TreeStore WAL segment)"),
            DecodeError::BadVersion(v) => {
                write!(
                    f,
                    "unsupported format version {v} (this build reads {FORMAT_VERSION})"
                )
            }
        }
    }
}

/// Record flag: this record is the first of a flush (it starts on a block
/// boundary). A valid flush-start record after a damaged region proves that the
/// damaged region was synced before (flushes are issued only after the previous
/// one's fdatasync returned), so the damage is corruption, not a torn tail.
pub const FLAG_FLUSH_START: u8 = 1;

/// Set [`FLAG_FLUSH_START`] on the record at the start of `buf` and fix its CRC.
pub fn mark_flush_start(buf: &mut [u8]) {
    if buf.len() < RECORD_HEADER_LEN {
        return;
    }
    let len = u32_at(buf, 8) as usize;
    if buf.len() < RECORD_HEADER_LEN + len {
        return;
    }
    buf[5] |= FLAG_FLUSH_START;
    let crc = crc_of(
        &buf[4..RECORD_HEADER_LEN],
        &buf[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len],
    );
    buf[0..4].copy_from_slice(&crc.to_le_bytes());
}

/// Is this position padding (type byte 0)? `buf` starts at the candidate record.
pub fn is_padding(buf: &[u8]) -> bool {
    buf.get(4).copied().unwrap_or(0) == 0
}

fn crc_of(header_after_crc: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header_after_crc);
    h.update(payload);
    h.finalize()
}

/// Append one encoded record to `out`.
pub fn encode_record(out: &mut Vec<u8>, rtype: RecordType, lsn: Lsn, txid: u64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_RECORD_PAYLOAD);
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[4] = rtype as u8;
    // h[5] flags (set later by mark_flush_start), h[6..8] reserved
    h[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[12..20].copy_from_slice(&lsn.to_le_bytes());
    h[20..28].copy_from_slice(&txid.to_le_bytes());
    let crc = crc_of(&h[4..], payload);
    h[0..4].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Decode a header without checking the CRC (needs the payload). Returns the
/// header; the caller then calls [`verify_record`] with the payload.
pub fn decode_header(buf: &[u8]) -> Result<RecordHeader, DecodeError> {
    if buf.len() < RECORD_HEADER_LEN {
        return Err(DecodeError::Truncated {
            needed: RECORD_HEADER_LEN,
            available: buf.len(),
        });
    }
    let rtype = RecordType::from_u8(buf[4]).ok_or(DecodeError::UnknownType(buf[4]))?;
    if buf[6] != 0 || buf[7] != 0 {
        return Err(DecodeError::BadReserved);
    }
    let len = u32_at(buf, 8);
    if len as usize > MAX_RECORD_PAYLOAD {
        return Err(DecodeError::BadLength(len));
    }
    Ok(RecordHeader {
        crc: u32_at(buf, 0),
        rtype,
        flags: buf[5],
        len,
        lsn: u64_at(buf, 12),
        txid: u64_at(buf, 20),
    })
}

/// Verify the CRC of a record given its raw header bytes and payload.
pub fn verify_record(header_bytes: &[u8], payload: &[u8]) -> Result<(), DecodeError> {
    let stored = u32_at(header_bytes, 0);
    let computed = crc_of(&header_bytes[4..RECORD_HEADER_LEN], payload);
    if stored != computed {
        return Err(DecodeError::BadCrc { stored, computed });
    }
    Ok(())
}

/// Decode a full record from `buf` (header + payload). Returns header and
/// payload slice. Used by tests and tools; the reader uses the two-step API.
pub fn decode_record(buf: &[u8]) -> Result<(RecordHeader, &[u8]), DecodeError> {
    let h = decode_header(buf)?;
    let total = RECORD_HEADER_LEN + h.len as usize;
    if buf.len() < total {
        return Err(DecodeError::Truncated {
            needed: total,
            available: buf.len(),
        });
    }
    let payload = &buf[RECORD_HEADER_LEN..total];
    verify_record(&buf[..RECORD_HEADER_LEN], payload)?;
    Ok((h, payload))
}

/// Segment file header (first block of every segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub version: u8,
    pub shard_id: u64,
    /// LSN of the first record that is (or will be) written to this segment.
    pub first_lsn: Lsn,
    /// LSN of the last record of the previous segment at the time this segment
    /// was created (0 if none). Detects missing segments, and permits the LSN
    /// jump after recovery when RocksDB's applied LSN is ahead of the log.
    pub prev_lsn: Lsn,
}

impl SegmentHeader {
    /// Encode into a full zero-padded block.
    pub fn encode_block(&self) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK_SIZE];
        b[0..5].copy_from_slice(SEGMENT_MAGIC);
        b[5] = self.version;
        // 6..8 reserved
        b[8..16].copy_from_slice(&self.shard_id.to_le_bytes());
        b[16..24].copy_from_slice(&self.first_lsn.to_le_bytes());
        b[24..32].copy_from_slice(&self.prev_lsn.to_le_bytes());
        // 32..36 reserved
        let crc = crc32fast::hash(&b[0..36]);
        b[36..40].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decode and validate a segment header.
    pub fn decode(buf: &[u8]) -> Result<SegmentHeader, DecodeError> {
        if buf.len() < SEGMENT_HEADER_LEN {
            return Err(DecodeError::Truncated {
                needed: SEGMENT_HEADER_LEN,
                available: buf.len(),
            });
        }
        if &buf[0..5] != SEGMENT_MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let stored = u32_at(buf, 36);
        let computed = crc32fast::hash(&buf[0..36]);
        if stored != computed {
            return Err(DecodeError::BadCrc { stored, computed });
        }
        if buf[5] != FORMAT_VERSION {
            return Err(DecodeError::BadVersion(buf[5]));
        }
        Ok(SegmentHeader {
            version: buf[5],
            shard_id: u64_at(buf, 8),
            first_lsn: u64_at(buf, 16),
            prev_lsn: u64_at(buf, 24),
        })
    }
}

/// File name of the segment whose first LSN is `first_lsn`.
pub fn segment_file_name(first_lsn: Lsn) -> String {
    format!("{first_lsn:020}.wal")
}

/// Parse a segment file name; `None` if it is not one.
pub fn parse_segment_file_name(name: &str) -> Option<Lsn> {
    let stem = name.strip_suffix(".wal")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Round up to the block size.
pub fn align_up(v: u64) -> u64 {
    let b = BLOCK_SIZE as u64;
    v.div_ceil(b) * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrip() {
        let mut out = Vec::new();
        encode_record(&mut out, RecordType::Commit, 42, 7, b"hello");
        assert_eq!(out.len(), RECORD_HEADER_LEN + 5);
        let (h, p) = decode_record(&out).unwrap();
        assert_eq!(h.rtype, RecordType::Commit);
        assert_eq!(h.lsn, 42);
        assert_eq!(h.txid, 7);
        assert_eq!(h.len, 5);
        assert_eq!(p, b"hello");
        mark_flush_start(&mut out);
        let (h, p) = decode_record(&out).unwrap();
        assert_eq!(h.flags, FLAG_FLUSH_START);
        assert_eq!(p, b"hello");
    }

    #[test]
    fn decode_errors() {
        let mut out = Vec::new();
        encode_record(&mut out, RecordType::Data, 1, 2, b"abc");
        // every single-bit flip is detected
        for i in 0..out.len() * 8 {
            let mut b = out.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(decode_record(&b).is_err(), "bit {i}");
        }
        assert!(matches!(
            decode_record(&out[..10]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            decode_record(&out[..out.len() - 1]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut b = out.clone();
        b[4] = 9;
        assert_eq!(decode_record(&b).unwrap_err(), DecodeError::UnknownType(9));
        let mut b = out.clone();
        b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode_record(&b).unwrap_err(),
            DecodeError::BadLength(u32::MAX)
        );
        let mut b = out.clone();
        b[10] ^= 0; // no-op
        b[RECORD_HEADER_LEN] ^= 1;
        assert!(matches!(decode_record(&b), Err(DecodeError::BadCrc { .. })));
    }

    #[test]
    fn zeroes_are_padding_never_records() {
        let z = [0u8; 64];
        assert!(is_padding(&z));
        assert!(decode_record(&z).is_err());
    }

    #[test]
    fn segment_header_roundtrip_and_refusals() {
        let h = SegmentHeader {
            version: FORMAT_VERSION,
            shard_id: 3,
            first_lsn: 100,
            prev_lsn: 99,
        };
        let b = h.encode_block();
        assert_eq!(b.len(), BLOCK_SIZE);
        assert_eq!(SegmentHeader::decode(&b).unwrap(), h);
        let mut bad = b.clone();
        bad[0] = b'X';
        assert_eq!(
            SegmentHeader::decode(&bad).unwrap_err(),
            DecodeError::BadMagic
        );
        let mut v2 = b.clone();
        v2[5] = 2;
        let crc = crc32fast::hash(&v2[0..36]);
        v2[36..40].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            SegmentHeader::decode(&v2).unwrap_err(),
            DecodeError::BadVersion(2)
        );
        assert!(SegmentHeader::decode(&[0u8; BLOCK_SIZE]).is_err());
    }

    #[test]
    fn segment_names() {
        let n = segment_file_name(17);
        assert_eq!(n, "00000000000000000017.wal");
        assert_eq!(parse_segment_file_name(&n), Some(17));
        assert_eq!(parse_segment_file_name("17.wal"), None);
        assert_eq!(parse_segment_file_name("00000000000000000017.tmp"), None);
    }
}
