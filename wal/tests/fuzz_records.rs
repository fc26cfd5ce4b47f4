//! Fuzzing of the log's readers over bad bytes (issue 13, part 4): property tests over arbitrary
//! and mutated bytes, and a replay of the corpus kept in `fuzz/corpus/` (inputs of the
//! coverage-guided targets in `fuzz/`, seeded with real records and holding every input that
//! ever crashed a reader).
//!
//! What must hold for any bytes: decoding never panics; a damaged record is an error (never a
//! record with other contents: the CRC covers header and payload); recovery over a damaged
//! segment either refuses it as corruption or returns a prefix of what was written, exactly;
//! and no length field makes a reader allocate more than the file holds.

mod common;

use common::{dir, opts, SHARD};
use futures_lite::future::block_on;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use treestore_wal::format::{
    self, decode_header, decode_record, encode_record, mark_flush_start, DecodeError, RecordType,
    SegmentHeader, BLOCK_SIZE, FORMAT_VERSION, MAX_RECORD_PAYLOAD, RECORD_HEADER_LEN,
};
use treestore_wal::{Error, FileSystem, SimFs, WalFile};

/// A segment of shard `SHARD` holding one Commit record per payload (LSNs from 1), each in its
/// own flush, as the writer lays them out.
fn segment(payloads: &[Vec<u8>]) -> Vec<u8> {
    let h = SegmentHeader {
        version: FORMAT_VERSION,
        shard_id: SHARD,
        first_lsn: 1,
        prev_lsn: 0,
    };
    let mut out = h.encode_block();
    for (i, p) in payloads.iter().enumerate() {
        let lsn = i as u64 + 1;
        let mut r = Vec::new();
        encode_record(&mut r, RecordType::Commit, lsn, lsn, p);
        mark_flush_start(&mut r);
        r.resize(format::align_up(r.len() as u64) as usize, 0);
        out.extend_from_slice(&r);
    }
    out
}

fn segment_path() -> PathBuf {
    dir().join(format::segment_file_name(1))
}

/// Recovers a log directory holding `bytes` as its one segment.
fn recover(bytes: &[u8]) -> treestore_wal::Result<Vec<(u64, Vec<u8>)>> {
    block_on(async {
        let fs = SimFs::new(1);
        let f = fs.create(&segment_path()).await.expect("simfs create");
        f.write_at(bytes, 0).await.expect("simfs write");
        let (_, txs) = common::open(fs, 0, opts()).await?;
        Ok(txs.into_iter().map(|t| (t.commit_lsn, t.payload)).collect())
    })
}

/// Scans `bytes` as one segment file; returns the visited (lsn, payload) pairs.
fn scan(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    block_on(async {
        let fs = SimFs::new(1);
        let p = Path::new("/scan/00000000000000000001.wal");
        let f = fs.create(p).await.expect("simfs create");
        f.write_at(bytes, 0).await.expect("simfs write");
        let mut seen = vec![];
        treestore_wal::reader::scan_segment(&fs, p, |_, h, payload| {
            seen.push((h.lsn, payload.to_vec()));
            Ok(())
        })
        .await
        .expect("a scan reports damage in its result, not as an error");
        seen
    })
}

