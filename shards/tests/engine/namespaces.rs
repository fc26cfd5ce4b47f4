//! Namespaces at the engine: the same public id in two namespaces is two documents, and every
//! set a request ranges over (a list, a cross-document search, a transaction, a link walk)
//! stays inside its namespace.

use super::*;
use shards::namespace::Namespace;

fn ns(name: &str) -> Namespace {
    Namespace::parse("namespace", name).unwrap()
}

fn doc_in(space: &Namespace, id: &str, title: &str) -> DocumentInput {
    let mut d = small_doc(&space.qualify(id));
    d.roots[1] = leaf("b", title);
    d
}

on_both_stores!(same_id_in_two_namespaces_is_two_documents, 3, |e| {
    let (acme, beta, default) = (ns("acme"), ns("beta"), Namespace::default());
    for (space, title) in [
        (&acme, "acme secret"),
        (&beta, "beta secret"),
        (&default, "plain"),
    ] {
        run(e.put_document(doc_in(space, "report", title), false, w())).unwrap();
    }
    run(e.put_document(doc_in(&acme, "acme-only", "acme secret"), false, w())).unwrap();
    for (space, title) in [
        (&acme, "acme secret"),
        (&beta, "beta secret"),
        (&default, "plain"),
    ] {
        let n =
            run(e.get_node(&space.qualify("report"), "b", ReadAt::Latest, false, None)).unwrap();
        assert_eq!(n.content.title, title, "{space}");
    }
    // Lists: each namespace its own documents; the default one none of the others'.
    let list = |space: &Namespace, prefix: &str| -> Vec<String> {
        run(e.list_documents(space, prefix, Default::default(), None, 100, 1000))
            .unwrap()
            .items
            .into_iter()
            .map(|d| d.doc_id)
            .collect()
    };
    assert_eq!(
        list(&acme, ""),
        [acme.qualify("acme-only"), acme.qualify("report")]
    );
    assert_eq!(list(&acme, "rep"), [acme.qualify("report")]);
    assert_eq!(list(&beta, ""), [beta.qualify("report")]);
    assert_eq!(list(&default, ""), ["report"]);
    assert!(list(&ns("gamma"), "").is_empty());
    // A page token from another namespace does not lead out of the caller's.
    let foreign = Some(acme.qualify("acme-only"));
    let page = run(e.list_documents(&default, "", Default::default(), foreign, 10, 1000)).unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].doc_id, "report");
    // A search over every document stays in the namespace.
    let hits = |space: &Namespace| -> Vec<String> {
        run(e.search("secret", None, space, ReadAt::Latest, None, 100))
            .unwrap()
            .items
            .into_iter()
            .map(|h| h.doc_id)
            .collect()
    };
    assert_eq!(
        hits(&acme),
        [acme.qualify("acme-only"), acme.qualify("report")]
    );
    assert_eq!(hits(&beta), [beta.qualify("report")]);
    assert!(hits(&default).is_empty());
    // A generated id lands in the namespace it was asked in.
    let (id, _) = run(e.put_document(doc_in(&beta, "", "generated"), false, w())).unwrap();
    assert!(
        beta.contains(&id) && shards::namespace::public(&id).len() == 32,
        "{id:?}"
    );
});

on_both_stores!(a_transaction_is_unknown_outside_its_namespace, 3, |e| {
    let (acme, beta) = (ns("acme"), ns("beta"));
    run(e.put_document(doc_in(&acme, "d", "x"), false, w())).unwrap();
    run(e.put_document(doc_in(&beta, "d", "y"), false, w())).unwrap();
    let (txn, _) = run(e.begin(&acme.qualify("d"), None)).unwrap();
    fn not_found<T>(r: Result<T>) -> bool {
        matches!(
            r,
            Err(Error::NotFound {
                what: "transaction",
                ..
            })
        )
    }
    assert!(not_found(run(e.commit(
        &txn,
        &beta,
        None,
        String::new(),
        String::new()
    ))));
    assert!(not_found(run(e.rollback(&txn, &beta))));
    let in_txn = WriteOpts {
        txn: Some(txn.clone()),
        ..w()
    };
    let wrote = run(e.insert_node(
        &beta.qualify("d"),
        None,
        None,
        leaf("z", "z"),
        in_txn.clone(),
    ));
    assert!(not_found(wrote));
    // Still the owner's: it writes and commits.
    run(e.insert_node(&acme.qualify("d"), None, None, leaf("z", "z"), in_txn)).unwrap();
    let done = run(e.commit(&txn, &acme, None, String::new(), String::new())).unwrap();
    assert_eq!(done.version.map(|v| v.version), Some(2));
});

on_both_stores!(a_link_walk_skips_documents_the_caller_may_not_see, 3, |e| {
    let (acme, beta) = (ns("acme"), ns("beta"));
    run(e.put_document(doc_in(&acme, "a", "x"), false, w())).unwrap();
    run(e.put_document(doc_in(&beta, "b", "y"), false, w())).unwrap();
    run(e.put_document(doc_in(&acme, "c", "z"), false, w())).unwrap();
    let link = |from: String, to: String| XrefKey {
        from_doc: from,
        from_node: "a".into(),
        kind: String::new(),
        to_doc: to,
        to_node: "a".into(),
    };
    // acme:a -> beta:b -> acme:c
    run(e.add_xref(link(acme.qualify("a"), beta.qualify("b")), String::new())).unwrap();
    run(e.add_xref(link(beta.qualify("b"), acme.qualify("c")), String::new())).unwrap();
    let walk = |visible: &(dyn Fn(&str) -> bool + Sync)| -> usize {
        run(e.get_xrefs(
            &acme.qualify("a"),
            "a",
            Direction::Outgoing,
            3,
            None,
            visible,
        ))
        .unwrap()
        .len()
    };
    assert_eq!(walk(&|_| true), 2);
    assert_eq!(walk(&|d| acme.contains(d)), 0);
});
