"""The read cache against the real server: hit/miss accounting, invalidation by other clients'
writes (through the watch), read-your-writes, a broken stream (no latest read from memory
until caught up again; a refused resume forgets everything), replay after a cut link, the
tools' default cache, and the randomized never-stale test (tests/_cache_check.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterator

import pytest

from treestore import (AsyncTreeStoreClient, CacheConfig, Lagged, NotFound, TreeStoreClient,
                       TreeStoreError, Unavailable)
from treestore.tools import ToolRunner

from ._cache_check import normal, run_never_stale
from ._proxy import Proxy

WAIT = 30.0  # bound of a wait for the feed (a hung test fails; no timing is asserted)
#: reconnect fast after a cut link (gRPC's default backoff starts at 1 s and grows to 120 s)
FAST_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 50), ("grpc.min_reconnect_backoff_ms", 50),
                  ("grpc.max_reconnect_backoff_ms", 200)]


def tree(title: str = "root", n: int = 4) -> list[dict[str, Any]]:
    return [{"node_id": "r", "title": title, "children": [
        {"node_id": f"c{i}", "title": f"C{i}", "summary": f"s{i}",
         "children": [{"node_id": f"c{i}x", "title": "leaf", "text": "t"}]}
        for i in range(n)]}]


def cached_client(address: str, **config: Any) -> TreeStoreClient:
    c = TreeStoreClient(address, timeout=30.0, cache=CacheConfig(**config),
                        options=FAST_RECONNECT)
    assert c.wait_cache_serving(WAIT), c.cache_stats()
    return c


@pytest.fixture()
def cached(server) -> Iterator[TreeStoreClient]:
    c = cached_client(server.address)
    yield c
    c.close()


def eventually(check: Any, what: str) -> Any:
    """Poll ``check()`` until it returns a truthy value (a liveness bound, not a timing
    assertion)."""
    deadline = time.monotonic() + WAIT
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT}s: {what}")
        time.sleep(0.01)


def test_hits_misses_and_bypasses_are_counted(cached: TreeStoreClient,
                                              client: TreeStoreClient, uid: str) -> None:
    doc = f"{uid}-d"
    e0 = cached.cache_stats().events
    client.put_document(doc, tree())
    # its event first: one arriving while a read is in flight keeps that read from
    # becoming "latest" (correct, but this test counts hits)
    eventually(lambda: cached.cache_stats().events > e0, "the put's event")
    s0 = cached.cache_stats()
    a = cached.get_node(doc, "c1")
    b = cached.get_node(doc, "c1")
    assert normal(a) == normal(b) == normal(client.get_node(doc, "c1"))
    cached.get_subtree(doc, "")
    cached.get_subtree(doc, "")
    cached.get_node(doc, "c1", version=1)  # the entry the latest read stored at version 1
    cached.get_node(doc, "c1", as_of="2999-01-01")  # as of a time: never cached
    s = cached.cache_stats()
    assert (s.misses - s0.misses, s.hits - s0.hits, s.hits_latest - s0.hits_latest,
            s.bypassed - s0.bypassed) == (2, 3, 2, 1)
    assert s.entries - s0.entries == 2 and s.bytes > s0.bytes and s.feed == "serving"
    assert cached.cache.known_latest(doc) == 1


def test_another_clients_write_reaches_the_cache_through_the_watch(
        cached: TreeStoreClient, client: TreeStoreClient, uid: str) -> None:
    doc = f"{uid}-d"
    client.put_document(doc, tree())
    assert cached.get_node(doc, "c2").title == "C2"
    assert cached.get_node(doc, "c2").title == "C2"  # a hit
    w = client.update_node(doc, "c2", title="changed").version.version
    eventually(lambda: cached.cache.known_latest(doc) == w, "the event moves latest")
    node, version = cached.read_versioned("get_node", doc, "c2")
    assert (node.title, version) == ("changed", w)
    client.delete_document(doc)
    eventually(lambda: cached.cache.known_latest(doc) is None, "the delete event")
    with pytest.raises(NotFound):
        cached.get_node(doc, "c2")
    assert cached.get_node(doc, "c2", version=w).title == "changed"  # versions stay true


def test_read_your_writes(cached: TreeStoreClient, uid: str) -> None:
    doc = f"{uid}-d"
    cached.put_document(doc, tree())
    for i in range(20):
        assert cached.get_node(doc, "c0").title == (f"t{i - 1}" if i else "C0")
        cached.get_subtree(doc, "")  # keep a latest entry of another key in memory too
        w = cached.update_node(doc, "c0", title=f"t{i}").version.version
        node, version = cached.read_versioned("get_node", doc, "c0")
        assert version >= w and node.title == f"t{i}"
        roots, version = cached.read_versioned("get_subtree", doc, "")
        assert version >= w
    with cached.transaction(doc) as tx:
        tx.update_node("c3", title="in tx")
    assert tx.version is not None
    assert cached.read_versioned("get_node", doc, "c3")[1] >= tx.version.version
    assert cached.get_node(doc, "c3").title == "in tx"
    cached.delete_document(doc)
    with pytest.raises(NotFound):
        cached.get_node(doc, "c0")
    w = cached.put_document(doc, tree("again")).version.version
    assert cached.read_versioned("get_node", doc, "r") == (cached.get_node(doc, "r"), w)
    assert cached.get_node(doc, "r").title == "again"


def test_stream_down_means_no_latest_read_from_memory(server_factory, uid: str) -> None:
    srv = server_factory()
    doc = f"{uid}-d"
    with TreeStoreClient(srv.address, timeout=30.0) as writer:
        writer.put_document(doc, tree())
    c = cached_client(srv.address)
    try:
        c.get_node(doc, "c1")
        c.get_node(doc, "c1")
        assert c.cache_stats().hits_latest == 1
        srv.stop()
        eventually(lambda: c.cache_stats().feed != "serving", "the feed notices")
        with pytest.raises(Unavailable):  # not the entry in memory
            c.get_node(doc, "c1", timeout=2.0)
        assert c.get_node(doc, "c1", version=1).title == "C1"  # immutable: still served
        srv.start()  # same port and data directory: the feed resumes from its token
        assert c.wait_cache_serving(WAIT)
        s = c.cache_stats()
        assert s.resets == 0 and s.connections >= 2
        c.get_node(doc, "c1")
        assert c.cache_stats().hits_latest == s.hits_latest + 1
    finally:
        c.close()


def test_refused_resume_forgets_every_latest(server_factory, tmp_path, uid: str) -> None:
    """Another data directory behind the same address: the old token is refused, and a
    document that does not exist there must not be served from memory."""
    srv = server_factory()
    doc = f"{uid}-d"
    with TreeStoreClient(srv.address, timeout=30.0) as writer:
        writer.put_document(doc, tree())
        for i in range(3):
            writer.update_node(doc, "c0", title=str(i))
    c = cached_client(srv.address)
    try:
        c.get_node(doc, "c0")
        assert c.cache.known_latest(doc) == 4
        srv.stop()
        srv.data_dir = tmp_path / "another"
        srv.start()
        assert c.wait_cache_serving(WAIT)
        eventually(lambda: c.cache_stats().resets >= 1, "the refused resume resets")
        assert c.cache.known_latest(doc) is None
        with pytest.raises(NotFound):
            c.get_node(doc, "c0")
    finally:
        c.close()


def test_replay_after_a_cut_link_is_applied_before_serving(server, client: TreeStoreClient,
                                                           uid: str) -> None:
    """The link of the cached client is cut while another client writes; when it is back,
    the resumed stream replays those writes before its CaughtUp, so the first read after
    the cache serves again already sees them (no waiting for the feed here)."""
    host, port = server.address.split(":")
    proxy = Proxy(host, int(port))
    doc = f"{uid}-d"
    client.put_document(doc, tree())
    c = cached_client(proxy.address)
    try:
        assert c.get_node(doc, "c1").title == "C1"
        assert c.get_node(doc, "c1").title == "C1"
        proxy.cut()
        eventually(lambda: c.cache_stats().feed != "serving", "the feed notices the cut")
        with pytest.raises(TreeStoreError):
            c.get_node(doc, "c1", timeout=1.0)  # down: not from memory
        w = 0
        for i in range(5):
            w = client.update_node(doc, "c1", title=f"while cut {i}").version.version
        client.delete_node(doc, "c2")
        proxy.restore()
        assert c.wait_cache_serving(WAIT)
        node, version = c.read_versioned("get_node", doc, "c1")
        assert version >= w + 1 and node.title == "while cut 4"
        with pytest.raises(NotFound):
            c.get_node(doc, "c2")
        assert c.cache_stats().resets == 0
    finally:
        c.close()
        proxy.close()


def test_changes_lost_while_cut_reset_the_cache(server_factory, uid: str) -> None:
    """A server that keeps few changes (--watch-retention-records 1 and one event in memory,
    checkpoints every second): while the cached client's link is cut, other writes outrun the retention; on
    resume the server reports the loss (Lagged{changes_lost}) or refuses the token, and the
    cache drops what it knew instead of serving it."""
    srv = server_factory(args=("--watch-retention-records", "1", "--watch-memory-events", "1",
                               "--checkpoint-interval-secs", "1"))
    doc = f"{uid}-d"
    with TreeStoreClient(srv.address, timeout=30.0) as writer:
        writer.put_document(doc, tree())
        host, port = srv.address.split(":")
        proxy = Proxy(host, int(port))
        c = cached_client(proxy.address)
        try:
            assert c.get_node(doc, "c1").title == "C1"
            assert c.get_node(doc, "c1").title == "C1"
            token = c.cache.resume_token
            proxy.cut()
            eventually(lambda: c.cache_stats().feed != "serving", "the feed notices the cut")
            for i in range(30):
                writer.update_node(doc, "c1", title=f"lost {i}")

            def lost() -> bool:  # the changes after the cache's token are gone
                probe = writer.watch(prefix="", resume_token=token)
                try:
                    first = next(probe)
                    return isinstance(first, Lagged) and first.changes_lost
                except TreeStoreError:
                    return True  # the token is refused outright
                finally:
                    probe.cancel()

            eventually(lost, "a checkpoint drops the changes after the token")
            proxy.restore()
            eventually(lambda: c.cache_stats().resets >= 1, "the cache resets")
            assert c.wait_cache_serving(WAIT)
            assert c.get_node(doc, "c1").title == "lost 29"
        finally:
            c.close()
            proxy.close()


def test_tools_read_through_a_cache_by_default(server, client: TreeStoreClient,
                                               uid: str) -> None:
    doc = f"{uid}-d"
    client.put_document(doc, tree())
    with ToolRunner(client) as runner:
        assert runner.client is not client and runner.client.cache is not None
        assert runner.client.wait_cache_serving(WAIT)
        first = runner.call("pi_search", {"doc_id": doc, "depth": 3})
        s1 = runner.read_cache_stats()
        again = runner.call("pi_search", {"doc_id": doc, "depth": 3})
        s2 = runner.read_cache_stats()
        assert again == first
        assert s2.misses == s1.misses and s2.hits - s1.hits == 2  # pin + subtree from memory
        client.update_node(doc, "c0", title="renamed")
        eventually(lambda: "renamed" in runner.call("pi_search", {"doc_id": doc, "depth": 3}),
                   "the tools see the change")
    assert runner.client.cache_stats().feed == "closed"
    with ToolRunner(client, read_cache=False) as plain:
        assert plain.client is client and plain.read_cache_stats() is None


async def test_async_client_cache(server, client: TreeStoreClient, uid: str) -> None:
    doc = f"{uid}-d"
    client.put_document(doc, tree())
    async with AsyncTreeStoreClient(server.address, timeout=30.0, cache=CacheConfig()) as c:
        assert await c.wait_cache_serving(WAIT)
        assert (await c.get_node(doc, "c1")).title == "C1"
        assert (await c.get_node(doc, "c1")).title == "C1"
        assert c.cache_stats().hits_latest == 1
        w = (await c.update_node(doc, "c1", title="mine")).version.version
        node, version = await c.read_versioned("get_node", doc, "c1")
        assert node.title == "mine" and version >= w
        w = client.update_node(doc, "c1", title="theirs").version.version
        deadline = time.monotonic() + WAIT
        while c.cache.known_latest(doc) != w:
            assert time.monotonic() < deadline, "the event reaches the async feed"
            await asyncio.sleep(0.01)
        assert (await c.get_node(doc, "c1")).title == "theirs"
    assert c.cache_stats().feed == "closed"


def test_never_stale_randomized(server, uid: str) -> None:
    report = run_never_stale(server.address, uid, seed=20261201)
    assert report.verified > 200, report
    assert report.own_writes > 20, report
    assert report.hits > 100, report


async def test_async_tools_read_through_a_cache_by_default(server, client: TreeStoreClient,
                                                           uid: str) -> None:
    from treestore.tools import AsyncToolRunner

    doc = f"{uid}-d"
    client.put_document(doc, tree())
    async with AsyncTreeStoreClient(server.address, timeout=30.0) as plain:
        async with AsyncToolRunner(plain) as runner:
            assert runner.client is not plain and runner.client.cache is not None
            assert await runner.client.wait_cache_serving(WAIT)
            first = await runner.call("get_node", {"doc_id": doc, "node_id": "c1"})
            s1 = runner.read_cache_stats()
            assert await runner.call("get_node", {"doc_id": doc, "node_id": "c1"}) == first
            s2 = runner.read_cache_stats()
            assert s2.misses == s1.misses and s2.hits > s1.hits
        assert runner.client.cache_stats().feed == "closed"
