//! Fuzzing of what a shard reads back from its store (issue 13, part 4): every key kind and every
//! value kind of `docs/design.md`, decoded from arbitrary and mutated bytes, and a shard serving
//! every read over a store with one damaged entry. A replay of the corpus kept in
//! `fuzz/corpus/stored_record` (inputs of the coverage-guided target, seeded with records made by
//! the real encoders) runs the same checks.
//!
//! What must hold: no panic; a record that does not decode is `Error::DataLoss` (gRPC DATA_LOSS);
//! no length field allocates what the bytes do not hold.

use proptest::prelude::*;
use shards::codec::{decode, decode_u64, encode};
use shards::keys;
use shards::model::*;
use shards::mutation::{DocCommit, Mutation, NodeWrite, XrefSide, XrefValue};
use shards::request::{Request, WriteOpts};
use shards::shard::{Shard, ShardConfig};
use shards::store::{KvRead, KvStore, MemStore, WriteBatch};
use shards::Error;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// Decodes `bytes` as the value kind `kind` selects (one per value of docs/design.md, and the
/// log payload): Ok(()) or the error. Kinds wrap around, so any byte selects one.
fn decode_kind(kind: u8, bytes: &[u8]) -> Result<(), Error> {
    match kind % 10 {
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
    }
}

/// Every key parser over arbitrary bytes; a key too short for its kind is DataLoss.
fn parse_keys(k: &[u8]) {
    assert_data_loss_or_ok(keys::doc_from_head(k).map(drop));
    assert_data_loss_or_ok(keys::inverted_version(k).map(drop));
    assert_data_loss_or_ok(keys::be_u64(k).map(drop));
    let _ = keys::split(k);
    let _ = keys::xref_from_key(k);
    let _ = keys::node_of(&keys::doc_nodes_scope("d"), k);
}

fn assert_data_loss_or_ok(r: Result<(), Error>) {
    if let Err(e) = r {
        assert!(matches!(e, Error::DataLoss(_)), "not DataLoss: {e}");
    }
}

fn content(title: &str) -> NodeContent {
    NodeContent {
        title: title.into(),
        summary: Some("s".into()),
        text: Some("alpha beta".into()),
        start_page: Some(1),
        end_page: Some(-2),
        line_num: None,
        extra_json: "{}".into(),
    }
}

