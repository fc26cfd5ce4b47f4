"""Turns the raw measurements of one run into results.json, summary.md and speedup.png.

    python report.py --raw RESULTS/raw --corpus CORPUS_DIR --out RESULTS

Speedup is always "how many times better TreeStore is than PostgreSQL" (> 1: TreeStore wins):
PostgreSQL's latency over TreeStore's for the Python part (medians), TreeStore's throughput
over PostgreSQL's for the Rust/pgbench part.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Optional

QUERIES = ["node", "children", "subtree_100", "subtree_1000", "subtree_10000", "ancestors",
           "node_as_of", "subtree_as_of", "search", "xref_2hop", "update"]
LABELS = {"node": "node", "children": "children", "subtree_100": "subtree ~100",
          "subtree_1000": "subtree ~1,000", "subtree_10000": "whole doc ~10,000",
          "ancestors": "ancestors", "node_as_of": "node as of", "subtree_as_of": "subtree as of",
          "search": "search", "xref_2hop": "xrefs 2 hops", "update": "durable update"}
PINNED_LABELS = {"grpc_health": "gRPC Health (grpc.health.v1)", "health": "TreeStore Health RPC",
                 "node": "GetNode", "subtree_1000": "GetSubtree, 1,001 nodes"}
REPO = Path(__file__).resolve().parents[2]


def load(path: Path) -> Optional[dict]:
    return json.loads(path.read_text()) if path.exists() else None


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem_gib = round(kb / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        pass
    distro = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem_gib,
            "kernel": platform.release(), "os": distro}


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                              text=True).stdout.strip()
    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src", "shards", "wal",
                "benches", "client")
    return commit + (" (with uncommitted changes)" if dirty else "")


def by_workload(doc: Optional[dict]) -> dict[str, dict]:
    return {r["workload"]: r for r in doc["results"]} if doc else {}


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a and b else None


def fmt(v: Optional[float], digits: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def fx(v: Optional[float]) -> str:
    return "-" if v is None else (f"{v:.2f}x" if v < 10 else f"{v:.1f}x")


def build(raw: Path, corpus_dir: Path) -> dict[str, Any]:
    targets = json.loads((corpus_dir / "targets.json").read_text())
    py = load(raw / "python.json")
    rust = {c: {"treestore": by_workload(load(raw / f"treestore_c{c}.json")),
                "postgres": by_workload(load(raw / f"pgbench_c{c}.json"))} for c in (1, 64)}
    pinned = {c: by_workload(load(raw / f"pinned_c{c}.json")) for c in (1, 64)}
    now = dt.datetime.now(dt.timezone.utc)
    return {"date": now.strftime("%Y-%m-%d %H:%M UTC"), "commit": git_commit(),
            "machine": machine(), "settings": load(raw / "settings.json") or {},
            "corpus": {"scale": targets["scale"], "seed": targets["seed"],
                       **targets["stats"]},
            "load": {"postgres": load(raw / "load_postgres.json"),
                     "treestore": load(raw / "load_treestore.json"),
                     "treestore_prewarm": load(raw / "prewarm_treestore.json")},
            "python": py, "rust": rust, "pinned": pinned,
            "treestore_tree_cache": tree_cache_metrics(raw / "treestore_cache_metrics.txt"),
            "pgbench_version": (load(raw / "pgbench_c1.json") or {}).get("version")}


def tree_cache_metrics(path: Path) -> dict[str, float]:
    """The server's treestore_tree_cache_* counters and gauges after the measured workloads
    (summed over shards)."""
    out: dict[str, float] = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        name, _, value = line.rpartition(" ")
        name = name.split("{", 1)[0].removeprefix("treestore_tree_cache_")
        out[name] = out.get(name, 0.0) + float(value)
    return out


def python_rows(r: dict) -> list[dict]:
    py = r["python"]
    fl = py["floors"]
    out = []
    for q in QUERIES:
        x = py["queries"].get(q)
        if not x:
            continue
        pg, ts = x["postgres"], x["treestore"]
        out.append({"query": q, "rows": ts["rows_mean"], "pg_us": pg["median_us"],
                    "pg_variant": pg["best"], "ts_us": ts["median_us"],
                    "speedup": ratio(pg["median_us"], ts["median_us"]),
                    "ts_over_floor": ratio(ts["median_us"], fl["treestore_grpc_health"]["median_us"]),
                    "pg_over_floor": ratio(pg["median_us"], fl["postgres_select1"]["median_us"]),
                    "pg_p99": pg["p99_us"], "ts_p99": ts["p99_us"]})
    return out


def rust_rows(r: dict) -> list[dict]:
    out = []
    for q in QUERIES:
        row: dict[str, Any] = {"query": q}
        for c in (1, 64):
            ts = r["rust"][c]["treestore"].get(q)
            pg = r["rust"][c]["postgres"].get(q)
            ts_floor = r["rust"][c]["treestore"].get("grpc_health")
            pg_floor = r["rust"][c]["postgres"].get("select1")
            row[f"ts{c}"] = ts and ts["ops_per_s"]
            row[f"pg{c}"] = pg and pg["ops_per_s"]
            row[f"speedup{c}"] = ratio(row[f"ts{c}"], row[f"pg{c}"])
            row[f"ts_floor{c}"] = ratio(row[f"ts{c}"], ts_floor and ts_floor["ops_per_s"])
            row[f"pg_floor{c}"] = ratio(row[f"pg{c}"], pg_floor and pg_floor["ops_per_s"])
            row[f"errors{c}"] = (ts or {}).get("errors", 0) + (pg or {}).get("errors", 0)
            row[f"srv{c}"] = ts and ts.get("server_mean_us")
        out.append(row)
    return out


def targets_check(r: dict, prow: list[dict], rrow: list[dict]) -> list[tuple[str, str, str]]:
    """The issue's targets, checked against this run: (target, measured, met)."""
    P = {x["query"]: x for x in prow}
    R = {x["query"]: x for x in rrow}
    out = []

    def add(name: str, values: list[tuple[str, Optional[float]]], ok, unit: str) -> None:
        vals = [v for _, v in values]
        met = "n/a" if any(v is None for v in vals) else ("yes" if all(ok(v) for v in vals)
                                                          else "no")
        out.append((name, ", ".join(f"{k} {fmt(v, 2)}{unit}" for k, v in values), met))

    add("Python 1 client: subtree (>=100 nodes) and whole document >= 3x faster than PostgreSQL",
        [(LABELS[q], P.get(q, {}).get("speedup")) for q in
         ("subtree_100", "subtree_1000", "subtree_10000")], lambda v: v >= 3, "x")
    add("Python 1 client: node, children, ancestors within 1.3x of the Python gRPC Health floor",
        [(LABELS[q], P.get(q, {}).get("ts_over_floor")) for q in
         ("node", "children", "ancestors")], lambda v: v <= 1.3, "x")
    add("Rust 64 clients: subtree and ancestors >= 3x PostgreSQL's throughput",
        [(LABELS[q], R[q]["speedup64"]) for q in
         ("subtree_100", "subtree_1000", "subtree_10000", "ancestors")], lambda v: v >= 3, "x")
    add("Rust 64 clients: point reads within 10% of the gRPC Health floor (ops/s ratio >= 0.9)",
        [(LABELS[q], R[q]["ts_floor64"]) for q in ("node", "node_as_of")],
        lambda v: v >= 0.9, "")
    add("Rust 64 clients: durable writes at least equal to PostgreSQL's",
        [("update", R["update"]["speedup64"])], lambda v: v >= 1, "x")
    add("Latest GetSubtree of 1,000 nodes under 0.5 ms server-side (mean, Rust 1 client)",
        [("server mean", R["subtree_1000"]["srv1"] and R["subtree_1000"]["srv1"] / 1000)],
        lambda v: v < 0.5, " ms")
    pin = r["pinned"].get(64, {})
    node_cpu = pin.get("node", {}).get("server_cpu_us_per_op")
    health_cpu = pin.get("grpc_health", {}).get("server_cpu_us_per_op")
    add("Pinned, 64 clients: GetNode server CPU <= 1.5x gRPC Health's",
        [("GetNode / Health CPU", ratio(node_cpu, health_cpu))], lambda v: v <= 1.5, "x")
    return out


