//! Every RPC of treestore.v1.TreeStore through a tonic client against the real server, with the
//! error cases of each family.

mod common;
use common::*;
use tonic::Code;
use treestore::pb;
use treestore::pb::read_at::At;

fn at_version(v: u64) -> Option<pb::ReadAt> {
    Some(pb::ReadAt {
        at: Some(At::Version(v)),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_and_versions() {
    let srv = Server::start(&[]).await;
    let mut c = srv.client().await;
    let r = put_small(&mut c, "d").await;
    let v = r.version.unwrap();
    let d = r.document.unwrap();
    assert_eq!((v.version, d.version, d.node_count), (1, 1, 4));
    assert_eq!(
        code(
            c.put_document(pb::PutDocumentRequest {
                doc_id: "d".into(),
                ..Default::default()
            })
            .await
        ),
        Code::AlreadyExists
    );
    assert_eq!(
        code(
            c.put_document(pb::PutDocumentRequest {
                doc_id: "bad\nid".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    let dup = pb::PutDocumentRequest {
        doc_id: "dup".into(),
        roots: vec![leaf("x", ""), leaf("x", "")],
        ..Default::default()
    };
    assert_eq!(code(c.put_document(dup).await), Code::InvalidArgument);
    let mut bad_json = leaf("x", "");
    bad_json.extra_json = "[1]".into();
    let e = c
        .put_document(pb::PutDocumentRequest {
            doc_id: "j".into(),
            roots: vec![bad_json],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("extra_json"), "{}", e.message());

    // overwrite, generated id
    let r = c
        .put_document(pb::PutDocumentRequest {
            doc_id: "d".into(),
            roots: vec![leaf("z", "Z")],
            overwrite: true,
            message: "v2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.version.unwrap().version, 2);
    let gen = c
        .put_document(pb::PutDocumentRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(gen.document.unwrap().doc_id.len(), 32);

    // GetDocument with tree, at a version
    let g = c
        .get_document(pb::GetDocumentRequest {
            doc_id: "d".into(),
            read_at: at_version(1),
            include_tree: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g.document.unwrap().version, 1);
    assert_eq!(
        g.roots
            .iter()
            .map(|n| n.node_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(g.roots[0].children.len(), 2);
    assert_eq!(
        code(
            c.get_document(pb::GetDocumentRequest {
                doc_id: "nope".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            c.get_document(pb::GetDocumentRequest {
                doc_id: "d".into(),
                read_at: at_version(9),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );

    // ListDocuments: prefix, paging, bad token
    for i in 0..3 {
        put_small(&mut c, &format!("l{i}")).await;
    }
    let p = c
        .list_documents(pb::ListDocumentsRequest {
            id_prefix: "l".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.documents.len(), 2);
    let p2 = c
        .list_documents(pb::ListDocumentsRequest {
            id_prefix: "l".into(),
            page_size: 2,
            page_token: p.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        p2.documents
            .iter()
            .map(|d| d.doc_id.as_str())
            .collect::<Vec<_>>(),
        ["l2"]
    );
    assert_eq!(
        code(
            c.list_documents(pb::ListDocumentsRequest {
                page_token: "garbage!".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );

    // ListVersions
    let vs = c
        .list_versions(pb::ListVersionsRequest {
            doc_id: "d".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(vs.versions[0].version, 1);
    assert!(!vs.next_page_token.is_empty());
    let vs = c
        .list_versions(pb::ListVersionsRequest {
            doc_id: "d".into(),
            page_size: 1,
            page_token: vs.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (vs.versions[0].version, vs.versions[0].message.as_str()),
        (2, "v2")
    );
    assert_eq!(
        code(
            c.list_versions(pb::ListVersionsRequest {
                doc_id: "nope".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );

    // DeleteDocument
    assert_eq!(
        code(
            c.delete_document(pb::DeleteDocumentRequest {
                doc_id: "d".into(),
                expected_version: Some(1)
            })
            .await
        ),
        Code::FailedPrecondition
    );
    let del = c
        .delete_document(pb::DeleteDocumentRequest {
            doc_id: "d".into(),
            expected_version: Some(2),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((del.nodes_deleted, del.versions_deleted), (1, 2));
    assert_eq!(
        code(
            c.delete_document(pb::DeleteDocumentRequest {
                doc_id: "d".into(),
                expected_version: None
            })
            .await
        ),
        Code::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_reads_and_writes() {
    let srv = Server::start(&[]).await;
    let mut c = srv.client().await;
    put_small(&mut c, "d").await;
    let n = c
        .get_node(pb::GetNodeRequest {
            doc_id: "d".into(),
            node_id: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (n.version, n.node.as_ref().unwrap().text.as_str()),
        (1, "alpha text")
    );
    assert!(n.node.unwrap().has_children);
    assert_eq!(
        code(
            c.get_node(pb::GetNodeRequest {
                doc_id: "d".into(),
                node_id: "zz".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            c.get_node(pb::GetNodeRequest {
                doc_id: "d".into(),
                node_id: "a".into(),
                read_at: at_version(1),
                transaction_id: "t".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.get_node(pb::GetNodeRequest {
                doc_id: "".into(),
                node_id: "a".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );

    let s = c
        .get_subtree(pb::GetSubtreeRequest {
            doc_id: "d".into(),
            node_id: "a".into(),
            max_depth: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(s.roots[0].children.is_empty() && s.roots[0].has_children);
    let whole = c
        .get_subtree(pb::GetSubtreeRequest {
            doc_id: "d".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(whole.roots.len(), 2);
    assert_eq!(
        code(
            c.get_subtree(pb::GetSubtreeRequest {
                doc_id: "d".into(),
                node_id: "zz".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );

    let ch = c
        .get_children(pb::GetChildrenRequest {
            doc_id: "d".into(),
            node_id: "a".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ch.children[0].node_id, "a1");
    let ch = c
        .get_children(pb::GetChildrenRequest {
            doc_id: "d".into(),
            node_id: "a".into(),
            page_size: 1,
            page_token: ch.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (ch.children[0].node_id.as_str(), ch.next_page_token.as_str()),
        ("a2", "")
    );
    assert_eq!(
        code(
            c.get_children(pb::GetChildrenRequest {
                doc_id: "d".into(),
                page_token: "zz".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );

    let an = c
        .get_ancestors(pb::GetAncestorsRequest {
            doc_id: "d".into(),
            node_id: "a1".into(),
            include_self: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        an.ancestors
            .iter()
            .map(|n| n.node_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "a1"]
    );
    assert_eq!(
        code(
            c.get_ancestors(pb::GetAncestorsRequest {
                doc_id: "d".into(),
                node_id: "zz".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );

    // writes
    let ins = c
        .insert_node(pb::InsertNodeRequest {
            doc_id: "d".into(),
            parent_id: "a".into(),
            position: Some(0),
            node: Some(leaf("a0", "zero")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            ins.node.unwrap().position,
            ins.nodes_inserted,
            ins.version.unwrap().version
        ),
        (0, 1, 2)
    );
    assert_eq!(
        code(
            c.insert_node(pb::InsertNodeRequest {
                doc_id: "d".into(),
                node: Some(leaf("a0", "")),
                ..Default::default()
            })
            .await
        ),
        Code::AlreadyExists
    );
    assert_eq!(
        code(
            c.insert_node(pb::InsertNodeRequest {
                doc_id: "d".into(),
                parent_id: "b".into(),
                position: Some(7),
                node: Some(leaf("q", "")),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.insert_node(pb::InsertNodeRequest {
                doc_id: "d".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );

    let mut mask = prost_types::FieldMask::default();
    mask.paths.push("title".into());
    let up = c
        .update_node(pb::UpdateNodeRequest {
            doc_id: "d".into(),
            node_id: "b".into(),
            node: Some(leaf("", "Beta!")),
            update_mask: Some(mask.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(up.node.unwrap().title, "Beta!");
    assert_eq!(
        code(
            c.update_node(pb::UpdateNodeRequest {
                doc_id: "d".into(),
                node_id: "b".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    let bad_mask = prost_types::FieldMask {
        paths: vec!["node_id".into()],
    };
    assert_eq!(
        code(
            c.update_node(pb::UpdateNodeRequest {
                doc_id: "d".into(),
                node_id: "b".into(),
                update_mask: Some(bad_mask),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.update_node(pb::UpdateNodeRequest {
                doc_id: "d".into(),
                node_id: "zz".into(),
                update_mask: Some(mask),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );

    let mv = c
        .move_node(pb::MoveNodeRequest {
            doc_id: "d".into(),
            node_id: "b".into(),
            new_parent_id: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mv.node.unwrap().parent_id, "a");
    assert_eq!(
        code(
            c.move_node(pb::MoveNodeRequest {
                doc_id: "d".into(),
                node_id: "a".into(),
                new_parent_id: "a1".into(),
                ..Default::default()
            })
            .await
        ),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(
            c.move_node(pb::MoveNodeRequest {
                doc_id: "d".into(),
                node_id: "a".into(),
                new_parent_id: "zz".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );

    let del = c
        .delete_node(pb::DeleteNodeRequest {
            doc_id: "d".into(),
            node_id: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(del.nodes_deleted, 5);
    assert_eq!(
        code(
            c.delete_node(pb::DeleteNodeRequest {
                doc_id: "d".into(),
                node_id: "a".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );
}

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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_health_service_and_metrics() {
    let srv = Server::start(&[]).await;
    let mut c = srv.client().await;
    c.health(pb::HealthRequest {}).await.unwrap();

    // grpc.health.v1
    let ch = tonic::transport::Channel::from_shared(srv.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut hc = tonic_health::pb::health_client::HealthClient::new(ch);
    // It follows the shard states (polled every 200 ms): SERVING once every shard serves.
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    for service in ["", "treestore.v1.TreeStore"] {
        let mut status = -1;
        for _ in 0..100 {
            let req = tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            };
            status = hc.check(req).await.unwrap().into_inner().status;
            if status == serving {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(status, serving, "grpc.health.v1 for {service:?}");
    }

    // /metrics counts the requests by method and code
    let body = http_get(&srv.metrics_addr, "/metrics").await;
    assert!(
        body.contains(r#"treestore_requests_total{code="OK",method="Health"}"#),
        "{body}"
    );
    assert!(body.contains("treestore_shard_state"), "{body}");
}

async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}
