#!/usr/bin/env python3
"""Soak benchmark: the release server under mixed load for a long time, sampled every 10 s.

Starts `treestore serve` (release build) with a short checkpoint interval and small WAL
segments and checkpoint threshold, so checkpoints, WAL rotation and WAL purging run all the
time; drives mixed load from this process (node, subtree, ancestor and as-of reads, updates,
inserts, deletes, transactions, tool results) for `--duration` seconds; and every
`--interval` seconds appends to a CSV: the server's RSS, its open file descriptors, the p99
latency of the requests that finished in the interval, the WAL bytes and the RocksDB bytes on
disk. At the end it plots every series (matplotlib) and prints start/end/max of each series
and the slope over the last half of the run.

Pin the server and the load apart (`--server-core 0 --load-core 1`, the defaults). Not a
test: run it by hand (see README.md, "Soak benchmark").

    CARGO_TARGET_DIR=... cargo build --release --bin treestore --bin treestore-bench
    /var/cache/treestore/venv/bin/python benches/soak.py --duration 1800 --out docs/soak
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "client" / "python"))

from treestore import TreeStoreClient  # noqa: E402
from treestore.errors import TreeStoreError  # noqa: E402

COLUMNS = ["elapsed_s", "rss_mib", "open_fds", "p99_ms", "requests", "errors",
           "wal_mib", "rocksdb_mib"]

# Operation mix: (name, weight).
MIX = [("get_node", 22), ("get_subtree", 8), ("get_ancestors", 10), ("as_of", 10),
       ("update", 20), ("insert", 8), ("delete", 8), ("transaction", 5),
       ("tool_result", 9)]

ROOTS, CHILDREN, LEAVES = 5, 5, 4
# Nodes a load thread keeps inserted at most: inserts and deletes balance, so the trees stay
# the same size (their history grows: every write is a new version).
MAX_INSERTED = 40


def tree():
    """A document tree of ROOTS x CHILDREN x LEAVES nodes, and its leaf ids."""
    roots, leaves = [], []
    for r in range(ROOTS):
        children = []
        for c in range(CHILDREN):
            ls = []
            for leaf in range(LEAVES):
                nid = f"r{r}c{c}l{leaf}"
                leaves.append(nid)
                ls.append({"node_id": nid, "title": f"leaf {nid}", "text": "lorem ipsum " * 20})
            children.append({"node_id": f"r{r}c{c}", "title": f"chapter {r}.{c}",
                             "children": ls})
        roots.append({"node_id": f"r{r}", "title": f"part {r}", "children": children})
    return roots, leaves


class Recorder:
    """Latencies of the current interval, shared by the load threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors = 0

    def add(self, seconds: float, ok: bool):
        with self.lock:
            self.latencies.append(seconds)
            if not ok:
                self.errors += 1

    def take(self):
        with self.lock:
            lat, err = self.latencies, self.errors
            self.latencies, self.errors = [], 0
        return lat, err


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(0.99 * len(s)))]


def load_thread(addr: str, docs: list[str], leaves: list[str], stop: threading.Event,
                rec: Recorder, seed: int, as_of_time: int):
    rnd = random.Random(seed)
    names = [n for n, _ in MIX]
    weights = [w for _, w in MIX]
    inserted: list[tuple[str, str]] = []
    counter = 0
    with TreeStoreClient(addr, timeout=30.0) as ts:
        while not stop.is_set():
            op = rnd.choices(names, weights)[0]
            doc = rnd.choice(docs)
            leaf = rnd.choice(leaves)
            if op == "insert" and len(inserted) >= MAX_INSERTED:
                op = "delete"
            if op == "delete" and not inserted:
                op = "insert"
            t0 = time.perf_counter()
            ok = True
            try:
                if op == "get_node":
                    ts.get_node(doc, leaf)
                elif op == "get_subtree":
                    ts.get_subtree(doc, leaf[:2])
                elif op == "get_ancestors":
                    ts.get_ancestors(doc, leaf)
                elif op == "as_of":
                    ts.get_node(doc, leaf, as_of=as_of_time)
                elif op == "update":
                    ts.update_node(doc, leaf, title=f"t{rnd.randrange(1 << 30)}",
                                   text="dolor sit amet " * rnd.randrange(1, 40))
                elif op == "insert":
                    counter += 1
                    nid = f"s{seed}-{counter}"
                    ts.insert_node(doc, leaf[:4], {"node_id": nid, "title": "soak",
                                                   "text": "inserted " * 30})
                    inserted.append((doc, nid))
                elif op == "delete":
                    d, nid = inserted.pop(0)
                    ts.delete_node(d, nid)
                elif op == "transaction":
                    with ts.transaction(doc, message="soak") as tx:
                        tx.update_node(leaf, title=f"tx{rnd.randrange(1 << 30)}")
                        tx.update_node(rnd.choice(leaves), summary="in a transaction")
                elif op == "tool_result":
                    args = {"q": rnd.randrange(500)}
                    if rnd.random() < 0.5:
                        ts.store_tool_result("soak_tool", args, {"answer": "x" * 200},
                                             ttl_seconds=60, depends_on=[doc])
                    else:
                        ts.get_tool_result("soak_tool", args)
            except TreeStoreError:
                # Conflicts of concurrent transactions, a tool result not stored yet: counted.
                ok = False
            rec.add(time.perf_counter() - t0, ok)


