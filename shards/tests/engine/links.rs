//! Cross references: across shards, of a whole document, and under racing removals and re-adds.

use super::*;

on_both_stores!(cross_references_across_shards, 4, |e| {
    for d in ["x", "y", "z", "w"] {
        run(e.put_document(small_doc(d), true, w())).unwrap();
    }
    let link = |a: &str, an: &str, b: &str, bn: &str| XrefKey {
        from_doc: a.into(),
        from_node: an.into(),
        kind: "cites".into(),
        to_doc: b.into(),
        to_node: bn.into(),
    };
    run(e.add_xref(link("x", "a", "y", "b"), "see".into())).unwrap();
    run(e.add_xref(link("y", "b", "z", "a1"), "".into())).unwrap();
    run(e.add_xref(link("w", "b", "y", "b"), "".into())).unwrap();
    assert!(matches!(
        run(e.add_xref(link("x", "a", "y", "nope"), "".into())),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        run(e.add_xref(link("x", "nope", "y", "b"), "".into())),
        Err(Error::NotFound { .. })
    ));

    // A link is added once; a second add is refused (atomically, on the source shard) and
    // leaves both entries as they were.
    assert!(matches!(
        run(e.add_xref(link("x", "a", "y", "b"), "other".into())),
        Err(Error::AlreadyExists { .. })
    ));
    let inc = run(e.get_xrefs("y", "b", Direction::Incoming, 1, None, &|_| true)).unwrap();
    assert_eq!(
        inc.iter()
            .filter(|l| l.key.from_doc == "x")
            .map(|l| l.label.as_str())
            .collect::<Vec<_>>(),
        ["see"]
    );
    let out = run(e.get_xrefs("x", "a", Direction::Outgoing, 1, None, &|_| true)).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].label, "see");
    let two = run(e.get_xrefs("x", "a", Direction::Outgoing, 2, None, &|_| true)).unwrap();
    assert_eq!(
        two.iter()
            .map(|l| (l.key.to_doc.as_str(), l.hops))
            .collect::<Vec<_>>(),
        [("y", 1), ("z", 2)]
    );
    let inc = run(e.get_xrefs("y", "b", Direction::Incoming, 1, None, &|_| true)).unwrap();
    assert_eq!(inc.len(), 2);
    let both = run(e.get_xrefs("y", "b", Direction::Both, 1, None, &|_| true)).unwrap();
    assert_eq!(both.len(), 3);

    // Deleting either side keeps incoming lookups right.
    run(e.delete_document("x", None)).unwrap();
    let inc = run(e.get_xrefs("y", "b", Direction::Incoming, 1, None, &|_| true)).unwrap();
    assert_eq!(
        inc.iter()
            .map(|l| l.key.from_doc.as_str())
            .collect::<Vec<_>>(),
        ["w"]
    );
    run(e.delete_node("z", "a", w())).unwrap();
    assert!(
        run(e.get_xrefs("y", "b", Direction::Outgoing, 1, None, &|_| true))
            .unwrap()
            .is_empty()
    );
    assert!(run(e.get_xrefs("z", "a1", Direction::Incoming, 1, None, &|_| true)).is_ok());
    run(e.remove_xref(link("w", "b", "y", "b"))).unwrap();
    assert!(
        run(e.get_xrefs("y", "b", Direction::Incoming, 1, None, &|_| true))
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        run(e.remove_xref(link("w", "b", "y", "b"))),
        Err(Error::NotFound {
            what: "cross reference",
            ..
        })
    ));
});

// A whole document's links (every node at once, one multi-source traversal) are its nodes'
// links, each at the fewest hops any node reaches it in.
on_both_stores!(cross_references_of_a_whole_document, 3, |e| {
    for d in ["x", "y", "z"] {
        run(e.put_document(small_doc(d), true, w())).unwrap();
    }
    let links = [
        ("x", "a", "y", "b"),
        ("x", "a1", "x", "b"),
        ("x", "b", "z", "a"),
        ("y", "b", "z", "a1"),
        ("z", "a1", "x", "a2"),
        ("z", "a", "y", "a2"),
        ("y", "a2", "y", "a"),
    ];
    for (a, an, b, bn) in links {
        let key = XrefKey {
            from_doc: a.into(),
            from_node: an.into(),
            kind: "cites".into(),
            to_doc: b.into(),
            to_node: bn.into(),
        };
        run(e.add_xref(key, String::new())).unwrap();
    }
    for direction in [Direction::Outgoing, Direction::Incoming, Direction::Both] {
        for hops in 1..=3 {
            let mut want: std::collections::BTreeMap<XrefKey, u32> = Default::default();
            for n in ["a", "a1", "a2", "b"] {
                for l in run(e.get_xrefs("x", n, direction, hops, None, &|_| true)).unwrap() {
                    let h = want.entry(l.key).or_insert(l.hops);
                    *h = (*h).min(l.hops);
                }
            }
            let got: std::collections::BTreeMap<XrefKey, u32> =
                run(e.get_xrefs_from(("x".into(), None), direction, hops, None, &|_| true))
                    .unwrap()
                    .into_iter()
                    .map(|l| (l.key, l.hops))
                    .collect();
            assert_eq!(got, want, "{direction:?}, {hops} hops");
        }
    }
});

