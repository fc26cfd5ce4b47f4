//! The tool-result cache: expiry, staleness after a source document changes, and the sweep of
//! expired results.

use super::*;

on_both_stores!(tool_results_expire_and_go_stale, 2, |e| {
    run(e.put_document(small_doc("src"), true, w())).unwrap();
    let deps = vec![DocRef {
        doc_id: "src".into(),
        version: 0,
    }];
    run(e.store_tool_result(
        "pi_search",
        r#"{"q": "alpha", "depth": 2}"#,
        r#"{"hits": 3}"#,
        60,
        deps,
    ))
    .unwrap();
    // Argument order and spacing do not matter.
    match run(e.get_tool_result("pi_search", r#"{"depth":2,"q":"alpha"}"#)).unwrap() {
        ToolLookup::Hit(r) => assert_eq!(r.result_json, r#"{"hits": 3}"#),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        run(e.get_tool_result("pi_search", r#"{"q":"beta"}"#)).unwrap(),
        ToolLookup::Miss(MissReason::NotFound)
    );
    run(e.insert_node("src", None, None, leaf("c", "Gamma"), w())).unwrap();
    assert_eq!(
        run(e.get_tool_result("pi_search", r#"{"depth":2,"q":"alpha"}"#)).unwrap(),
        ToolLookup::Miss(MissReason::Stale)
    );
    e.router().set_clock(Some(shards::engine::now_micros()));
    run(e.store_tool_result("t", "{}", "1", 1, vec![])).unwrap();
    e.router()
        .set_clock(Some(shards::engine::now_micros() + 5_000_000));
    assert_eq!(
        run(e.get_tool_result("t", "{}")).unwrap(),
        ToolLookup::Miss(MissReason::Expired)
    );
    // Both expired and stale: stale wins (the proto's promise).
    e.router().set_clock(Some(shards::engine::now_micros()));
    let src_now = vec![DocRef {
        doc_id: "src".into(),
        version: 0,
    }];
    run(e.store_tool_result("both", "{}", "1", 1, src_now)).unwrap();
    run(e.insert_node("src", None, None, leaf("d", "Delta"), w())).unwrap();
    e.router()
        .set_clock(Some(shards::engine::now_micros() + 5_000_000));
    assert_eq!(
        run(e.get_tool_result("both", "{}")).unwrap(),
        ToolLookup::Miss(MissReason::Stale)
    );
    e.router().set_clock(None);
    assert!(matches!(
        run(e.store_tool_result("t", "{nope", "1", 1, vec![])),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        run(e.store_tool_result(
            "t",
            "{}",
            "1",
            1,
            vec![DocRef {
                doc_id: "gone".into(),
                version: 0
            }]
        )),
        Err(Error::NotFound { .. })
    ));
    let s = run(e.stats()).unwrap();
    // One hit; misses: not found, stale, expired, stale and expired.
    assert_eq!((s.cache_hits, s.cache_misses), (1, 4));
    // Each lookup is counted on the shard that holds (or would hold) the result.
    assert_eq!(s.cache_per_shard.len(), e.shard_count());
    let by_shard = |f: fn(&engine::CacheLookups) -> u64| s.cache_per_shard.iter().map(f).sum();
    assert_eq!((by_shard(|c| c.hits), by_shard(|c| c.misses)), (1, 4));
});

on_both_stores!(expired_tool_results_are_swept, 2, |e| {
    run(e.store_tool_result("t", r#"{"a":1}"#, "1", 1, vec![])).unwrap();
    run(e.store_tool_result("t", r#"{"a":2}"#, "2", 3600, vec![])).unwrap();
    let sweep = || {
        for s in 0..e.shard_count() {
            e.router()
                .run(s, shards::request::Request::SweepToolResults { limit: 100 })
                .unwrap();
        }
    };
    sweep();
    assert_eq!(run(e.stats()).unwrap().total.tool_results, 2);
    e.router()
        .set_clock(Some(shards::engine::now_micros() + 5_000_000));
    sweep();
    e.router().set_clock(None);
    assert_eq!(run(e.stats()).unwrap().total.tool_results, 1);
    assert!(matches!(
        run(e.get_tool_result("t", r#"{"a":2}"#)).unwrap(),
        ToolLookup::Hit(_)
    ));
});
