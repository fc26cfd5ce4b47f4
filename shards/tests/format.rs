//! Golden bytes: every stored key and record, and the log payload, encoded from fixed values and
//! compared with the bytes `docs/design.md` describes. A failure here means the on-disk format
//! changed: that needs a `manifest::FORMAT_VERSION` bump (or a field appended after a record's
//! base, readable both ways: `shards::appended`) and an update of docs/design.md, not just new
//! constants. Records with an appended field are pinned in both layouts, and the bytes older
//! builds wrote are decoded by this one.

use shards::codec::encode;
use shards::keys;
use shards::model::*;
use shards::mutation::{DocCommit, Mutation, NodeWrite, XrefSide, XrefValue};
use std::collections::BTreeMap;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn check(what: &str, bytes: &[u8], want: &str) {
    assert_eq!(hex(bytes), want.replace(' ', ""), "{what}");
}

fn xref() -> XrefKey {
    XrefKey {
        from_doc: "a".into(),
        from_node: "1".into(),
        kind: "k".into(),
        to_doc: "b".into(),
        to_node: "2".into(),
    }
}

#[test]
fn keys_are_pinned() {
    check("head", &keys::head("d"), "68 64");
    // A namespaced document: 1f ns 1f id (see docs/design.md, "Namespaces").
    let acme = shards::namespace::Namespace::parse("namespace", "acme").unwrap();
    check(
        "namespaced head",
        &keys::head(&acme.qualify("d")),
        "68 1f 61636d65 1f 64",
    );
    // Versions inverted (u64::MAX - v), big-endian: version 1 is ff..fe.
    check("header", &keys::header("d", 1), "64 64 00 fffffffffffffffe");
    check(
        "shape",
        &keys::shape("d", "n", 2),
        "73 64 00 6e 00 fffffffffffffffd",
    );
    check(
        "content",
        &keys::node("d", "n", 2),
        "6e 64 00 6e 00 fffffffffffffffd",
    );
    check(
        "version",
        &keys::version("d", 3),
        "76 64 00 0000000000000003",
    );
    check(
        "changes",
        &keys::changes("d", 3),
        "67 64 00 0000000000000003",
    );
    // Time 5 (sign bit flipped, then inverted), version 3 (inverted).
    check(
        "commit index",
        &keys::time_index(keys::COMMIT, "d", 5, 3),
        "63 64 00 7ffffffffffffffa fffffffffffffffc",
    );
    check(
        "effective index",
        &keys::time_index(keys::EFFECTIVE, "d", -1, 3),
        "65 64 00 8000000000000000 fffffffffffffffc",
    );
    check("word", &keys::word("w", "d", "n"), "77 77 00 64 00 6e");
    check(
        "xref out",
        &keys::xref_out(&xref()),
        "6f 61 00 31 00 6b 00 62 00 32",
    );
    check(
        "xref in",
        &keys::xref_in(&xref()),
        "69 62 00 32 00 6b 00 61 00 31",
    );
    check("tool", &keys::tool("t", "{}"), "74 74 00 7b7d");
    check(
        "applied lsn",
        keys::APPLIED_LSN,
        "6d 6170706c6965645f6c736e",
    );
}

fn content() -> NodeContent {
    NodeContent {
        title: "T".into(),
        summary: Some("S".into()),
        text: None,
        start_page: Some(1),
        end_page: Some(-1),
        line_num: None,
        extra_json: "{}".into(),
    }
}

