"""Python-side cost of one client call, against a real server or offline.

Against a server (started here with ``--bin``, or already running at ``--addr``)::

    python client/python/benchmarks/call_bench.py \\
        --bin "$CARGO_TARGET_DIR/release/treestore" --port 53051 --metrics-port 9193
    python client/python/benchmarks/call_bench.py --addr 127.0.0.1:50051

It stores one PageIndex-like document of ``--nodes`` nodes (fan-out 8, 4-word titles,
40-word summaries) and times single calls, interleaved (every iteration calls each variant
once, starting with a different one) so that drift hits the variants alike; it prints the
median per call in microseconds and, for the client against the raw stub, the median of the
paired differences (the client's own cost with the server's time and the drift cancelled):

* ``grpc.health.v1 Check (raw)``: the floor, a generic unary call of the standard Health
  service (no TreeStore code, empty request and response);
* each of GetNode, GetChildren, GetAncestors through the raw generated stub (request built
  once) and through ``TreeStoreClient``;
* GetSubtree of the whole document: raw stub, client, client + ``walk()`` over every node,
  and + reading five fields of every node.

``--offline`` needs no server: the client's stub is replaced by functions that return
ready responses, so the time is only the client's Python code (argument checks, request
building, deadline and retry bookkeeping, result conversion).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without install

import grpc  # noqa: E402

from treestore import AsyncTreeStoreClient, NodeInput, RetryPolicy, TreeStoreClient  # noqa: E402
from treestore._proto import treestore_pb2 as pb  # noqa: E402

WORDS = ("policy capital liquidity bank reserve annual report federal board section risk "
         "market credit rate loan asset supervision stress test disclosure governance "
         "payment system monetary committee balance sheet regulation").split()
FAN_OUT = 8
DOC_ID = "call-bench"


def build_tree(nodes: int, seed: int = 7) -> tuple[list[NodeInput], str, str]:
    """A tree of ``nodes`` nodes filled breadth-first; returns (roots, a deepest leaf's id,
    the id of a node with FAN_OUT children)."""
    rnd = random.Random(seed)

    def words(n: int) -> str:
        return " ".join(rnd.choice(WORDS) for _ in range(n))

    root = NodeInput("0000", title=words(4), summary=words(40), start_page=1, end_page=nodes)
    queue = [root]
    count, head = 1, 0
    while count < nodes:
        parent = queue[head]
        head += 1
        for _ in range(FAN_OUT):
            if count >= nodes:
                break
            child = NodeInput(f"{count:04d}", title=words(4), summary=words(40),
                              start_page=count, end_page=count + 1)
            parent.children.append(child)
            queue.append(child)
            count += 1
    return [root], queue[-1].node_id, root.children[0].node_id if root.children else "0000"


def time_rounds(variants: dict[str, Callable[[], Any]], calls: int,
                rounds: int) -> dict[str, float]:
    """Median microseconds per call of each variant; every round runs each variant
    ``calls`` times, in turn."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():  # warm up
        for _ in range(max(1, calls // 10)):
            fn()
    for _ in range(rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - t0) / calls * 1e6)
    return {name: statistics.median(s) for name, s in samples.items()}


def time_interleaved(variants: dict[str, Callable[[], Any]],
                     iterations: int) -> dict[str, list[float]]:
    """Microseconds of every single call: each iteration calls every variant once, starting
    with a different one each time, so that drift and order hit the variants alike."""
    names = list(variants)
    fns = [variants[name] for name in names]
    samples: dict[str, list[float]] = {name: [] for name in names}
    for fn in fns:  # warm up
        for _ in range(3):
            fn()
    k = len(fns)
    clock = time.perf_counter
    for i in range(iterations):
        for j in range(k):
            index = (i + j) % k
            fn = fns[index]
            t0 = clock()
            fn()
            samples[names[index]].append((clock() - t0) * 1e6)
    return samples


def paired_difference(samples: dict[str, list[float]], a: str, b: str) -> float:
    """Median over iterations of (a - b): the cost of a over b with drift cancelled."""
    return statistics.median(x - y for x, y in zip(samples[a], samples[b]))


def print_table(title: str, results: dict[str, float], floor: Optional[str] = None) -> None:
    print(f"\n{title}")
    base = results.get(floor) if floor else None
    for name, us in results.items():
        ratio = f"{us / base:8.2f}x" if base else ""
        print(f"  {name:<44}{us:>12.1f} us{ratio}")


# -- offline ----------------------------------------------------------------------------------


class _CannedStub:
    """Stands in for the generated stub: every method returns a ready response."""

    def __init__(self, responses: dict[str, Any]) -> None:
        for method, response in responses.items():
            setattr(self, method, lambda request, timeout=None, metadata=None, _r=response: _r)


def offline(ns: argparse.Namespace) -> None:
    roots, leaf, parent = build_tree(200)
    node = pb.Node(node_id=leaf, parent_id="0001", title="w " * 4, summary="w " * 40,
                   start_page=3, end_page=4)
    kids = [pb.Node(node_id=f"k{i}", parent_id=parent, position=i, title="t", start_page=i)
            for i in range(FAN_OUT)]
    path = [pb.Node(node_id=f"p{i}", title="t", has_children=True) for i in range(4)]
    responses = {
        "GetNode": pb.GetNodeResponse(node=node, version=1),
        "GetChildren": pb.GetChildrenResponse(children=kids, version=1),
        "GetAncestors": pb.GetAncestorsResponse(ancestors=path, version=1),
        "Health": pb.HealthResponse(status=pb.HEALTH_STATUS_SERVING,
                                    shards=[pb.ShardHealth(shard_id=0, state=2)]),
    }
    client = TreeStoreClient("127.0.0.1:1")  # never connects: the stub is replaced
    client._stub = _CannedStub(responses)  # type: ignore[assignment]
    stub = client._stub
    req = pb.GetNodeRequest(doc_id=DOC_ID, node_id=leaf)
    results = time_rounds({
        "stub.GetNode (canned, no network)": lambda: stub.GetNode(req, timeout=10.0),
        "client.get_node": lambda: client.get_node(DOC_ID, leaf),
        "client.get_node(version=3)": lambda: client.get_node(DOC_ID, leaf, version=3),
        "client.get_children": lambda: client.get_children(DOC_ID, parent),
        "client.get_ancestors": lambda: client.get_ancestors(DOC_ID, leaf),
        "client.health": lambda: client.health(),
    }, ns.calls, ns.rounds)
    client.close()
    print_table("offline: client Python code per call (no network)", results)


# -- against a server ---------------------------------------------------------------------------


def start_server(binary: str, port: int, metrics_port: int, data_dir: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
         "--metrics-listen", f"127.0.0.1:{metrics_port}", "--insecure-plaintext"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return proc


def online(ns: argparse.Namespace) -> None:
    proc: Optional[subprocess.Popen] = None
    data_dir: Optional[str] = None
    addr = ns.addr
    try:
        if ns.bin:
            data_dir = ns.data_dir or tempfile.mkdtemp(prefix="treestore-call-bench-")
            proc = start_server(ns.bin, ns.port, ns.metrics_port, data_dir)
            addr = f"127.0.0.1:{ns.port}"
        with TreeStoreClient(addr, timeout=60.0, retry=RetryPolicy(max_attempts=1)) as client:
            client.wait_until_ready(timeout=60)
            run_online(client, ns)
            if ns.aio:
                asyncio.run(run_async(addr, client, ns))
            client.delete_document(DOC_ID)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if data_dir and not ns.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def run_online(client: TreeStoreClient, ns: argparse.Namespace) -> None:
    roots, leaf, parent = build_tree(ns.nodes)
    client.put_document(DOC_ID, roots, overwrite=True, name="call-bench")
    channel = client._channel
    stub = client._stub
    health_check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                       request_serializer=None, response_deserializer=None)
    try:
        health_check(b"", timeout=5)
    except grpc.RpcError as exc:
        sys.exit(f"grpc.health.v1 Check failed: {exc}")

    get_node = pb.GetNodeRequest(doc_id=DOC_ID, node_id=leaf)
    get_children = pb.GetChildrenRequest(doc_id=DOC_ID, node_id=parent)
    get_ancestors = pb.GetAncestorsRequest(doc_id=DOC_ID, node_id=leaf)
    small = {
        "grpc.health.v1 Check (raw)": lambda: health_check(b"", timeout=10.0),
        "stub.Health (TreeStore, raw)": lambda: stub.Health(pb.HealthRequest(), timeout=10.0),
        "stub.GetNode (raw)": lambda: stub.GetNode(get_node, timeout=10.0),
        "client.get_node": lambda: client.get_node(DOC_ID, leaf),
        "stub.GetChildren (raw)": lambda: stub.GetChildren(get_children, timeout=10.0),
        "client.get_children": lambda: client.get_children(DOC_ID, parent),
        "stub.GetAncestors (raw)": lambda: stub.GetAncestors(get_ancestors, timeout=10.0),
        "client.get_ancestors": lambda: client.get_ancestors(DOC_ID, leaf),
    }
    samples = time_interleaved(small, ns.calls)
    results = {name: statistics.median(values) for name, values in samples.items()}
    print_table(f"per call, 1 client, sync, median of {ns.calls} (ratio to the grpc.health.v1 "
                "floor)", results, floor="grpc.health.v1 Check (raw)")
    print("  client cost over the raw stub (median of paired differences):")
    for name, raw_name in (("get_node", "stub.GetNode (raw)"),
                           ("get_children", "stub.GetChildren (raw)"),
                           ("get_ancestors", "stub.GetAncestors (raw)")):
        diff = paired_difference(samples, "client." + name, raw_name)
        print(f"    {name:<42}{diff:>12.1f} us")

    subtree = pb.GetSubtreeRequest(doc_id=DOC_ID)

    def walk_all() -> int:
        return sum(1 for r in client.get_subtree(DOC_ID) for _ in r.walk())

    def walk_read() -> int:
        count = 0
        for r in client.get_subtree(DOC_ID):
            for n in r.walk():
                (n.node_id, n.title, n.summary, n.start_page, n.end_page)
                count += 1
        return count

    assert walk_all() == ns.nodes
    big = {
        f"stub.GetSubtree (raw, {ns.nodes} nodes)": lambda: stub.GetSubtree(subtree, timeout=60.0),
        "client.get_subtree": lambda: client.get_subtree(DOC_ID),
        "client.get_subtree + walk()": walk_all,
        "client.get_subtree + walk() + read 5 fields": walk_read,
    }
    samples = time_interleaved(big, ns.big_calls)
    results = {name: statistics.median(values) for name, values in samples.items()}
    print_table(f"whole document (GetSubtree, node_id empty), median of {ns.big_calls}",
                results)
    raw_name = next(iter(big))
    for name in list(big)[1:]:
        diff = paired_difference(samples, name, raw_name)
        print(f"    {name + ' - raw':<42}{diff:>12.1f} us ({diff / ns.nodes:.3f} us/node)")


async def time_interleaved_async(variants: dict[str, Callable[[], Any]],
                                 iterations: int) -> dict[str, list[float]]:
    """``time_interleaved`` for coroutine functions."""
    names = list(variants)
    fns = [variants[name] for name in names]
    samples: dict[str, list[float]] = {name: [] for name in names}
    for fn in fns:
        for _ in range(3):
            await fn()
    k = len(fns)
    clock = time.perf_counter
    for i in range(iterations):
        for j in range(k):
            index = (i + j) % k
            fn = fns[index]
            t0 = clock()
            await fn()
            samples[names[index]].append((clock() - t0) * 1e6)
    return samples


async def run_async(addr: str, sync_client: TreeStoreClient, ns: argparse.Namespace) -> None:
    """The small RPCs through grpc.aio: raw aio stub against AsyncTreeStoreClient."""
    leaf = sync_client.get_node(DOC_ID, build_tree(ns.nodes)[1])  # the stored tree's last leaf
    async with AsyncTreeStoreClient(addr, timeout=60.0, retry=RetryPolicy(max_attempts=1)) as c:
        stub = c._stub
        health_check = c._channel.unary_unary("/grpc.health.v1.Health/Check",
                                              request_serializer=None,
                                              response_deserializer=None)
        req = pb.GetNodeRequest(doc_id=DOC_ID, node_id=leaf.node_id)
        samples = await time_interleaved_async({
            "aio grpc.health.v1 Check (raw)": lambda: health_check(b"", timeout=10.0),
            "aio stub.GetNode (raw)": lambda: stub.GetNode(req, timeout=10.0),
            "aio client.get_node": lambda: c.get_node(DOC_ID, leaf.node_id),
        }, ns.calls)
    results = {name: statistics.median(values) for name, values in samples.items()}
    print_table(f"per call, 1 client, asyncio, median of {ns.calls}", results,
                floor="aio grpc.health.v1 Check (raw)")
    diff = paired_difference(samples, "aio client.get_node", "aio stub.GetNode (raw)")
    print(f"  client cost over the raw stub: get_node {diff:.1f} us")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--offline", action="store_true", help="no server: client code only")
    ap.add_argument("--addr", default="127.0.0.1:50051", help="server to use (without --bin)")
    ap.add_argument("--bin", help="start this treestore binary for the run")
    ap.add_argument("--port", type=int, default=53051, help="gRPC port of the started server")
    ap.add_argument("--metrics-port", type=int, default=9193,
                    help="metrics port of the started server")
    ap.add_argument("--data-dir", help="data dir of the started server (default: a temp dir, "
                                       "removed afterwards)")
    ap.add_argument("--nodes", type=int, default=10000, help="nodes in the document")
    ap.add_argument("--calls", type=int, default=2000,
                    help="calls of each small RPC (offline: x10 per round)")
    ap.add_argument("--big-calls", type=int, default=30, help="calls of each GetSubtree variant")
    ap.add_argument("--rounds", type=int, default=9, help="offline: rounds (median reported)")
    ap.add_argument("--aio", action="store_true", help="also time the asyncio client")
    ns = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, grpcio {grpc.__version__}, pid {os.getpid()}")
    if ns.offline:
        offline(ns)
    else:
        online(ns)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
