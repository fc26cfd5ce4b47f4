"""The randomized never-stale check of the read cache (run by tests/test_server_cache.py).

Writer threads, each with its own uncached client, change a few documents at random
(updates, inserts, deletes and moves of nodes, whole-document overwrites, deletions followed
by re-creation). Reader threads share one cached client; they read at the latest version
(GetNode, GetSubtree, GetChildren, GetAncestors, GetDocument with the version read, from
``read_versioned``) and now and then write themselves. Checked:

* every cached read equals an uncached read at the version it claims (content identical);
  when that version is gone (its document was deleted since) the read is counted as
  unverifiable;
* no read is older than what the cache's own feed had delivered of its document before the
  read was issued (the feed's events are recorded on their way into the cache: the recorder
  calls the real ``ReadCache.feed_event`` first, then notes the event's version; after a
  DeleteEvent of last version L the read must be NOT_FOUND or newer than L): the cache may
  lag the server by the feed's delay, never its own feed;
* after a reader's own write at version w, its next latest read of that document reads a
  version >= w (or NOT_FOUND: a writer deleted the document meanwhile);
* per reader and document, the versions read never go back;
* when the writers are done, the cache converges: each document's latest read through the
  cache equals the uncached one (a wrong latest would otherwise be kept forever).

Choices come from ``random.Random(seed + thread number)``: the operations of each thread are
reproducible (their interleaving is the scheduler's). Counts, not durations, bound the run.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from treestore import (AlreadyExists, CacheConfig, Document, FailedPrecondition, Node, NotFound,
                       Page, TreeStoreClient, TreeStoreError)

DOCS = 5
WRITERS = 3
READERS = 3
WRITES_PER_WRITER = 120
READS_PER_READER = 300
CONVERGE_WITHIN = 30.0  # bound of the final convergence wait (liveness, not timing)
EXPECTED = (NotFound, FailedPrecondition, AlreadyExists)  # races between writers


def normal(value: Any) -> Any:
    """A comparable, fully materialized form of a read result."""
    if isinstance(value, Node):
        return (value.node_id, value.parent_id, value.position, value.title, value.summary,
                value.text, value.start_page, value.end_page, value.line_num, value.extra_json,
                value.has_children, tuple(normal(c) for c in value.children))
    if isinstance(value, Document):
        return (value.doc_id, value.name, value.description, sorted(value.metadata.items()),
                value.created_at, value.updated_at, value.version, value.node_count)
    if isinstance(value, Page):
        return (tuple(normal(i) for i in value.items), value.next_page_token)
    if isinstance(value, (list, tuple)):
        return tuple(normal(i) for i in value)
    return value


def base_tree(doc_no: int, title: str) -> list[dict[str, Any]]:
    return [{"node_id": "r", "title": f"{title} {doc_no}", "children": [
        {"node_id": f"c{i}", "title": f"C{i}", "summary": f"summary {i}", "start_page": i,
         "children": [{"node_id": f"c{i}x", "title": f"leaf {i}", "text": f"text {i}"}]}
        for i in range(4)]}]


NODE_IDS = ["r"] + [f"c{i}" for i in range(4)] + [f"c{i}x" for i in range(4)] + \
    [f"n{i}" for i in range(6)]


@dataclass
class Report:
    verified: int = 0
    unverifiable: int = 0
    not_found: int = 0
    own_writes: int = 0
    writes: int = 0
    hits: int = 0
    misses: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text)

    def add(self, **counts: int) -> None:
        with self.lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)


def _write(c: TreeStoreClient, rng: random.Random, doc: str, doc_no: int, tag: str) -> int:
    """One random write; returns the version it made (0: none, e.g. a race lost)."""
    op = rng.random()
    node = rng.choice(NODE_IDS[1:])
    try:
        if op < 0.55:
            field_name = rng.choice(["title", "summary", "text"])
            return c.update_node(doc, node, **{field_name: f"{tag} {rng.random():.6f}"}) \
                .version.version
        if op < 0.68:
            new = rng.choice(NODE_IDS[9:])
            parent = rng.choice(["", "r", "c0", "c1", "c2"])
            return c.insert_node(doc, parent, {"node_id": new, "title": f"new {tag}"}) \
                .version.version
        if op < 0.78:
            return c.delete_node(doc, node).version.version
        if op < 0.88:
            return c.move_node(doc, node, rng.choice(["", "r", "c3"])).version.version
        if op < 0.95:
            return c.put_document(doc, base_tree(doc_no, f"overwrite {tag}"), overwrite=True) \
                .version.version
        c.delete_document(doc)
        return c.put_document(doc, base_tree(doc_no, f"recreated {tag}")).version.version
    except EXPECTED:
        return 0


def _reads(rng: random.Random, doc: str) -> tuple[str, tuple, dict]:
    """A random read (method, args, kwargs); few shapes, so that reads repeat (hits)."""
    kind = rng.randrange(5)
    if kind == 0:
        return "get_node", (doc, rng.choice(NODE_IDS[:9])), {}
    if kind == 1:
        return "get_subtree", (doc, rng.choice(["", "r", "c1"])), {"max_depth": rng.choice([0, 2])}
    if kind == 2:
        return "get_children", (doc, rng.choice(["", "r"])), {}
    if kind == 3:
        return "get_ancestors", (doc, rng.choice(["c0x", "c2x"])), {"include_self": True}
    return "get_document", (doc,), {"include_tree": rng.random() < 0.5}


def run_never_stale(address: str, uid: str, seed: int) -> Report:
    docs = [f"{uid}-ns{i}" for i in range(DOCS)]
    report = Report()
    plain = TreeStoreClient(address, timeout=30.0)
    cached = TreeStoreClient(address, timeout=30.0, cache=CacheConfig(max_bytes=4 << 20))
    try:
        for i, doc in enumerate(docs):
            plain.put_document(doc, base_tree(i, "initial"))
        assert cached.wait_cache_serving(30.0), cached.cache_stats()
        s0 = cached.cache_stats()
        delivered = record_feed(cached)

        def writer(n: int) -> None:
            rng = random.Random(seed + n)
            with TreeStoreClient(address, timeout=30.0) as c:
                for k in range(WRITES_PER_WRITER):
                    i = rng.randrange(DOCS)
                    if _write(c, rng, docs[i], i, f"w{n}.{k}"):
                        report.add(writes=1)

        def reader(n: int) -> None:
            rng = random.Random(seed + 100 + n)
            seen: dict[str, int] = {}
            for k in range(READS_PER_READER):
                i = rng.randrange(DOCS)
                doc = docs[i]
                if rng.random() < 0.1:
                    own = _write(cached, rng, doc, i, f"r{n}.{k}")
                    if own:
                        report.add(own_writes=1)
                        try:
                            _, v = cached.read_versioned("get_document", doc)
                        except NotFound:
                            continue
                        if v < own:
                            report.fail(f"reader {n}: read version {v} of {doc} after its own "
                                        f"write at {own}")
                        seen[doc] = max(seen.get(doc, 0), v)
                    continue
                method, args, kwargs = _reads(rng, doc)
                floor = delivered.get(doc, 0)
                try:
                    result, v = cached.read_versioned(method, *args, **kwargs)
                except NotFound:
                    report.add(not_found=1)
                    continue
                if v < floor:
                    report.fail(f"reader {n}: {method}{args} read version {v} of {doc}; the "
                                f"cache's feed had delivered {floor} before the read")
                if v < seen.get(doc, 0):
                    report.fail(f"reader {n}: {method}{args} read version {v} of {doc} after "
                                f"version {seen[doc]}")
                seen[doc] = max(seen.get(doc, 0), v)
                try:
                    expected, v2 = plain.read_versioned(method, *args, version=v, **kwargs)
                except NotFound:
                    report.add(unverifiable=1)  # the version is gone (document deleted)
                    continue
                if v2 != v or normal(expected) != normal(result):
                    report.fail(f"reader {n}: {method}{args}{kwargs} claimed version {v}; "
                                f"the server's version {v2} differs:\n  cached  "
                                f"{normal(result)!r}\n  server  {normal(expected)!r}")
                else:
                    report.add(verified=1)

        threads = [threading.Thread(target=_guard(report, f"writer {n}", writer, n))
                   for n in range(WRITERS)]
        threads += [threading.Thread(target=_guard(report, f"reader {n}", reader, n))
                    for n in range(READERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        s1 = cached.cache_stats()
        report.hits, report.misses = s1.hits - s0.hits, s1.misses - s0.misses

        for doc in docs:  # convergence: nothing stays stale once the writers stop
            deadline = time.monotonic() + CONVERGE_WITHIN
            while True:
                truth = plain.read_versioned("get_subtree", doc, "")
                seen_now = cached.read_versioned("get_subtree", doc, "")
                if normal(seen_now) == normal(truth):
                    break
                if time.monotonic() > deadline:
                    report.fail(f"{doc}: the cache still answers version {seen_now[1]}, the "
                                f"server {truth[1]}, {CONVERGE_WITHIN}s after the last write")
                    break
                time.sleep(0.01)
    finally:
        cached.close()
        plain.close()
    assert not report.failures, "\n".join(report.failures[:10])
    return report


def record_feed(client: TreeStoreClient) -> dict[str, float]:
    """Record, per document, the newest position the cache's feed has applied: version v, or
    L + 0.5 after a DeleteEvent of last version L (values only grow; the dict is read by
    other threads without a lock, each read seeing a whole value)."""
    cache = client.cache
    assert cache is not None
    apply = cache.feed_event
    delivered: dict[str, float] = {}

    def recording(m: Any) -> bool:
        result = apply(m)  # into the cache first: the record is a lower bound of its state
        kind = m.WhichOneof("event")
        if kind == "version":
            doc, pos = m.version.doc_id, float(m.version.version.version)
        elif kind == "deleted":
            doc, pos = m.deleted.doc_id, m.deleted.last_version + 0.5
        else:
            return result
        if pos > delivered.get(doc, 0):
            delivered[doc] = pos
        return result

    cache.feed_event = recording  # type: ignore[method-assign]
    return delivered


def _guard(report: Report, name: str, fn: Callable[[int], None], n: int) -> Callable[[], None]:
    def run() -> None:
        try:
            fn(n)
        except TreeStoreError as exc:
            report.fail(f"{name}: unexpected {exc!r}")
        except AssertionError as exc:
            report.fail(f"{name}: {exc}")
    return run
