//! Behaviour of the engine through its public API, on memory and on RocksDB.

mod common;
use common::{fixtures, run};
use shards::engine::{Page, WriteResult};
use shards::request::WriteOpts;
use shards::*;

#[path = "engine/links.rs"]
mod links;
#[path = "engine/namespaces.rs"]
mod namespaces;
#[path = "engine/regressions.rs"]
mod regressions;
#[path = "engine/tool_results.rs"]
mod tool_results;

fn w() -> WriteOpts {
    WriteOpts::default()
}

fn leaf(id: &str, title: &str) -> NodeInput {
    NodeInput {
        node_id: id.into(),
        content: NodeContent {
            title: title.into(),
            ..Default::default()
        },
        children: vec![],
    }
}

fn small_doc(id: &str) -> DocumentInput {
    let mut a = leaf("a", "Alpha section");
    a.children = vec![leaf("a1", "Alpha one"), leaf("a2", "Alpha two")];
    DocumentInput {
        doc_id: id.into(),
        name: "Small".into(),
        roots: vec![a, leaf("b", "Beta")],
        ..Default::default()
    }
}

fn ids(nodes: &[NodeView]) -> Vec<String> {
    nodes.iter().map(|n| n.node_id.clone()).collect()
}

on_both_stores!(fixtures_round_trip_whole_and_by_subtree, 3, |e| {
    for (name, json) in fixtures() {
        let input = pageindex::import(&name, &json).unwrap();
        run(e.put_document(input, true, w())).unwrap();
        let doc = run(e.get_document(&name, ReadAt::Latest, None)).unwrap();
        let tree = run(e.get_subtree(&name, None, 0, true, ReadAt::Latest, None)).unwrap();
        assert_eq!(
            pageindex::export(&doc, &tree).unwrap(),
            json,
            "{name} round trip"
        );
        // Every top-level subtree read alone equals the same part of the source.
        for (i, root) in tree.iter().enumerate() {
            let sub = run(e.get_subtree(
                &name,
                Some(root.node_id.clone()),
                0,
                true,
                ReadAt::Latest,
                None,
            ))
            .unwrap();
            assert_eq!(&sub[0], root);
            assert_eq!(sub[0].position, i as u32);
        }
    }
});