// The steps of racing cross-reference calls, interleaved by hand through the router: a link
// keeps its index entry, and leaves none behind, whatever runs between an add's or a removal's
// two writes.
on_both_stores!(cross_reference_races_keep_links_indexed, 4, |e| {
    use shards::engine::ShardRouter;
    use shards::mutation::XrefSide;
    use shards::request::{Request, Response};
    let (x, y) = ("x".to_string(), "y".to_string());
    for d in [&x, &y] {
        run(e.put_document(small_doc(d), true, w())).unwrap();
    }
    let key = XrefKey {
        from_doc: x.clone(),
        from_node: "a".into(),
        kind: "cites".into(),
        to_doc: y.clone(),
        to_node: "b".into(),
    };
    let call = |doc: &str, req| run(e.router().call(e.shard_for(doc), req)).unwrap();
    let index_entries = || match call(
        &y,
        Request::ListXrefs {
            starts: vec![(y.clone(), Some("b".into()))],
            side: XrefSide::In,
            kind: None,
        },
    ) {
        Response::Xrefs(x) => x,
        other => panic!("{other:?}"),
    };
    let incoming = || run(e.get_xrefs(&y, "b", Direction::Incoming, 1, None, &|_| true)).unwrap();

    // A removal whose second step (the index entry) runs after the link was added again.
    let first = run(e.add_xref(key.clone(), "first".into())).unwrap();
    let remove = |side, created_at| Request::RemoveXref {
        key: key.clone(),
        side,
        created_at,
    };
    assert_eq!(
        call(&x, remove(XrefSide::Out, None)),
        Response::XrefRemoved(Some(first))
    );
    let again = run(e.add_xref(key.clone(), "again".into())).unwrap();
    assert_eq!(
        call(&y, remove(XrefSide::In, Some(first))),
        Response::XrefRemoved(None)
    );
    let inc = incoming();
    assert_eq!(inc.len(), 1);
    assert_eq!((inc[0].label.as_str(), inc[0].created_at), ("again", again));

    // An add that loses to the existing link leaves the link's own index entry, which the
    // link's removal then removes.
    assert!(matches!(
        run(e.add_xref(key.clone(), "loser".into())),
        Err(Error::AlreadyExists { .. })
    ));
    let inc = incoming();
    assert_eq!((inc[0].label.as_str(), inc[0].created_at), ("again", again));
    assert_eq!(index_entries().len(), 1);
    assert_eq!(index_entries()[0].created_at, again);
    // A lost add's put-back, run after the index entry changed again, writes nothing.
    let late_put_back = Request::PutXref {
        key: key.clone(),
        side: XrefSide::In,
        label: "first".into(),
        created_at: first,
        replaces: Some(first - 1),
    };
    assert_eq!(call(&y, late_put_back), Response::Done);
    assert_eq!(index_entries()[0].created_at, again);
    run(e.remove_xref(key.clone())).unwrap();
    assert!(incoming().is_empty());
    assert!(index_entries().is_empty());

    // A node deletion's clean-up of the far side, run late, spares a link added since.
    let third = run(e.add_xref(key.clone(), "third".into())).unwrap();
    assert_eq!(
        call(&x, remove(XrefSide::Out, Some(first))),
        Response::XrefRemoved(None)
    );
    let out = run(e.get_xrefs(&x, "a", Direction::Outgoing, 1, None, &|_| true)).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].created_at, third);
    // Deleting the source node removes both entries.
    run(e.delete_node(&x, "a", w())).unwrap();
    assert!(incoming().is_empty());
    assert!(index_entries().is_empty());
});
