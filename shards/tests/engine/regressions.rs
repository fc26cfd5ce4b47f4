//! Regressions found by the model-based property test (`tests/model.rs`), one test per bug.

use super::*;

fn tx(t: &str) -> WriteOpts {
    WriteOpts {
        txn: Some(t.into()),
        ..w()
    }
}

/// Two document ids placed on different shards of `e`.
fn docs_on_two_shards<R: shards::engine::ShardRouter>(
    e: &shards::engine::Engine<R>,
) -> (String, String) {
    let a = "doc-a".to_string();
    let b = (0..)
        .map(|i| format!("doc-b{i}"))
        .find(|b| e.shard_for(b) != e.shard_for(&a))
        .unwrap();
    (a, b)
}

// A transaction used with another document got NotFound(transaction) when that document lived on
// another shard, InvalidArgument when on the same one; and a create-only put through it answered
// AlreadyExists from the transaction's own document.
on_both_stores!(
    transaction_on_another_document_is_invalid_wherever_it_lives,
    3,
    |e| {
        let (a, b) = docs_on_two_shards(e);
        run(e.put_document(small_doc(&a), true, w())).unwrap();
        let (t, _) = run(e.begin(&a, None)).unwrap();
        let bad_doc = |r: Result<()>| match r {
            Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, "doc_id"),
            other => panic!("expected InvalidArgument(doc_id), got {other:?}"),
        };
        bad_doc(run(e.insert_node(&b, None, None, leaf("n", "N"), tx(&t))).map(|_| ()));
        bad_doc(run(e.get_node(&b, "a", ReadAt::Latest, false, Some(t.clone()))).map(|_| ()));
        bad_doc(run(e.put_document(small_doc(&b), false, tx(&t))).map(|_| ()));
        // The transaction is still usable on its own document.
        run(e.insert_node(&a, None, None, leaf("n", "N"), tx(&t))).unwrap();
        assert_eq!(
            run(e.commit(&t, &Default::default(), None, String::new(), String::new()))
                .unwrap()
                .version
                .unwrap()
                .version,
            2
        );
    }
);

// Search deduplicated only adjacent repeated words, so "alpha beta alpha" scored alpha twice.
on_both_stores!(repeated_query_words_count_once, 2, |e| {
    run(e.put_document(small_doc("d"), true, w())).unwrap();
    let score = |q: &str| {
        let hits = run(e.search(
            q,
            Some("d".into()),
            &Default::default(),
            ReadAt::Latest,
            None,
            10,
        ))
        .unwrap();
        hits.items
            .iter()
            .map(|h| (h.node_id.clone(), h.score))
            .collect::<Vec<_>>()
    };
    assert_eq!(score("alpha one alpha"), score("alpha one"));
});

// A second put of a new document inside one transaction kept the first tree's nodes as orphans:
// after commit they were readable (with an internal error for their position) and searchable.
on_both_stores!(second_put_in_a_transaction_replaces_the_first, 2, |e| {
    let (t, snap) = run(e.begin("new", None)).unwrap();
    assert_eq!(snap, 0);
    run(e.put_document(small_doc("new"), true, tx(&t))).unwrap();
    let only_b = DocumentInput {
        doc_id: "new".into(),
        roots: vec![leaf("b", "Beta")],
        ..Default::default()
    };
    run(e.put_document(only_b, true, tx(&t))).unwrap();
    run(e.commit(&t, &Default::default(), None, String::new(), String::new())).unwrap();
    assert!(matches!(
        run(e.get_node("new", "a1", ReadAt::Latest, false, None)),
        Err(Error::NotFound { .. })
    ));
    let doc = run(e.get_document("new", ReadAt::Latest, None)).unwrap();
    assert_eq!(doc.node_count, 1);
    assert!(
        run(e.search("alpha", None, &Default::default(), ReadAt::Latest, None, 10))
            .unwrap()
            .items
            .is_empty()
    );
});

// GetDocument through a transaction reported the snapshot's node count, not its own writes.
on_both_stores!(
    document_read_in_a_transaction_counts_its_own_nodes,
    1,
    |e| {
        run(e.put_document(small_doc("d"), true, w())).unwrap();
        let (t, _) = run(e.begin("d", None)).unwrap();
        run(e.delete_node("d", "a", tx(&t))).unwrap();
        let d = run(e.get_document("d", ReadAt::Latest, Some(t.clone()))).unwrap();
        assert_eq!(d.node_count, 1);
    }
);

// Reads through a transaction did not check its expiry: until the next sweep, an expired
// transaction stayed readable and each read revived it.
on_both_stores!(expired_transaction_cannot_be_read_through, 1, |e| {
    run(e.put_document(small_doc("d"), true, w())).unwrap();
    let t0 = shards::engine::now_micros();
    e.router().set_clock(Some(t0));
    let (t, _) = run(e.begin("d", Some(50))).unwrap();
    // 200 ms later: past its 50 ms timeout, before the once-a-second sweep.
    e.router().set_clock(Some(t0 + 200_000));
    let r = run(e.get_node("d", "a", ReadAt::Latest, false, Some(t.clone())));
    e.router().set_clock(None);
    assert!(
        matches!(
            r,
            Err(Error::NotFound {
                what: "transaction",
                ..
            })
        ),
        "{r:?}"
    );
});

// After its document was deleted, a transaction read a snapshot whose records were gone:
// Internal errors ("no header") or NotFound for nodes it had seen. Now: Conflict.
on_both_stores!(transaction_whose_document_was_deleted_conflicts, 1, |e| {
    run(e.put_document(small_doc("d"), true, w())).unwrap();
    let (t, _) = run(e.begin("d", None)).unwrap();
    run(e.delete_document("d", None)).unwrap();
    for r in [
        run(e.get_document("d", ReadAt::Latest, Some(t.clone()))).map(|_| ()),
        run(e.get_node("d", "a", ReadAt::Latest, false, Some(t.clone()))).map(|_| ()),
        run(e.insert_node("d", None, None, leaf("n", "N"), tx(&t))).map(|_| ()),
    ] {
        assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
    }
    run(e.put_document(small_doc("d"), true, w())).unwrap();
    let r = run(e.get_node("d", "a", ReadAt::Latest, false, Some(t.clone())));
    assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
});

// Reordering siblings rewrote only the parent's child list, so the diff reported nothing moved.
on_both_stores!(diff_reports_reordered_siblings_as_moved, 1, |e| {
    run(e.put_document(small_doc("d"), true, w())).unwrap();
    run(e.move_node("d", "a2", Some("a".into()), Some(0), w())).unwrap();
    run(e.move_node("d", "b", None, Some(0), w())).unwrap();
    let d = run(e.diff("d", 1, 3)).unwrap();
    let moved: Vec<(&str, u32, u32)> = d
        .moved
        .iter()
        .map(|m| (m.node_id.as_str(), m.old_position, m.new_position))
        .collect();
    assert_eq!(
        moved,
        [("a", 0, 1), ("a1", 0, 1), ("a2", 1, 0), ("b", 1, 0)]
    );
    assert!(d.added.is_empty() && d.removed.is_empty() && d.changed.is_empty());
});
