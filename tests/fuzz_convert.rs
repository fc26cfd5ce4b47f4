//! Fuzzing of the request conversion proto -> engine types (issue 13, part 4): arbitrary bytes
//! decoded as the requests whose fields `src/convert.rs` and `src/paging.rs` convert, then
//! converted. A replay of `fuzz/corpus/convert_request` (inputs of the coverage-guided target,
//! seeded with requests made by the real encoder) runs the same checks.
//!
//! What must hold: no panic; a field that does not convert is INVALID_ARGUMENT naming it; a
//! converted tree has exactly the nodes of the request.

use proptest::prelude::*;
use prost::Message;
use std::path::Path;
use tonic::Code;
use treestore::{convert, paging, pb};

fn count_tree(nodes: &[shards::model::NodeInput]) -> u64 {
    nodes.iter().map(|n| 1 + count_tree(&n.children)).sum()
}

/// Ok, or INVALID_ARGUMENT naming one of `fields`.
fn assert_invalid_argument<T: std::fmt::Debug>(r: Result<T, tonic::Status>, fields: &[&str]) {
    if let Err(s) = r {
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert!(
            fields.iter().any(|f| s.message().contains(f)),
            "{s:?} names none of {fields:?}"
        );
    }
}

/// Decodes `bytes` as the request `kind` selects and converts what the service converts.
fn convert_request(kind: u8, bytes: &[u8]) {
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
                    let tree = convert::node_input(n);
                    assert_eq!(counted, count_tree(std::slice::from_ref(&tree)));
                }
            }
        }
        2 => {
            if let Ok(r) = pb::GetNodeRequest::decode(bytes) {
                assert_invalid_argument(
                    convert::read_sel(r.read_at, r.transaction_id),
                    &["read_at", "as_of.axis"],
                );
            }
        }
        3 => {
            if let Ok(r) = pb::GetCrossReferencesRequest::decode(bytes) {
                assert_invalid_argument(convert::direction(r.direction), &["direction"]);
            }
        }
        _ => {
            if let Ok(r) = pb::ListDocumentsRequest::decode(bytes) {
                assert_invalid_argument(paging::decode('d', &r.page_token), &["page_token"]);
                assert_invalid_argument(paging::decode_offset('v', &r.page_token), &["page_token"]);
            }
        }
    }
}

fn node_input() -> impl Strategy<Value = pb::NodeInput> {
    let leaf =
        (".{0,8}", ".{0,8}", any::<Option<i64>>()).prop_map(|(id, title, page)| pb::NodeInput {
            node_id: id,
            title,
            start_page: page,
            ..Default::default()
        });
    leaf.prop_recursive(4, 40, 4, |inner| {
        (".{0,8}", prop::collection::vec(inner, 0..4)).prop_map(|(id, children)| pb::NodeInput {
            node_id: id,
            children,
            ..Default::default()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_as_requests(kind in any::<u8>(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        convert_request(kind, &bytes);
    }

    /// Valid requests with bytes changed: decode and convert, or fail to decode.
    #[test]
    fn mutated_requests(
        roots in prop::collection::vec(node_input(), 0..4),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = pb::PutDocumentRequest { doc_id: "d".into(), roots, ..Default::default() }
            .encode_to_vec();
        for (at, b) in &damage {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = *b;
            }
        }
        convert_request(0, &bytes);
    }

    #[test]
    fn enums_convert_or_are_invalid_argument(v in any::<i32>()) {
        match convert::axis(v) {
            Ok(_) => prop_assert!(pb::TimeAxis::try_from(v).is_ok()),
            Err(s) => prop_assert_eq!(s.code(), Code::InvalidArgument),
        }
        match convert::direction(v) {
            Ok(_) => prop_assert!(pb::Direction::try_from(v).is_ok()),
            Err(s) => prop_assert_eq!(s.code(), Code::InvalidArgument),
        }
    }

    #[test]
    fn page_tokens_round_trip_and_garbage_is_invalid(cursor in ".{0,40}", garbage in ".{0,60}") {
        let token = paging::encode('d', &cursor);
        prop_assert_eq!(paging::decode('d', &token).ok(), Some(Some(cursor.clone())));
        prop_assert!(paging::decode('v', &token).is_err(), "a token of another RPC");
        assert_invalid_argument(paging::decode('d', &garbage), &["page_token"]);
    }
}

/// Replays `fuzz/corpus/convert_request`: the first byte selects the request type.
#[test]
fn corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/convert_request");
    let mut replayed = 0;
    for e in std::fs::read_dir(&dir).expect("corpus directory") {
        let bytes = std::fs::read(e.expect("corpus entry").path()).expect("corpus file");
        if let Some((kind, rest)) = bytes.split_first() {
            convert_request(*kind, rest);
        }
        replayed += 1;
    }
    assert!(replayed > 0, "the corpus is empty");
}

/// Writes the seeds of `fuzz/corpus/convert_request` with the real encoder (run by hand with
/// `--ignored`).
#[test]
#[ignore]
fn write_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/convert_request");
    std::fs::create_dir_all(&dir).expect("corpus directory");
    let node = pb::NodeInput {
        node_id: "n".into(),
        title: "T".into(),
        start_page: Some(3),
        children: vec![pb::NodeInput {
            node_id: "c".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let seeds: Vec<(u8, Vec<u8>)> = vec![
        (
            0,
            pb::PutDocumentRequest {
                doc_id: "d".into(),
                roots: vec![node.clone()],
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            1,
            pb::InsertNodeRequest {
                doc_id: "d".into(),
                node: Some(node),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            2,
            pb::GetNodeRequest {
                doc_id: "d".into(),
                node_id: "n".into(),
                read_at: Some(pb::ReadAt {
                    at: Some(pb::read_at::At::AsOf(pb::AsOf { time: 5, axis: 2 })),
                }),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            3,
            pb::GetCrossReferencesRequest {
                doc_id: "d".into(),
                direction: 2,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            4,
            pb::ListDocumentsRequest {
                page_token: paging::encode('d', "doc-7"),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
    ];
    for (i, (kind, body)) in seeds.into_iter().enumerate() {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&body);
        std::fs::write(dir.join(format!("seed-{i}")), bytes).expect("write seed");
    }
}