/// One valid encoding of each value kind (index = kind), made by the real encoder.
fn valid_values() -> Vec<Vec<u8>> {
    let header = DocHeader {
        name: "N".into(),
        description: String::new(),
        metadata: BTreeMap::from([("k".to_string(), "v".to_string())]),
        roots: vec!["a".into(), "b".into()],
    };
    let commit = Mutation::Commit(DocCommit {
        doc_id: "d".into(),
        version: 2,
        commit_time: 300,
        effective_time: 300,
        message: "m".into(),
        created_at: 0,
        header: Some(header.clone()),
        nodes: vec![
            ("a".into(), NodeWrite::Removed),
            (
                "b".into(),
                NodeWrite::Put {
                    shape: Some(NodeShape {
                        parent: None,
                        children: vec!["c".into()],
                    }),
                    content: Some(content("T")),
                },
            ),
        ],
        node_count: 2,
        committed_by: "alice".into(),
    });
    let enc = |r: Result<Vec<u8>, Error>| r.expect("encoding a record");
    vec![
        enc(encode(&DocHead {
            version: 2,
            node_count: 3,
            created_at: 1,
            updated_at: 300,
            last_commit_time: 300,
            deleted: false,
        })),
        enc(encode(&header)),
        enc(encode(&Some(NodeShape {
            parent: Some("p".into()),
            children: vec!["c".into()],
        }))),
        enc(encode(&content("T"))),
        enc(VersionInfo {
            version: 2,
            commit_time: 300,
            effective_time: 3,
            message: "m".into(),
            nodes_changed: 1,
            header_changed: true,
            node_count: 3,
            committed_by: "alice".into(),
        }
        .encode()),
        enc(encode(&vec!["a".to_string(), "b".to_string()])),
        enc(encode(&XrefValue {
            label: "L".into(),
            created_at: 7,
        })),
        enc(encode(&ToolResultRecord {
            result_json: "1".into(),
            stored_at: 1,
            expires_at: 2,
            depends_on: vec![DocRef {
                doc_id: "d".into(),
                version: 3,
            }],
        })),
        enc(commit.encode()),
        shards::codec::encode_u64(9),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_values_decode_or_are_data_loss(
        kind in any::<u8>(),
        bytes in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        assert_data_loss_or_ok(decode_kind(kind, &bytes));
    }

    #[test]
    fn mutated_and_truncated_values_decode_or_are_data_loss(
        kind in 0u8..10,
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = valid_values()[kind as usize].clone();
        for (at, b) in &damage {
            let i = at.index(bytes.len());
            bytes[i] = *b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        assert_data_loss_or_ok(decode_kind(kind, &bytes));
    }

    #[test]
    fn arbitrary_keys_parse_or_are_data_loss(k in prop::collection::vec(any::<u8>(), 0..40)) {
        parse_keys(&k);
    }
}

/// A list length of 2^32 in 6 bytes: DataLoss, without reserving room for 2^32 items (serde
/// reserves at most a cautious size hint; postcard checks a string's length against the bytes).
#[test]
fn huge_length_fields_are_data_loss() {
    let huge = [0x80, 0x80, 0x80, 0x80, 0x10];
    for kind in [1u8, 2, 5, 7, 8] {
        let mut bytes = vec![];
        if kind == 2 {
            bytes.extend_from_slice(&[1, 1, 1]); // Some(shape), parent Some, then a string
        }
        bytes.extend_from_slice(&huge);
        assert!(
            matches!(decode_kind(kind, &bytes), Err(Error::DataLoss(_))),
            "kind {kind}"
        );
    }
}

#[test]
fn short_keys_are_data_loss() {
    for k in [&b""[..], b"h", b"d\x00\x01", b"n1234567"] {
        assert!(matches!(keys::inverted_version(k), Err(Error::DataLoss(_))));
    }
    assert!(matches!(keys::doc_from_head(b""), Err(Error::DataLoss(_))));
    assert!(matches!(
        keys::doc_from_head(b"xd"),
        Err(Error::DataLoss(_))
    ));
    assert_eq!(keys::doc_from_head(b"hd"), Ok(&b"d"[..]));
    assert!(matches!(keys::be_u64(b"1234567"), Err(Error::DataLoss(_))));
    assert_eq!(keys::xref_from_key(b""), None);
    assert_eq!(keys::split(b""), vec![&b""[..]]);
}

// ---- a shard over a store with one damaged entry ----

const NOW: Micros = 1_000_000;

fn write(shard: &mut Shard<MemStore>, req: Request, lsn: &mut u64) {
    let out = shard.handle(req, NOW + *lsn as i64).expect("write");
    if let Some(m) = out.mutation {
        *lsn += 1;
        shard.apply(&m, *lsn).expect("apply");
    }
}

fn node(id: &str, title: &str, children: Vec<NodeInput>) -> NodeInput {
    NodeInput {
        node_id: id.into(),
        content: content(title),
        children,
    }
}

/// Every entry of a store holding one key of every kind: two documents (one of them with three
/// versions), a link both ways, a tool result.
fn base_entries() -> &'static Vec<(Vec<u8>, Vec<u8>)> {
    static BASE: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut shard = Shard::new(0, MemStore::new(), ShardConfig::default(), 1);
        let mut lsn = 0;
        for doc in ["d", "e"] {
            let roots = vec![
                node("a", "alpha one", vec![node("a1", "alpha leaf", vec![])]),
                node("b", "beta", vec![]),
            ];
            let doc = DocumentInput {
                doc_id: doc.into(),
                name: "N".into(),
                description: "D".into(),
                metadata: BTreeMap::from([("k".into(), "v".into())]),
                roots,
            };
            let req = Request::PutDocument {
                doc,
                overwrite: false,
                write: WriteOpts::default(),
            };
            write(&mut shard, req, &mut lsn);
        }
        let update = Request::UpdateNode {
            doc_id: "d".into(),
            node_id: "a1".into(),
            content: content("alpha changed"),
            mask: FieldMask {
                title: true,
                ..FieldMask::default()
            },
            write: WriteOpts::default(),
        };
        write(&mut shard, update, &mut lsn);
        let delete = Request::DeleteNode {
            doc_id: "d".into(),
            node_id: "b".into(),
            write: WriteOpts::default(),
        };
        write(&mut shard, delete, &mut lsn);
        for side in [XrefSide::Out, XrefSide::In] {
            let req = Request::PutXref {
                key: link(),
                side,
                label: "L".into(),
                created_at: NOW,
                replaces: None,
            };
            write(&mut shard, req, &mut lsn);
        }
        let tool = Request::PutToolResult {
            tool: "t".into(),
            args: "{}".into(),
            result_json: "1".into(),
            ttl_seconds: 60,
            depends_on: vec![DocRef {
                doc_id: "d".into(),
                version: 0,
            }],
        };
        write(&mut shard, tool, &mut lsn);
        let mut all = vec![];
        shard
            .store
            .scan(&[], &[0xFF; 9], &mut |k, v| {
                all.push((k.to_vec(), v.to_vec()));
                Ok(true)
            })
            .expect("scan");
        all
    })
}

