"""The TreeStore-vs-PostgreSQL benchmark harness still works end to end (``run.sh --smoke``).

Runs ``benches/vs_postgres/run.sh --smoke`` (tiny corpus, 1 s per workload) against the
server binary of the test session (TREESTORE_BIN) and a throwaway PostgreSQL 15, and checks
that every results file is written with every query present, that both systems answered
every query the same way (the harness verifies this before timing), and that no workload
had errors. No timing is asserted. Needs PostgreSQL 15 with ltree and pgbench
(``scripts/setup.sh`` installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .conftest import free_port, server_binary

REPO = Path(__file__).resolve().parents[3]
RUN = REPO / "benches" / "vs_postgres" / "run.sh"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
QUERIES = ["node", "children", "subtree_100", "subtree_1000", "subtree_10000", "ancestors",
           "node_as_of", "subtree_as_of", "search", "xref_2hop", "update"]


@pytest.fixture()
def work_dir():
    # Not pytest's tmp_path: that is private to this user (0700) and PostgreSQL runs as the
    # postgres user when the tests run as root.
    d = Path(tempfile.mkdtemp(prefix="treestore-vs-postgres-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_smoke_run_writes_every_result(work_dir: Path) -> None:
    if not (PG_BIN / "pgbench").exists():
        pytest.fail(f"PostgreSQL 15 not found in {PG_BIN}: run scripts/setup.sh", pytrace=False)
    ts_bin = server_binary()
    env = dict(os.environ, TREESTORE_BIN=str(ts_bin))
    bench_bin = ts_bin.with_name("treestore-bench")
    if bench_bin.is_file():
        env["TREESTORE_BENCH_BIN"] = str(bench_bin)
    out = work_dir / "results"
    cmd = ["bash", str(RUN), "--smoke", "--work-dir", str(work_dir / "work"), "--out", str(out),
           "--ts-port", str(free_port()), "--metrics-port", str(free_port()),
           "--pg-port", str(free_port())]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"run.sh --smoke failed:\n{p.stdout[-6000:]}\n{p.stderr[-6000:]}"

    for name in ("results.json", "summary.md", "speedup.png"):
        assert (out / name).is_file(), name
    assert (out / "speedup.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    raw = out / "raw"
    py = json.loads((raw / "python.json").read_text())
    assert set(py["queries"]) == set(QUERIES)
    for q in QUERIES:
        assert py["verification"][q].startswith("same answer"), (q, py["verification"][q])
        for side in ("postgres", "treestore"):
            assert py["queries"][q][side]["iterations"] > 0, (q, side)
    assert set(py["floors"]) == {"postgres_select1", "treestore_grpc_health",
                                 "treestore_health"}
    for clients in (1, 64):
        ts = {r["workload"]: r for r in json.loads((raw / f"treestore_c{clients}.json")
                                                   .read_text())["results"]}
        pg = {r["workload"]: r for r in json.loads((raw / f"pgbench_c{clients}.json")
                                                   .read_text())["results"]}
        assert set(ts) == set(QUERIES) | {"grpc_health", "health"}
        assert set(pg) == set(QUERIES) | {"select1"}
        for name, r in list(ts.items()) + list(pg.items()):
            assert r["ops"] > 0 and r["errors"] == 0, (clients, name, r)
        pinned = {r["workload"]: r for r in json.loads((raw / f"pinned_c{clients}.json")
                                                       .read_text())["results"]}
        assert pinned["node"]["server_cpu_us_per_op"] is not None
    summary = (out / "summary.md").read_text()
    from_report = ["node", "children", "subtree ~100", "subtree ~1,000", "whole doc ~10,000",
                   "ancestors", "node as of", "subtree as of", "search", "xrefs 2 hops",
                   "durable update"]
    for label in from_report:
        # one row in each of the at-a-glance, Python and Rust/pgbench tables
        assert summary.count(f"| {label} |") == 3, label
    results = json.loads((out / "results.json").read_text())
    assert results["machine"]["cores"] and results["commit"]
