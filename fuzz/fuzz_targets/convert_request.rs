//! A request from arbitrary bytes: the first byte selects the message, the rest is decoded as
//! protobuf and converted as the service converts it. Never a panic; a field that does not
//! convert is INVALID_ARGUMENT; a converted tree has the nodes the request counted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use treestore::{convert, paging, pb};

/// Ok, or INVALID_ARGUMENT.
fn is_invalid_argument<T>(r: &Result<T, tonic::Status>) -> bool {
    r.as_ref()
        .err()
        .is_none_or(|s| s.code() == tonic::Code::InvalidArgument)
}

fn count_tree(nodes: &[shards::model::NodeInput]) -> u64 {
    nodes.iter().map(|n| 1 + count_tree(&n.children)).sum()
}

fuzz_target!(|data: &[u8]| {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 5 {
        0 => {
            if let Ok(r) = pb::PutDocumentRequest::decode(bytes) {
                let counted = convert::count_inputs(&r.roots);
                let roots: Vec<_> = r.roots.into_iter().map(convert::node_input).collect();
                assert_eq!(counted, count_tree(&roots));
            }
        }
        1 => {
            if let Ok(r) = pb::InsertNodeRequest::decode(bytes) {
                if let Some(n) = r.node {
                    let counted = convert::count_inputs(std::slice::from_ref(&n));
                    assert_eq!(counted, count_tree(&[convert::node_input(n)]));
                }
            }
        }
        2 => {
            if let Ok(r) = pb::GetNodeRequest::decode(bytes) {
                assert!(is_invalid_argument(&convert::read_sel(
                    r.read_at,
                    r.transaction_id
                )));
            }
        }
        3 => {
            if let Ok(r) = pb::GetCrossReferencesRequest::decode(bytes) {
                assert!(is_invalid_argument(&convert::direction(r.direction)));
            }
        }
        _ => {
            if let Ok(r) = pb::ListDocumentsRequest::decode(bytes) {
                assert!(is_invalid_argument(&paging::decode('d', &r.page_token)));
                assert!(is_invalid_argument(&paging::decode_offset(
                    'v',
                    &r.page_token
                )));
            }
        }
    }
});
