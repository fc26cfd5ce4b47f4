//! Who changed what, against the real server with an auth file of two token principals: every
//! version records the principal that committed it, and ListVersions, GetVersionAsOf,
//! DiffVersions, Watch, the write responses and CommitTransaction show it; a transaction records
//! the principal that commits it, not the one that began it; an import records its caller; and a
//! log replay after kill -9 gives the same names. Without authentication the name is
//! "anonymous".

mod common;

use common::{leaf, small_tree, with_token, Client, ClientSecurity, Server};
use std::path::Path;
use std::time::Duration;
use tonic::Streaming;
use treestore::pb;
use treestore::pb::watch_event::Event;
use treestore::pb::watch_request::Start;
use treestore::security::token::{generate, TokenHash};

/// Guards against a hang only (a stream that stops delivering): never reached when it works.
const PATIENCE: Duration = Duration::from_secs(60);

struct Principal {
    name: &'static str,
    token: String,
}

impl Principal {
    fn new(name: &'static str) -> Principal {
        Principal {
            name,
            token: generate().expect("token"),
        }
    }

    fn req<T>(&self, msg: T) -> tonic::Request<T> {
        with_token(msg, Some(&self.token))
    }
}

/// An auth file where each of `principals` may read and write.
fn auth_file(dir: &Path, principals: &[&Principal]) -> String {
    let text: String = principals
        .iter()
        .map(|p| {
            format!(
                "[[principal]]\nname = {:?}\nscopes = [\"read\", \"write\"]\ntoken_sha256 = [\"{}\"]\n\n",
                p.name,
                TokenHash::of(&p.token).to_hex()
            )
        })
        .collect();
    let path = dir.join("auth.toml");
    std::fs::write(&path, text).expect("write the auth file");
    path.display().to_string()
}

/// A plaintext server with authentication on `dir`'s data directory (restarts reuse it); its
/// own health checks use `checker`'s token.
async fn start(dir: &Path, auth: &str, checker: &Principal) -> Server {
    Server::start_secure(
        &dir.join("data"),
        dir,
        &["--auth-file", auth],
        None,
        common::serving,
        ClientSecurity {
            tls: None,
            token: Some(checker.token.clone()),
        },
    )
    .await
}

async fn versions(c: &mut Client, p: &Principal, doc: &str) -> Vec<pb::Version> {
    c.list_versions(p.req(pb::ListVersionsRequest {
        doc_id: doc.into(),
        ..Default::default()
    }))
    .await
    .expect("list versions")
    .into_inner()
    .versions
}

fn names(vs: &[pb::Version]) -> Vec<(u64, String)> {
    vs.iter()
        .map(|v| (v.version, v.committed_by.clone()))
        .collect()
}

/// (version, committed_by) of every version event of `doc` the server keeps, oldest first:
/// a watch from the document's oldest change, read until it has caught up.
async fn watched(c: &mut Client, p: &Principal, doc: &str) -> Vec<(u64, String)> {
    let req = pb::WatchRequest {
        doc_ids: vec![doc.into()],
        start: Some(Start::FromVersions(pb::FromVersions {
            versions: [(doc.to_string(), 0)].into(),
        })),
        ..Default::default()
    };
    let mut s: Streaming<pb::WatchEvent> = c
        .watch(p.req(req))
        .await
        .expect("watch starts")
        .into_inner();
    let mut out = vec![];
    loop {
        let e = tokio::time::timeout(PATIENCE, s.message())
            .await
            .expect("an event before the patience ran out")
            .expect("the stream is healthy")
            .expect("the stream is open");
        match e.event {
            Some(Event::Version(v)) => {
                let v = v.version.expect("a version");
                out.push((v.version, v.committed_by));
            }
            Some(Event::CaughtUp(_)) => return out,
            other => panic!("unexpected event {other:?}"),
        }
    }
}

async fn diff_names(c: &mut Client, p: &Principal, doc: &str, from: u64, to: u64) -> Vec<String> {
    c.diff_versions(p.req(pb::DiffVersionsRequest {
        doc_id: doc.into(),
        from_version: from,
        to_version: to,
    }))
    .await
    .expect("diff")
    .into_inner()
    .committed_by
}