def glance(r: dict, prow: list[dict], rrow: list[dict]) -> str:
    """The compact table (also pasted into the top-level README): TreeStore's speedup over
    PostgreSQL per query and client mode, with the floors."""
    P = {x["query"]: x for x in prow}
    fl = r["python"]["floors"]
    L = ["| query | rows | Python, 1 client: PG / TS median µs | speedup | Rust, 1 client | "
         "Rust, 64 clients |", "|---|--:|--:|--:|--:|--:|"]
    t1 = r["rust"][1]["treestore"].get("grpc_health")
    t64 = r["rust"][64]["treestore"].get("grpc_health")
    p1 = r["rust"][1]["postgres"].get("select1")
    p64 = r["rust"][64]["postgres"].get("select1")
    L.append(f"| floor (`SELECT 1` / gRPC Health) | | {fmt(fl['postgres_select1']['median_us'])} / "
             f"{fmt(fl['treestore_grpc_health']['median_us'])} | "
             f"{fx(ratio(fl['postgres_select1']['median_us'], fl['treestore_grpc_health']['median_us']))} | "
             f"{fx(ratio(t1 and t1['ops_per_s'], p1 and p1['ops_per_s']))} | "
             f"{fx(ratio(t64 and t64['ops_per_s'], p64 and p64['ops_per_s']))} |")
    for x in rrow:
        q = x["query"]
        p = P.get(q, {})
        L.append(f"| {LABELS[q]} | {fmt(p.get('rows'))} | {fmt(p.get('pg_us'))} / "
                 f"{fmt(p.get('ts_us'))} | **{fx(p.get('speedup'))}** | {fx(x['speedup1'])} | "
                 f"{fx(x['speedup64'])} |")
    return "\n".join(L) + "\n"


