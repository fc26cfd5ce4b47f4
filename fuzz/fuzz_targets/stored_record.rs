//! A stored value or key from arbitrary bytes: the first byte selects the value kind (every value
//! of docs/design.md and the log payload), the rest is decoded; the whole input is parsed as a
//! key. Never a panic; a failure is DataLoss.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shards::codec::{decode, decode_u64};
use shards::keys;
use shards::model::*;
use shards::mutation::{Mutation, XrefValue};
use shards::Error;

fn data_loss_or_ok(r: Result<(), Error>) {
    if let Err(e) = r {
        assert!(matches!(e, Error::DataLoss(_)), "not DataLoss: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some((kind, bytes)) = data.split_first() {
        data_loss_or_ok(match kind % 10 {
            0 => decode::<DocHead>(bytes).map(drop),
            1 => decode::<DocHeader>(bytes).map(drop),
            2 => decode::<Option<NodeShape>>(bytes).map(drop),
            3 => decode::<NodeContent>(bytes).map(drop),
            4 => VersionInfo::decode(bytes).map(drop),
            5 => decode::<Vec<String>>(bytes).map(drop),
            6 => decode::<XrefValue>(bytes).map(drop),
            7 => decode::<ToolResultRecord>(bytes).map(drop),
            8 => Mutation::decode(bytes).map(drop),
            _ => decode_u64(bytes).map(drop),
        });
    }
    data_loss_or_ok(keys::doc_from_head(data).map(drop));
    data_loss_or_ok(keys::inverted_version(data).map(drop));
    let _ = keys::split(data);
    let _ = keys::xref_from_key(data);
    let _ = keys::node_of(&keys::doc_nodes_scope("d"), data);
});