on_both_stores!(node_reads, 2, |e| {
    run(e.put_document(small_doc("d"), true, w())).unwrap();
    let n = run(e.get_node("d", "a2", ReadAt::Latest, true, None)).unwrap();
    assert_eq!(
        (n.parent_id.as_deref(), n.position, n.has_children),
        (Some("a"), 1, false)
    );
    let kids = run(e.get_children("d", Some("a".into()), ReadAt::Latest, false, None)).unwrap();
    assert_eq!(ids(&kids), ["a1", "a2"]);
    let top = run(e.get_children("d", None, ReadAt::Latest, false, None)).unwrap();
    assert_eq!(ids(&top), ["a", "b"]);
    let anc = run(e.get_ancestors("d", "a1", ReadAt::Latest, false, None)).unwrap();
    assert_eq!(ids(&anc), ["a"]);
    let shallow =
        run(e.get_subtree("d", Some("a".into()), 1, false, ReadAt::Latest, None)).unwrap();
    assert!(shallow[0].children.is_empty() && shallow[0].has_children);
    assert!(matches!(
        run(e.get_node("d", "zz", ReadAt::Latest, true, None)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        run(e.get_node("nope", "a", ReadAt::Latest, true, None)),
        Err(Error::NotFound { .. })
    ));
});

on_both_stores!(structural_edits_and_versions, 2, |e| {
    let (_, r) = run(e.put_document(small_doc("d"), true, w())).unwrap();
    assert_eq!(r.version.unwrap().version, 1);
    run(e.insert_node(
        "d",
        Some("a".into()),
        Some(0),
        leaf("a0", "Alpha zero"),
        w(),
    ))
    .unwrap();
    run(e.move_node("d", "b", Some("a1".into()), None, w())).unwrap();
    let c = NodeContent {
        title: "Alpha ONE".into(),
        ..Default::default()
    };
    run(e.update_node(
        "d",
        "a1",
        c,
        FieldMask {
            title: true,
            ..Default::default()
        },
        w(),
    ))
    .unwrap();
    let r = run(e.delete_node("d", "a2", w())).unwrap();
    assert_eq!((r.removed_nodes, r.version.unwrap().version), (1, 5));

    let tree = run(e.get_subtree("d", None, 0, false, ReadAt::Latest, None)).unwrap();
    assert_eq!(ids(&tree), ["a"]);
    assert_eq!(ids(&tree[0].children), ["a0", "a1"]);
    assert_eq!(ids(&tree[0].children[1].children), ["b"]);
    assert_eq!(tree[0].children[1].content.title, "Alpha ONE");

    // Every old version reads as it was.
    let v1 = run(e.get_subtree("d", None, 0, false, ReadAt::Version(1), None)).unwrap();
    assert_eq!(ids(&v1), ["a", "b"]);
    assert_eq!(ids(&v1[0].children), ["a1", "a2"]);
    assert_eq!(
        run(e.get_document("d", ReadAt::Version(2), None))
            .unwrap()
            .node_count,
        5
    );
    assert_eq!(
        run(e.get_document("d", ReadAt::Latest, None))
            .unwrap()
            .node_count,
        4
    );

    let versions = run(e.list_versions("d", None, 0)).unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert!(versions
        .windows(2)
        .all(|p| p[0].commit_time < p[1].commit_time));

    let d = run(e.diff("d", 1, 5)).unwrap();
    assert_eq!(d.added, ["a0"]);
    assert_eq!(d.removed, ["a2"]);
    assert_eq!(d.changed, [("a1".to_string(), vec!["title".to_string()])]);
    assert_eq!(
        d.moved
            .iter()
            .map(|m| m.node_id.as_str())
            .collect::<Vec<_>>(),
        ["a1", "b"]
    );
});

on_both_stores!(moving_under_own_descendant_is_refused, 1, |e| {
    run(e.put_document(small_doc("d"), true, w())).unwrap();
    for target in ["a", "a1"] {
        let r = run(e.move_node("d", "a", Some(target.into()), None, w()));
        assert!(matches!(r, Err(Error::FailedPrecondition(_))), "{r:?}");
    }
    assert_eq!(
        run(e.get_document("d", ReadAt::Latest, None))
            .unwrap()
            .version,
        1
    );
});

on_both_stores!(as_of_reads_on_both_axes, 1, |e| {
    let shard_router = e.router();
    let mut doc = small_doc("policy");
    shard_router.set_clock(Some(1_000));
    run(e.put_document(
        doc.clone(),
        true,
        WriteOpts {
            effective_time: Some(100),
            ..w()
        },
    ))
    .unwrap();
    shard_router.set_clock(Some(2_000));
    doc.roots[1].content.title = "Beta v2".into();
    run(e.put_document(
        doc.clone(),
        true,
        WriteOpts {
            effective_time: Some(500),
            ..w()
        },
    ))
    .unwrap();
    shard_router.set_clock(Some(3_000));
    doc.roots[1].content.title = "Beta v3".into();
    run(e.put_document(
        doc,
        true,
        WriteOpts {
            effective_time: Some(300),
            ..w()
        },
    ))
    .unwrap();
    shard_router.set_clock(None);

    let title = |at| {
        run(e.get_node("policy", "b", at, false, None))
            .unwrap()
            .content
            .title
    };
    let eff = |t| ReadAt::AsOf {
        time: t,
        axis: TimeAxis::Effective,
    };
    let com = |t| ReadAt::AsOf {
        time: t,
        axis: TimeAxis::Commit,
    };
    assert_eq!(title(eff(100)), "Beta");
    assert_eq!(title(eff(350)), "Beta v3");
    assert_eq!(title(eff(10_000)), "Beta v2");
    assert_eq!(title(com(1_500)), "Beta");
    assert_eq!(title(com(2_000)), "Beta v2");
    assert_eq!(title(com(9_999)), "Beta v3");
    assert_eq!(
        run(e.version_as_of("policy", 299, TimeAxis::Effective))
            .unwrap()
            .version,
        1
    );
    assert!(matches!(
        run(e.version_as_of("policy", 99, TimeAxis::Effective)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        run(e.get_document("policy", ReadAt::Version(9), None)),
        Err(Error::NotFound { .. })
    ));
});

on_both_stores!(imported_commit_times, 1, |e| {
    let router = e.router();
    router.set_clock(Some(10_000));
    let mut doc = small_doc("imported");
    let put = |doc: DocumentInput, commit_time: Option<i64>| {
        run(e.put_document(doc, true, WriteOpts { commit_time, ..w() }))
    };
    // Versions carry the commit times given, and as-of reads on the commit axis follow them.
    put(doc.clone(), Some(1_000)).unwrap();
    doc.roots[1].content.title = "Beta v2".into();
    put(doc.clone(), Some(2_000)).unwrap();
    let versions = run(e.list_versions("imported", None, 0)).unwrap();
    let times: Vec<i64> = versions.iter().map(|v| v.commit_time).collect();
    assert_eq!(times, vec![1_000, 2_000]);
    // With no effective time given, a version is effective from its (imported) commit time.
    assert_eq!(versions[1].effective_time, 2_000);
    let doc_at = |t| run(e.version_as_of("imported", t, TimeAxis::Commit)).map(|v| v.version);
    assert_eq!(doc_at(1_999).unwrap(), 1);
    assert_eq!(doc_at(2_000).unwrap(), 2);
    assert!(matches!(doc_at(999), Err(Error::NotFound { .. })));
    // Not at or before the last commit time, not in the future: refused, nothing written.
    doc.roots[1].content.title = "Beta v3".into();
    for bad in [2_000, 1_500, 10_001] {
        assert!(
            matches!(
                put(doc.clone(), Some(bad)),
                Err(Error::InvalidArgument { ref field, .. }) if field == "commit_time"
            ),
            "commit_time {bad}"
        );
    }
    assert_eq!(run(e.list_versions("imported", None, 0)).unwrap().len(), 2);
    // Without one, the clock decides, after the imported times.
    put(doc, None).unwrap();
    let versions = run(e.list_versions("imported", None, 0)).unwrap();
    let latest = versions.last().map(|v| (v.version, v.commit_time));
    assert_eq!(latest, Some((3, 10_000)));
    router.set_clock(None);
});

on_both_stores!(versions_record_who_committed_them, 2, |e| {
    let by = |name: &str| WriteOpts {
        committed_by: name.into(),
        ..w()
    };
    let written = |r: Result<WriteResult>| {
        let v = r.unwrap().version.unwrap();
        (v.version, v.committed_by)
    };
    assert_eq!(
        written(run(e.put_document(small_doc("d"), false, by("alice"))).map(|(_, r)| r)),
        (1, "alice".into())
    );
    assert_eq!(
        written(run(e.insert_node(
            "d",
            None,
            None,
            leaf("c", "Gamma"),
            by("bob")
        ))),
        (2, "bob".into())
    );
    // Unknown committer: "" (as versions of builds before it read).
    assert_eq!(
        written(run(e.delete_node("d", "a2", by("")))),
        (3, String::new())
    );
    // A transaction records who commits it, not who began it or wrote in it.
    let (txn, _) = run(e.begin("d", None)).unwrap();
    let in_txn = WriteOpts {
        txn: Some(txn.clone()),
        ..by("alice")
    };
    run(e.delete_node("d", "c", in_txn)).unwrap();
    assert_eq!(
        written(run(e.commit(
            &txn,
            &Default::default(),
            None,
            String::new(),
            "carol".into()
        ))),
        (4, "carol".into())
    );
    let versions = run(e.list_versions("d", None, 0)).unwrap();
    let names: Vec<&str> = versions.iter().map(|v| v.committed_by.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "", "carol"]);
    let at = run(e.version_as_of("d", versions[1].commit_time, TimeAxis::Commit)).unwrap();
    assert_eq!((at.version, at.committed_by.as_str()), (2, "bob"));
    let diff_by = |from, to| run(e.diff("d", from, to)).unwrap().committed_by;
    assert_eq!(diff_by(1, 4), ["", "bob", "carol"]);
    assert_eq!(diff_by(2, 1), ["bob"]);
    assert!(diff_by(2, 2).is_empty());
});

on_both_stores!(list_and_delete_documents, 3, |e| {
    for i in 0..25 {
        let mut d = small_doc(&format!("doc-{i:02}"));
        d.metadata.insert(
            "parity".into(),
            (if i % 2 == 0 { "even" } else { "odd" }).into(),
        );
        run(e.put_document(d, true, w())).unwrap();
    }
    let mut all = vec![];
    let mut token = None;
    loop {
        let Page { items, next } = run(e.list_documents(
            &Default::default(),
            "doc-",
            Default::default(),
            token,
            7,
            1000,
        ))
        .unwrap();
        all.extend(items.into_iter().map(|d| d.doc_id));
        match next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(all.len(), 25);
    assert!(all.windows(2).all(|p| p[0] < p[1]));
    let odd = run(e.list_documents(
        &Default::default(),
        "",
        [("parity".to_string(), "odd".to_string())].into(),
        None,
        100,
        1000,
    ))
    .unwrap();
    assert_eq!(odd.items.len(), 12);
    run(e.delete_document("doc-03", None)).unwrap();
    assert!(matches!(
        run(e.get_document("doc-03", ReadAt::Latest, None)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        run(e.delete_document("doc-03", None)),
        Err(Error::NotFound { .. })
    ));
    let odd = run(e.list_documents(
        &Default::default(),
        "",
        [("parity".to_string(), "odd".to_string())].into(),
        None,
        100,
        1000,
    ))
    .unwrap();
    assert_eq!(odd.items.len(), 11);
    // Re-created documents continue the version sequence.
    let (_, r) = run(e.put_document(small_doc("doc-03"), true, w())).unwrap();
    assert_eq!(r.version.unwrap().version, 2);
    assert!(matches!(
        run(e.get_document("doc-03", ReadAt::Version(1), None)),
        Err(Error::NotFound { .. })
    ));
    // Stats count the versions stored: doc-03 now holds one (v2), the others one each.
    run(e.put_document(small_doc("doc-04"), true, w())).unwrap();
    let s = run(e.stats()).unwrap();
    assert_eq!((s.total.documents, s.total.versions), (25, 26));
    let (generated, _) = run(e.put_document(
        DocumentInput {
            doc_id: String::new(),
            ..small_doc("")
        },
        true,
        w(),
    ))
    .unwrap();
    assert!(run(e.get_document(&generated, ReadAt::Latest, None)).is_ok());
});

on_both_stores!(search_within_and_across_documents, 3, |e| {
    for (name, json) in fixtures() {
        run(e.put_document(pageindex::import(&name, &json).unwrap(), true, w())).unwrap();
    }
    let fed = run(e.search(
        "Monetary Policy",
        Some("fed_2019_annual_report_structure".into()),
        &Default::default(),
        ReadAt::Latest,
        None,
        100,
    ))
    .unwrap();
    assert!(!fed.items.is_empty());
    assert!(fed
        .items
        .iter()
        .all(|h| h.title.to_lowercase().contains("monetary")));
    let all = run(e.search(
        "monetary policy",
        None,
        &Default::default(),
        ReadAt::Latest,
        None,
        1000,
    ))
    .unwrap();
    let docs: std::collections::BTreeSet<_> = all.items.iter().map(|h| h.doc_id.clone()).collect();
    assert!(docs.len() >= 2, "{docs:?}");
    // Paging returns the same hits in the same order.
    let mut paged = vec![];
    let mut token = None;
    loop {
        let p = run(e.search(
            "monetary policy",
            None,
            &Default::default(),
            ReadAt::Latest,
            token,
            3,
        ))
        .unwrap();
        paged.extend(p.items);
        match p.next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(paged, all.items);
    // An update moves the node in and out of results.
    run(e.update_node(
        "fed_2019_annual_report_structure",
        "0000",
        NodeContent {
            title: "Zyzzyva".into(),
            ..Default::default()
        },
        FieldMask {
            title: true,
            ..Default::default()
        },
        w(),
    ))
    .unwrap();
    assert_eq!(
        run(e.search(
            "zyzzyva",
            None,
            &Default::default(),
            ReadAt::Latest,
            None,
            10
        ))
        .unwrap()
        .items
        .len(),
        1
    );
    assert_eq!(
        run(e.search(
            "zyzzyva",
            Some("fed_2019_annual_report_structure".into()),
            &Default::default(),
            ReadAt::Version(1),
            None,
            10
        ))
        .unwrap()
        .items
        .len(),
        0
    );
    assert!(matches!(
        run(e.search("  ", None, &Default::default(), ReadAt::Latest, None, 10)),
        Err(Error::InvalidArgument { .. })
    ));
});

on_both_stores!(transactions, 2, |e| {
    run(e.put_document(small_doc("d"), true, w())).unwrap();
    let (t1, snap) = run(e.begin("d", None)).unwrap();
    assert_eq!(snap, 1);
    let tw = WriteOpts {
        txn: Some(t1.clone()),
        ..w()
    };
    run(e.insert_node(
        "d",
        Some("b".into()),
        None,
        leaf("b1", "Beta one"),
        tw.clone(),
    ))
    .unwrap();
    run(e.delete_node("d", "a2", tw.clone())).unwrap();
    // Own writes visible inside, invisible outside.
    assert!(run(e.get_node("d", "b1", ReadAt::Latest, false, Some(t1.clone()))).is_ok());
    assert!(run(e.get_node("d", "b1", ReadAt::Latest, false, None)).is_err());
    // A failed operation inside leaves the transaction as it was.
    assert!(run(e.move_node("d", "a", Some("a1".into()), None, tw.clone())).is_err());
    let r = run(e.commit(
        &t1,
        &Default::default(),
        None,
        "batch".into(),
        String::new(),
    ))
    .unwrap();
    assert_eq!(r.version.unwrap().version, 2);
    assert!(run(e.get_node("d", "b1", ReadAt::Latest, false, None)).is_ok());
    assert!(run(e.get_node("d", "a2", ReadAt::Latest, false, None)).is_err());
    assert_eq!(
        run(e.get_document("d", ReadAt::Latest, None))
            .unwrap()
            .node_count,
        4
    );

    // Write-write conflict on the same node: the second committer gets Conflict.
    let (ta, _) = run(e.begin("d", None)).unwrap();
    let (tb, _) = run(e.begin("d", None)).unwrap();
    let title = |t: &str| NodeContent {
        title: t.into(),
        ..Default::default()
    };
    let mask = FieldMask {
        title: true,
        ..Default::default()
    };
    run(e.update_node(
        "d",
        "a1",
        title("A"),
        mask.clone(),
        WriteOpts {
            txn: Some(ta.clone()),
            ..w()
        },
    ))
    .unwrap();
    run(e.update_node(
        "d",
        "a1",
        title("B"),
        mask.clone(),
        WriteOpts {
            txn: Some(tb.clone()),
            ..w()
        },
    ))
    .unwrap();
    run(e.commit(&ta, &Default::default(), None, String::new(), String::new())).unwrap();
    assert!(matches!(
        run(e.commit(&tb, &Default::default(), None, String::new(), String::new())),
        Err(Error::Conflict(_))
    ));
    // Disjoint writes both commit (snapshot isolation, node-level conflicts).
    let (tc, _) = run(e.begin("d", None)).unwrap();
    run(e.update_node(
        "d",
        "b",
        title("C"),
        mask.clone(),
        WriteOpts {
            txn: Some(tc.clone()),
            ..w()
        },
    ))
    .unwrap();
    run(e.update_node("d", "a1", title("D"), mask.clone(), w())).unwrap();
    run(e.commit(&tc, &Default::default(), None, String::new(), String::new())).unwrap();
    assert_eq!(
        run(e.get_node("d", "b", ReadAt::Latest, false, None))
            .unwrap()
            .content
            .title,
        "C"
    );
    assert_eq!(
        run(e.get_node("d", "a1", ReadAt::Latest, false, None))
            .unwrap()
            .content
            .title,
        "D"
    );
    // Rollback discards; unknown transactions are NotFound.
    let (tr, _) = run(e.begin("d", None)).unwrap();
    run(e.delete_node(
        "d",
        "a",
        WriteOpts {
            txn: Some(tr.clone()),
            ..w()
        },
    ))
    .unwrap();
    run(e.rollback(&tr, &Default::default())).unwrap();
    assert!(run(e.get_node("d", "a", ReadAt::Latest, false, None)).is_ok());
    assert!(matches!(
        run(e.commit(&tr, &Default::default(), None, String::new(), String::new())),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        run(e.commit(
            "t0-x-1",
            &Default::default(),
            None,
            String::new(),
            String::new()
        )),
        Err(Error::NotFound { .. })
    ));
    // Idle transactions expire.
    let (te, _) = run(e.begin("d", Some(50))).unwrap();
    e.router()
        .set_clock(Some(shards::engine::now_micros() + 10_000_000));
    assert!(matches!(
        run(e.commit(&te, &Default::default(), None, String::new(), String::new())),
        Err(Error::NotFound { .. })
    ));
    e.router().set_clock(None);
});

on_both_stores!(bad_input_gets_clear_errors_and_changes_nothing, 1, |e| {
    run(e.put_document(small_doc("d"), true, w())).unwrap();
    let bad_field = |r: Result<_>, f: &str| match r {
        Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, f),
        other => panic!("expected InvalidArgument({f}), got {other:?}"),
    };
    let mut dup = small_doc("d");
    dup.roots.push(leaf("a1", "dup"));
    bad_field(run(e.put_document(dup, true, w())).map(|_| ()), "node_id");
    let mut deep = leaf("n0", "deep");
    for i in 1..100 {
        deep = NodeInput {
            children: vec![deep],
            ..leaf(&format!("n{i}"), "deep")
        };
    }
    bad_field(
        run(e.put_document(
            DocumentInput {
                doc_id: "d".into(),
                roots: vec![deep],
                ..Default::default()
            },
            true,
            w(),
        ))
        .map(|_| ()),
        "nodes",
    );
    bad_field(
        run(e.get_node("", "a", ReadAt::Latest, false, None)).map(|_| ()),
        "doc_id",
    );
    bad_field(
        run(e.get_node(&"x".repeat(300), "a", ReadAt::Latest, false, None)).map(|_| ()),
        "doc_id",
    );
    bad_field(
        run(e.insert_node("d", None, None, leaf("bad\0id", "t"), w())).map(|_| ()),
        "node_id",
    );
    bad_field(
        run(e.insert_node("d", None, Some(9), leaf("n", "t"), w())).map(|_| ()),
        "position",
    );
    let huge = NodeContent {
        title: "t".repeat(70_000),
        ..Default::default()
    };
    let r = run(e.update_node("d", "a", huge, FieldMask::ALL, w()));
    assert!(
        matches!(&r, Err(Error::ResourceExhausted(m)) if m.contains("`title`")),
        "{r:?}"
    );
    assert!(matches!(
        run(e.put_document(small_doc("d"), false, w())),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        run(e.delete_document("d", Some(7))),
        Err(Error::FailedPrecondition(_))
    ));
    let extra = NodeContent {
        title: "t".into(),
        extra_json: "[1]".into(),
        ..Default::default()
    };
    bad_field(
        run(e.update_node("d", "a", extra, FieldMask::ALL, w())).map(|_| ()),
        "extra_json",
    );
    assert!(matches!(
        run(e.insert_node("d", None, None, leaf("a1", "t"), w())),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        run(e.insert_node("d", Some("zz".into()), None, leaf("n", "t"), w())),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        run(e.insert_node("nodoc", None, None, leaf("n", "t"), w())),
        Err(Error::NotFound { .. })
    ));
    assert!(FieldMask::from_paths(&["title", "bogus"]).is_err());
    // Nothing above changed the document.
    assert_eq!(
        run(e.get_document("d", ReadAt::Latest, None))
            .unwrap()
            .version,
        1
    );
    assert!(matches!(
        run(e.get_document("nodoc", ReadAt::Latest, None)),
        Err(Error::NotFound { .. })
    ));
});
