"""watch() against the real server: events, starts (now, resume token, from_versions), deletes
and re-creations, auto-resume across a server restart, errors; sync and asyncio."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

import pytest

from treestore import (AsyncTreeStoreClient, CaughtUp, DeleteEvent, InvalidArgument,
                       TreeStoreClient, TreeStoreError, VersionEvent)

WAIT = 30.0  # seconds an expected event may take (a bound for a hung test, not a timing claim)


def tree(title: str = "root") -> list[dict[str, Any]]:
    return [{"node_id": "r", "title": title, "children": [
        {"node_id": "a", "title": "A", "summary": "first"},
        {"node_id": "b", "title": "B", "text": "second"}]}]


class Reader:
    """Reads a WatchStream on a thread into a queue, so a test waits with a bound."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.q: "queue.Queue[Any]" = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for event in self.stream:
                self.q.put(event)
        except TreeStoreError as exc:
            self.q.put(exc)
        self.q.put(StopIteration())

    def next(self) -> Any:
        try:
            item = self.q.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"no watch event within {WAIT}s") from None
        if isinstance(item, TreeStoreError):
            raise item
        return item

    def take(self, n: int) -> list[Any]:
        return [self.next() for _ in range(n)]

    def until_caught_up(self) -> list[Any]:
        """The events before the next CaughtUp (which is consumed)."""
        out = []
        while True:
            e = self.next()
            if isinstance(e, CaughtUp):
                return out
            out.append(e)

    def close(self) -> None:
        self.stream.cancel()
        self.thread.join(WAIT)


def versions(events: list[Any]) -> list[tuple[str, int]]:
    return [(e.doc_id, e.version.version) if isinstance(e, VersionEvent)
            else (e.doc_id, -e.last_version) for e in events]


def test_watch_from_now_delivers_each_version_with_what_changed(client: TreeStoreClient,
                                                                 uid: str) -> None:
    doc = f"{uid}-d"
    r = Reader(client.watch([doc]))
    try:
        first = r.next()
        assert isinstance(first, CaughtUp) and first.resume_token
        client.put_document(doc, tree())
        client.update_node(doc, "a", title="A2")
        client.insert_node(doc, "r", {"node_id": "c", "title": "C"})
        client.move_node(doc, "c", "a")
        client.delete_node(doc, "b")
        e1, e2, e3, e4, e5 = r.take(5)
        assert all(isinstance(e, VersionEvent) and e.doc_id == doc for e in (e1, e2, e3, e4, e5))
        assert [e.version.version for e in (e1, e2, e3, e4, e5)] == [1, 2, 3, 4, 5]
        assert e1.created and sorted(e1.added) == ["a", "b", "r"]
        assert not e2.created and e2.updated == ["a"] and not e2.added
        assert e3.added == ["c"]
        assert e4.moved == ["c"]
        assert e5.removed == ["b"]
        assert e1.nodes == [] and not e1.contents_unavailable  # no contents asked for
        tokens = {e.resume_token for e in (first, e1, e2, e3, e4, e5)}
        assert len(tokens) == 6 and all(tokens)
    finally:
        r.close()


def test_include_contents_carries_the_changed_nodes(client: TreeStoreClient, uid: str) -> None:
    doc = f"{uid}-d"
    with client.watch([doc], include_contents=True) as stream:
        r = Reader(stream)
        assert isinstance(r.next(), CaughtUp)
        client.put_document(doc, tree())
        client.update_node(doc, "b", text="changed text")
        created, updated = r.take(2)
        assert [n.node_id for n in created.nodes] == ["a", "b", "r"]
        assert created.nodes[0].summary == "first"
        assert [(n.node_id, n.text) for n in updated.nodes] == [("b", "changed text")]
        r.close()


def test_delete_and_recreate_continue_the_version_numbers(client: TreeStoreClient,
                                                          uid: str) -> None:
    doc = f"{uid}-d"
    r = Reader(client.watch([doc]))
    try:
        r.next()
        client.put_document(doc, tree())
        client.update_node(doc, "a", title="x")
        client.delete_document(doc)
        client.put_document(doc, tree("again"))
        events = r.take(4)
        assert versions(events) == [(doc, 1), (doc, 2), (doc, -2), (doc, 3)]
        assert isinstance(events[2], DeleteEvent) and events[2].deleted_at > 0
        assert events[3].created
    finally:
        r.close()


def test_resume_token_continues_exactly_after_its_event(client: TreeStoreClient,
                                                        uid: str) -> None:
    doc = f"{uid}-d"
    r = Reader(client.watch([doc]))
    r.next()
    client.put_document(doc, tree())
    client.update_node(doc, "a", title="2")
    e1, e2 = r.take(2)
    r.close()
    client.update_node(doc, "a", title="3")  # while nobody watches
    client.delete_document(doc)
    client.put_document(doc, tree())
    r = Reader(client.watch([doc], resume_token=e1.resume_token))
    try:
        replay = r.until_caught_up()
        assert versions(replay) == [(doc, 2), (doc, 3), (doc, -3), (doc, 4)]
        assert replay[0].resume_token == e2.resume_token
        client.update_node(doc, "a", title="live")
        assert versions(r.take(1)) == [(doc, 5)]
    finally:
        r.close()


