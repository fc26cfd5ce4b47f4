"""Repeated-read latency of an agent-like trace: TreeStore with the client's read cache,
TreeStore without it, and PostgreSQL, from one Python client, measured in one run.

    python client/python/benchmarks/cache_bench.py \\
        --bin /var/cache/treestore/watch-bin/treestore-release \\
        --bench-bin /var/cache/treestore/watch-bin/treestore-bench \\
        --out-json results.json --out-md results.md

Data: the corpus of ``benches/vs_postgres`` (``corpus.py``, seeded; ``--scale quick``: 1,000
small documents of 100 nodes, ``big_doc`` of 10,010 nodes and the PageIndex fixtures),
loaded into both systems by that benchmark's loaders: a throwaway PostgreSQL 15 (``pg_load.py``:
COPY, indexes, ``VACUUM``, ``pg_prewarm``) and a throwaway TreeStore (``treestore-bench
--load``), so both hold the same documents.

The trace (seeded): ``--questions`` questions, each about one of ``--docs`` documents (so
later questions come back to documents earlier ones read). Per question, the tool calls of an
agent that navigates a PageIndex tree:

1. ``top``: the document's top-level sections with their summaries
   (``get_subtree(doc, "", max_depth=1)``; PostgreSQL: the rows with no parent);
2. ``subtree``: one chapter with all its sections and leaves, 25 nodes (``get_subtree``;
   PostgreSQL: ltree ``<@`` on GiST or WITH RECURSIVE, the faster);
3. ``node``: one leaf with its text (``get_node``; PostgreSQL: primary key);
4. ``ancestors``: the path to that leaf, the "hit" (``get_ancestors``; PostgreSQL: the
   fastest of WITH RECURSIVE, ltree ``@>`` and btree prefixes);
5. ``subtree again`` and ``node again``: the next tool calls read the same sections.

Every read is at the latest version: the cached client answers it from memory when its watch
is caught up and it already read the same call at the document's latest version. No writes
run during the trace (the figures are for repeated reads; ``tests/test_server_cache.py``
checks the invalidation).

Modes, each replaying the whole trace, ``--rounds`` times, in a rotating order (drift hits
them alike): ``cached`` (a new ``TreeStoreClient(cache=CacheConfig())`` per round: its cache
starts empty, so its hits are the trace's own repetitions), ``uncached`` (one plain
``TreeStoreClient``), ``postgres`` (psycopg 3, prepared statements, binary results). Before
timing, a few steps of every kind are checked to return the same rows on both systems. Floors,
from the same process: gRPC ``grpc.health.v1`` Check over the uncached client's channel (raw
bytes), ``TreeStoreClient.health()``, and psycopg ``SELECT 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "client" / "python"))
sys.path.insert(0, str(REPO / "benches" / "vs_postgres"))

import grpc  # noqa: E402
import psycopg  # noqa: E402

import bench_python  # noqa: E402
import corpus  # noqa: E402
import pg_load  # noqa: E402
import pgsql  # noqa: E402
import treestore  # noqa: E402
from treestore import CacheConfig, TreeStoreClient  # noqa: E402

KINDS = ("top", "subtree", "node", "ancestors", "subtree again", "node again")
MODES = ("cached", "uncached", "postgres")
TOP_SQL = f"""
SELECT {pgsql.COLS_NO_TEXT} FROM nodes WHERE doc_id = {{doc}} AND parent_id IS NULL
ORDER BY position"""
#: the PostgreSQL query of each step kind: the vs_postgres query (all its variants) or TOP_SQL
PG_QUERY = {"top": None, "subtree": "subtree_100", "node": "node", "ancestors": "ancestors"}
#: how bench_python compares the rows of each step kind
NORMAL = {"top": "children", "subtree": "subtree_100", "node": "node", "ancestors": "ancestors"}


@dataclass(frozen=True)
class Step:
    kind: str
    doc: str
    node: str

    @property
    def base(self) -> str:
        return self.kind.removesuffix(" again")


def make_trace(questions: int, docs: int, small_docs: int, seed: int) -> list[Step]:
    rng = random.Random(seed)
    chapters, sections, leaves = corpus.SMALL_SHAPE
    pool = [corpus.small_doc_id(i) for i in rng.sample(range(small_docs), docs)]
    trace: list[Step] = []
    for _ in range(questions):
        doc = rng.choice(pool)
        c, s, leaf = rng.randrange(chapters), rng.randrange(sections), rng.randrange(leaves)
        chapter = corpus.small_node_id(c * (corpus.SMALL_NODES // chapters))
        hit = corpus.small_node_id(corpus.small_inner_section(c, s) + 1 + leaf)
        trace += [Step("top", doc, ""), Step("subtree", doc, chapter), Step("node", doc, hit),
                  Step("ancestors", doc, hit), Step("subtree again", doc, chapter),
                  Step("node again", doc, hit)]
    return trace


def ts_step(c: TreeStoreClient) -> Callable[[Step], Any]:
    def run(s: Step) -> Any:
        k = s.base
        if k == "top":
            return c.get_subtree(s.doc, "", max_depth=1)
        if k == "subtree":
            return c.get_subtree(s.doc, s.node)
        if k == "node":
            return c.get_node(s.doc, s.node)
        return c.get_ancestors(s.doc, s.node)
    return run


def pg_step(pg: bench_python.Postgres, variant: dict[str, str]) -> Callable[[Step], Any]:
    calls = {k: pg.call(TOP_SQL if PG_QUERY[k] is None else pgsql.QUERIES[PG_QUERY[k]][v],
                        NORMAL[k]) for k, v in variant.items()}
    return lambda s: calls[s.base]({"doc": s.doc, "node": s.node})


def summarize(samples_ns: list[int]) -> dict[str, float]:
    us = sorted(x / 1000 for x in samples_ns)
    return {"calls": len(us), "median_us": round(statistics.median(us), 1),
            "p99_us": round(us[min(len(us) - 1, int(len(us) * 0.99))], 1),
            "mean_us": round(statistics.fmean(us), 1)}


def replay(run: Callable[[Step], Any], trace: list[Step],
           after: Optional[Callable[[], None]] = None) -> list[int]:
    """The wall time of each step in ns; ``after`` runs after each step, untimed."""
    clock = time.perf_counter_ns
    out = []
    for s in trace:
        t0 = clock()
        run(s)
        out.append(clock() - t0)
        if after is not None:
            after()
    return out


# ---- servers ---------------------------------------------------------------------------------

def as_postgres(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess:
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, **kw)


class Servers:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.ts: Optional[subprocess.Popen] = None
        self.pgdata = a.work_dir / "pg" / "data"
        self.pg_started = False

    def start_postgres(self) -> str:
        a = self.a
        shutil.rmtree(a.work_dir / "pg", ignore_errors=True)
        (a.work_dir / "pg").mkdir(parents=True)
        if os.getuid() == 0:
            shutil.chown(a.work_dir / "pg", "postgres")
        as_postgres([str(a.pg_bin / "initdb"), "-D", str(self.pgdata), "-U", "postgres",
                     "--auth=trust", "-E", "UTF8", "--locale=C"], stdout=subprocess.DEVNULL)
        with (self.pgdata / "postgresql.conf").open("a") as f:
            f.write("\n".join([
                "listen_addresses = '127.0.0.1'", f"port = {a.pg_port}",
                "unix_socket_directories = ''", "shared_buffers = 1GB",
                "effective_cache_size = 4GB", "work_mem = 64MB", "maintenance_work_mem = 512MB",
                "fsync = on", "synchronous_commit = on", "random_page_cost = 1.1", "jit = off",
                "autovacuum = off"]) + "\n")
        as_postgres([str(a.pg_bin / "pg_ctl"), "-D", str(self.pgdata), "-l",
                     str(a.work_dir / "pg" / "server.log"), "-w", "-t", "120", "start"],
                    stdout=subprocess.DEVNULL)
        self.pg_started = True
        with psycopg.connect(f"host=127.0.0.1 port={a.pg_port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        return f"host=127.0.0.1 port={a.pg_port} user=postgres dbname=bench"

    def start_treestore(self) -> str:
        a = self.a
        data = a.work_dir / "ts"
        shutil.rmtree(data, ignore_errors=True)
        log = (a.work_dir / "treestore.log").open("ab")
        self.ts = subprocess.Popen(
            [str(a.bin), "serve", "--listen", f"127.0.0.1:{a.ts_port}", "--metrics-listen",
             f"127.0.0.1:{a.metrics_port}", "--data-dir", str(data), "--insecure-plaintext"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        address = f"127.0.0.1:{a.ts_port}"
        with TreeStoreClient(address) as c:
            c.wait_until_ready(timeout=300)
        return address

    def stop(self) -> None:
        if self.ts is not None and self.ts.poll() is None:
            self.ts.terminate()
            try:
                self.ts.wait(60)
            except subprocess.TimeoutExpired:
                self.ts.kill()
                self.ts.wait()
        if self.pg_started:
            as_postgres([str(self.a.pg_bin / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast",
                         "-w", "stop"], stdout=subprocess.DEVNULL)
            self.pg_started = False


# ---- the run ---------------------------------------------------------------------------------

def verify(pg_run: Callable[[Step], Any], ts_run: Callable[[Step], Any],
           trace: list[Step]) -> None:
    for kind in ("top", "subtree", "node", "ancestors"):
        for s in [s for s in trace if s.kind == kind][:5]:
            got_ts = bench_python.ts_normal(NORMAL[kind], ts_run(s))
            got_pg = bench_python.pg_normal(NORMAL[kind], pg_run(s))
            if got_ts != got_pg:
                raise SystemExit(f"verification failed on {s}:\n  TreeStore  {got_ts[:3]}\n"
                                 f"  PostgreSQL {got_pg[:3]}")


def fastest_pg_variants(pg: bench_python.Postgres, trace: list[Step]) -> dict[str, str]:
    """Per step kind, the PostgreSQL variant with the lowest median on 300 steps."""
    out = {"top": "top"}
    for kind, query in PG_QUERY.items():
        if query is None:
            continue
        steps = [s for s in trace if s.base == kind][:300]
        medians = {}
        for variant, sql in pgsql.QUERIES[query].items():
            call = pg.call(sql, NORMAL[kind])
            medians[variant] = statistics.median(
                replay(lambda s: call({"doc": s.doc, "node": s.node}), steps))
        out[kind] = min(medians, key=lambda v: medians[v])
    return out


def measure(a: argparse.Namespace, address: str, dsn: str) -> dict[str, Any]:
    trace = make_trace(a.questions, a.docs, corpus.SCALES[a.scale].small_docs, a.seed)
    pg = bench_python.Postgres(dsn)
    plain = TreeStoreClient(address, timeout=120.0)
    variants = fastest_pg_variants(pg, trace)
    verify(pg_step(pg, variants), ts_step(plain), trace)
    health = plain._channel.unary_unary("/grpc.health.v1.Health/Check")
    select1 = pg.call(pgsql.QUERIES["select1"]["constant"], "select1")
    floors = {"grpc_health_raw": [], "treestore_health": [], "postgres_select1": []}
    samples: dict[str, dict[str, list[int]]] = {m: {k: [] for k in KINDS} for m in MODES}
    by_outcome: dict[str, list[int]] = {"hit": [], "miss": []}  # cached mode
    hit_rates = []
    for r in range(a.rounds):
        order = MODES[r % 3:] + MODES[:r % 3]
        for mode in order:
            if mode == "cached":
                c = TreeStoreClient(address, timeout=120.0, cache=CacheConfig())
                if not c.wait_cache_serving(30.0):
                    raise SystemExit(f"the cache's watch did not catch up: {c.cache_stats()}")
                hits: list[bool] = []
                last = [0]

                def note() -> None:  # was the step just timed a hit? (untimed)
                    h = c.cache_stats().hits
                    hits.append(h > last[0])
                    last[0] = h

                times = replay(ts_step(c), trace, note)
                for t, hit in zip(times, hits):
                    by_outcome["hit" if hit else "miss"].append(t)
                hit_rates.append(c.cache_stats().hit_rate)
                c.close()
            elif mode == "uncached":
                times = replay(ts_step(plain), trace)
            else:
                times = replay(pg_step(pg, variants), trace)
            for step, t in zip(trace, times):
                samples[mode][step.kind].append(t)
        for _ in range(a.floor_calls):
            for name, fn in (("grpc_health_raw", lambda: health(b"")),
                             ("treestore_health", plain.health),
                             ("postgres_select1", lambda: select1({}))):
                t0 = time.perf_counter_ns()
                fn()
                floors[name].append(time.perf_counter_ns() - t0)
        print(f"  round {r + 1}/{a.rounds} done", flush=True)
    result: dict[str, Any] = {
        "trace": {"questions": a.questions, "documents": a.docs, "steps": len(trace),
                  "rounds": a.rounds, "seed": a.seed, "scale": a.scale},
        "postgres_variants": variants,
        "cached_hit_rate": round(statistics.fmean(hit_rates), 4),
        "cached_by_outcome": {k: summarize(v) for k, v in by_outcome.items() if v},
        "floors": {k: summarize(v) for k, v in floors.items()},
        "modes": {m: {"all": summarize([t for k in KINDS for t in samples[m][k]]),
                      "trace_ms": round(sum(t for k in KINDS for t in samples[m][k])
                                        / a.rounds / 1e6, 1),
                      **{k: summarize(samples[m][k]) for k in KINDS}} for m in MODES},
        "versions": {"python": platform.python_version(), "grpcio": grpc.__version__,
                     "psycopg": psycopg.__version__, "treestore_client": treestore.__version__,
                     "postgres": pg.conn.execute("SHOW server_version").fetchone()[0]},
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "server_binary": str(a.bin),
        "server_commit": server_commit(a.bin),
        "client_commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12",
                                         "HEAD"], capture_output=True, text=True).stdout.strip(),
    }
    plain.close()
    return result


def server_commit(binary: Path) -> str:
    """The commit a published binary was built from (a COMMIT file beside it), if known."""
    f = binary.with_name("COMMIT")
    return f.read_text().strip()[:12] if f.is_file() else "unknown"


def markdown(r: dict[str, Any], a: argparse.Namespace) -> str:
    m = r["modes"]
    t = r["trace"]
    f = r["floors"]

    def row(name: str, key: str) -> str:
        c, u, p = (m[x][key] for x in MODES)
        return (f"| {name} | {c['median_us']:,.1f} | {u['median_us']:,.1f} | "
                f"{p['median_us']:,.1f} | {u['median_us'] / c['median_us']:.1f}x | "
                f"{p['median_us'] / c['median_us']:.1f}x | {c['p99_us']:,.0f} / "
                f"{u['p99_us']:,.0f} / {p['p99_us']:,.0f} |")

    lines = [
        f"Trace: {t['questions']} questions over {t['documents']} documents, {t['steps']} "
        f"reads per replay, {t['rounds']} replays per mode (seed {t['seed']}, corpus "
        f"`{t['scale']}`). Cached client's hit rate over a replay from an empty cache: "
        f"{r['cached_hit_rate']:.1%}.",
        "",
        "| step | cached median µs | uncached | PostgreSQL | uncached / cached | "
        "PostgreSQL / cached | p99 µs cached / uncached / PG |",
        "|---|--:|--:|--:|--:|--:|--:|",
        row("**all reads**", "all"),
        *(row(k, k) for k in KINDS),
        "",
        f"Cached client by outcome (median / p99 µs): answered from memory "
        f"{r['cached_by_outcome']['hit']['median_us']} / {r['cached_by_outcome']['hit']['p99_us']}"
        f" ({r['cached_by_outcome']['hit']['calls']:,} reads); from the server "
        f"{r['cached_by_outcome']['miss']['median_us']} / "
        f"{r['cached_by_outcome']['miss']['p99_us']} ({r['cached_by_outcome']['miss']['calls']:,}"
        f" reads; uncached client, all reads: {m['uncached']['all']['median_us']} / "
        f"{m['uncached']['all']['p99_us']}).",
        "",
        f"Whole replay ({t['steps']} reads): cached {m['cached']['trace_ms']:,.1f} ms, uncached "
        f"{m['uncached']['trace_ms']:,.1f} ms, PostgreSQL {m['postgres']['trace_ms']:,.1f} ms.",
        "",
        f"Floors (median / p99 µs, same process): gRPC `grpc.health.v1` Check (raw bytes) "
        f"{f['grpc_health_raw']['median_us']} / {f['grpc_health_raw']['p99_us']}; "
        f"`TreeStoreClient.health()` {f['treestore_health']['median_us']} / "
        f"{f['treestore_health']['p99_us']}; psycopg `SELECT 1` "
        f"{f['postgres_select1']['median_us']} / {f['postgres_select1']['p99_us']}.",
        "",
        f"Server binary: release, commit {r['server_commit']}; client commit "
        f"{r['client_commit']}. "
        f"PostgreSQL variants (fastest on a calibration pass): {r['postgres_variants']}. "
        f"Versions: {r['versions']}. Machine: {r['machine']['cpus']} CPUs, load average "
        f"{', '.join(f'{x:.2f}' for x in r['machine']['load_average'])} at the end.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, required=True, help="treestore server binary (release)")
    ap.add_argument("--bench-bin", type=Path, required=True, help="treestore-bench (loads)")
    ap.add_argument("--pg-bin", type=Path, default=Path("/usr/lib/postgresql/15/bin"))
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/pycache/cache-bench"))
    ap.add_argument("--ts-port", type=int, default=52051)
    ap.add_argument("--metrics-port", type=int, default=59090)
    ap.add_argument("--pg-port", type=int, default=52432)
    ap.add_argument("--scale", choices=sorted(corpus.SCALES), default="quick")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--docs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--floor-calls", type=int, default=300, help="per round, per floor")
    ap.add_argument("--out-json", type=Path)
    ap.add_argument("--out-md", type=Path)
    a = ap.parse_args()
    a.work_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(a.work_dir, 0o755)
    servers = Servers(a)
    try:
        corpus_dir = corpus.ensure(a.scale, a.seed, a.work_dir / f"corpus-{a.scale}")
        print("== PostgreSQL: start and load", flush=True)
        dsn = servers.start_postgres()
        with psycopg.connect(dsn) as conn:
            print(f"   {pg_load.load(conn, corpus_dir)}", flush=True)
        print("== TreeStore: start and load", flush=True)
        address = servers.start_treestore()
        subprocess.run([str(a.bench_bin), "--addr", address, "--clients", "16", "--connections",
                        "4", "--load", str(corpus_dir / "docs.jsonl"), "--load-xrefs",
                        str(corpus_dir / "xrefs.tsv")], check=True, stdout=subprocess.DEVNULL)
        print("== trace replays", flush=True)
        result = measure(a, address, dsn)
    finally:
        servers.stop()
    text = markdown(result, a)
    print(text)
    if a.out_json:
        a.out_json.write_text(json.dumps(result, indent=1) + "\n")
    if a.out_md:
        a.out_md.write_text(text)


if __name__ == "__main__":
    main()