fn link() -> XrefKey {
    XrefKey {
        from_doc: "d".into(),
        from_node: "a".into(),
        kind: "cites".into(),
        to_doc: "e".into(),
        to_node: "b".into(),
    }
}

/// Every read a shard serves, over both documents and at several versions.
fn reads() -> Vec<Request> {
    let mut out = vec![];
    for doc in ["d", "e"] {
        let d = || doc.to_string();
        for at in [
            ReadAt::Latest,
            ReadAt::Version(1),
            ReadAt::AsOf {
                time: NOW + 1,
                axis: TimeAxis::Commit,
            },
        ] {
            out.push(Request::GetDocument {
                doc_id: d(),
                at,
                txn: None,
            });
            out.push(Request::GetNode {
                doc_id: d(),
                node_id: "a1".into(),
                at,
                include_text: true,
                txn: None,
            });
            out.push(Request::GetChildren {
                doc_id: d(),
                node_id: Some("a".into()),
                at,
                include_text: true,
                txn: None,
            });
            out.push(Request::GetSubtree {
                doc_id: d(),
                node_id: None,
                max_depth: 0,
                include_text: true,
                at,
                txn: None,
            });
            out.push(Request::GetAncestors {
                doc_id: d(),
                node_id: "a1".into(),
                at,
                include_text: true,
                txn: None,
            });
            out.push(Request::Search {
                words: vec!["alpha".into()],
                doc_id: Some(d()),
                namespace: Default::default(),
                at,
                after: None,
                limit: 10,
            });
        }
        out.push(Request::ListVersions {
            doc_id: d(),
            after: None,
            limit: 10,
        });
        out.push(Request::VersionAsOf {
            doc_id: d(),
            time: NOW + 2,
            axis: TimeAxis::Effective,
        });
        out.push(Request::Diff {
            doc_id: d(),
            from: 1,
            to: 3,
        });
    }
    out.extend([
        Request::ListDocuments {
            id_prefix: String::new(),
            metadata: BTreeMap::new(),
            after: None,
            limit: 10,
        },
        Request::Search {
            words: vec!["alpha".into(), "leaf".into()],
            doc_id: None,
            namespace: Default::default(),
            at: ReadAt::Latest,
            after: None,
            limit: 10,
        },
        Request::ListXrefs {
            starts: vec![("d".into(), None), ("e".into(), Some("b".into()))],
            side: XrefSide::Out,
            kind: None,
        },
        Request::ListXrefs {
            starts: vec![("e".into(), None)],
            side: XrefSide::In,
            kind: Some("cites".into()),
        },
        Request::LinkValues { keys: vec![link()] },
        Request::NodesExist {
            nodes: vec![("d".into(), "a1".into())],
        },
        Request::DocVersions {
            doc_ids: vec!["d".into(), "e".into()],
        },
        Request::GetToolResult {
            tool: "t".into(),
            args: "{}".into(),
        },
        Request::Stats,
    ]);
    out
}

/// How one entry of the store is damaged.
#[derive(Debug, Clone)]
enum Damage {
    /// The value replaced by these bytes.
    Value(Vec<u8>),
    /// One byte of the value changed.
    ValueByte(prop::sample::Index, u8),
    /// The value cut to this many bytes (of its length).
    ValueCut(prop::sample::Index),
    /// The key cut to this many bytes (at least the tag).
    KeyCut(prop::sample::Index),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Damage::Value),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::ValueByte(i, b)),
        any::<prop::sample::Index>().prop_map(Damage::ValueCut),
        any::<prop::sample::Index>().prop_map(Damage::KeyCut),
    ]
}

