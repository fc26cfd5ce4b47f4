//! The feed against the store: on random histories each version's event lists exactly what
//! `diff` between it and the version before finds (moves as the fewest that explain the new
//! order), and counts what `VersionInfo` counts; the ring, the store below it and retention
//! give every event once, in order, or report the loss.

use super::*;
use crate::keys;
use crate::model::{ReadAt, VersionInfo};
use crate::mutation::Mutation;
use crate::queries::diff;
use crate::shard::{Shard, ShardConfig};
use crate::store::{KvRead, KvStore, MemStore};
use crate::tree::tests::{random_write, Rng};
use crate::view::{read_head, resolve, DocView};
use std::sync::Arc;

/// Applies `m` at `lsn` like the runtime does; its event.
fn apply(shard: &Shard<MemStore>, m: &Mutation, lsn: u64) -> Option<FeedEvent> {
    let (batch, event) = shard.batch_for(m, lsn).unwrap();
    shard.store.write(batch).unwrap();
    event
}

#[test]
fn each_event_lists_what_diff_finds_between_its_version_and_the_one_before() {
    for seed in 1..=24u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut shard = Shard::new(0, MemStore::new(), ShardConfig::default(), 1);
        let mut next_id = 0;
        let mut lsn = 0;
        for step in 0..60 {
            let before = read_head(&shard.store, "d").unwrap().filter(|h| !h.deleted);
            let req = random_write(&mut r, &shard, &mut next_id);
            let Ok(out) = shard.handle(req, 1_000 + step) else {
                continue;
            };
            let Some(m) = out.mutation else { continue };
            lsn += 1;
            let event = apply(&shard, &m, lsn);
            let stored = shard.store.get(&keys::feed(lsn)).unwrap();
            assert_eq!(
                stored.map(|b| FeedEvent::decode(&b).unwrap()),
                event,
                "seed {seed}: the stored event is the one returned"
            );
            match (&m, event) {
                (Mutation::Commit(c), Some(FeedEvent::Version(e))) => {
                    assert_eq!(e.version, c.version);
                    let index = shard.store.get(&keys::feed_index("d", c.version)).unwrap();
                    assert_eq!(index, Some(lsn.to_be_bytes().to_vec()));
                    let info = VersionInfo::decode(
                        &shard
                            .store
                            .get(&keys::version("d", c.version))
                            .unwrap()
                            .unwrap(),
                    )
                    .unwrap();
                    assert_eq!(e.nodes_changed, info.nodes_changed, "seed {seed}");
                    assert_eq!(e.committed_by, c.committed_by, "seed {seed}");
                    assert_eq!(info.committed_by, c.committed_by, "seed {seed}");
                    match &before {
                        None => {
                            assert!(e.created);
                            let (_, v) = resolve(&shard.store, "d", ReadAt::Latest).unwrap();
                            let view = DocView {
                                store: &shard.store,
                                doc: "d",
                                version: v,
                                overlay: None,
                            };
                            let mut all = view.all_ids().unwrap();
                            all.sort();
                            assert_eq!(e.added, all, "seed {seed}: a creation adds every node");
                            assert!(e.removed.is_empty() && e.updated.is_empty());
                            assert!(e.moved.is_empty());
                        }
                        Some(h) => {
                            assert!(!e.created);
                            let d = diff(&shard.store, "d", h.version, c.version).unwrap();
                            assert_eq!(e.added, d.added, "seed {seed} step {step}");
                            assert_eq!(e.removed, d.removed, "seed {seed} step {step}");
                            let changed: Vec<String> =
                                d.changed.iter().map(|(id, _)| id.clone()).collect();
                            assert_eq!(e.updated, changed, "seed {seed} step {step}");
                            let shifted: Vec<&str> =
                                d.moved.iter().map(|m| m.node_id.as_str()).collect();
                            for id in &e.moved {
                                assert!(
                                    shifted.contains(&id.as_str()),
                                    "seed {seed} step {step}: {id} moved but diff disagrees"
                                );
                            }
                        }
                    }
                }
                (Mutation::DeleteDocument { .. }, Some(FeedEvent::Deleted(d))) => {
                    let h = before.expect("a deletion of an existing document");
                    assert_eq!(d.last_version, h.version);
                }
                (Mutation::DeleteDocument { .. }, None) => assert!(before.is_none()),
                (m, e) => panic!("seed {seed}: {m:?} gave {e:?}"),
            }
        }
    }
}

fn deletion(i: u64) -> FeedEvent {
    FeedEvent::Deleted(Deletion {
        doc_id: format!("d{i}"),
        last_version: i,
        deleted_at: i as i64,
    })
}