def _phase_load(entry: str) -> str:
    """ "95s report :: 5.86 3.67 3.92" -> "report 5.86" """
    head, _, loads = entry.partition(" :: ")
    phase = head.split(" ", 1)[1] if " " in head else head
    return f"{phase} {loads.split(' ')[0]}"


def markdown(r: dict) -> str:
    m, c, s = r["machine"], r["corpus"], r["settings"]
    py = r["python"]
    prow, rrow = python_rows(r), rust_rows(r)
    L = []
    L.append(f"# TreeStore vs PostgreSQL ({s.get('mode', '?')} run, {r['date']})\n")
    L.append(f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
             f"kernel {m['kernel']}, {m['os']}. Servers and clients share the machine.")
    L.append(f"- Commit: `{r['commit']}`; TreeStore binary: {s.get('treestore_binary_profile')}; "
             f"PostgreSQL {py['versions']['postgres']}, psycopg {py['versions']['psycopg']} "
             f"({py['versions']['psycopg_impl']}), grpcio {py['versions']['grpcio']}, "
             f"Python {py['versions']['python']}, {r.get('pgbench_version') or 'pgbench'}.")
    L.append(f"- Corpus (seed {c['seed']}): {c['documents']:,} documents, {c['nodes']:,} nodes, "
             f"{c['versions']:,} versions ({c['history_node_changes']:,} node changes in "
             f"history), {c['xrefs']:,} cross references. Loaded in "
             f"{r['load']['postgres'] and r['load']['postgres']['load_seconds']} s into "
             f"PostgreSQL (COPY + indexes), "
             f"{r['load']['treestore'] and r['load']['treestore']['load_seconds']} s into "
             f"TreeStore (concurrent PutDocument). Then both caches were warmed: PostgreSQL "
             f"`pg_prewarm` of every table and index "
             f"({(r['load']['postgres'] or {}).get('prewarmed_blocks', '?')} blocks; database "
             f"{((r['load']['postgres'] or {}).get('database_bytes') or 0) / 2**30:.2f} GiB), "
             f"TreeStore one read of every version of every document "
             f"({(r['load']['treestore_prewarm'] or {}).get('prewarm_seconds', '?')} s).")
    L.append(f"- PostgreSQL: {'; '.join(s.get('postgresql_settings', []))}. TreeStore: "
             f"{s.get('treestore_serve_flags', '')}.")
    L.append(f"- Rust/pgbench: {s.get('seconds_per_rust_workload')} s per workload. "
             f"Whole run: {s.get('run_seconds', '?')} s. 1-minute load average as each phase "
             f"started (the run's own processes included; more shows other work on the "
             f"machine): " + "; ".join(_phase_load(x) for x in
                                       s.get("load_average_at_each_phase", [])) + ".\n")

    L.append("## Speedup at a glance\n")
    L.append(glance(r, prow, rrow))
    fl = py["floors"]
    L.append("## Python, 1 client (median µs per call)\n")
    L.append("Speedup = PostgreSQL / TreeStore (> 1: TreeStore faster). Floors: psycopg "
             f"`SELECT 1` {fl['postgres_select1']['median_us']} µs; raw gRPC "
             f"`grpc.health.v1` Check {fl['treestore_grpc_health']['median_us']} µs (the "
             f"TreeStore floor below); `TreeStoreClient.health()` "
             f"{fl['treestore_health']['median_us']} µs.\n")
    L.append("| query | rows | PostgreSQL | PG variant | TreeStore | speedup | TS / TS floor "
             "| PG / PG floor | p99 PG / TS |")
    L.append("|---|--:|--:|---|--:|--:|--:|--:|--:|")
    for x in prow:
        L.append(f"| {LABELS[x['query']]} | {fmt(x['rows'])} | {fmt(x['pg_us'], 1)} | "
                 f"{x['pg_variant']} | {fmt(x['ts_us'], 1)} | **{fx(x['speedup'])}** | "
                 f"{fx(x['ts_over_floor'])} | {fx(x['pg_over_floor'])} | "
                 f"{fmt(x['pg_p99'])} / {fmt(x['ts_p99'])} |")
    L.append("")
    L.append("## Rust (treestore-bench over tonic) and pgbench, 1 and 64 clients (ops/s)\n")
    L.append("Speedup = TreeStore / PostgreSQL throughput. \"of floor\" = the query's "
             "throughput as a fraction of its stack's floor at the same client count "
             "(TreeStore: gRPC Health; PostgreSQL: pgbench `SELECT 1`).\n")
    L.append("| query | PG 1 | TS 1 | speedup 1 | PG 64 | TS 64 | speedup 64 | TS 64 of floor "
             "| PG 64 of floor |")
    L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for base, label in (("grpc_health", "floor: gRPC Health / SELECT 1"),
                        ("health", "TreeStore Health RPC")):
        t = {cc: r["rust"][cc]["treestore"].get(base) for cc in (1, 64)}
        p = {cc: r["rust"][cc]["postgres"].get("select1") for cc in (1, 64)}
        pg1 = p[1]["ops_per_s"] if p[1] and base == "grpc_health" else None
        pg64 = p[64]["ops_per_s"] if p[64] and base == "grpc_health" else None
        L.append(f"| {label} | {fmt(pg1)} | {fmt(t[1] and t[1]['ops_per_s'])} | | {fmt(pg64)} | "
                 f"{fmt(t[64] and t[64]['ops_per_s'])} | | | |")
    for x in rrow:
        errs = x["errors1"] + x["errors64"]
        L.append(f"| {LABELS[x['query']]}{' (errors: %d)' % errs if errs else ''} | "
                 f"{fmt(x['pg1'])} | {fmt(x['ts1'])} | **{fx(x['speedup1'])}** | "
                 f"{fmt(x['pg64'])} | {fmt(x['ts64'])} | **{fx(x['speedup64'])}** | "
                 f"{fmt(x['ts_floor64'] and 100 * x['ts_floor64'])}% | "
                 f"{fmt(x['pg_floor64'] and 100 * x['pg_floor64'])}% |")
    L.append("")
    L.append("TreeStore's own mean latency per request (its `treestore_request_duration_seconds` "
             "histogram, 1 client), µs: " + ", ".join(
                 f"{LABELS[x['query']]} {fmt(x['srv1'])}" for x in rrow if x["srv1"]) + ".\n")
    tc = r.get("treestore_tree_cache") or {}
    if tc:
        looked = tc.get("hits_total", 0) + tc.get("misses_total", 0)
        L.append(f"TreeStore's tree cache after the measured workloads: "
                 f"{fmt(tc.get('documents'))} document versions, "
                 f"{fmt(tc.get('bytes', 0) / 2**20)} MiB, hits {fmt(tc.get('hits_total'))}, "
                 f"misses {fmt(tc.get('misses_total'))} "
                 f"({fmt(looked and 100 * tc.get('hits_total', 0) / looked, 1)}% hits), "
                 f"evictions {fmt(tc.get('evictions_total'))}.\n")
    pin = r["pinned"]
    if any(pin.values()):
        L.append("## Server CPU per request (pinned: server on core 1, load generator on "
                 "core 0)\n")
        L.append("| workload | clients | ops/s | server CPU µs / request | vs gRPC Health | "
                 "server mean µs |")
        L.append("|---|--:|--:|--:|--:|--:|")
        for cc in (1, 64):
            h = pin[cc].get("grpc_health", {}).get("server_cpu_us_per_op")
            for w, x in pin[cc].items():
                L.append(f"| {PINNED_LABELS.get(w, w)} | {cc} | {fmt(x['ops_per_s'])} | "
                         f"{fmt(x['server_cpu_us_per_op'], 1)} | "
                         f"{fx(ratio(x['server_cpu_us_per_op'], h))} | "
                         f"{fmt(x.get('server_mean_us'), 1)} |")
        L.append("")
    L.append("## Targets of the issue, checked on this run\n")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    for name, measured, met in targets_check(r, prow, rrow):
        L.append(f"| {name} | {measured} | {met} |")
    L.append("")
    return "\n".join(L)


