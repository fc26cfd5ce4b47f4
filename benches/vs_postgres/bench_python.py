"""Python part of the benchmark: one client, what the reasoning service sees.

For each query, PostgreSQL through psycopg 3 (server-side prepared statements, binary results,
autocommit)
and TreeStore through the typed ``treestore`` client (``TreeStoreClient.get_node`` and so on)
run the same targets from ``targets.json`` in the same order: a warm-up, then N timed calls;
each call's wall time covers sending the request, the server's work, and turning the answer
into Python objects (psycopg rows; the client's Node / SearchHit / CrossReference objects).

Before timing, every query is checked on a few targets: both systems must return the same
nodes (ids, content, order), so the two sides do the same work. Every PostgreSQL variant of a
query (pgsql.QUERIES) is timed; the fastest is PostgreSQL's number and pgbench's script.

Floors: ``SELECT 1`` through psycopg; for TreeStore the standard ``grpc.health.v1`` Check as a
raw gRPC call (bytes in and out, no protobuf: the transport's own limit) and
``TreeStoreClient.health()`` (typed, with per-shard details).

    python bench_python.py --corpus DIR --ts 127.0.0.1:56051 --dsn "..." --out python.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import grpc
import psycopg

import pgsql

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "client" / "python"))
import treestore  # noqa: E402
from treestore import TreeStoreClient  # noqa: E402

QUERIES = ["node", "children", "subtree_100", "subtree_1000", "subtree_10000", "ancestors",
           "node_as_of", "subtree_as_of", "search", "xref_2hop", "update"]
# Timed iterations per query in a full run (quick: x0.3; smoke: 5).
ITERATIONS = {"floor": 5000, "node": 3000, "children": 3000, "subtree_100": 2000,
              "subtree_1000": 500, "subtree_10000": 60, "ancestors": 3000, "node_as_of": 3000,
              "subtree_as_of": 2000, "search": 2000, "xref_2hop": 2000, "update": 1000}
VERIFY_TARGETS = 5


def iterations(query: str, mode: str, scale: float) -> tuple[int, int]:
    """(warm-up, timed) iterations."""
    if mode == "smoke":
        return 2, 5
    n = ITERATIONS[query] * (0.3 if mode == "quick" else 1.0) * scale
    n = max(20, int(n))
    return max(5, n // 10), n


def stats(samples_ns: list[int], rows: list[int]) -> dict[str, Any]:
    us = sorted(s / 1000 for s in samples_ns)
    return {"iterations": len(us), "median_us": round(statistics.median(us), 1),
            "p99_us": round(us[min(len(us) - 1, int(len(us) * 0.99))], 1),
            "mean_us": round(statistics.fmean(us), 1), "min_us": round(us[0], 1),
            "rows_mean": round(statistics.fmean(rows), 1) if rows else 0}


def measure(call: Callable[[dict], Any], count: Callable[[Any], int], targets: list[dict],
            warmup: int, n: int) -> dict[str, Any]:
    for i in range(warmup):
        call(targets[i % len(targets)])
    samples, rows = [], []
    clock = time.perf_counter_ns
    for i in range(n):
        t = targets[i % len(targets)]
        t0 = clock()
        r = call(t)
        samples.append(clock() - t0)
        rows.append(count(r))
    return stats(samples, rows)


# ---- the two sides ---------------------------------------------------------------------------

def pg_params(query: str, t: dict, i: int = 0) -> dict[str, Any]:
    return {"doc": t.get("doc"), "node": t.get("node"), "t": t.get("as_of"),
            "query": t.get("query"), "title": f"python {i}"}


class Postgres:
    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)

    def call(self, sql: str, query: str) -> Callable[[dict], list[tuple]]:
        text = pgsql.for_psycopg(sql)
        names = pgsql.placeholders(sql)
        # Binary results: measured slightly faster than text here (fewer bytes to parse).
        cur = self.conn.cursor(binary=True)
        counter = iter(range(1 << 62))

        def run(t: dict) -> list[tuple]:
            p = pg_params(query, t, next(counter))
            cur.execute(text, {k: p[k] for k in names}, prepare=True)
            return cur.fetchall()
        return run


class TreeStore:
    def __init__(self, address: str) -> None:
        self.client = TreeStoreClient(address, timeout=120.0)
        self.channel = grpc.insecure_channel(address)
        self.health_check = self.channel.unary_unary("/grpc.health.v1.Health/Check")
        self.seq = 0

    def call(self, query: str) -> Callable[[dict], Any]:
        c = self.client
        if query == "node":
            return lambda t: c.get_node(t["doc"], t["node"])
        if query == "children":
            return lambda t: c.get_children(t["doc"], t["node"]).items
        if query.startswith("subtree_") and query != "subtree_as_of":
            return lambda t: c.get_subtree(t["doc"], t["node"])
        if query == "ancestors":
            return lambda t: c.get_ancestors(t["doc"], t["node"])
        if query == "node_as_of":
            return lambda t: c.get_node(t["doc"], t["node"], as_of=t["as_of"], axis="effective")
        if query == "subtree_as_of":
            return lambda t: c.get_subtree(t["doc"], t["node"], as_of=t["as_of"],
                                           axis="effective")
        if query == "search":
            return lambda t: c.search_nodes(t["query"], limit=20).items
        if query == "xref_2hop":
            return lambda t: c.get_cross_references(t["doc"], t["node"], max_hops=2).items
        if query == "update":
            def update(t: dict) -> Any:
                self.seq += 1
                return c.update_node(t["doc"], t["node"], title=f"python {self.seq}")
            return update
        raise ValueError(query)


def ts_count(r: Any) -> int:
    if isinstance(r, list):
        return sum(sum(1 for _ in n.walk()) if isinstance(n, treestore.Node) else 1 for n in r)
    return 1


# ---- verification: both sides return the same answer ------------------------------------------

def _node(n: Any, text: bool) -> tuple:
    t = (n.node_id, n.parent_id or None, n.position, n.title, n.summary)
    t += (n.text,) if text else ()
    return t + (n.start_page, n.end_page, n.line_num, n.extra_json, n.has_children)


def ts_normal(query: str, r: Any) -> list[tuple]:
    if query in ("node", "node_as_of"):
        return [_node(r, True)]
    if query == "update":
        return [_node(r.node, True)]
    if query in ("children", "ancestors"):
        return [_node(n, False) for n in r]
    if query.startswith("subtree"):
        return [_node(x, False) for n in r for x in n.walk()]
    if query == "search":
        return [(h.doc_id, h.node_id, h.title) for h in r]
    if query == "xref_2hop":
        return [(x.hops, x.from_doc_id, x.from_node_id, x.to_doc_id, x.to_node_id, x.kind,
                 x.label) for x in r]
    raise ValueError(query)


def pg_normal(query: str, rows: list[tuple]) -> list[tuple]:
    if query == "subtree_as_of":
        return [r[:-1] for r in rows]  # the path column (the ORDER BY of the UNION)
    if query == "xref_2hop":
        return [r[:7] for r in rows]  # created_at differs: the load time of each system
    if query == "update":
        return [r[:-1] for r in rows]  # the document version
    return [tuple(r) for r in rows]


def verify(query: str, pg: Postgres, ts: TreeStore, targets: list[dict]) -> str:
    step = max(1, len(targets) // VERIFY_TARGETS)
    picks = targets[::step][:VERIFY_TARGETS]
    for variant, sql in pgsql.QUERIES[query].items():
        run_pg = pg.call(sql, query)
        for i, t in enumerate(picks):
            if query == "update":  # the same new title on both sides
                title = f"verify {i}"
                got_ts = ts_normal(query, ts.client.update_node(t["doc"], t["node"], title=title))
                rows = pg.conn.execute(pgsql.for_psycopg(sql),
                                       {**{k: pg_params(query, t)[k] for k in ("doc", "node")},
                                        "title": title}).fetchall()
            else:
                got_ts = ts_normal(query, ts.call(query)(t))
                rows = run_pg(t)
            got_pg = pg_normal(query, rows)
            if got_ts != got_pg:
                diff = next((k for k, (a, b) in enumerate(zip(got_ts, got_pg)) if a != b),
                            min(len(got_ts), len(got_pg)))
                raise SystemExit(
                    f"verification failed: {query} ({variant}) on {t}: TreeStore returned "
                    f"{len(got_ts)} rows, PostgreSQL {len(got_pg)}; first difference at row "
                    f"{diff}:\n  TreeStore:  {got_ts[diff] if diff < len(got_ts) else None}\n"
                    f"  PostgreSQL: {got_pg[diff] if diff < len(got_pg) else None}")
    return f"same answer on {len(picks)} targets, every variant"


# ---- main ------------------------------------------------------------------------------------

@dataclass
class Config:
    mode: str
    scale: float


def run(pg: Postgres, ts: TreeStore, targets: dict, cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"floors": {}, "queries": {}, "verification": {}}
    wl = targets["workloads"]
    w, n = iterations("floor", cfg.mode, cfg.scale)
    one = [{}]
    sel1 = pg.call(pgsql.QUERIES["select1"]["constant"], "select1")
    out["floors"]["postgres_select1"] = measure(sel1, len, one, w, n)
    out["floors"]["treestore_grpc_health"] = measure(lambda _: ts.health_check(b""),
                                                     lambda _: 1, one, w, n)
    out["floors"]["treestore_health"] = measure(lambda _: ts.client.health(), lambda _: 1,
                                                one, w, n)
    print(f"  floors: " + ", ".join(f"{k} {v['median_us']} us"
                                    for k, v in out["floors"].items()), flush=True)
    for q in QUERIES:
        tg = wl[q]
        out["verification"][q] = verify(q, pg, ts, tg)
        w, n = iterations(q, cfg.mode, cfg.scale)
        variants = {v: measure(pg.call(sql, q), len, tg, w, n)
                    for v, sql in pgsql.QUERIES[q].items()}
        best = min(variants, key=lambda v: variants[v]["median_us"])
        res_ts = measure(ts.call(q), ts_count, tg, w, n)
        out["queries"][q] = {"postgres": {"best": best, **variants[best]},
                             "postgres_variants": variants, "treestore": res_ts}
        print(f"  {q:<14} postgres {variants[best]['median_us']:>10} us ({best}), "
              f"treestore {res_ts['median_us']:>10} us, rows {res_ts['rows_mean']}",
              flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="TreeStore vs PostgreSQL, Python, 1 client")
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--ts", required=True, help="TreeStore address host:port")
    ap.add_argument("--dsn", required=True, help="PostgreSQL connection string")
    ap.add_argument("--mode", choices=("full", "quick", "smoke"), default="full")
    ap.add_argument("--iterations-scale", type=float, default=1.0)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    targets = json.loads((a.corpus / "targets.json").read_text())
    pg = Postgres(a.dsn)
    ts = TreeStore(a.ts)
    result = {
        "tool": "bench_python", "clients": 1,
        "versions": {"python": platform.python_version(), "psycopg": psycopg.__version__,
                     "psycopg_impl": psycopg.pq.__impl__, "grpcio": grpc.__version__,
                     "treestore_client": treestore.__version__,
                     "postgres": pg.conn.execute("SHOW server_version").fetchone()[0]},
        "iterations": {q: iterations(q, a.mode, a.iterations_scale)[1]
                       for q in ["floor"] + QUERIES},
        **run(pg, ts, targets, Config(a.mode, a.iterations_scale)),
    }
    a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
