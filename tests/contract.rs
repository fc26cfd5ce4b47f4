//! Promises of the proto that acceptance testing found broken, each through the real server:
//! re-created documents continue their versions, stale wins over expired, malformed node ids on
//! reads are INVALID_ARGUMENT, a no-op commit answers with the snapshot's version,
//! `nodes_changed` counts what the version changed, expired transactions leave Stats at once,
//! and stored times are range-checked.

mod common;
use common::*;
use std::time::Duration;
use tonic::Code;
use treestore::pb;

/// Earliest and latest times a version may store (0001-01-01 and 9999-12-31T23:59:59.999999).
const MIN_TIME: i64 = -62_135_596_800_000_000;
const MAX_TIME: i64 = 253_402_300_799_999_999;

async fn version_of(c: &mut Client, doc: &str, v: u64) -> Result<pb::Document, tonic::Status> {
    c.get_document(pb::GetDocumentRequest {
        doc_id: doc.into(),
        read_at: Some(pb::ReadAt {
            at: Some(pb::read_at::At::Version(v)),
        }),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner().document.expect("document"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_contract() {
    let srv = Server::start(&[]).await;
    let mut c = srv.client().await;
    recreated_documents_continue_their_versions(&mut c).await;
    stale_wins_over_expired(&mut c).await;
    malformed_node_ids_on_reads_are_invalid_argument(&mut c).await;
    a_commit_with_writes_that_cancel_out_answers_the_snapshot_version(&mut c).await;
    nodes_changed_counts_what_the_version_changed(&mut c).await;
    expired_transactions_leave_stats_at_once(&mut c).await;
    stored_times_are_range_checked(&mut c).await;
}

async fn recreated_documents_continue_their_versions(c: &mut Client) {
    put_small(c, "re").await;
    let v2 = c
        .update_node(pb::UpdateNodeRequest {
            doc_id: "re".into(),
            node_id: "b".into(),
            node: Some(leaf("b", "Beta 2")),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_eq!(v2.version, 2);
    c.delete_document(pb::DeleteDocumentRequest {
        doc_id: "re".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let again = put_small(c, "re").await;
    // The proto: a deleted document created again continues its numbering.
    assert_eq!(again.version.unwrap().version, 3);
    assert_eq!(again.document.unwrap().version, 3);
    // The old versions went with the delete.
    for v in [1, 2] {
        assert_eq!(
            code(version_of(c, "re", v).await.map(tonic::Response::new)),
            Code::NotFound
        );
    }
    let listed = c
        .list_versions(pb::ListVersionsRequest {
            doc_id: "re".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(listed.iter().map(|v| v.version).collect::<Vec<_>>(), [3]);
}

async fn stale_wins_over_expired(c: &mut Client) {
    put_small(c, "src").await;
    c.store_tool_result(pb::StoreToolResultRequest {
        tool_name: "t".into(),
        args_json: "{}".into(),
        result_json: "1".into(),
        ttl_seconds: 1,
        depends_on: vec![pb::DocRef {
            doc_id: "src".into(),
            version: 0,
        }],
    })
    .await
    .unwrap();
    c.insert_node(pb::InsertNodeRequest {
        doc_id: "src".into(),
        node: Some(leaf("new", "New")),
        ..Default::default()
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = c
        .get_tool_result(pb::GetToolResultRequest {
            tool_name: "t".into(),
            args_json: "{}".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!got.hit);
    assert_eq!(got.miss_reason(), pb::MissReason::Stale);
}

async fn malformed_node_ids_on_reads_are_invalid_argument(c: &mut Client) {
    put_small(c, "ids").await;
    let bad = [
        "x".repeat(300),
        "a\0b".to_string(),
        "a\nb".to_string(),
        "a\tb".to_string(),
        "a\u{7f}b".to_string(),
        "a\u{85}b".to_string(),
    ];
    for id in bad {
        let doc = || "ids".to_string();
        let got = [
            code(
                c.get_node(pb::GetNodeRequest {
                    doc_id: doc(),
                    node_id: id.clone(),
                    ..Default::default()
                })
                .await,
            ),
            code(
                c.get_ancestors(pb::GetAncestorsRequest {
                    doc_id: doc(),
                    node_id: id.clone(),
                    ..Default::default()
                })
                .await,
            ),
            code(
                c.get_children(pb::GetChildrenRequest {
                    doc_id: doc(),
                    node_id: id.clone(),
                    ..Default::default()
                })
                .await,
            ),
            code(
                c.get_subtree(pb::GetSubtreeRequest {
                    doc_id: doc(),
                    node_id: id.clone(),
                    ..Default::default()
                })
                .await,
            ),
            code(
                c.get_cross_references(pb::GetCrossReferencesRequest {
                    doc_id: doc(),
                    node_id: id.clone(),
                    max_hops: 1,
                    ..Default::default()
                })
                .await,
            ),
        ];
        assert_eq!(got, [Code::InvalidArgument; 5], "node id {id:?}");
    }
    // A well-formed id that does not exist is still NOT_FOUND, and an empty one on the
    // reads where it is required is INVALID_ARGUMENT.
    let missing = c
        .get_node(pb::GetNodeRequest {
            doc_id: "ids".into(),
            node_id: "nope".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(missing), Code::NotFound);
    let empty = c
        .get_ancestors(pb::GetAncestorsRequest {
            doc_id: "ids".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(empty), Code::InvalidArgument);
}

async fn a_commit_with_writes_that_cancel_out_answers_the_snapshot_version(c: &mut Client) {
    let put = put_small(c, "noop").await.version.unwrap();
    let txn = c
        .begin_transaction(pb::BeginTransactionRequest {
            doc_id: "noop".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(txn.snapshot_version, put.version);
    c.insert_node(pb::InsertNodeRequest {
        doc_id: "noop".into(),
        node: Some(leaf("tmp", "Temporary")),
        transaction_id: txn.transaction_id.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.delete_node(pb::DeleteNodeRequest {
        doc_id: "noop".into(),
        node_id: "tmp".into(),
        transaction_id: txn.transaction_id.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let committed = c
        .commit_transaction(pb::CommitTransactionRequest {
            transaction_id: txn.transaction_id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_eq!(
        committed, put,
        "the snapshot's version, commit time and all"
    );
    assert_eq!(
        code(version_of(c, "noop", 2).await.map(tonic::Response::new)),
        Code::NotFound
    );
}

async fn nodes_changed_counts_what_the_version_changed(c: &mut Client) {
    let created = put_small(c, "nc").await.version.unwrap();
    assert_eq!(created.nodes_changed, 4, "creation counts every node");
    let inserted = c
        .insert_node(pb::InsertNodeRequest {
            doc_id: "nc".into(),
            parent_id: "a".into(),
            node: Some(leaf("a3", "Alpha three")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inserted.version.unwrap().nodes_changed, 1, "not its parent");
    let moved_within = c
        .move_node(pb::MoveNodeRequest {
            doc_id: "nc".into(),
            node_id: "a3".into(),
            new_parent_id: "a".into(),
            position: Some(0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved_within.version.unwrap().nodes_changed, 1);
    let moved_across = c
        .move_node(pb::MoveNodeRequest {
            doc_id: "nc".into(),
            node_id: "a3".into(),
            new_parent_id: "b".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved_across.version.unwrap().nodes_changed, 1);
    let deleted = c
        .delete_node(pb::DeleteNodeRequest {
            doc_id: "nc".into(),
            node_id: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.nodes_deleted, 3);
    assert_eq!(deleted.version.unwrap().nodes_changed, 3);
    // The stored versions say the same as the write responses did.
    let listed = c
        .list_versions(pb::ListVersionsRequest {
            doc_id: "nc".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(
        listed.iter().map(|v| v.nodes_changed).collect::<Vec<_>>(),
        [4, 1, 1, 1, 3]
    );
}

async fn active_transactions(c: &mut Client) -> u64 {
    c.stats(pb::StatsRequest {})
        .await
        .unwrap()
        .into_inner()
        .active_transactions
}

async fn expired_transactions_leave_stats_at_once(c: &mut Client) {
    put_small(c, "tx").await;
    let before = active_transactions(c).await;
    c.begin_transaction(pb::BeginTransactionRequest {
        doc_id: "tx".into(),
        timeout_ms: Some(200),
    })
    .await
    .unwrap();
    assert_eq!(active_transactions(c).await, before + 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // No other request touched its shard meanwhile: Stats itself must not count it.
    assert_eq!(active_transactions(c).await, before);
}

async fn stored_times_are_range_checked(c: &mut Client) {
    for (t, ok) in [
        (i64::MAX, false),
        (MAX_TIME + 1, false),
        (i64::MIN, false),
        (MIN_TIME - 1, false),
        (MAX_TIME, true),
        (MIN_TIME, true),
    ] {
        let mut req = put_request(shards::model::DocumentInput {
            doc_id: format!("time{t}"),
            ..Default::default()
        });
        req.effective_time = Some(t);
        let got = c.put_document(req).await;
        if ok {
            assert_eq!(got.unwrap().into_inner().version.unwrap().effective_time, t);
        } else {
            let s = got.expect_err("out of range");
            assert_eq!(s.code(), Code::InvalidArgument, "{t}");
            assert!(s.message().contains("effective_time"), "{}", s.message());
        }
    }
    let transaction_id = c
        .begin_transaction(pb::BeginTransactionRequest {
            doc_id: "tx".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .transaction_id;
    let commit = c
        .commit_transaction(pb::CommitTransactionRequest {
            transaction_id,
            effective_time: Some(i64::MAX),
            ..Default::default()
        })
        .await;
    // Checked even when the commit has nothing to write.
    assert_eq!(code(commit), Code::InvalidArgument);
    let mut req = put_request(shards::model::DocumentInput {
        doc_id: "import".into(),
        ..Default::default()
    });
    req.commit_time = Some(MIN_TIME - 1);
    assert_eq!(code(c.put_document(req).await), Code::InvalidArgument);
}
