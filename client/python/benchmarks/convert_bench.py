"""Cost of turning a GetSubtreeResponse into the client's typed results, per node.

No server needed: the responses are built in-process, PageIndex-like (a tree with fan-out
8, 4-word titles, 40-word summaries, page ranges, no text), serialized, and parsed again
before every timed run so that each run starts from a message nobody has read yet, as the
client does after an RPC.

    python client/python/benchmarks/convert_bench.py                # 100, 1000, 10000 nodes
    python client/python/benchmarks/convert_bench.py --sizes 10000 --repeat 21

Rows (microseconds per node, median of ``--repeat`` runs):

* ``parse``          ``GetSubtreeResponse.FromString`` (what grpc's deserializer does; part of
                     the raw stub's time, shown for scale)
* ``dataclass``      the conversion of treestore-client 0.1.0 (one dataclass per node, every
                     field copied), kept below as the reference
* ``convert``        what the client returns from ``get_subtree`` (``treestore._calls``)
* ``+ walk``         ``convert``, then ``walk()`` over every node of the result
* ``+ walk + read``  ``convert``, ``walk()``, and every field of every node read once
* ``dataclass + walk + read``  the same full read on the reference dataclasses

The ``+ walk`` rows are the honest comparison when a caller touches every node: a lazy
result defers work to the reads.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without install

from treestore import _calls  # noqa: E402
from treestore._proto import treestore_pb2 as pb  # noqa: E402

WORDS = ("policy capital liquidity bank reserve annual report federal board section risk "
         "market credit rate loan asset supervision stress test disclosure governance "
         "payment system monetary committee balance sheet regulation").split()
FAN_OUT = 8


def build_response(nodes: int, seed: int = 7) -> bytes:
    """A serialized GetSubtreeResponse holding one root with ``nodes - 1`` descendants,
    filled breadth-first with ``FAN_OUT`` children per node."""
    rnd = random.Random(seed)

    def words(n: int) -> str:
        return " ".join(rnd.choice(WORDS) for _ in range(n))

    resp = pb.GetSubtreeResponse(version=3)
    root = resp.roots.add(node_id="0000", title=words(4), summary=words(40), start_page=1,
                          end_page=nodes)
    queue = [root]
    count = 1
    head = 0
    while count < nodes:
        parent = queue[head]
        head += 1
        for pos in range(FAN_OUT):
            if count >= nodes:
                break
            child = parent.children.add(node_id=f"{count:04d}", parent_id=parent.node_id,
                                        position=pos, title=words(4), summary=words(40),
                                        start_page=count, end_page=count + 1)
            parent.has_children = True
            queue.append(child)
            count += 1
    return resp.SerializeToString()


# -- the reference: treestore-client 0.1.0's conversion -----------------------------------


def _opt(msg: Any, name: str) -> Optional[int]:
    return getattr(msg, name) if msg.HasField(name) else None


@dataclass
class DataclassNode:
    """``treestore.types.Node`` as it was in 0.1.0 (a dataclass filled eagerly)."""

    node_id: str
    parent_id: str = ""
    position: int = 0
    title: str = ""
    summary: str = ""
    text: str = ""
    start_page: Optional[int] = None
    end_page: Optional[int] = None
    line_num: Optional[int] = None
    extra_json: str = ""
    children: List["DataclassNode"] = field(default_factory=list)
    has_children: bool = False

    def walk(self) -> Iterator["DataclassNode"]:
        yield self
        for child in self.children:
            yield from child.walk()

    @classmethod
    def from_proto(cls, m: Any) -> "DataclassNode":
        return cls(node_id=m.node_id, parent_id=m.parent_id, position=m.position,
                   title=m.title, summary=m.summary, text=m.text,
                   start_page=_opt(m, "start_page"), end_page=_opt(m, "end_page"),
                   line_num=_opt(m, "line_num"), extra_json=m.extra_json,
                   children=[cls.from_proto(c) for c in m.children],
                   has_children=m.has_children)


# -- measured operations --------------------------------------------------------------------


def read_all(node: Any) -> None:
    """Read every field of a node once (children: its length)."""
    (node.node_id, node.parent_id, node.position, node.title, node.summary, node.text,
     node.start_page, node.end_page, node.line_num, node.extra_json, len(node.children),
     node.has_children)


def op_convert(resp: Any) -> Any:
    return _PARSE(resp)


def op_walk(resp: Any) -> int:
    count = 0
    for root in _PARSE(resp):
        for _ in root.walk():
            count += 1
    return count


def op_walk_read(resp: Any) -> int:
    count = 0
    for root in _PARSE(resp):
        for n in root.walk():
            read_all(n)
            count += 1
    return count


def op_dataclass(resp: Any) -> Any:
    return [DataclassNode.from_proto(n) for n in resp.roots]


def op_dataclass_walk_read(resp: Any) -> int:
    count = 0
    for root in op_dataclass(resp):
        for n in root.walk():
            read_all(n)
            count += 1
    return count


_PARSE: Callable[[Any], Any] = _calls.get_subtree("doc").parse


def time_op(data: bytes, op: Callable[[Any], Any], repeat: int, parse_only: bool = False,
            clock: Callable[[], float] = time.perf_counter) -> float:
    """Median seconds of ``op`` over ``repeat`` runs, each on a freshly parsed message."""
    samples = []
    for _ in range(repeat):
        if parse_only:
            t0 = clock()
            pb.GetSubtreeResponse.FromString(data)
            samples.append(clock() - t0)
            continue
        resp = pb.GetSubtreeResponse.FromString(data)
        t0 = clock()
        result = op(resp)
        samples.append(clock() - t0)
        del result, resp
    return statistics.median(samples)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000],
                    help="nodes per response (default 100 1000 10000)")
    ap.add_argument("--repeat", type=int, default=15, help="runs per measurement (median)")
    ap.add_argument("--no-gc", action="store_true", help="disable the cyclic GC while timing")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with the process CPU clock (steadier on a busy machine)")
    ns = ap.parse_args(argv)
    if ns.no_gc:
        gc.disable()

    rows: list[tuple[str, Callable[[Any], Any], bool]] = [
        ("parse", op_convert, True),
        ("dataclass (0.1.0)", op_dataclass, False),
        ("convert", op_convert, False),
        ("convert + walk", op_walk, False),
        ("convert + walk + read", op_walk_read, False),
        ("dataclass + walk + read", op_dataclass_walk_read, False),
    ]
    datas = {n: build_response(n) for n in ns.sizes}
    clock = time.process_time if ns.cpu_time else time.perf_counter
    print(f"python {sys.version.split()[0]}, protobuf "
          f"{__import__('google.protobuf').protobuf.__version__} "
          f"({__import__('google.protobuf.internal.api_implementation', fromlist=['x']).Type()}), "
          f"median of {ns.repeat} runs, gc {'off' if ns.no_gc else 'on'}, "
          f"{'CPU' if ns.cpu_time else 'wall'} time")
    print(f"{'us per node':<24}" + "".join(f"{n:>12,}" for n in ns.sizes))
    for label, op, parse_only in rows:
        cells = []
        for n in ns.sizes:
            # sanity: the walk really visits every node
            if op in (op_walk, op_walk_read, op_dataclass_walk_read):
                got = op(pb.GetSubtreeResponse.FromString(datas[n]))
                assert got == n, (label, got, n)
            seconds = time_op(datas[n], op, ns.repeat, parse_only, clock)
            cells.append(f"{seconds * 1e6 / n:>12.3f}")
        print(f"{label:<24}" + "".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
