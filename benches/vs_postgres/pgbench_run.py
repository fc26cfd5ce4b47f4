"""Rust-side counterpart for PostgreSQL: pgbench with one custom script per query.

Each script draws its target uniformly from the same set as treestore-bench's targets
(corpus.pgbench_vars) and runs the query variant the Python part found fastest
(``--python-results``; the first variant without it), with ``-M prepared``. One client runs
``-c 1 -j 1``, 64 clients ``-c 64 -j 2``. Throughput is pgbench's tps without the initial
connection time; latency percentiles come from its per-transaction log (all transactions at 1
client, a 10% sample at 64 to keep the logging cheap).

    python pgbench_run.py --corpus DIR --port 56432 --clients 64 --seconds 10 --out FILE
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
from pathlib import Path
from typing import Any, Optional

import corpus
import pgsql

WORKLOADS = ["select1", "node", "children", "subtree_100", "subtree_1000", "subtree_10000",
             "ancestors", "node_as_of", "subtree_as_of", "search", "xref_2hop", "update"]


def script(workload: str, variant: str, scale: corpus.Scale, queries: list[str]) -> str:
    sql = pgsql.QUERIES[workload][variant]
    if workload == "select1":
        return sql + ";\n"
    sets, values = corpus.pgbench_vars(scale, workload, queries)
    return "\n".join(sets + [pgsql.render(sql, values) + ";"]) + "\n"


def latencies(log_dir: Path, prefix: str) -> list[int]:
    """Per-transaction latencies (us) from pgbench's logs (one file per thread)."""
    out: list[int] = []
    for f in sorted(log_dir.glob(f"{prefix}.*")):
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6 and parts[2].isdigit():
                out.append(int(parts[2]))
    return out


def run_one(a: argparse.Namespace, workload: str, variant: str, scale: corpus.Scale,
            queries: list[str]) -> dict[str, Any]:
    a.log_dir.mkdir(parents=True, exist_ok=True)
    path = a.log_dir / f"{workload}.sql"
    path.write_text(script(workload, variant, scale, queries))
    for old in a.log_dir.glob(f"{workload}_log.*"):
        old.unlink()
    threads = 1 if a.clients == 1 else 2
    sampling = 1.0 if a.clients == 1 else 0.1
    cmd = [str(a.pg_bin / "pgbench"), "-n", "-M", "prepared", "-c", str(a.clients),
           "-j", str(threads), "-T", str(a.seconds), "-f", str(path),
           "-h", a.host, "-p", str(a.port), "-U", a.user,
           "-l", "--log-prefix", str(a.log_dir / f"{workload}_log"),
           "--sampling-rate", str(sampling), a.db]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"pgbench failed for {workload} ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", p.stdout)
    txns = re.search(r"number of transactions actually processed: (\d+)", p.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", p.stdout)
    if not tps or not txns:
        raise SystemExit(f"cannot parse pgbench output for {workload}:\n{p.stdout}")
    lat = sorted(latencies(a.log_dir, f"{workload}_log"))

    def q(f: float) -> Optional[int]:
        return lat[min(len(lat) - 1, int(len(lat) * f))] if lat else None
    return {"workload": workload, "variant": variant, "ops": int(txns.group(1)),
            "errors": int(failed.group(1)) if failed else 0, "ops_per_s": float(tps.group(1)),
            "p50_us": q(0.5), "p99_us": q(0.99), "p999_us": q(0.999),
            "mean_us": round(statistics.fmean(lat), 1) if lat else None,
            "latency_samples": len(lat),
            "command": " ".join(cmd[1:]).replace(str(a.log_dir), "LOG_DIR")}


def main() -> None:
    ap = argparse.ArgumentParser(description="pgbench runs of the benchmark queries")
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--pg-bin", type=Path, default=Path("/usr/lib/postgresql/15/bin"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--db", default="bench")
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--python-results", type=Path,
                    help="python.json: use the fastest variant of each query")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--log-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    targets = json.loads((a.corpus / "targets.json").read_text())
    scale = corpus.Scale(**{**targets["scale"], "big_shape": tuple(targets["scale"]["big_shape"])})
    best: dict[str, str] = {}
    if a.python_results:
        py = json.loads(a.python_results.read_text())
        best = {q: r["postgres"]["best"] for q, r in py["queries"].items()}
    results = []
    version = subprocess.run([str(a.pg_bin / "pgbench"), "--version"], capture_output=True,
                             text=True).stdout.strip()
    print(f"pgbench: {a.clients} clients, {a.seconds} s per workload", flush=True)
    print(f"{'workload':<14} {'ops/s':>12} {'p50 us':>10} {'p99 us':>10}  variant", flush=True)
    for w in a.workloads.split(","):
        variant = best.get(w) or next(iter(pgsql.QUERIES[w]))
        r = run_one(a, w, variant, scale, targets["search_queries"])
        print(f"{w:<14} {r['ops_per_s']:>12.0f} {r['p50_us']!s:>10} {r['p99_us']!s:>10}  "
              f"{variant}", flush=True)
        results.append(r)
    a.out.write_text(json.dumps({"tool": "pgbench", "version": version, "clients": a.clients,
                                 "threads": 1 if a.clients == 1 else 2,
                                 "seconds_per_workload": a.seconds, "results": results},
                                indent=1) + "\n")


if __name__ == "__main__":
    main()