#[test]
fn records_are_pinned() {
    let head = DocHead {
        version: 2,
        node_count: 3,
        created_at: 1,
        updated_at: 300,
        last_commit_time: 300,
        deleted: false,
    };
    // Varints; signed integers zigzag (300 -> 600 = d8 04).
    check("DocHead", &encode(&head).unwrap(), "02 03 02 d804 d804 00");
    let header = DocHeader {
        name: "N".into(),
        description: String::new(),
        metadata: BTreeMap::from([("k".to_string(), "v".to_string())]),
        roots: vec!["a".into(), "b".into()],
    };
    check(
        "DocHeader",
        &encode(&header).unwrap(),
        "014e 00 01 016b 0176 02 0161 0162",
    );
    let shape = NodeShape {
        parent: Some("p".into()),
        children: vec!["c".into()],
    };
    check(
        "shape",
        &encode(&Some(shape)).unwrap(),
        "01 01 0170 01 0163",
    );
    check(
        "shape tombstone",
        &encode(&None::<NodeShape>).unwrap(),
        "00",
    );
    check(
        "content",
        &encode(&content()).unwrap(),
        "0154 01 0153 00 01 02 01 01 00 02 7b7d",
    );
    let info = VersionInfo {
        version: 2,
        commit_time: 300,
        effective_time: -2,
        message: "m".into(),
        nodes_changed: 1,
        header_changed: true,
        node_count: 3,
        committed_by: String::new(),
    };
    check(
        "VersionInfo",
        &info.encode().unwrap(),
        "02 d804 03 016d 01 01 03",
    );
    check("changes", &encode(&vec!["a", "b"]).unwrap(), "02 0161 0162");
    let xv = XrefValue {
        label: "L".into(),
        created_at: 7,
    };
    check("XrefValue", &encode(&xv).unwrap(), "014c 0e");
    let tool = ToolResultRecord {
        result_json: "1".into(),
        stored_at: 1,
        expires_at: 2,
        depends_on: vec![DocRef {
            doc_id: "d".into(),
            version: 3,
        }],
    };
    check(
        "ToolResultRecord",
        &encode(&tool).unwrap(),
        "0131 02 04 01 0164 03",
    );
}

#[test]
fn the_log_payload_is_pinned() {
    let commit = Mutation::Commit(DocCommit {
        doc_id: "d".into(),
        version: 2,
        commit_time: 300,
        effective_time: 300,
        message: String::new(),
        created_at: 1,
        header: None,
        nodes: vec![
            ("a".into(), NodeWrite::Removed),
            (
                "b".into(),
                NodeWrite::Put {
                    shape: None,
                    content: Some(content()),
                },
            ),
            (
                "c".into(),
                NodeWrite::Put {
                    shape: Some(NodeShape::default()),
                    content: None,
                },
            ),
        ],
        node_count: 2,
        committed_by: String::new(),
    });
    check(
        "Commit",
        &commit.encode().unwrap(),
        "00 0164 02 d804 d804 00 02 00 03 \
         0161 00 \
         0162 01 00 01 0154 01 0153 00 01 02 01 01 00 02 7b7d \
         0163 01 01 00 00 00 \
         02",
    );
    let delete = Mutation::DeleteDocument {
        doc_id: "d".into(),
        deleted_at: 1,
    };
    check("DeleteDocument", &delete.encode().unwrap(), "01 0164 02");
    let put_xref = Mutation::PutXref {
        key: xref(),
        side: XrefSide::In,
        value: XrefValue {
            label: String::new(),
            created_at: 1,
        },
    };
    check(
        "PutXref",
        &put_xref.encode().unwrap(),
        "02 0161 0131 016b 0162 0132 01 00 02",
    );
    let remove_xref = Mutation::RemoveXref {
        key: xref(),
        side: XrefSide::Out,
    };
    check(
        "RemoveXref",
        &remove_xref.encode().unwrap(),
        "03 0161 0131 016b 0162 0132 00",
    );
    let put_tool = Mutation::PutToolResult {
        tool: "t".into(),
        args: "{}".into(),
        record: ToolResultRecord {
            result_json: "1".into(),
            stored_at: 1,
            expires_at: 2,
            depends_on: vec![],
        },
    };
    check(
        "PutToolResult",
        &put_tool.encode().unwrap(),
        "04 0174 027b7d 0131 02 04 00",
    );
    let remove_tools = Mutation::RemoveToolResults {
        keys: vec![("t".into(), "{}".into())],
    };
    check(
        "RemoveToolResults",
        &remove_tools.encode().unwrap(),
        "05 01 0174 027b7d",
    );
    // And back: the log replays what was written.
    for m in [
        commit,
        delete,
        put_xref,
        remove_xref,
        put_tool,
        remove_tools,
    ] {
        assert_eq!(Mutation::decode(&m.encode().unwrap()).unwrap(), m);
    }
}

