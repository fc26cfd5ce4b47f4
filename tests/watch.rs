//! The Watch RPC against the real server: ordering and gap-freedom under concurrent writers on
//! both shards, resume after a disconnect and after kill -9, a slow consumer beside a fast one,
//! deletions and re-creations, starting after versions, contents, retention, and the errors.

mod common;

use common::{leaf, put_small, Client, Server};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tonic::{Code, Streaming};
use treestore::pb;
use treestore::pb::watch_event::Event;
use treestore::pb::watch_request::Start;

/// Guards against a hang only (a stream that stops delivering): never reached when it works.
const PATIENCE: Duration = Duration::from_secs(60);

async fn watch(c: &mut Client, req: pb::WatchRequest) -> Streaming<pb::WatchEvent> {
    c.watch(req).await.expect("watch starts").into_inner()
}

fn all_docs(start: Option<Start>) -> pb::WatchRequest {
    pb::WatchRequest {
        start,
        ..Default::default()
    }
}

async fn next(s: &mut Streaming<pb::WatchEvent>) -> pb::WatchEvent {
    tokio::time::timeout(PATIENCE, s.message())
        .await
        .expect("an event before the patience ran out")
        .expect("the stream is healthy")
        .expect("the stream is open")
}

/// The next version or deletion event (skipping CaughtUp and Lagged).
async fn next_change(s: &mut Streaming<pb::WatchEvent>) -> pb::WatchEvent {
    loop {
        let e = next(s).await;
        if matches!(e.event, Some(Event::Version(_)) | Some(Event::Deleted(_))) {
            return e;
        }
    }
}

fn version_of(e: &pb::WatchEvent) -> (String, u64) {
    match &e.event {
        Some(Event::Version(v)) => (
            v.doc_id.clone(),
            v.version.as_ref().expect("version").version,
        ),
        other => panic!("expected a version event, got {other:?}"),
    }
}