def plot(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    prow = {x["query"]: x for x in python_rows(r)}
    rrow = {x["query"]: x for x in rust_rows(r)}
    series = [("Python, 1 client (latency)", [prow.get(q, {}).get("speedup") for q in QUERIES],
               "#4C72B0"),
              ("Rust/pgbench, 1 client (ops/s)", [rrow[q]["speedup1"] for q in QUERIES],
               "#55A868"),
              ("Rust/pgbench, 64 clients (ops/s)", [rrow[q]["speedup64"] for q in QUERIES],
               "#C44E52")]
    fig, ax = plt.subplots(figsize=(10, 7.5))
    n = len(QUERIES)
    h = 0.26
    for k, (label, vals, color) in enumerate(series):
        ys = [i + (k - 1) * h for i in range(n)]
        xs = [v if v else 0 for v in vals]
        ax.barh(ys, xs, height=h, label=label, color=color)
        for y, v in zip(ys, vals):
            if v:
                ax.text(v * 1.04, y, f"{v:.2f}x" if v < 10 else f"{v:.0f}x", va="center",
                        fontsize=7)
    vals = [v for _, vs, _ in series for v in vs if v]
    lo = min(vals + [0.5]) / 1.6
    hi = max(vals + [4.0]) * 1.8
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.set_ylim(n - 0.4, -1.1)  # inverted: first query on top, room above it for the labels
    ax.axvline(1, color="black", linewidth=1)
    ax.axvline(3, color="gray", linewidth=1, linestyle="--")
    ax.text(1, -0.75, " 1x: same", fontsize=8, va="center")
    ax.text(3, -0.75, " 3x: target", fontsize=8, color="gray", va="center")
    ax.set_yticks(range(n))
    ax.set_yticklabels([LABELS[q] for q in QUERIES])
    ax.set_xlabel("TreeStore speedup over PostgreSQL (log scale; > 1 = TreeStore faster)")
    m = r["machine"]
    ax.set_title(f"TreeStore vs PostgreSQL {r['python']['versions']['postgres']}: "
                 f"{r['corpus']['nodes']:,} nodes, {r['settings'].get('mode', '')} run\n"
                 f"{m['cpu']}, {m['cores']} cores, {r['date']}, commit {r['commit'][:12]}",
                 fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8,
              frameon=False)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description="Summarise one benchmark run")
    ap.add_argument("--raw", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    r = build(a.raw, a.corpus)
    if not r["python"]:
        raise SystemExit(f"{a.raw}: no python.json")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "results.json").write_text(json.dumps(r, indent=1) + "\n")
    md = markdown(r)
    (a.out / "summary.md").write_text(md)
    plot(r, a.out / "speedup.png")
    print(md)


if __name__ == "__main__":
    main()