#[test]
fn the_change_feed_is_pinned() {
    use shards::feed::{Deletion, FeedEvent, VersionChange};
    check("feed", &keys::feed(258), "66 0000000000000102");
    check(
        "feed index",
        &keys::feed_index("d", 3),
        "71 64 00 0000000000000003",
    );
    check(
        "feed trimmed",
        keys::FEED_TRIMMED,
        "6d 666565645f7472696d6d6564",
    );
    let version = FeedEvent::Version(VersionChange {
        doc_id: "d".into(),
        version: 2,
        commit_time: 300,
        effective_time: -1,
        message: "m".into(),
        nodes_changed: 1,
        header_changed: false,
        created: false,
        added: vec!["a".into()],
        removed: vec![],
        updated: vec![],
        moved: vec![],
        committed_by: String::new(),
    });
    check(
        "version event",
        &version.encode().unwrap(),
        "00 0164 02 d804 01 016d 01 00 00 01 0161 00 00 00",
    );
    let deleted = FeedEvent::Deleted(Deletion {
        doc_id: "d".into(),
        last_version: 2,
        deleted_at: 300,
    });
    check(
        "delete event",
        &deleted.encode().unwrap(),
        "01 0164 02 d804",
    );
}

/// The bytes of a record with an appended committer: the record's base as before, then the
/// committer as a string ("alice" = `05 616c696365`).
const ALICE: &str = "05 616c696365";

fn unhex(s: &str) -> Vec<u8> {
    let s = s.replace(' ', "");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_appended_committer_is_pinned_and_old_records_still_decode() {
    let base = "02 d804 03 016d 01 01 03";
    let mut info = VersionInfo {
        version: 2,
        commit_time: 300,
        effective_time: -2,
        message: "m".into(),
        nodes_changed: 1,
        header_changed: true,
        node_count: 3,
        committed_by: "alice".into(),
    };
    let new = format!("{base} {ALICE}");
    check("VersionInfo by alice", &info.encode().unwrap(), &new);
    assert_eq!(VersionInfo::decode(&unhex(&new)).unwrap(), info);
    // What builds before it read of the new bytes: the base, the committer ignored.
    let older_build: VersionInfo = shards::codec::decode(&unhex(&new)).unwrap();
    info.committed_by = String::new();
    assert_eq!(older_build, info);
    // What builds before it wrote, read by this one: no committer.
    assert_eq!(VersionInfo::decode(&unhex(base)).unwrap(), info);
}

#[test]
fn the_log_payload_with_a_committer_is_pinned_and_old_payloads_still_replay() {
    let mut commit = DocCommit {
        doc_id: "d".into(),
        version: 1,
        commit_time: 300,
        effective_time: 300,
        message: String::new(),
        created_at: 300,
        header: None,
        nodes: vec![("a".into(), NodeWrite::Removed)],
        node_count: 0,
        committed_by: "alice".into(),
    };
    let base = "00 0164 01 d804 d804 00 d804 00 01 0161 00 00";
    let new = format!("{base} {ALICE}");
    let m = Mutation::Commit(commit.clone());
    check("Commit by alice", &m.encode().unwrap(), &new);
    assert_eq!(Mutation::decode(&unhex(&new)).unwrap(), m);
    let older_build: Mutation = shards::codec::decode(&unhex(&new)).unwrap();
    commit.committed_by = String::new();
    assert_eq!(older_build, Mutation::Commit(commit.clone()));
    assert_eq!(
        Mutation::decode(&unhex(base)).unwrap(),
        Mutation::Commit(commit)
    );
    // Other mutations have no appended field: their bytes are unchanged.
    let delete = Mutation::DeleteDocument {
        doc_id: "d".into(),
        deleted_at: 1,
    };
    check("DeleteDocument", &delete.encode().unwrap(), "01 0164 02");
}

#[test]
fn the_feed_event_with_a_committer_is_pinned_and_old_events_still_decode() {
    use shards::feed::{FeedEvent, VersionChange};
    let mut change = VersionChange {
        doc_id: "d".into(),
        version: 2,
        commit_time: 300,
        effective_time: -1,
        message: "m".into(),
        nodes_changed: 1,
        header_changed: false,
        created: false,
        added: vec!["a".into()],
        removed: vec![],
        updated: vec![],
        moved: vec![],
        committed_by: "alice".into(),
    };
    let base = "00 0164 02 d804 01 016d 01 00 00 01 0161 00 00 00";
    let new = format!("{base} {ALICE}");
    let e = FeedEvent::Version(change.clone());
    check("version event by alice", &e.encode().unwrap(), &new);
    assert_eq!(FeedEvent::decode(&unhex(&new)).unwrap(), e);
    let older_build: FeedEvent = shards::codec::decode(&unhex(&new)).unwrap();
    change.committed_by = String::new();
    assert_eq!(older_build, FeedEvent::Version(change.clone()));
    assert_eq!(
        FeedEvent::decode(&unhex(base)).unwrap(),
        FeedEvent::Version(change)
    );
}
