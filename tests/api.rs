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