def dir_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except FileNotFoundError:
                pass  # removed (purged segment, compacted SST) while walking
    return total


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def summarize(rows: list[dict]) -> str:
    """Start, end, max and the least-squares slope (per hour) over the last half of each."""
    out = []
    half = rows[len(rows) // 2:]
    for col in COLUMNS[1:]:
        vals = [r[col] for r in rows]
        xs = [r["elapsed_s"] for r in half]
        ys = [r[col] for r in half]
        slope = float("nan")
        if len(xs) >= 2:
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            den = sum((x - mx) ** 2 for x in xs)
            if den:
                slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 3600
        out.append(f"{col:12} start {vals[0]:10.2f} end {vals[-1]:10.2f} max {max(vals):10.2f}"
                   f"  slope(last half) {slope:+10.2f}/h")
    return "\n".join(out)


def plot(rows: list[dict], path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = [("rss_mib", "server RSS (MiB)"), ("open_fds", "open file descriptors"),
              ("p99_ms", "p99 latency of the interval (ms)"), ("wal_mib", "WAL on disk (MiB)"),
              ("rocksdb_mib", "RocksDB on disk (MiB)"), ("requests", "requests per interval")]
    fig, axes = plt.subplots(len(series), 1, figsize=(9, 2.2 * len(series)), sharex=True)
    minutes = [r["elapsed_s"] / 60 for r in rows]
    for ax, (col, title) in zip(axes, series):
        ax.plot(minutes, [r[col] for r in rows], lw=1)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main():
    default_bin = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release/treestore"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, default=default_bin, help="release server binary")
    ap.add_argument("--duration", type=int, default=1800, help="seconds of load")
    ap.add_argument("--interval", type=int, default=10, help="seconds between samples")
    ap.add_argument("--port", type=int, default=52410)
    ap.add_argument("--metrics-port", type=int, default=52411)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/treestore-soak"))
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "soak")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--docs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=8, help="load threads (one request each)")
    ap.add_argument("--server-core", default="0")
    ap.add_argument("--load-core", type=int, default=1)
    ap.add_argument("--checkpoint-interval-secs", type=int, default=5)
    ap.add_argument("--wal-segment-size", type=int, default=1 << 20)
    ap.add_argument("--checkpoint-wal-bytes", type=int, default=4 << 20)
    args = ap.parse_args()

    if args.data_dir.exists():
        shutil.rmtree(args.data_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    addr = f"127.0.0.1:{args.port}"
    server_cmd = [
        "taskset", "-c", args.server_core, str(args.bin), "serve", "--insecure-plaintext",
        "--listen", addr, "--metrics-listen", f"127.0.0.1:{args.metrics_port}",
        "--data-dir", str(args.data_dir), "--shards", str(args.shards), "--no-pin-cores",
        "--checkpoint-interval-secs", str(args.checkpoint_interval_secs),
        "--wal-segment-size", str(args.wal_segment_size),
        "--wal-keep-segments", "2",
        "--checkpoint-wal-bytes", str(args.checkpoint_wal_bytes),
    ]
    log = open(args.out / "server.log", "w")
    server = subprocess.Popen(server_cmd, stdout=log, stderr=subprocess.STDOUT)
    os.sched_setaffinity(0, {args.load_core})
    stop = threading.Event()
    try:
        roots, leaves = tree()
        docs = [f"soak-{i}" for i in range(args.docs)]
        with TreeStoreClient(addr) as ts:
            ts.wait_until_ready(timeout=60)
            for d in docs:
                ts.put_document(d, roots, name=d)
        as_of_time = int(time.time() * 1e6)  # Unix microseconds: every document exists then
        rec = Recorder()
        threads = [threading.Thread(target=load_thread, daemon=True,
                                    args=(addr, docs, leaves, stop, rec, i, as_of_time))
                   for i in range(args.threads)]
        for t in threads:
            t.start()
        rows = []
        csv_path = args.out / "soak.csv"
        start = time.monotonic()
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            while time.monotonic() - start < args.duration:
                time.sleep(args.interval - (time.monotonic() - start) % args.interval)
                if server.poll() is not None:
                    raise SystemExit(f"server exited with {server.returncode}: see server.log")
                lat, err = rec.take()
                row = {
                    "elapsed_s": round(time.monotonic() - start, 1),
                    "rss_mib": round(rss_mib(server.pid), 1),
                    "open_fds": len(os.listdir(f"/proc/{server.pid}/fd")),
                    "p99_ms": round(p99(lat) * 1000, 2),
                    "requests": len(lat),
                    "errors": err,
                    "wal_mib": round(dir_bytes(args.data_dir / "wal") / 2**20, 2),
                    "rocksdb_mib": round(dir_bytes(args.data_dir / "rocksdb") / 2**20, 2),
                }
                rows.append(row)
                w.writerow(row)
                f.flush()
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        summary = summarize(rows)
        print(summary)
        (args.out / "summary.txt").write_text(summary + "\n")
        plot(rows, args.out / "soak.png")
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


if __name__ == "__main__":
    main()
