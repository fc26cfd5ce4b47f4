//! A whole segment file from arbitrary bytes, scanned and recovered on the simulated disk:
//! never a panic; recovery refuses the log as corrupt or returns transactions whose records
//! passed their CRCs.
#![no_main]

use futures_lite::future::block_on;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use treestore_wal::{Error, FileSystem, SimFs, WalFile, WalOptions};

const DIR: &str = "/wal";

fuzz_target!(|data: &[u8]| {
    block_on(async {
        let fs = SimFs::new(1);
        let path = Path::new(DIR).join(treestore_wal::format::segment_file_name(1));
        let f = fs.create(&path).await.expect("simfs create");
        f.write_at(data, 0).await.expect("simfs write");
        let _ = treestore_wal::reader::scan_segment(&fs, &path, |_, _, _| Ok(()))
            .await
            .expect("a scan reports damage in its result");
        let opts = WalOptions {
            segment_size: 24 * 1024,
            keep_segments: 2,
            max_record_size: 1000,
            truncate_on_corruption: false,
        };
        match treestore_wal::open(fs, DIR, 7, 0, opts).await {
            Ok(_) => {}
            Err(Error::Corruption { .. } | Error::BadSegment { .. } | Error::WrongShard { .. }) => {
            }
            Err(e) => panic!("not a corruption error: {e}"),
        }
    });
});