fn by(v: &Option<pb::Version>) -> (u64, String) {
    let v = v.as_ref().expect("a version");
    (v.version, v.committed_by.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_names_its_committer_and_a_replay_keeps_the_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (alice, bob) = (Principal::new("alice"), Principal::new("bob"));
    let auth = auth_file(dir.path(), &[&alice, &bob]);
    let mut server = start(dir.path(), &auth, &alice).await;
    let mut c = server.client().await;

    // v1 alice (put), v2 bob (insert), v3 alice (update): each write answers with its name.
    let put = c
        .put_document(alice.req(pb::PutDocumentRequest {
            doc_id: "d".into(),
            name: "policy".into(),
            roots: small_tree(),
            ..Default::default()
        }))
        .await
        .expect("alice puts")
        .into_inner();
    assert_eq!(by(&put.version), (1, "alice".into()));
    let insert = c
        .insert_node(bob.req(pb::InsertNodeRequest {
            doc_id: "d".into(),
            parent_id: "a".into(),
            node: Some(leaf("a3", "Alpha three")),
            ..Default::default()
        }))
        .await
        .expect("bob inserts")
        .into_inner();
    assert_eq!(by(&insert.version), (2, "bob".into()));
    let update = c
        .update_node(alice.req(pb::UpdateNodeRequest {
            doc_id: "d".into(),
            node_id: "b".into(),
            node: Some(leaf("b", "Beta, revised")),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
            ..Default::default()
        }))
        .await
        .expect("alice updates")
        .into_inner();
    assert_eq!(by(&update.version), (3, "alice".into()));

    // A transaction alice begins and writes in, bob commits: the version is bob's.
    let txn = c
        .begin_transaction(alice.req(pb::BeginTransactionRequest {
            doc_id: "d".into(),
            ..Default::default()
        }))
        .await
        .expect("alice begins")
        .into_inner()
        .transaction_id;
    let moved = c
        .move_node(alice.req(pb::MoveNodeRequest {
            doc_id: "d".into(),
            node_id: "a3".into(),
            new_parent_id: String::new(),
            transaction_id: txn.clone(),
            ..Default::default()
        }))
        .await
        .expect("alice moves inside the transaction")
        .into_inner();
    assert_eq!(
        by(&moved.version),
        (0, String::new()),
        "nothing committed yet"
    );
    let committed = c
        .commit_transaction(bob.req(pb::CommitTransactionRequest {
            transaction_id: txn,
            ..Default::default()
        }))
        .await
        .expect("bob commits alice's transaction")
        .into_inner();
    assert_eq!(by(&committed.version), (4, "bob".into()));

    // An import (PutDocument with commit_time) records its caller; v5 bob, then v6 alice.
    let import_time = committed.version.as_ref().expect("a version").commit_time + 1;
    let import = c
        .put_document(bob.req(pb::PutDocumentRequest {
            doc_id: "d".into(),
            name: "policy, imported".into(),
            roots: small_tree(),
            overwrite: true,
            commit_time: Some(import_time),
            ..Default::default()
        }))
        .await
        .expect("bob imports")
        .into_inner();
    assert_eq!(by(&import.version), (5, "bob".into()));
    assert_eq!(
        import.version.as_ref().map(|v| v.commit_time),
        Some(import_time)
    );
    let deleted = c
        .delete_node(alice.req(pb::DeleteNodeRequest {
            doc_id: "d".into(),
            node_id: "a2".into(),
            ..Default::default()
        }))
        .await
        .expect("alice deletes a node")
        .into_inner();
    assert_eq!(by(&deleted.version), (6, "alice".into()));

    let want: Vec<(u64, String)> = [
        (1, "alice"),
        (2, "bob"),
        (3, "alice"),
        (4, "bob"),
        (5, "bob"),
        (6, "alice"),
    ]
    .iter()
    .map(|(v, n)| (*v, n.to_string()))
    .collect();

    // Every read of versions tells the same story, whoever reads.
    let listed = versions(&mut c, &bob, "d").await;
    assert_eq!(names(&listed), want);
    assert_eq!(names(&versions(&mut c, &alice, "d").await), want);
    let v2_time = listed[1].commit_time;
    let as_of = c
        .get_version_as_of(alice.req(pb::GetVersionAsOfRequest {
            doc_id: "d".into(),
            as_of: Some(pb::AsOf {
                time: v2_time,
                axis: pb::TimeAxis::Commit as i32,
            }),
        }))
        .await
        .expect("version as of")
        .into_inner();
    assert_eq!(by(&as_of.version), (2, "bob".into()));
    assert_eq!(diff_names(&mut c, &alice, "d", 1, 2).await, ["bob"]);
    assert_eq!(
        diff_names(&mut c, &alice, "d", 2, 4).await,
        ["alice", "bob"]
    );
    assert_eq!(
        diff_names(&mut c, &alice, "d", 4, 3).await,
        ["bob"],
        "reversed"
    );
    assert!(diff_names(&mut c, &alice, "d", 3, 3).await.is_empty());
    assert_eq!(watched(&mut c, &alice, "d").await, want);

    // kill -9: the store loses what it had not flushed; the log replay writes the same names.
    server.kill9();
    let server = start(dir.path(), &auth, &alice).await;
    let mut c = server.client().await;
    let replayed = versions(&mut c, &alice, "d").await;
    assert_eq!(replayed, listed, "every version as before, names included");
    assert_eq!(diff_names(&mut c, &bob, "d", 1, 6).await, ["alice", "bob"]);
    assert_eq!(watched(&mut c, &bob, "d").await, want);

    // Writes after the restart record their committer as before.
    let after = c
        .insert_node(bob.req(pb::InsertNodeRequest {
            doc_id: "d".into(),
            node: Some(leaf("c", "Gamma")),
            ..Default::default()
        }))
        .await
        .expect("bob inserts after the restart")
        .into_inner();
    assert_eq!(by(&after.version), (7, "bob".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_authentication_the_committer_is_anonymous() {
    let server = Server::start(&[]).await;
    let mut c = server.client().await;
    let put = common::put_small(&mut c, "d").await;
    assert_eq!(by(&put.version), (1, "anonymous".into()));
    let listed = c
        .list_versions(pb::ListVersionsRequest {
            doc_id: "d".into(),
            ..Default::default()
        })
        .await
        .expect("list versions")
        .into_inner()
        .versions;
    assert_eq!(names(&listed), [(1, "anonymous".to_string())]);
}
