//! Tenant isolation against the real server: principals confined to namespaces try every RPC
//! on another tenant's documents, by naming its namespace (refused) and by guessing its ids,
//! transaction ids, tool-cache keys and links from their own (nothing seen, nothing changed).

mod common;

use common::{ClientSecurity, Server};
use std::collections::HashMap;
use tonic::transport::Channel;
use tonic::Code;
use treestore::pb;
use treestore::pb::tree_store_client::TreeStoreClient;
use treestore::security::scope::Rpc;
use treestore::security::token::{generate, TokenHash};

type Client = TreeStoreClient<Channel>;

/// A principal of the test's auth file: scopes, namespaces, a fresh token.
struct Who {
    token: String,
}

struct Tenants {
    server: Server,
    _dir: tempfile::TempDir,
    who: HashMap<&'static str, Who>,
}

const PRINCIPALS: &[(&str, &str, &str)] = &[
    // name, scopes, namespaces line
    ("acme", r#"["read", "write"]"#, r#"namespaces = ["acme"]"#),
    ("beta", r#"["read", "write"]"#, r#"namespaces = ["beta"]"#),
    (
        "both",
        r#"["read", "write"]"#,
        r#"namespaces = ["acme", "beta"]"#,
    ),
    ("plain", r#"["read", "write"]"#, ""),
    ("ops", r#"["admin"]"#, r#"namespaces = ["*"]"#),
];

async fn start() -> Tenants {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut who = HashMap::new();
    let mut file = String::new();
    for (name, scopes, namespaces) in PRINCIPALS {
        let token = generate().expect("token");
        file.push_str(&format!(
            "[[principal]]\nname = {name:?}\nscopes = {scopes}\ntoken_sha256 = [\"{}\"]\n{namespaces}\n",
            TokenHash::of(&token).to_hex()
        ));
        who.insert(*name, Who { token });
    }
    let auth = dir.path().join("auth.toml");
    std::fs::write(&auth, file).expect("auth file");
    let auth = auth.display().to_string();
    let security = ClientSecurity {
        tls: None,
        token: Some(who["ops"].token.clone()),
    };
    let server = Server::start_secure(
        &dir.path().join("data"),
        dir.path(),
        &["--auth-file", &auth],
        None,
        common::serving,
        security,
    )
    .await;
    Tenants {
        server,
        _dir: dir,
        who,
    }
}

impl Tenants {
    /// A request as principal `who` in namespace `ns` (None: no namespace header).
    fn req<T>(&self, who: &str, ns: Option<&str>, msg: T) -> tonic::Request<T> {
        let mut r = common::with_token(msg, Some(&self.who[who].token));
        if let Some(ns) = ns {
            r.metadata_mut()
                .insert("treestore-namespace", ns.parse().expect("ASCII"));
        }
        r
    }
}

fn code<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
    r.map(|_| Code::Ok).unwrap_or_else(|s| s.code())
}

fn leaf(id: &str, title: &str) -> pb::NodeInput {
    pb::NodeInput {
        node_id: id.into(),
        title: title.into(),
        ..Default::default()
    }
}

fn put(doc: &str, title: &str) -> pb::PutDocumentRequest {
    pb::PutDocumentRequest {
        doc_id: doc.into(),
        name: title.into(),
        roots: vec![leaf("n1", title), leaf("n2", "second")],
        ..Default::default()
    }
}

/// Every RPC, with namespace header `ns`, as `who`: the status code (the security layer
/// decides before the body is read, so empty requests do).
async fn every_rpc(t: &Tenants, c: &mut Client, who: &str, ns: &str) -> Vec<(Rpc, Code)> {
    let mut out = vec![];
    for &rpc in Rpc::ALL {
        macro_rules! call {
            ($m:ident) => {
                code(c.$m(t.req(who, Some(ns), Default::default())).await)
            };
        }
        let got = match rpc {
            Rpc::PutDocument => call!(put_document),
            Rpc::GetDocument => call!(get_document),
            Rpc::ListDocuments => call!(list_documents),
            Rpc::DeleteDocument => call!(delete_document),
            Rpc::ListVersions => call!(list_versions),
            Rpc::GetNode => call!(get_node),
            Rpc::GetSubtree => call!(get_subtree),
            Rpc::GetChildren => call!(get_children),
            Rpc::GetAncestors => call!(get_ancestors),
            Rpc::InsertNode => call!(insert_node),
            Rpc::UpdateNode => call!(update_node),
            Rpc::MoveNode => call!(move_node),
            Rpc::DeleteNode => call!(delete_node),
            Rpc::SearchNodes => call!(search_nodes),
            Rpc::GetVersionAsOf => call!(get_version_as_of),
            Rpc::DiffVersions => call!(diff_versions),
            Rpc::AddCrossReference => call!(add_cross_reference),
            Rpc::RemoveCrossReference => call!(remove_cross_reference),
            Rpc::GetCrossReferences => call!(get_cross_references),
            Rpc::StoreToolResult => call!(store_tool_result),
            Rpc::GetToolResult => call!(get_tool_result),
            Rpc::BeginTransaction => call!(begin_transaction),
            Rpc::CommitTransaction => call!(commit_transaction),
            Rpc::RollbackTransaction => call!(rollback_transaction),
            Rpc::Watch => call!(watch),
            Rpc::Health => call!(health),
            Rpc::Stats => call!(stats),
        };
        out.push((rpc, got));
    }
    out
}

#[tokio::test]
async fn naming_another_namespace_is_refused_on_every_rpc() {
    let t = start().await;
    let mut c = t.server.client().await;
    for (who, ns) in [
        ("beta", "acme"),
        ("acme", "beta"),
        ("plain", "acme"),
        ("acme", "default"),
    ] {
        for (rpc, got) in every_rpc(&t, &mut c, who, ns).await {
            assert_eq!(got, Code::PermissionDenied, "{who} in {ns}: {rpc:?}");
        }
    }
    // A malformed namespace is the caller's mistake, not a refusal.
    let bad = t.req("acme", Some("Acme!"), pb::HealthRequest {});
    assert_eq!(code(c.health(bad).await), Code::InvalidArgument);
    // The refusals are logged with the principal and the namespace, never the token.
    let log = t.server.log_text();
    assert!(log.contains("permission denied: namespace"), "{log}");
    for w in t.who.values() {
        assert!(!log.contains(&w.token), "a token reached the log");
    }
    // Stats spans every tenant: admin only.
    for (who, want) in [("plain", Code::PermissionDenied), ("ops", Code::Ok)] {
        let got = code(c.stats(t.req(who, None, pb::StatsRequest {})).await);
        assert_eq!(got, want, "Stats as {who}");
    }
}

#[tokio::test]
async fn guessed_ids_of_another_tenant_see_and_change_nothing() {
    let t = start().await;
    let mut c = t.server.client().await;
    let (a, b) = (Some("acme"), Some("beta"));
    // acme: "secret" and "shared"; beta: its own "shared"; default: its own "shared".
    for (who, ns, doc, title) in [
        ("acme", a, "secret", "acme secret plan"),
        ("acme", a, "shared", "acme shared"),
        ("beta", b, "shared", "beta shared"),
        ("plain", None, "shared", "default shared"),
    ] {
        c.put_document(t.req(who, ns, put(doc, title)))
            .await
            .expect("put");
    }
    // Same id, three documents.
    for (who, ns, title) in [
        ("acme", a, "acme shared"),
        ("beta", b, "beta shared"),
        ("plain", None, "default shared"),
    ] {
        let d = c
            .get_document(t.req(who, ns, get_doc("shared")))
            .await
            .expect("get")
            .into_inner();
        assert_eq!(d.document.expect("document").name, title);
    }
    let nf = |r: Code, what: &str| assert_eq!(r, Code::NotFound, "{what}");
    // Reads of acme's document from beta: not found.
    nf(
        code(c.get_document(t.req("beta", b, get_doc("secret"))).await),
        "GetDocument",
    );
    nf(
        code(c.get_node(t.req("beta", b, node("secret"))).await),
        "GetNode",
    );
    let subtree = pb::GetSubtreeRequest {
        doc_id: "secret".into(),
        ..Default::default()
    };
    nf(
        code(c.get_subtree(t.req("beta", b, subtree)).await),
        "GetSubtree",
    );
    let children = pb::GetChildrenRequest {
        doc_id: "secret".into(),
        ..Default::default()
    };
    nf(
        code(c.get_children(t.req("beta", b, children)).await),
        "GetChildren",
    );
    let ancestors = pb::GetAncestorsRequest {
        doc_id: "secret".into(),
        node_id: "n1".into(),
        ..Default::default()
    };
    nf(
        code(c.get_ancestors(t.req("beta", b, ancestors)).await),
        "GetAncestors",
    );
    let versions = pb::ListVersionsRequest {
        doc_id: "secret".into(),
        ..Default::default()
    };
    nf(
        code(c.list_versions(t.req("beta", b, versions)).await),
        "ListVersions",
    );
    let as_of = pb::GetVersionAsOfRequest {
        doc_id: "secret".into(),
        as_of: Some(pb::AsOf {
            time: i64::MAX / 2,
            axis: 0,
        }),
    };
    nf(
        code(c.get_version_as_of(t.req("beta", b, as_of)).await),
        "GetVersionAsOf",
    );
    let diff = pb::DiffVersionsRequest {
        doc_id: "secret".into(),
        from_version: 1,
        to_version: 1,
    };
    nf(
        code(c.diff_versions(t.req("beta", b, diff)).await),
        "DiffVersions",
    );
    let search = pb::SearchNodesRequest {
        query: "secret".into(),
        doc_id: "secret".into(),
        ..Default::default()
    };
    nf(
        code(c.search_nodes(t.req("beta", b, search)).await),
        "SearchNodes in a doc",
    );
    let xrefs = pb::GetCrossReferencesRequest {
        doc_id: "secret".into(),
        ..Default::default()
    };
    nf(
        code(c.get_cross_references(t.req("beta", b, xrefs)).await),
        "GetCrossReferences",
    );
    // Writes to it from beta: not found, and acme's document stays at version 1.
    let insert = pb::InsertNodeRequest {
        doc_id: "secret".into(),
        node: Some(leaf("x", "planted")),
        ..Default::default()
    };
    nf(
        code(c.insert_node(t.req("beta", b, insert)).await),
        "InsertNode",
    );
    let update = pb::UpdateNodeRequest {
        doc_id: "secret".into(),
        node_id: "n1".into(),
        node: Some(leaf("n1", "defaced")),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
        ..Default::default()
    };
    nf(
        code(c.update_node(t.req("beta", b, update)).await),
        "UpdateNode",
    );
    let mv = pb::MoveNodeRequest {
        doc_id: "secret".into(),
        node_id: "n2".into(),
        new_parent_id: "n1".into(),
        ..Default::default()
    };
    nf(code(c.move_node(t.req("beta", b, mv)).await), "MoveNode");
    let del_node = pb::DeleteNodeRequest {
        doc_id: "secret".into(),
        node_id: "n1".into(),
        ..Default::default()
    };
    nf(
        code(c.delete_node(t.req("beta", b, del_node)).await),
        "DeleteNode",
    );
    let del = pb::DeleteDocumentRequest {
        doc_id: "secret".into(),
        ..Default::default()
    };
    nf(
        code(c.delete_document(t.req("beta", b, del)).await),
        "DeleteDocument",
    );
    let secret = c
        .get_document(t.req("acme", a, get_doc("secret")))
        .await
        .expect("acme reads its own")
        .into_inner()
        .document
        .expect("document");
    assert_eq!(
        (secret.version, secret.name.as_str()),
        (1, "acme secret plan")
    );

    // Lists and searches over every document: each tenant its own.
    let listed = |who: &'static str, ns: Option<&'static str>| {
        let mut c = c.clone();
        let req = t.req(who, ns, pb::ListDocumentsRequest::default());
        async move {
            let docs = c.list_documents(req).await.expect("list").into_inner();
            docs.documents
                .into_iter()
                .map(|d| (d.doc_id, d.name))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed("acme", a).await,
        [
            ("secret".into(), "acme secret plan".into()),
            ("shared".into(), "acme shared".into())
        ]
    );
    assert_eq!(
        listed("beta", b).await,
        [("shared".into(), "beta shared".into())]
    );
    assert_eq!(
        listed("plain", None).await,
        [("shared".into(), "default shared".into())]
    );
    let everywhere = pb::SearchNodesRequest {
        query: "secret plan".into(),
        ..Default::default()
    };
    let hits = c
        .search_nodes(t.req("beta", b, everywhere.clone()))
        .await
        .expect("search")
        .into_inner();
    assert!(hits.hits.is_empty(), "{:?}", hits.hits);
    let hits = c
        .search_nodes(t.req("acme", a, everywhere))
        .await
        .expect("search")
        .into_inner();
    assert_eq!(hits.hits.len(), 1);
    assert_eq!(hits.hits[0].doc_id, "secret");

    // Transactions: acme's id, guessed by beta, is unknown to beta and stays acme's.
    let txn = c
        .begin_transaction(t.req(
            "acme",
            a,
            pb::BeginTransactionRequest {
                doc_id: "secret".into(),
                timeout_ms: None,
            },
        ))
        .await
        .expect("begin")
        .into_inner()
        .transaction_id;
    let commit = pb::CommitTransactionRequest {
        transaction_id: txn.clone(),
        ..Default::default()
    };
    nf(
        code(c.commit_transaction(t.req("beta", b, commit.clone())).await),
        "Commit",
    );
    let rollback = pb::RollbackTransactionRequest {
        transaction_id: txn.clone(),
    };
    nf(
        code(c.rollback_transaction(t.req("beta", b, rollback)).await),
        "Rollback",
    );
    for doc in ["secret", "shared"] {
        let planted = pb::InsertNodeRequest {
            doc_id: doc.into(),
            node: Some(leaf("x", "planted")),
            transaction_id: txn.clone(),
            ..Default::default()
        };
        nf(
            code(c.insert_node(t.req("beta", b, planted)).await),
            "write in acme's txn",
        );
    }
    let own = pb::InsertNodeRequest {
        doc_id: "secret".into(),
        node: Some(leaf("x", "acme's own")),
        transaction_id: txn.clone(),
        ..Default::default()
    };
    c.insert_node(t.req("acme", a, own))
        .await
        .expect("own write");
    let v = c
        .commit_transaction(t.req("acme", a, commit))
        .await
        .expect("acme commits its transaction")
        .into_inner()
        .version
        .expect("version");
    assert_eq!(v.version, 2);

    // The tool-result cache: each namespace its own entries under the same key.
    let store = |result: &str, doc: &str| pb::StoreToolResultRequest {
        tool_name: "summarize".into(),
        args_json: r#"{"doc":"shared"}"#.into(),
        result_json: format!("{result:?}"),
        depends_on: vec![pb::DocRef {
            doc_id: doc.into(),
            version: 0,
        }],
        ..Default::default()
    };
    let lookup = || pb::GetToolResultRequest {
        tool_name: "summarize".into(),
        args_json: r#"{"doc":"shared"}"#.into(),
    };
    c.store_tool_result(t.req("acme", a, store("acme result", "shared")))
        .await
        .expect("store");
    let miss = c
        .get_tool_result(t.req("beta", b, lookup()))
        .await
        .expect("lookup")
        .into_inner();
    assert!(!miss.hit, "beta read acme's cached result: {miss:?}");
    // beta's result depending on acme's "secret" names beta's "secret": none.
    nf(
        code(
            c.store_tool_result(t.req("beta", b, store("x", "secret")))
                .await,
        ),
        "StoreToolResult depending on another tenant's document",
    );
    c.store_tool_result(t.req("beta", b, store("beta result", "shared")))
        .await
        .expect("store");
    for (who, ns, want) in [("acme", a, "acme result"), ("beta", b, "beta result")] {
        let hit = c
            .get_tool_result(t.req(who, ns, lookup()))
            .await
            .expect("lookup")
            .into_inner();
        assert_eq!(hit.result_json, format!("{want:?}"), "{who}");
        assert_eq!(hit.depends_on[0].doc_id, "shared");
    }
}

fn get_doc(doc: &str) -> pb::GetDocumentRequest {
    pb::GetDocumentRequest {
        doc_id: doc.into(),
        ..Default::default()
    }
}

fn node(doc: &str) -> pb::GetNodeRequest {
    pb::GetNodeRequest {
        doc_id: doc.into(),
        node_id: "n1".into(),
        ..Default::default()
    }
}

fn xref(from: &str, to: &str, to_ns: &str) -> pb::CrossReference {
    pb::CrossReference {
        from_doc_id: from.into(),
        from_node_id: "n1".into(),
        to_doc_id: to.into(),
        to_node_id: "n1".into(),
        kind: "cites".into(),
        to_namespace: to_ns.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn links_across_namespaces_need_both_and_show_only_to_those_who_may_see_both() {
    let t = start().await;
    let mut c = t.server.client().await;
    let (a, b) = (Some("acme"), Some("beta"));
    c.put_document(t.req("acme", a, put("memo", "acme memo")))
        .await
        .expect("put");
    c.put_document(t.req("beta", b, put("policy", "beta policy")))
        .await
        .expect("put");
    let add = |x| pb::AddCrossReferenceRequest { reference: Some(x) };
    // acme alone may not link into beta.
    let refused = c
        .add_cross_reference(t.req("acme", a, add(xref("memo", "policy", "beta"))))
        .await;
    assert_eq!(code(refused), Code::PermissionDenied);
    // Without to_namespace the target is acme's "policy": none.
    let missing = c
        .add_cross_reference(t.req("acme", a, add(xref("memo", "policy", ""))))
        .await;
    assert_eq!(code(missing), Code::NotFound);
    // A principal of both may.
    let made = c
        .add_cross_reference(t.req("both", a, add(xref("memo", "policy", "beta"))))
        .await
        .expect("link across namespaces")
        .into_inner()
        .reference
        .expect("reference");
    assert_eq!(
        (made.from_namespace.as_str(), made.to_namespace.as_str()),
        ("acme", "beta")
    );
    assert_eq!(
        (made.from_doc_id.as_str(), made.to_doc_id.as_str()),
        ("memo", "policy")
    );
    let incoming = |who| {
        let r = pb::GetCrossReferencesRequest {
            doc_id: "policy".into(),
            direction: pb::Direction::Incoming as i32,
            ..Default::default()
        };
        t.req(who, b, r)
    };
    // beta sees no link from a tenant it may not see; "both" does, with its namespace.
    let seen = c
        .get_cross_references(incoming("beta"))
        .await
        .expect("xrefs")
        .into_inner();
    assert!(seen.references.is_empty(), "{:?}", seen.references);
    let seen = c
        .get_cross_references(incoming("both"))
        .await
        .expect("xrefs")
        .into_inner();
    assert_eq!(seen.references.len(), 1);
    let r = seen.references[0].reference.clone().expect("reference");
    assert_eq!(
        (r.from_namespace.as_str(), r.from_doc_id.as_str()),
        ("acme", "memo")
    );
    // Removing it: acme alone may not name beta; "both" may.
    let remove = pb::RemoveCrossReferenceRequest {
        from_doc_id: "memo".into(),
        from_node_id: "n1".into(),
        to_doc_id: "policy".into(),
        to_node_id: "n1".into(),
        kind: "cites".into(),
        to_namespace: "beta".into(),
    };
    let refused = c
        .remove_cross_reference(t.req("acme", a, remove.clone()))
        .await;
    assert_eq!(code(refused), Code::PermissionDenied);
    c.remove_cross_reference(t.req("both", a, remove))
        .await
        .expect("remove");
}

#[tokio::test]
async fn a_watch_sees_its_namespace_only() {
    use tokio_stream::StreamExt;
    let t = start().await;
    let mut c = t.server.client().await;
    let (a, b) = (Some("acme"), Some("beta"));
    let all = pb::WatchRequest::default();
    let mut stream = c
        .watch(t.req("beta", b, all))
        .await
        .expect("watch")
        .into_inner();
    // acme writes first, then beta: beta's first version event is its own.
    for round in 0..3 {
        let (acme_doc, beta_doc) = (format!("a{round}"), format!("b{round}"));
        c.put_document(t.req("acme", a, put(&acme_doc, "acme")))
            .await
            .expect("put");
        c.put_document(t.req("beta", b, put(&beta_doc, "beta")))
            .await
            .expect("put");
        loop {
            let ev = tokio::time::timeout(std::time::Duration::from_secs(30), stream.next())
                .await
                .expect("an event in time")
                .expect("stream open")
                .expect("event");
            match ev.event {
                Some(pb::watch_event::Event::Version(v)) => {
                    assert_eq!(
                        v.doc_id, beta_doc,
                        "beta's watch delivered another document"
                    );
                    break;
                }
                Some(pb::watch_event::Event::Deleted(d)) => panic!("unexpected {d:?}"),
                _ => {}
            }
        }
    }
}