def test_from_versions_replays_after_the_given_version(client: TreeStoreClient,
                                                       uid: str) -> None:
    doc, other = f"{uid}-d", f"{uid}-o"
    client.put_document(doc, tree())
    for i in range(3):
        client.update_node(doc, "a", title=str(i))
    client.put_document(other, tree())
    r = Reader(client.watch([doc, other], from_versions={doc: 2}))
    try:
        # doc replays after version 2; other (not listed) starts now
        assert versions(r.until_caught_up()) == [(doc, 3), (doc, 4)]
        client.update_node(other, "a", title="o")
        assert versions(r.take(1)) == [(other, 2)]
    finally:
        r.close()
    r = Reader(client.watch([doc], from_versions={doc: 0}))  # 0: all that is kept
    try:
        assert versions(r.until_caught_up()) == [(doc, v) for v in (1, 2, 3, 4)]
    finally:
        r.close()


def test_prefix_selects_documents_created_later(client: TreeStoreClient, uid: str) -> None:
    r = Reader(client.watch(prefix=f"{uid}-in"))
    try:
        r.next()
        client.put_document(f"{uid}-out", tree())
        client.put_document(f"{uid}-in-1", tree())
        client.put_document(f"{uid}-in-2", tree())
        got = r.take(2)
        assert sorted(versions(got)) == [(f"{uid}-in-1", 1), (f"{uid}-in-2", 1)]
    finally:
        r.close()


def test_bad_requests_raise(client: TreeStoreClient, uid: str) -> None:
    with pytest.raises(InvalidArgument):
        client.watch([f"{uid}-d"], prefix="x")
    with pytest.raises(InvalidArgument):
        client.watch([f"{uid}-d"], resume_token=b"x", from_versions={f"{uid}-d": 1})
    with pytest.raises(InvalidArgument):
        client.watch("not-a-list")
    stream = client.watch([f"{uid}-d"], resume_token=b"not a token")
    with pytest.raises(TreeStoreError) as info:
        next(stream)
    assert info.value.code is not None and info.value.code.name in (
        "INVALID_ARGUMENT", "FAILED_PRECONDITION")
    stream = client.watch([f"{uid}-d"], from_versions={f"{uid}-other": 1})
    with pytest.raises(InvalidArgument):  # a document outside the selection
        next(stream)


def test_auto_resume_across_a_server_restart_loses_and_repeats_nothing(server_factory,
                                                                       uid: str) -> None:
    srv = server_factory()
    doc = f"{uid}-d"
    with TreeStoreClient(srv.address, timeout=30.0) as c:
        c.put_document(doc, tree())
        stream = c.watch([doc], from_versions={doc: 0}, auto_resume=True)
        r = Reader(stream)
        try:
            assert versions(r.until_caught_up()) == [(doc, 1)]
            c.update_node(doc, "a", title="2")
            assert versions(r.take(1)) == [(doc, 2)]
            srv.stop()
            srv.start()  # same port, same data directory
            c.wait_until_ready()
            c.update_node(doc, "a", title="3")
            c.update_node(doc, "a", title="4")
            got: list[Any] = []
            while len(got) < 2:  # the new stream's CaughtUp may come before or after them
                e = r.next()
                if isinstance(e, (VersionEvent, DeleteEvent)):
                    got.append(e)
            assert versions(got) == [(doc, 3), (doc, 4)]  # each once, none lost
            assert stream.connections >= 2
        finally:
            r.close()


def test_without_auto_resume_a_restart_ends_the_stream_with_unavailable(server_factory,
                                                                         uid: str) -> None:
    srv = server_factory()
    with TreeStoreClient(srv.address, timeout=30.0) as c:
        r = Reader(c.watch([f"{uid}-d"]))
        assert isinstance(r.next(), CaughtUp)
        srv.stop()
        with pytest.raises(TreeStoreError) as info:
            r.next()
        assert info.value.code is not None and info.value.code.name == "UNAVAILABLE"


async def test_async_watch_events_and_resume(server, uid: str) -> None:
    doc = f"{uid}-d"
    async with AsyncTreeStoreClient(server.address, timeout=30.0) as c:
        stream = c.watch([doc])
        it = stream.__aiter__()
        first = await asyncio.wait_for(it.__anext__(), WAIT)
        assert isinstance(first, CaughtUp)
        await c.put_document(doc, tree())
        await c.update_node(doc, "a", title="2")
        e1 = await asyncio.wait_for(it.__anext__(), WAIT)
        e2 = await asyncio.wait_for(it.__anext__(), WAIT)
        assert versions([e1, e2]) == [(doc, 1), (doc, 2)]
        stream.cancel()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(it.__anext__(), WAIT)
        await c.delete_document(doc)
        resumed: list[Any] = []
        async with c.watch([doc], resume_token=e1.resume_token) as again:
            async for e in again:
                if isinstance(e, CaughtUp):
                    break
                resumed.append(e)
        assert versions(resumed) == [(doc, 2), (doc, -2)]



async def test_async_auto_resume_across_a_server_restart(server_factory, uid: str) -> None:
    srv = server_factory()
    doc = f"{uid}-d"
    async with AsyncTreeStoreClient(srv.address, timeout=30.0) as c:
        await c.put_document(doc, tree())
        stream = c.watch([doc], from_versions={doc: 0}, auto_resume=True)
        it = stream.__aiter__()

        async def next_change() -> Any:
            while True:
                e = await asyncio.wait_for(it.__anext__(), WAIT)
                if not isinstance(e, CaughtUp):
                    return e

        assert versions([await next_change()]) == [(doc, 1)]
        srv.stop()
        srv.start()
        await c.wait_until_ready()
        await c.update_node(doc, "a", title="2")
        await c.delete_document(doc)
        got = [await next_change(), await next_change()]
        assert versions(got) == [(doc, 2), (doc, -2)]
        assert stream.connections >= 2
        stream.cancel()