async fn insert(c: &mut Client, doc: &str, id: &str) -> u64 {
    c.insert_node(pb::InsertNodeRequest {
        doc_id: doc.into(),
        node: Some(leaf(id, id)),
        ..Default::default()
    })
    .await
    .expect("insert")
    .into_inner()
    .version
    .expect("a version")
    .version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_both_shards_arrive_in_version_order_without_gaps() {
    let server = Server::start(&[]).await;
    let mut c = server.client().await;
    let mut stream = watch(&mut c, all_docs(None)).await;
    assert!(matches!(
        next(&mut stream).await.event,
        Some(Event::CaughtUp(_))
    ));
    // Documents on both shards (2 shards; ids hash over both).
    let docs: Vec<String> = (0..6).map(|i| format!("w-{i}")).collect();
    for d in &docs {
        put_small(&mut c, d).await;
    }
    let mut writers = vec![];
    for w in 0..4 {
        let mut c = server.client().await;
        let docs = docs.clone();
        writers.push(tokio::spawn(async move {
            let mut acked: Vec<(String, u64)> = vec![];
            for i in 0..40 {
                let doc = &docs[(w + i) % docs.len()];
                let v = insert(&mut c, doc, &format!("n{w}-{i}")).await;
                acked.push((doc.clone(), v));
            }
            acked
        }));
    }
    let mut acked: Vec<(String, u64)> = docs.iter().map(|d| (d.clone(), 1)).collect();
    for w in writers {
        acked.extend(w.await.expect("writer"));
    }
    let mut expected: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (d, v) in &acked {
        expected.entry(d.clone()).or_default().push(*v);
    }
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for _ in 0..acked.len() {
        let e = next_change(&mut stream).await;
        let (doc, v) = version_of(&e);
        if let Some(Event::Version(ev)) = &e.event {
            if v > 1 {
                assert_eq!(ev.added.len(), 1, "an insert adds one node: {ev:?}");
                assert!(ev.removed.is_empty() && ev.updated.is_empty() && ev.moved.is_empty());
                assert_eq!(ev.version.as_ref().map(|x| x.nodes_changed), Some(1));
            } else {
                assert!(ev.created);
            }
        }
        seen.entry(doc).or_default().push(v);
    }
    for (doc, versions) in &seen {
        let want: Vec<u64> = (1..=versions.len() as u64).collect();
        assert_eq!(versions, &want, "{doc}: in order, from 1, without gaps");
    }
    for v in expected.values_mut() {
        v.sort();
    }
    assert_eq!(seen, expected, "every acknowledged version, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_after_a_disconnect_without_loss_or_repeats() {
    let server = Server::start(&[]).await;
    let mut c = server.client().await;
    put_small(&mut c, "r").await;
    let from_start = Start::FromVersions(pb::FromVersions {
        versions: HashMap::from([("r".to_string(), 0)]),
    });
    let req = pb::WatchRequest {
        doc_ids: vec!["r".into()],
        start: Some(from_start),
        ..Default::default()
    };
    for i in 0..5 {
        insert(&mut c, "r", &format!("r{i}")).await;
    }
    let mut s = watch(&mut c, req.clone()).await;
    let mut token = vec![];
    for want in 1..=3 {
        let e = next_change(&mut s).await;
        assert_eq!(version_of(&e), ("r".to_string(), want));
        token = e.resume_token;
    }
    drop(s); // the client goes away after version 3
    for i in 5..8 {
        insert(&mut c, "r", &format!("r{i}")).await;
    }
    let mut resumed = watch(
        &mut c,
        pb::WatchRequest {
            start: Some(Start::ResumeToken(token)),
            ..req
        },
    )
    .await;
    for want in 4..=9 {
        let e = next_change(&mut resumed).await;
        assert_eq!(
            version_of(&e),
            ("r".to_string(), want),
            "resumed just after 3"
        );
    }
    // And it follows live.
    insert(&mut c, "r", "live").await;
    assert_eq!(version_of(&next_change(&mut resumed).await).1, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_after_kill_9_with_every_acknowledged_version_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let mut server = Server::start_on(&data, tmp.path(), &[]).await;
    let mut c = server.client().await;
    let docs = ["k-a", "k-b", "k-c"];
    let mut stream = watch(&mut c, all_docs(None)).await;
    let mut last_version: HashMap<String, u64> = HashMap::new();
    for d in docs {
        last_version.insert(
            d.into(),
            put_small(&mut c, d).await.version.expect("v").version,
        );
    }
    // Read some events, keep the token of the last one read.
    let mut token = vec![];
    let mut delivered: HashMap<String, u64> = HashMap::new();
    for _ in 0..2 {
        let e = next_change(&mut stream).await;
        let (d, v) = version_of(&e);
        delivered.insert(d, v);
        token = e.resume_token;
    }
    // More writes, acknowledged, then kill -9 while writers are still going.
    let mut writers = vec![];
    for (w, d) in docs.iter().enumerate() {
        let mut c = server.client().await;
        let d = d.to_string();
        writers.push(tokio::spawn(async move {
            let mut last = 0;
            for i in 0.. {
                let r = c
                    .insert_node(pb::InsertNodeRequest {
                        doc_id: d.clone(),
                        node: Some(leaf(&format!("x{w}-{i}"), "x")),
                        ..Default::default()
                    })
                    .await;
                match r {
                    Ok(r) => last = r.into_inner().version.expect("v").version,
                    Err(_) => return (d, last),
                }
            }
            (d, last)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill9();
    for w in writers {
        let (d, last) = w.await.expect("writer");
        if last > 0 {
            last_version.insert(d, last);
        }
    }
    drop(stream);
    let server = Server::start_on(&data, tmp.path(), &[]).await;
    let mut c = server.client().await;
    let mut resumed = watch(&mut c, all_docs(Some(Start::ResumeToken(token)))).await;
    // Every version after the resume point, once and in order, up to at least each
    // document's last acknowledged version (an unacknowledged one may be there too).
    let mut next_expected: HashMap<String, u64> = docs
        .iter()
        .map(|d| (d.to_string(), delivered.get(*d).copied().unwrap_or(0) + 1))
        .collect();
    let mut caught_up = false;
    while !caught_up {
        let e = next(&mut resumed).await;
        match &e.event {
            Some(Event::Version(_)) => {
                let (d, v) = version_of(&e);
                let want = next_expected.get_mut(&d).expect("a watched doc");
                assert_eq!(v, *want, "{d}: next version after the resume point");
                *want += 1;
            }
            Some(Event::CaughtUp(_)) => caught_up = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    for d in docs {
        assert!(
            next_expected[d] > last_version[d],
            "{d}: delivered up to {} but version {} was acknowledged",
            next_expected[d] - 1,
            last_version[d]
        );
    }
    // Live after the restart.
    let v = insert(&mut c, "k-a", "after-restart").await;
    let e = next_change(&mut resumed).await;
    assert_eq!(version_of(&e), ("k-a".to_string(), v));
}

/// A document of 100 nodes with long ids whose titles carry `round`: a put with overwrite
/// updates them all, and its event lists every id.
fn wide_doc(doc: &str, round: u64) -> pb::PutDocumentRequest {
    pb::PutDocumentRequest {
        doc_id: doc.into(),
        overwrite: true,
        roots: (0..100)
            .map(|i| {
                leaf(
                    &format!("{i:03}-{}", "x".repeat(200)),
                    &format!("round {round}"),
                )
            })
            .collect(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_lags_without_holding_back_a_fast_one() {
    // Each shard keeps its newest 32 events in memory; the slow consumer falls far behind.
    let server = Server::start(&["--watch-memory-events", "32"]).await;
    let mut c = server.client().await;
    put_small(&mut c, "busy").await;
    let mut fast = watch(&mut c, all_docs(None)).await;
    let mut slow = watch(&mut c, all_docs(None)).await;
    assert!(matches!(
        next(&mut fast).await.event,
        Some(Event::CaughtUp(_))
    ));
    assert!(matches!(
        next(&mut slow).await.event,
        Some(Event::CaughtUp(_))
    ));
    // Many more versions than the window plus what a stream buffers (16 items in the server's
    // channel, HTTP/2 send and receive buffers of some 500 KiB): each lists 100 long node ids.
    const VERSIONS: u64 = 300;
    let writer = {
        let mut c = server.client().await;
        tokio::spawn(async move {
            for round in 0..VERSIONS {
                c.put_document(wide_doc("busy", round)).await.expect("put");
            }
        })
    };
    // The fast consumer gets every version while the slow one reads nothing.
    for want in 2..=VERSIONS + 1 {
        let e = next_change(&mut fast).await;
        assert_eq!(version_of(&e), ("busy".to_string(), want));
    }
    writer.await.expect("writer");
    // The slow one then gets all of them too, in order, told once that it fell behind.
    let mut lagged = 0;
    let mut want = 2;
    while want <= VERSIONS + 1 {
        let e = next(&mut slow).await;
        match &e.event {
            Some(Event::Lagged(l)) => {
                assert!(!l.changes_lost, "nothing is lost: {l:?}");
                lagged += 1;
            }
            Some(Event::Version(_)) => {
                assert_eq!(version_of(&e), ("busy".to_string(), want));
                want += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(lagged, 1, "told once that it fell out of the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_and_recreations_are_events_in_order() {
    let server = Server::start(&[]).await;
    let mut c = server.client().await;
    put_small(&mut c, "d").await; // v1
    insert(&mut c, "d", "extra").await; // v2
    c.delete_document(pb::DeleteDocumentRequest {
        doc_id: "d".into(),
        ..Default::default()
    })
    .await
    .expect("delete");
    let again = put_small(&mut c, "d").await.version.expect("v").version;
    assert_eq!(again, 3, "a re-created document continues its numbering");
    // Replayed from the feed, although the deletion removed versions 1 and 2.
    let req = pb::WatchRequest {
        doc_ids: vec!["d".into()],
        start: Some(Start::FromVersions(pb::FromVersions {
            versions: HashMap::from([("d".to_string(), 0)]),
        })),
        include_contents: true,
        ..Default::default()
    };
    let mut s = watch(&mut c, req).await;
    let e = next_change(&mut s).await;
    let Some(Event::Version(v1)) = e.event else {
        panic!("v1")
    };
    assert!(v1.created);
    assert!(
        v1.contents_unavailable,
        "version 1 is gone with the deletion"
    );
    let e = next_change(&mut s).await;
    assert_eq!(version_of(&e).1, 2);
    let e = next_change(&mut s).await;
    let Some(Event::Deleted(del)) = e.event else {
        panic!("the deletion")
    };
    assert_eq!((del.doc_id.as_str(), del.last_version), ("d", 2));
    let e = next_change(&mut s).await;
    let Some(Event::Version(v3)) = e.event else {
        panic!("v3")
    };
    assert_eq!(v3.version.as_ref().map(|v| v.version), Some(3));
    assert!(v3.created, "the re-creation");
    assert!(!v3.contents_unavailable);
    assert_eq!(
        v3.nodes.len(),
        v3.added.len(),
        "contents of the nodes added"
    );
    // Contents equal a read at that version.
    for n in &v3.nodes {
        let read = c
            .get_node(pb::GetNodeRequest {
                doc_id: "d".into(),
                node_id: n.node_id.clone(),
                read_at: Some(pb::ReadAt {
                    at: Some(pb::read_at::At::Version(3)),
                }),
                ..Default::default()
            })
            .await
            .expect("read")
            .into_inner()
            .node
            .expect("node");
        assert_eq!(&read, n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_changes_report_added_removed_updated_and_moved() {
    let server = Server::start(&[]).await;
    let mut c = server.client().await;
    put_small(&mut c, "m").await;
    let mut s = watch(
        &mut c,
        pb::WatchRequest {
            doc_ids: vec!["m".into()],
            ..Default::default()
        },
    )
    .await;
    insert(&mut c, "m", "x").await;
    c.update_node(pb::UpdateNodeRequest {
        doc_id: "m".into(),
        node_id: "x".into(),
        node: Some(leaf("x", "new title")),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
        ..Default::default()
    })
    .await
    .expect("update");
    c.move_node(pb::MoveNodeRequest {
        doc_id: "m".into(),
        node_id: "x".into(),
        position: Some(0),
        ..Default::default()
    })
    .await
    .expect("move");
    c.delete_node(pb::DeleteNodeRequest {
        doc_id: "m".into(),
        node_id: "x".into(),
        ..Default::default()
    })
    .await
    .expect("delete");
    let mut lists = vec![];
    for _ in 0..4 {
        let Some(Event::Version(v)) = next_change(&mut s).await.event else {
            panic!("a version")
        };
        lists.push((v.added, v.removed, v.updated, v.moved));
    }
    let x = || vec!["x".to_string()];
    assert_eq!(
        lists,
        vec![
            (x(), vec![], vec![], vec![]),
            (vec![], vec![], x(), vec![]),
            (vec![], vec![], vec![], x()),
            (vec![], x(), vec![], vec![]),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_watch_requests_are_refused_with_the_right_codes() {
    let server = Server::start(&[]).await;
    let mut c = server.client().await;
    put_small(&mut c, "e").await;
    let code = |r: Result<tonic::Response<Streaming<pb::WatchEvent>>, tonic::Status>| match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    };
    let cases = [
        (
            pb::WatchRequest {
                doc_ids: vec!["e".into()],
                prefix: "x".into(),
                ..Default::default()
            },
            Code::InvalidArgument,
        ),
        (
            pb::WatchRequest {
                doc_ids: vec!["e".into()],
                start: Some(Start::FromVersions(pb::FromVersions {
                    versions: HashMap::from([("other".to_string(), 1)]),
                })),
                ..Default::default()
            },
            Code::InvalidArgument,
        ),
        (
            pb::WatchRequest {
                doc_ids: vec!["e".into()],
                start: Some(Start::FromVersions(pb::FromVersions {
                    versions: HashMap::from([("e".to_string(), 9)]),
                })),
                ..Default::default()
            },
            Code::FailedPrecondition,
        ),
        (
            all_docs(Some(Start::ResumeToken(vec![1, 2, 3]))),
            Code::InvalidArgument,
        ),
        (
            pb::WatchRequest {
                doc_ids: vec![String::new()],
                ..Default::default()
            },
            Code::InvalidArgument,
        ),
    ];
    for (req, want) in cases {
        assert_eq!(code(c.watch(req.clone()).await), want, "{req:?}");
    }
    // A token of another data directory.
    let other = Server::start(&[]).await;
    let mut oc = other.client().await;
    put_small(&mut oc, "e").await;
    let mut s = watch(
        &mut oc,
        pb::WatchRequest {
            start: Some(Start::FromVersions(pb::FromVersions {
                versions: HashMap::from([("e".to_string(), 0)]),
            })),
            ..Default::default()
        },
    )
    .await;
    let token = next_change(&mut s).await.resume_token;
    assert_eq!(
        code(c.watch(all_docs(Some(Start::ResumeToken(token)))).await),
        Code::FailedPrecondition
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_losses_are_reported_and_the_watch_goes_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let flags = ["--watch-retention-records", "5"];
    let mut server = Server::start_on(&data, tmp.path(), &flags).await;
    let mut c = server.client().await;
    put_small(&mut c, "t").await;
    let token = {
        let mut s = watch(
            &mut c,
            pb::WatchRequest {
                start: Some(Start::FromVersions(pb::FromVersions {
                    versions: HashMap::from([("t".to_string(), 0)]),
                })),
                ..Default::default()
            },
        )
        .await;
        next_change(&mut s).await.resume_token
    };
    for i in 0..30 {
        insert(&mut c, "t", &format!("r{i}")).await;
    }
    // The checkpoint at shutdown trims the feed to the last 5 records; after the restart the
    // server's in-memory window is empty, so the resumed watch must read the trimmed store.
    assert_eq!(server.stop(), 0);
    let server = Server::start_on(&data, tmp.path(), &flags).await;
    let mut c = server.client().await;
    let mut s = watch(&mut c, all_docs(Some(Start::ResumeToken(token)))).await;
    let Some(Event::Lagged(lagged)) = next(&mut s).await.event else {
        panic!("the first item reports the loss")
    };
    assert!(lagged.changes_lost);
    // Then the versions kept, in order, ending with the last one.
    let mut seen = vec![];
    loop {
        let e = next(&mut s).await;
        match &e.event {
            Some(Event::Version(_)) => seen.push(version_of(&e).1),
            Some(Event::CaughtUp(_)) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let want: Vec<u64> = (27..=31).collect();
    assert_eq!(seen, want, "the events of the last 5 records are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_watches_end_unavailable_when_the_server_shuts_down() {
    let mut server = Server::start(&[]).await;
    let mut c = server.client().await;
    let mut s = watch(&mut c, all_docs(None)).await;
    assert!(matches!(next(&mut s).await.event, Some(Event::CaughtUp(_))));
    // SIGTERM: the graceful shutdown is not held by the open stream.
    assert_eq!(server.stop(), 0, "a clean exit");
    assert!(
        !server
            .log_text()
            .contains("still open after the grace period"),
        "the stream ended with the shutdown, not after the grace period"
    );
    let end = tokio::time::timeout(PATIENCE, s.message())
        .await
        .expect("the stream ends");
    match end {
        Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        Ok(None) => {} // the connection closed after the status was sent
        Ok(Some(e)) => panic!("unexpected {e:?}"),
    }
}