/// Recovery of a damaged log: refused as corruption, or exactly a prefix of what was written.
fn check_recovery(bytes: &[u8], written: &[Vec<u8>]) {
    match recover(bytes) {
        Ok(txs) => {
            assert!(txs.len() <= written.len(), "more transactions than written");
            for (i, (lsn, payload)) in txs.iter().enumerate() {
                assert_eq!(*lsn, i as u64 + 1, "recovered LSNs are 1, 2, …");
                assert_eq!(payload, &written[i], "transaction {lsn} recovered altered");
            }
        }
        Err(Error::Corruption { .. } | Error::BadSegment { .. } | Error::WrongShard { .. }) => {}
        Err(e) => panic!("damaged log gave an error that is not corruption: {e}"),
    }
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_header(&bytes);
        let _ = decode_record(&bytes);
        let _ = SegmentHeader::decode(&bytes);
        let _ = format::parse_segment_file_name(&String::from_utf8_lossy(&bytes));
    }

    /// CRC32 detects every burst of up to 32 bits: one changed byte is always an error.
    #[test]
    fn one_changed_byte_of_a_record_is_an_error(
        payload in prop::collection::vec(any::<u8>(), 0..200),
        at in any::<prop::sample::Index>(),
        mask in 1u8..,
    ) {
        let mut r = Vec::new();
        encode_record(&mut r, RecordType::Commit, 7, 9, &payload);
        let (h, p) = decode_record(&r).expect("a record as encoded decodes");
        prop_assert_eq!((h.lsn, h.txid, p), (7, 9, payload.as_slice()));
        let i = at.index(r.len());
        r[i] ^= mask;
        prop_assert!(decode_record(&r).is_err(), "byte {} changed and the record still decodes", i);
    }

    #[test]
    fn a_truncated_record_is_an_error(
        payload in prop::collection::vec(any::<u8>(), 1..200),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut r = Vec::new();
        encode_record(&mut r, RecordType::Data, 1, 1, &payload);
        r.truncate(cut.index(r.len()));
        prop_assert!(
            matches!(decode_record(&r), Err(DecodeError::Truncated { .. })),
            "truncated to {} bytes", r.len()
        );
    }

    /// Overwritten bytes anywhere in a segment (header, records, padding, tail): the scan never
    /// fails, and what it visits is exactly what was written.
    #[test]
    fn scan_of_a_damaged_segment_visits_only_written_records(
        written in payloads(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = segment(&written);
        for (at, b) in &damage {
            let i = at.index(bytes.len());
            bytes[i] = *b;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len()));
        }
        for (lsn, payload) in scan(&bytes) {
            let i = usize::try_from(lsn).expect("lsn fits usize") - 1;
            prop_assert_eq!(&payload, &written[i]);
        }
        check_recovery(&bytes, &written);
    }

    /// Arbitrary bytes after a valid header: recovery refuses or recovers nothing made up.
    #[test]
    fn recovery_over_arbitrary_records_never_panics(
        tail in prop::collection::vec(any::<u8>(), 0..3 * BLOCK_SIZE),
    ) {
        let mut bytes = segment(&[]);
        bytes.extend_from_slice(&tail);
        let _ = scan(&bytes);
        check_recovery(&bytes, &[]);
    }
}

/// A length field past the bound (4 GiB here) is refused from the header alone, before any
/// payload is read or allocated.
#[test]
fn huge_length_fields_are_refused_without_allocating() {
    let mut r = Vec::new();
    encode_record(&mut r, RecordType::Commit, 1, 1, b"x");
    r[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(decode_header(&r), Err(DecodeError::BadLength(u32::MAX)));
    let just_over = MAX_RECORD_PAYLOAD as u32 + 1;
    r[8..12].copy_from_slice(&just_over.to_le_bytes());
    assert_eq!(decode_header(&r), Err(DecodeError::BadLength(just_over)));
    // Within the bound but past the end of the file: damage at the record, nothing visited.
    let mut seg = segment(&[b"first".to_vec()]);
    let second = seg.len();
    let mut big = Vec::new();
    encode_record(&mut big, RecordType::Commit, 2, 2, b"y");
    big[8..12].copy_from_slice(&((MAX_RECORD_PAYLOAD - 1) as u32).to_le_bytes());
    seg.extend_from_slice(&big[..RECORD_HEADER_LEN]);
    seg.resize(second + BLOCK_SIZE, 0);
    assert_eq!(scan(&seg), vec![(1, b"first".to_vec())]);
    check_recovery(&seg, &[b"first".to_vec()]);
}

/// Replays every input of the corpus of the coverage-guided targets `wal_record` (one record)
/// and `wal_segment` (a whole segment), checking the properties above.
#[test]
fn corpus_replays() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0;
    for target in ["wal_record", "wal_segment"] {
        let entries = std::fs::read_dir(root.join(target)).expect("corpus directory");
        for e in entries {
            let path = e.expect("corpus entry").path();
            let bytes = std::fs::read(&path).expect("corpus file");
            let _ = decode_header(&bytes);
            let _ = decode_record(&bytes);
            let _ = SegmentHeader::decode(&bytes);
            if target == "wal_segment" {
                let _ = scan(&bytes);
                let _ = recover(&bytes);
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "the corpus is empty");
}

/// Writes the seeds of `fuzz/corpus/wal_record` and `fuzz/corpus/wal_segment` with the real
/// encoders (run by hand with `--ignored` after a format change).
#[test]
#[ignore]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let payloads = [b"".to_vec(), b"payload".to_vec(), vec![7u8; 300]];
    let record_dir = root.join("wal_record");
    std::fs::create_dir_all(&record_dir).expect("corpus directory");
    for (i, (rtype, p)) in [RecordType::Data, RecordType::Commit, RecordType::Abort]
        .into_iter()
        .zip(&payloads)
        .enumerate()
    {
        let mut r = Vec::new();
        encode_record(&mut r, rtype, i as u64 + 1, 3, p);
        std::fs::write(record_dir.join(format!("seed-{i}")), r).expect("write seed");
    }
    let segment_dir = root.join("wal_segment");
    std::fs::create_dir_all(&segment_dir).expect("corpus directory");
    for n in 0..=payloads.len() {
        std::fs::write(
            segment_dir.join(format!("seed-{n}")),
            segment(&payloads[..n]),
        )
        .expect("write seed");
    }
}
