"""The read cache's coherence rules (treestore.cache.ReadCache), interleaving by interleaving.

These drive the cache object itself, in the order a real client and feed would call it,
with the request of a real client call (``treestore._calls``) and response / event messages
as the server sends them; each test is one interleaving that a server makes hard to produce
on demand (an event overtaking a read's answer, a delete while a read is in flight, ...).
The server-backed tests (test_server_cache.py) check the same rules end to end.
"""

from __future__ import annotations

from typing import Any

from treestore import CacheConfig
from treestore import _calls
from treestore._proto import treestore_pb2 as pb
from treestore.cache import ReadCache

DOC = "d"


def node_response(version: int, title: str = "t") -> pb.GetNodeResponse:
    return pb.GetNodeResponse(node=pb.Node(node_id="n", title=title), version=version)


def version_event(version: int, doc: str = DOC, token: bytes = b"tok") -> pb.WatchEvent:
    return pb.WatchEvent(version=pb.VersionEvent(doc_id=doc, version=pb.Version(version=version)),
                         resume_token=token + str(version).encode())


def delete_event(last_version: int, doc: str = DOC) -> pb.WatchEvent:
    return pb.WatchEvent(deleted=pb.DeleteEvent(doc_id=doc, last_version=last_version),
                         resume_token=b"del")


def caught_up() -> pb.WatchEvent:
    return pb.WatchEvent(caught_up=pb.CaughtUp(), resume_token=b"cu")


def lagged(lost: bool) -> pb.WatchEvent:
    return pb.WatchEvent(lagged=pb.Lagged(changes_lost=lost, behind=5), resume_token=b"lag")


def serving_cache(**config: Any) -> ReadCache:
    cache = ReadCache(CacheConfig(**config))
    cache.feed_request()
    assert cache.feed_event(caught_up())
    assert cache.serving
    return cache


def read(cache: ReadCache, response: pb.GetNodeResponse, **kwargs: Any) -> str:
    """A complete GetNode through the cache: 'hit' or 'miss' (answered with ``response``)."""
    call = _calls.get_node(DOC, "n", **kwargs)
    hit, pending = cache.begin(call)
    if hit is not None:
        return "hit"
    assert pending is not None
    cache.finish(pending, call, response)
    return "miss"


def write(cache: ReadCache, version: int) -> None:
    call = _calls.update_node(DOC, "n", title="x")
    hit, pending = cache.begin(call)
    assert hit is None and pending is not None
    cache.finish(pending, call, pb.UpdateNodeResponse(version=pb.Version(version=version)))


def test_latest_read_is_a_hit_after_a_miss_while_serving() -> None:
    cache = serving_cache()
    assert read(cache, node_response(3)) == "miss"
    assert read(cache, node_response(3)) == "hit"
    s = cache.stats()
    assert (s.hits, s.hits_latest, s.misses, s.entries, s.documents) == (1, 1, 1, 1, 1)
    assert s.bytes > 0


def test_reads_before_caught_up_are_stored_but_never_make_a_latest() -> None:
    cache = ReadCache(CacheConfig())
    cache.feed_request()  # connecting: no CaughtUp yet
    assert read(cache, node_response(3)) == "miss"
    assert read(cache, node_response(3)) == "miss"  # not serving
    assert cache.known_latest(DOC) is None
    assert read(cache, node_response(3), version=3) == "hit"  # immutable entry
    cache.feed_event(caught_up())
    assert read(cache, node_response(3)) == "miss"  # latest still unknown: ask the server
    assert read(cache, node_response(3)) == "hit"


def test_read_in_flight_before_caught_up_does_not_set_latest_after_it() -> None:
    cache = ReadCache(CacheConfig())
    cache.feed_request()
    call = _calls.get_node(DOC, "n")
    _, pending = cache.begin(call)  # issued before the stream is anchored
    cache.feed_event(caught_up())
    cache.finish(pending, call, node_response(3))  # v4 may be committed and never delivered
    assert cache.known_latest(DOC) is None


def test_event_for_the_next_version_overtaking_the_read_answer() -> None:
    cache = serving_cache()
    call = _calls.get_node(DOC, "n")
    _, pending = cache.begin(call)
    cache.feed_event(version_event(4))  # arrives before the answer of version 3
    cache.finish(pending, call, node_response(3))
    assert cache.known_latest(DOC) is None
    assert read(cache, node_response(4, "new")) == "miss"
    assert cache.known_latest(DOC) == 4


