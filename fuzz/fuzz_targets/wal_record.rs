//! One WAL record (or segment header) from arbitrary bytes: decoding never panics, and a record
//! that decodes is the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use treestore_wal::format::{decode_header, decode_record, SegmentHeader};

fuzz_target!(|data: &[u8]| {
    let _ = decode_header(data);
    let _ = SegmentHeader::decode(data);
    if let Ok((h, payload)) = decode_record(data) {
        assert_eq!(payload.len(), h.len as usize);
        assert_eq!(payload, &data[28..28 + payload.len()]);
    }
});