/// A feed of `n` events at LSNs 2, 4, ... (odd LSNs have none, as tool-result writes), all in
/// the store and published through `live`'s ring.
fn feed_of(n: u64, ring: usize) -> (FeedLive, MemStore) {
    let store = MemStore::new();
    let live = FeedLive::new(ring);
    live.start_at(0, 0);
    for i in 1..=n {
        let mut b = crate::store::WriteBatch::default();
        b.put(
            keys::feed(2 * i),
            crate::codec::encode(&deletion(i)).unwrap(),
        );
        store.write(b).unwrap();
        live.publish([(2 * i, Arc::new(deletion(i)))], 2 * i + 1);
    }
    (live, store)
}

/// Reads the whole feed after `after` in batches of `max`; the LSNs read, or None when lost.
fn read_all(live: &FeedLive, store: &MemStore, mut after: u64, max: usize) -> Option<Vec<u64>> {
    let mut out = vec![];
    loop {
        match read_after(live, store, after, max).unwrap() {
            FeedRead::Lost { .. } => return None,
            FeedRead::Events {
                events, through, ..
            } => {
                out.extend(events.iter().map(|(lsn, _)| *lsn));
                if through == after {
                    return Some(out);
                }
                after = through;
            }
        }
    }
}

#[test]
fn reads_give_every_event_once_in_order_from_the_ring_and_below_it() {
    let (live, store) = feed_of(50, 8);
    for start in [0, 1, 2, 3, 50, 84, 85, 100, 101] {
        for max in [1, 3, 256] {
            let want: Vec<u64> = (1..=50).map(|i| 2 * i).filter(|l| *l > start).collect();
            assert_eq!(
                read_all(&live, &store, start, max),
                Some(want),
                "{start} {max}"
            );
        }
    }
    // Within the ring the store is not read; below it, it is.
    let FeedRead::Events { from_store, .. } = read_after(&live, &store, 99, 10).unwrap() else {
        panic!()
    };
    assert!(!from_store);
    let FeedRead::Events { from_store, .. } = read_after(&live, &store, 10, 10).unwrap() else {
        panic!()
    };
    assert!(from_store);
}

#[test]
fn retention_removes_old_events_and_their_index_and_readers_are_told() {
    let (live, store) = feed_of(50, 4);
    // Keep the events of the last 20 records: published is 101, so LSNs up to 81 go.
    assert_eq!(trim(&live, &store, 20).unwrap(), Some(81));
    assert_eq!(trimmed_in(&store).unwrap(), 81);
    assert_eq!(live.trimmed(), 81);
    assert_eq!(
        read_all(&live, &store, 10, 5),
        None,
        "a reader behind the cut is told"
    );
    let want: Vec<u64> = (41..=50).map(|i| 2 * i).collect();
    assert_eq!(read_all(&live, &store, 81, 5), Some(want));
    assert!(store.get(&keys::feed(80)).unwrap().is_none());
    assert!(store.get(&keys::feed(82)).unwrap().is_some());
    // Nothing more to trim until more is published.
    assert_eq!(trim(&live, &store, 20).unwrap(), None);
}

#[test]
fn a_start_after_a_version_is_found_lost_or_not_yet() {
    let mut shard = Shard::new(0, MemStore::new(), ShardConfig::default(), 1);
    let live = FeedLive::default();
    let mut lsn = 0;
    for (i, req) in [
        crate::request::Request::PutDocument {
            doc: crate::model::DocumentInput {
                doc_id: "s".into(),
                ..Default::default()
            },
            overwrite: true,
            write: Default::default(),
        },
        crate::request::Request::PutDocument {
            doc: crate::model::DocumentInput {
                doc_id: "s".into(),
                name: "renamed".into(),
                ..Default::default()
            },
            overwrite: true,
            write: Default::default(),
        },
    ]
    .into_iter()
    .enumerate()
    {
        let m = shard.handle(req, 10 + i as i64).unwrap().mutation.unwrap();
        lsn += 1;
        let e = apply(&shard, &m, lsn).unwrap();
        live.publish([(lsn, Arc::new(e))], lsn);
    }
    let st = &shard.store;
    assert_eq!(
        start_after_version(&live, st, "s", 1).unwrap(),
        Start::After(1)
    );
    assert_eq!(
        start_after_version(&live, st, "s", 2).unwrap(),
        Start::After(2)
    );
    assert_eq!(
        start_after_version(&live, st, "s", 0).unwrap(),
        Start::After(0)
    );
    assert_eq!(
        start_after_version(&live, st, "s", 3).unwrap(),
        Start::NotYet
    );
    assert_eq!(
        start_after_version(&live, st, "x", 1).unwrap(),
        Start::NotYet
    );
    trim(&live, st, 1).unwrap();
    assert_eq!(start_after_version(&live, st, "s", 1).unwrap(), Start::Lost);
    assert_eq!(
        start_after_version(&live, st, "s", 2).unwrap(),
        Start::After(2)
    );
}