def test_answer_newer_than_the_events_in_flight_is_learned_an_older_one_not() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    slow = _calls.get_node(DOC, "n", include_text=False)
    _, newer = cache.begin(slow)
    _, older = cache.begin(_calls.get_children(DOC, "n"))
    cache.feed_event(version_event(4))  # latest 3 -> 4 while both are in flight
    cache.finish(older, _calls.get_children(DOC, "n"), pb.GetChildrenResponse(version=3))
    assert cache.known_latest(DOC) == 4
    cache.finish(newer, slow, node_response(5))  # newer than anything delivered
    assert cache.known_latest(DOC) == 5


def test_event_makes_the_next_latest_read_a_miss_and_moves_latest_forward() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    cache.feed_event(version_event(4))
    assert cache.known_latest(DOC) == 4
    assert read(cache, node_response(4)) == "miss"
    assert read(cache, node_response(4)) == "hit"
    assert read(cache, node_response(3), version=3) == "hit"  # the old version stays true


def test_old_event_replayed_after_a_resume_never_moves_latest_back() -> None:
    cache = serving_cache()
    read(cache, node_response(5))
    cache.feed_broken(resume_refused=False)
    cache.feed_request()
    cache.feed_event(version_event(4))
    assert cache.known_latest(DOC) == 5


def test_late_answer_of_an_older_read_never_moves_latest_back() -> None:
    cache = serving_cache()
    call = _calls.get_node(DOC, "n")
    _, slow = cache.begin(call)
    assert read(cache, node_response(5)) == "miss"
    cache.finish(slow, call, node_response(4))
    assert cache.known_latest(DOC) == 5


def test_delete_event_makes_latest_unknown_and_voids_reads_in_flight() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    call = _calls.get_node(DOC, "n", include_text=False)  # another key: not stored yet
    _, pending = cache.begin(call)
    cache.feed_event(delete_event(3))
    assert cache.known_latest(DOC) is None
    cache.finish(pending, call, node_response(3))  # answered before the delete
    assert cache.known_latest(DOC) is None
    assert read(cache, node_response(3)) == "miss"  # goes to the server (NOT_FOUND there)


def test_delete_event_older_than_a_known_recreation_is_ignored() -> None:
    cache = serving_cache()
    read(cache, node_response(5))  # the re-created document, read before the replayed delete
    cache.feed_event(delete_event(3))
    assert cache.known_latest(DOC) == 5


def test_stream_down_stops_latest_hits_until_the_next_caught_up() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    cache.feed_broken(resume_refused=False)
    assert not cache.serving
    assert read(cache, node_response(3)) == "miss"
    assert read(cache, node_response(3), version=3) == "hit"
    req = cache.feed_request()
    assert req.resume_token == b"cu"  # resumes after the last event
    assert read(cache, node_response(3)) == "miss"  # replaying, not caught up
    cache.feed_event(caught_up())
    assert cache.known_latest(DOC) == 3  # kept over the gap: the replay would have moved it
    assert read(cache, node_response(3)) == "hit"


def test_refused_resume_drops_every_latest_and_starts_from_now() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    call = _calls.get_node(DOC, "n", include_text=False)  # another key: not stored yet
    _, pending = cache.begin(call)
    cache.feed_broken(resume_refused=True)
    assert cache.known_latest(DOC) is None
    assert not cache.feed_request().HasField("resume_token")
    cache.finish(pending, call, node_response(3))  # from the old generation
    cache.feed_event(caught_up())
    assert cache.known_latest(DOC) is None
    assert cache.stats().resets == 1


def test_lost_changes_drop_every_latest_and_restart_the_stream() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    assert cache.feed_event(lagged(lost=False))
    assert cache.serving and cache.known_latest(DOC) == 3
    assert not cache.feed_event(lagged(lost=True))
    assert not cache.serving and cache.known_latest(DOC) is None
    assert not cache.feed_request().HasField("resume_token")


def test_own_write_moves_latest_to_its_version() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    write(cache, 4)
    assert cache.known_latest(DOC) == 4
    assert read(cache, node_response(4, "x")) == "miss"  # never the pre-write answer


def test_own_write_answer_after_its_own_event() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    call = _calls.update_node(DOC, "n", title="x")
    _, pending = cache.begin(call)
    cache.feed_event(version_event(4))  # the write's event first
    cache.feed_event(version_event(5))  # and another client's
    cache.finish(pending, call, pb.UpdateNodeResponse(version=pb.Version(version=4)))
    assert cache.known_latest(DOC) == 5


