//! The hand encoding against prost's: for trees of every shape, each response encoded from the
//! tree has exactly the bytes prost gives for the message built from the same read.

use super::*;
use crate::convert;
use shards::request::{Request, WriteOpts};
use shards::shard::{Shard, ShardConfig};
use shards::store::MemStore;
use shards::view::read_head;
use shards::{DocumentInput, NodeContent, NodeInput};

/// A document of `width`-wide levels, `levels` deep, with every kind of field value: empty
/// and set strings, unset, zero, negative and large page numbers, multi-byte text.
fn tree(width: usize, levels: usize) -> DocTree {
    fn nodes(prefix: &str, width: usize, levels: usize, n: &mut i64) -> Vec<NodeInput> {
        if levels == 0 {
            return vec![];
        }
        (0..width)
            .map(|i| {
                *n += 1;
                let id = format!("{prefix}{i}");
                NodeInput {
                    node_id: id.clone(),
                    content: NodeContent {
                        title: if *n % 5 == 0 {
                            String::new()
                        } else {
                            format!("Title {id} é")
                        },
                        summary: (*n % 3 != 0).then(|| "s".repeat((*n as usize * 37) % 300)),
                        text: (*n % 2 == 0).then(|| format!("text of {id} ✓").repeat(20)),
                        start_page: (*n % 4 != 0).then_some(*n * 1000 - 3),
                        end_page: (*n % 7 == 0).then_some(-*n),
                        line_num: (*n % 6 == 0).then_some(0),
                        extra_json: if *n % 9 == 0 {
                            "{\"k\":[1,2]}".into()
                        } else {
                            String::new()
                        },
                    },
                    children: nodes(&format!("{id}."), width, levels - 1, n),
                }
            })
            .collect()
    }
    let mut shard = Shard::new(0, MemStore::new(), ShardConfig::default(), 1);
    let doc = DocumentInput {
        doc_id: "doc".into(),
        name: "Name".into(),
        metadata: [("a".to_string(), "1".to_string())].into(),
        roots: nodes("n", width, levels, &mut 0),
        ..Default::default()
    };
    let put = Request::PutDocument {
        doc,
        overwrite: false,
        write: WriteOpts::default(),
    };
    let m = shard.handle(put, 1_000).unwrap().mutation.unwrap();
    shard.apply(&m, 1).unwrap();
    let head = read_head(&shard.store, "doc").unwrap().unwrap();
    shards::tree::load(&shard.store, "doc", head.version, &head).unwrap()
}

fn ids(t: &DocTree) -> Vec<Option<String>> {
    let mut out = vec![None];
    out.extend(t.nodes().iter().map(|n| Some(n.body.id.to_string())));
    out
}

#[test]
fn node_reads_encode_to_prost_bytes() {
    for (width, levels) in [(0, 0), (1, 1), (3, 3), (2, 6), (40, 1)] {
        let t = tree(width, levels);
        for id in ids(&t) {
            for text in [true, false] {
                if let Some(id) = &id {
                    let i = t.find(id).unwrap();
                    let expected = pb::GetNodeResponse {
                        node: Some(convert::node(t.node_view(id, text).unwrap())),
                        version: t.version,
                    };
                    assert_eq!(get_node(&t, i, text), expected.encode_to_vec(), "node {id}");
                    let ancestors = pb::GetAncestorsResponse {
                        ancestors: convert::nodes(t.ancestor_views(id, false).unwrap()),
                        version: t.version,
                    };
                    let got = NodesReply::new(&t, t.ancestors(i), Shape::flat(false))
                        .finish(|b| put_version(b, 2, t.version));
                    assert_eq!(got, ancestors.encode_to_vec(), "ancestors of {id}");
                }
                let parent = id.as_deref().map(|id| t.find(id).unwrap());
                let children = pb::GetChildrenResponse {
                    children: convert::nodes(t.children_views(id.as_deref(), text).unwrap()),
                    next_page_token: String::new(),
                    version: t.version,
                };
                let got = NodesReply::new(&t, t.children(parent).collect(), Shape::flat(text))
                    .finish(|b| put_version(b, 3, t.version));
                assert_eq!(got, children.encode_to_vec(), "children of {id:?}");
                for depth in [0, 1, 2, 3, 7] {
                    let subtree = pb::GetSubtreeResponse {
                        roots: convert::nodes(t.subtree_views(id.as_deref(), depth, text).unwrap()),
                        version: t.version,
                    };
                    let roots = match parent {
                        Some(i) => vec![i],
                        None => t.children(None).collect(),
                    };
                    let shape = Shape {
                        depth,
                        include_text: text,
                    };
                    let got =
                        NodesReply::new(&t, roots, shape).finish(|b| put_version(b, 2, t.version));
                    assert_eq!(
                        got,
                        subtree.encode_to_vec(),
                        "subtree of {id:?} depth {depth}"
                    );
                }
            }
        }
    }
}

#[test]
fn documents_encode_to_what_prost_decodes_alike() {
    let t = tree(3, 3);
    let document = convert::document(t.document());
    for shape in [
        None,
        Some(Shape {
            depth: 0,
            include_text: true,
        }),
        Some(Shape::flat(false)),
    ] {
        let expected = pb::GetDocumentResponse {
            document: Some(document.clone()),
            roots: match shape {
                Some(s) => convert::nodes(t.subtree_views(None, s.depth, s.include_text).unwrap()),
                None => vec![],
            },
        };
        let got = get_document(&t, &document, shape);
        // Metadata is a map: prost's own order is a hash map's, so compare decoded messages.
        assert_eq!(
            pb::GetDocumentResponse::decode(got.as_slice()).unwrap(),
            expected
        );
        assert_eq!(got.len(), expected.encoded_len());
    }
}

#[test]
fn a_reply_encodes_alike_built_or_encoded_and_decodes_back() {
    use crate::wire::Reply;
    let t = tree(2, 2);
    let built = pb::GetNodeResponse {
        node: Some(convert::node(t.node_view("n1", true).unwrap())),
        version: t.version,
    };
    let encoded: Reply<pb::GetNodeResponse> =
        Reply::Encoded(get_node(&t, t.find("n1").unwrap(), true));
    assert_eq!(encoded.encoded_len(), built.encoded_len());
    assert_eq!(
        encoded.encode_to_vec(),
        Reply::Built(built.clone()).encode_to_vec()
    );
    let decoded = Reply::<pb::GetNodeResponse>::decode(encoded.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, Reply::Built(built));
}
