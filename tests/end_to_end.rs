//! End to end: ingest every shared PageIndex fixture, read it back whole and by subtree, compare
//! with the input; restart the server (SIGTERM, exit 0) and compare again.

mod common;
use common::*;
use shards::pageindex;
use treestore::pb;

async fn verify(c: &mut Client, name: &str, json: &serde_json::Value) {
    let g = c
        .get_document(pb::GetDocumentRequest {
            doc_id: name.into(),
            include_tree: true,
            include_text: true,
            ..Default::default()
        })
        .await
        .expect("get document")
        .into_inner();
    let doc = from_pb_doc(g.document.expect("document"));
    let roots: Vec<_> = g.roots.into_iter().map(from_pb_node).collect();
    assert_eq!(
        &pageindex::export(&doc, &roots).expect("export"),
        json,
        "{name}: whole document"
    );
    let sub = c
        .get_subtree(pb::GetSubtreeRequest {
            doc_id: name.into(),
            include_text: true,
            ..Default::default()
        })
        .await
        .expect("whole subtree")
        .into_inner();
    let whole: Vec<_> = sub.roots.into_iter().map(from_pb_node).collect();
    assert_eq!(whole, roots, "{name}: GetSubtree of the whole tree");
    for (i, root) in roots.iter().enumerate() {
        let one = c
            .get_subtree(pb::GetSubtreeRequest {
                doc_id: name.into(),
                node_id: root.node_id.clone(),
                include_text: true,
                ..Default::default()
            })
            .await
            .expect("subtree")
            .into_inner();
        assert_eq!(one.roots.len(), 1);
        let got = from_pb_node(one.roots.into_iter().next().expect("root"));
        assert_eq!(&got, root, "{name}: subtree {}", root.node_id);
        assert_eq!(got.position, i as u32);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_round_trip_and_survive_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let fixtures = fixtures();
    let mut srv = Server::start_on(&data, tmp.path(), &[]).await;
    {
        let mut c = srv.client().await;
        for (name, json) in &fixtures {
            let input = pageindex::import(name, json).expect("import");
            let r = c
                .put_document(put_request(input))
                .await
                .expect("put")
                .into_inner();
            assert_eq!(r.version.unwrap().version, 1);
            verify(&mut c, name, json).await;
        }
    }
    assert_eq!(
        srv.stop(),
        0,
        "exit status after SIGTERM:\n{}",
        srv.log_text()
    );
    let log = srv.log_text();
    assert!(!log.contains("panicked"), "{log}");

    let srv2 = Server::start_on(&data, tmp.path(), &[]).await;
    let mut c = srv2.client().await;
    for (name, json) in &fixtures {
        verify(&mut c, name, json).await;
    }
    let st = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(st.documents, fixtures.len() as u64);
}