def test_own_write_with_an_unknown_latest_under_a_concurrent_event_leaves_it_unknown() -> None:
    cache = serving_cache()
    call = _calls.update_node(DOC, "n", title="x")
    _, pending = cache.begin(call)
    cache.feed_event(version_event(5))  # someone else's, after ours
    cache.finish(pending, call, pb.UpdateNodeResponse(version=pb.Version(version=4)))
    assert cache.known_latest(DOC) is None


def test_failed_write_forgets_the_document() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    call = _calls.update_node(DOC, "n", title="x")
    _, pending = cache.begin(call)
    cache.fail(pending)  # e.g. DEADLINE_EXCEEDED: it may have committed
    assert cache.known_latest(DOC) is None


def test_own_delete_forgets_the_document() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    call = _calls.delete_document(DOC)
    _, pending = cache.begin(call)
    cache.finish(pending, call, pb.DeleteDocumentResponse(nodes_deleted=1, versions_deleted=3))
    assert cache.known_latest(DOC) is None


def test_commit_of_an_own_transaction_moves_latest() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    begin = _calls.begin_transaction(DOC)
    _, p = cache.begin(begin)
    cache.finish(p, begin, pb.BeginTransactionResponse(transaction_id="tx1", snapshot_version=3))
    inside = _calls.get_node(DOC, "n", transaction_id="tx1")
    assert cache.begin(inside) == (None, None)  # reads inside a transaction bypass
    commit = _calls.commit_transaction("tx1")
    _, p = cache.begin(commit)
    cache.finish(p, commit, pb.CommitTransactionResponse(version=pb.Version(version=4)))
    assert cache.known_latest(DOC) == 4


def test_commit_of_an_unknown_transaction_forgets_everything() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    call = _calls.get_node(DOC, "n", include_text=False)  # another key: not stored yet
    _, pending = cache.begin(call)
    commit = _calls.commit_transaction("elsewhere")
    _, p = cache.begin(commit)
    cache.finish(p, commit, pb.CommitTransactionResponse(version=pb.Version(version=4)))
    assert cache.known_latest(DOC) is None
    cache.finish(pending, call, node_response(3))  # issued before: void
    assert cache.known_latest(DOC) is None


def test_as_of_reads_and_other_calls_are_not_followed() -> None:
    cache = serving_cache()
    assert cache.begin(_calls.get_node(DOC, "n", as_of=1_000_000)) == (None, None)
    assert cache.begin(_calls.search_nodes("x")) == (None, None)
    assert cache.stats().bypassed == 1


def test_keys_tell_arguments_apart() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    assert read(cache, node_response(3), include_text=False) == "miss"
    call = _calls.get_children(DOC, "n")
    hit, pending = cache.begin(call)
    assert hit is None
    cache.finish(pending, call, pb.GetChildrenResponse(version=3))
    hit, _ = cache.begin(_calls.get_children(DOC, "n"))
    assert hit is not None
    hit, _ = cache.begin(_calls.get_children(DOC, "n", page_size=5))
    assert hit is None


def test_byte_bound_evicts_least_recently_used() -> None:
    one = node_response(1, "x" * 1000)
    size = one.ByteSize()
    cache = serving_cache(max_bytes=3 * (size + 400))
    for v in range(1, 6):
        assert read(cache, node_response(v, "x" * 1000), version=v) == "miss"
    s = cache.stats()
    assert s.entries == 3 and s.evictions == 2 and s.bytes <= s.max_bytes
    assert read(cache, node_response(5, "x" * 1000), version=5) == "hit"
    assert read(cache, node_response(1, "x" * 1000), version=1) == "miss"


def test_documents_bound_forgets_least_recently_used_latest() -> None:
    cache = serving_cache(max_documents=2)
    for doc in ("a", "b", "c"):
        call = _calls.get_node(doc, "n")
        _, p = cache.begin(call)
        cache.finish(p, call, node_response(1))
    assert [cache.known_latest(d) for d in ("a", "b", "c")] == [None, 1, 1]


def test_closed_cache_never_serves_latest() -> None:
    cache = serving_cache()
    read(cache, node_response(3))
    cache.close()
    assert read(cache, node_response(3)) == "miss"
    assert not cache.feed_event(version_event(4))