/// A shard over the base entries with entry `i` damaged.
fn damaged_shard(i: usize, d: &Damage) -> Shard<MemStore> {
    let base = base_entries();
    let mut batch = WriteBatch::default();
    for (j, (k, v)) in base.iter().enumerate() {
        let (mut k, mut v) = (k.clone(), v.clone());
        if j == i {
            match d {
                Damage::Value(b) => v = b.clone(),
                Damage::ValueByte(at, b) if !v.is_empty() => {
                    let n = at.index(v.len());
                    v[n] = *b;
                }
                Damage::ValueByte(..) => v = vec![0xFF],
                Damage::ValueCut(at) => v.truncate(at.index(v.len() + 1)),
                Damage::KeyCut(at) => k.truncate(1 + at.index(k.len())),
            }
        }
        batch.put(k, v);
    }
    let store = MemStore::new();
    store.write(batch).expect("memory write");
    Shard::new(0, store, ShardConfig::default(), 1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One damaged entry, every read: answers or errors, never a panic and never INTERNAL (damage
    /// found is DataLoss; NotFound and the like when the damaged bytes still decode into
    /// something else, e.g. an older version).
    #[test]
    fn a_shard_over_a_damaged_store_never_panics(at in any::<prop::sample::Index>(), d in damage()) {
        let mut shard = damaged_shard(at.index(base_entries().len()), &d);
        for req in reads() {
            let what = format!("{req:?}");
            if let Err(e) = shard.handle(req, NOW + 100) {
                prop_assert!(
                    !matches!(e, Error::Internal(_) | Error::Storage(_)),
                    "{} gave {}", what, e
                );
            }
        }
        // A write reads the head, the node and the word index before writing.
        let update = Request::UpdateNode {
            doc_id: "d".into(),
            node_id: "a".into(),
            content: content("gamma"),
            mask: FieldMask { title: true, ..FieldMask::default() },
            write: WriteOpts::default(),
        };
        if let Ok(out) = shard.handle(update, NOW + 200) {
            if let Some(m) = out.mutation {
                let _ = shard.apply(&m, 1000);
            }
        }
    }
}

#[test]
fn the_base_store_has_every_key_kind() {
    let tags: std::collections::BTreeSet<u8> = base_entries().iter().map(|(k, _)| k[0]).collect();
    for tag in [
        keys::META,
        keys::HEAD,
        keys::HEADER,
        keys::NODE,
        keys::SHAPE,
        keys::VERSION,
        keys::CHANGES,
        keys::EFFECTIVE,
        keys::COMMIT,
        keys::WORD,
        keys::XREF_OUT,
        keys::XREF_IN,
        keys::TOOL,
    ] {
        assert!(tags.contains(&tag), "no key with tag {}", tag as char);
    }
}

/// The postings reader took a count that is not 4 bytes as 0; it is DataLoss.
#[test]
fn a_malformed_posting_count_is_data_loss() {
    let at = base_entries()
        .iter()
        .position(|(k, _)| k.starts_with(&keys::word_scope("alpha", Some("d"))))
        .expect("a posting of `alpha` in d");
    let mut shard = damaged_shard(at, &Damage::Value(vec![0, 0, 1]));
    let search = Request::Search {
        words: vec!["alpha".into()],
        doc_id: Some("d".into()),
        namespace: Default::default(),
        at: ReadAt::Latest,
        after: None,
        limit: 10,
    };
    match shard.handle(search, NOW + 100) {
        Err(Error::DataLoss(m)) => assert!(m.contains("count of 3 bytes"), "{m}"),
        other => panic!("expected DataLoss, got {other:?}"),
    }
}

/// A version key cut short (no room for the version) is DataLoss, not a slice panic.
#[test]
fn a_truncated_version_key_is_data_loss() {
    let store = MemStore::new();
    let mut batch = WriteBatch::default();
    for (k, v) in base_entries() {
        batch.put(k.clone(), v.clone());
    }
    // A commit-time index entry of `d` cut to two bytes of its time: it sorts after the seek
    // to the latest time (all zeroes) and before every whole entry, so the seek finds it.
    let mut cut = keys::time_index_scope(keys::COMMIT, "d");
    cut.extend_from_slice(&[0, 1]);
    batch.put(cut, vec![]);
    store.write(batch).expect("memory write");
    let mut shard = Shard::new(0, store, ShardConfig::default(), 1);
    let req = Request::VersionAsOf {
        doc_id: "d".into(),
        time: i64::MAX,
        axis: TimeAxis::Commit,
    };
    match shard.handle(req, NOW + 100) {
        Err(Error::DataLoss(m)) => assert!(m.contains("too short"), "{m}"),
        other => panic!("expected DataLoss, got {other:?}"),
    }
}

/// Replays `fuzz/corpus/stored_record`: the first byte selects the value kind, the rest is the
/// value; every input also runs through the key parsers.
#[test]
fn corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/stored_record");
    let mut replayed = 0;
    for e in std::fs::read_dir(&dir).expect("corpus directory") {
        let bytes = std::fs::read(e.expect("corpus entry").path()).expect("corpus file");
        if let Some((kind, value)) = bytes.split_first() {
            assert_data_loss_or_ok(decode_kind(*kind, value));
        }
        parse_keys(&bytes);
        replayed += 1;
    }
    assert!(replayed > 0, "the corpus is empty");
}

/// Writes the seeds of `fuzz/corpus/stored_record` from the real encoders (run by hand with
/// `--ignored` after a format change).
#[test]
#[ignore]
fn write_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/stored_record");
    std::fs::create_dir_all(&dir).expect("corpus directory");
    for (kind, v) in valid_values().into_iter().enumerate() {
        let mut bytes = vec![kind as u8];
        bytes.extend_from_slice(&v);
        std::fs::write(dir.join(format!("seed-value-{kind}")), bytes).expect("write seed");
    }
    for (i, (k, _)) in base_entries().iter().enumerate() {
        std::fs::write(dir.join(format!("seed-key-{i:02}")), k).expect("write seed");
    }
}
