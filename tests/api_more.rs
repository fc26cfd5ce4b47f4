//! Search, history, cross references, the tool-result cache, transactions, Health and Stats
//! through a tonic client against the real server, with their error cases.

mod common;
use common::*;
use tonic::Code;
use treestore::pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_history_links_tools_transactions_ops() {
    let srv = Server::start(&[]).await;
    let mut c = srv.client().await;
    put_small(&mut c, "d").await;
    put_small(&mut c, "e").await;

    // search
    let hits = c
        .search_nodes(pb::SearchNodesRequest {
            query: "ALPHA one".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        hits.hits
            .iter()
            .map(|h| (h.doc_id.as_str(), h.node_id.as_str()))
            .collect::<Vec<_>>(),
        [("d", "a1"), ("e", "a1")]
    );
    assert!(hits.hits[0].snippet.contains("Alpha one"));
    let page = c
        .search_nodes(pb::SearchNodesRequest {
            query: "alpha".into(),
            doc_id: "d".into(),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.hits.len(), 1);
    assert!(!page.next_page_token.is_empty());
    assert_eq!(
        code(
            c.search_nodes(pb::SearchNodesRequest {
                query: " ,".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.search_nodes(pb::SearchNodesRequest {
                query: "alpha".into(),
                doc_id: "nope".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );

    // history
    let v1 = c
        .list_versions(pb::ListVersionsRequest {
            doc_id: "d".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .versions[0]
        .clone();
    c.delete_node(pb::DeleteNodeRequest {
        doc_id: "d".into(),
        node_id: "b".into(),
        effective_time: Some(v1.effective_time - 10),
        ..Default::default()
    })
    .await
    .unwrap();
    let asof = |time, axis: pb::TimeAxis| pb::GetVersionAsOfRequest {
        doc_id: "d".into(),
        as_of: Some(pb::AsOf {
            time,
            axis: axis as i32,
        }),
    };
    assert_eq!(
        c.get_version_as_of(asof(v1.commit_time, pb::TimeAxis::Commit))
            .await
            .unwrap()
            .into_inner()
            .version
            .unwrap()
            .version,
        1
    );
    assert_eq!(
        c.get_version_as_of(asof(v1.effective_time - 5, pb::TimeAxis::Effective))
            .await
            .unwrap()
            .into_inner()
            .version
            .unwrap()
            .version,
        2
    );
    assert_eq!(
        code(c.get_version_as_of(asof(1, pb::TimeAxis::Commit)).await),
        Code::NotFound
    );
    assert_eq!(
        code(
            c.get_version_as_of(pb::GetVersionAsOfRequest {
                doc_id: "d".into(),
                as_of: None
            })
            .await
        ),
        Code::InvalidArgument
    );
    let diff = c
        .diff_versions(pb::DiffVersionsRequest {
            doc_id: "d".into(),
            from_version: 1,
            to_version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (diff.to_version, diff.removed.clone()),
        (2, vec!["b".to_string()])
    );
    assert_eq!(
        code(
            c.diff_versions(pb::DiffVersionsRequest {
                doc_id: "d".into(),
                from_version: 1,
                to_version: 9
            })
            .await
        ),
        Code::NotFound
    );

    // cross references
    let x = |from: &str, to: &str, kind: &str| pb::CrossReference {
        from_doc_id: "d".into(),
        from_node_id: from.into(),
        to_doc_id: "e".into(),
        to_node_id: to.into(),
        kind: kind.into(),
        ..Default::default()
    };
    let added = c
        .add_cross_reference(pb::AddCrossReferenceRequest {
            reference: Some(x("a1", "a2", "cites")),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.reference.unwrap().created_at > 0);
    c.add_cross_reference(pb::AddCrossReferenceRequest {
        reference: Some(x("a1", "b", "")),
    })
    .await
    .unwrap();
    assert_eq!(
        code(
            c.add_cross_reference(pb::AddCrossReferenceRequest {
                reference: Some(x("a1", "a2", "cites"))
            })
            .await
        ),
        Code::AlreadyExists
    );
    assert_eq!(
        code(
            c.add_cross_reference(pb::AddCrossReferenceRequest {
                reference: Some(x("a1", "zz", "cites"))
            })
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            c.add_cross_reference(pb::AddCrossReferenceRequest { reference: None })
                .await
        ),
        Code::InvalidArgument
    );
    let refs = c
        .get_cross_references(pb::GetCrossReferencesRequest {
            doc_id: "d".into(),
            node_id: "a1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refs.references.len(), 2);
    let inc = c
        .get_cross_references(pb::GetCrossReferencesRequest {
            doc_id: "e".into(),
            node_id: "a2".into(),
            direction: pb::Direction::Incoming as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        inc.references[0].reference.as_ref().unwrap().from_node_id,
        "a1"
    );
    let whole = c
        .get_cross_references(pb::GetCrossReferencesRequest {
            doc_id: "d".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(whole.references.len(), 1);
    assert!(!whole.next_page_token.is_empty());
    assert_eq!(
        code(
            c.get_cross_references(pb::GetCrossReferencesRequest {
                doc_id: "d".into(),
                node_id: "a1".into(),
                max_hops: 9,
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.get_cross_references(pb::GetCrossReferencesRequest {
                doc_id: "d".into(),
                node_id: "zz".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );
    let rm = |kind: &str| pb::RemoveCrossReferenceRequest {
        from_doc_id: "d".into(),
        from_node_id: "a1".into(),
        to_doc_id: "e".into(),
        to_node_id: "b".into(),
        kind: kind.into(),
        to_namespace: String::new(),
    };
    c.remove_cross_reference(rm("")).await.unwrap();
    assert_eq!(code(c.remove_cross_reference(rm("")).await), Code::NotFound);

    // tool results
    let st = c
        .store_tool_result(pb::StoreToolResultRequest {
            tool_name: "t".into(),
            args_json: r#"{"b":1, "a":2}"#.into(),
            result_json: "[1]".into(),
            depends_on: vec![pb::DocRef {
                doc_id: "e".into(),
                version: 0,
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (st.args_json.as_str(), st.depends_on[0].version),
        (r#"{"a":2,"b":1}"#, 1)
    );
    let hit = c
        .get_tool_result(pb::GetToolResultRequest {
            tool_name: "t".into(),
            args_json: r#"{"a":2,"b":1}"#.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(hit.hit && hit.result_json == "[1]");
    let miss = c
        .get_tool_result(pb::GetToolResultRequest {
            tool_name: "t".into(),
            args_json: "{}".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (miss.hit, miss.miss_reason),
        (false, pb::MissReason::NotFound as i32)
    );
    // /metrics counts the lookups by outcome
    let body = http_get(&srv.metrics_addr, "/metrics").await;
    for line in [
        r#"treestore_tool_cache_lookups_total{result="hit"} 1"#,
        r#"treestore_tool_cache_lookups_total{result="not_found"} 1"#,
    ] {
        assert!(body.contains(line), "{line} in\n{body}");
    }
    assert_eq!(
        code(
            c.store_tool_result(pb::StoreToolResultRequest {
                tool_name: "t".into(),
                args_json: "{bad".into(),
                result_json: "1".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.store_tool_result(pb::StoreToolResultRequest {
                tool_name: "".into(),
                args_json: "{}".into(),
                result_json: "1".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.store_tool_result(pb::StoreToolResultRequest {
                tool_name: "t".into(),
                args_json: "{}".into(),
                result_json: "1".into(),
                depends_on: vec![pb::DocRef {
                    doc_id: "nope".into(),
                    version: 0
                }],
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            c.get_tool_result(pb::GetToolResultRequest {
                tool_name: "t".into(),
                args_json: "nope".into()
            })
            .await
        ),
        Code::InvalidArgument
    );

    // transactions
    let t = c
        .begin_transaction(pb::BeginTransactionRequest {
            doc_id: "e".into(),
            timeout_ms: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.snapshot_version, 1);
    let w = c
        .insert_node(pb::InsertNodeRequest {
            doc_id: "e".into(),
            node: Some(leaf("t1", "in tx")),
            transaction_id: t.transaction_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(w.version.unwrap().version, 0);
    let inside = c
        .get_node(pb::GetNodeRequest {
            doc_id: "e".into(),
            node_id: "t1".into(),
            transaction_id: t.transaction_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inside.node.unwrap().title, "in tx");
    assert_eq!(
        code(
            c.get_node(pb::GetNodeRequest {
                doc_id: "e".into(),
                node_id: "t1".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            c.insert_node(pb::InsertNodeRequest {
                doc_id: "d".into(),
                node: Some(leaf("t2", "")),
                transaction_id: t.transaction_id.clone(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    let com = c
        .commit_transaction(pb::CommitTransactionRequest {
            transaction_id: t.transaction_id.clone(),
            message: "tx".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(com.version.unwrap().version, 2);
    assert_eq!(
        code(
            c.commit_transaction(pb::CommitTransactionRequest {
                transaction_id: t.transaction_id.clone(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );
    let t2 = c
        .begin_transaction(pb::BeginTransactionRequest {
            doc_id: "e".into(),
            timeout_ms: Some(1000),
        })
        .await
        .unwrap()
        .into_inner();
    c.delete_node(pb::DeleteNodeRequest {
        doc_id: "e".into(),
        node_id: "t1".into(),
        transaction_id: t2.transaction_id.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.delete_node(pb::DeleteNodeRequest {
        doc_id: "e".into(),
        node_id: "t1".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        code(
            c.commit_transaction(pb::CommitTransactionRequest {
                transaction_id: t2.transaction_id,
                ..Default::default()
            })
            .await
        ),
        Code::Aborted
    );
    let t3 = c
        .begin_transaction(pb::BeginTransactionRequest {
            doc_id: "e".into(),
            timeout_ms: None,
        })
        .await
        .unwrap()
        .into_inner();
    c.rollback_transaction(pb::RollbackTransactionRequest {
        transaction_id: t3.transaction_id.clone(),
    })
    .await
    .unwrap();
    assert_eq!(
        code(
            c.rollback_transaction(pb::RollbackTransactionRequest {
                transaction_id: t3.transaction_id
            })
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            c.begin_transaction(pb::BeginTransactionRequest {
                doc_id: "e".into(),
                timeout_ms: Some(300_001)
            })
            .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.commit_transaction(pb::CommitTransactionRequest {
                transaction_id: "nope".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );

    // operations
    let h = c.health(pb::HealthRequest {}).await.unwrap().into_inner();
    assert_eq!(h.status, pb::HealthStatus::Serving as i32);
    assert_eq!(h.shards.len(), 2);
    let s = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(s.documents, 2);
    assert_eq!(s.shards.iter().map(|x| x.documents).sum::<u64>(), 2);
    assert!(s.cache_hits >= 1 && s.cache_hit_rate > 0.0);
    assert_eq!(
        s.shards.iter().map(|x| x.cache_hits).sum::<u64>(),
        s.cache_hits
    );
    assert_eq!(
        s.shards.iter().map(|x| x.cache_misses).sum::<u64>(),
        s.cache_misses
    );
}
