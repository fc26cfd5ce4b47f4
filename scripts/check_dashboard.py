#!/usr/bin/env python3
"""Live check of the Grafana dashboard and the alert rules against a real TreeStore server and
a real Prometheus.

Starts the server binary (a throwaway data directory) and Prometheus (a throwaway config that
scrapes the server every second and loads deploy/prometheus/alerts.yml), drives load with the
Python client (documents, node and subtree reads, tool-cache puts and gets, transactions, and
NOT_FOUND, ALREADY_EXISTS and INVALID_ARGUMENT answers), waits for scrapes, then:

- evaluates every query of every panel of the dashboard through Prometheus' HTTP API, with the
  template variables resolved from Prometheus as Grafana would (all values) and $__rate_interval
  etc. substituted, and fails on a query that errors, returns no series or only NaN, naming the
  panel and the metrics of the query that the server does not expose;
- checks that Prometheus loaded every alert rule of alerts.yml and evaluated it without error,
  and evaluates each rule's expression (no series is fine: the alert is not firing);
- runs `promtool check metrics` on the server's /metrics text.

Stdlib and the treestore client only. Every process it starts is stopped on exit. Exit status
0 when every check passed, 1 otherwise.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_for(what: str, predicate, timeout: float, procs: "Processes") -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            if predicate():
                return
        except Exception as e:  # noqa: BLE001 - anything means "not yet"
            last = e
        time.sleep(0.25)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last})" if last else ""))


class Processes:
    """The processes this check started; all stopped by stop_all()."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list[str], log_path: Path, env=None) -> subprocess.Popen:
        out = open(log_path, "wb")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, start_new_session=True)
        out.close()
        self.procs.append((name, p, log_path))
        return p

    def check_alive(self) -> None:
        for name, p, log_path in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with status {p.returncode}; its log "
                                   f"({log_path}) ends:\n{tail(log_path)}")

    def stop_all(self) -> None:
        for _, p, _ in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for name, p, _ in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"{name} (pid {p.pid}) did not stop on SIGTERM within 20s: killed")
                p.kill()
                p.wait()
        self.procs.clear()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(unreadable: {e})"


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, params=None) -> dict:
        url = self.base + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        try:
            body = http_get(url, timeout=10)
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                data = json.loads(body)
            except ValueError:
                raise RuntimeError(f"HTTP {e.code}: {body[:300]!r}") from None
            raise RuntimeError(f"{data.get('errorType', 'error')}: {data.get('error', body[:300])}") from None
        data = json.loads(body)
        if data.get("status") != "success":
            raise RuntimeError(f"{data.get('errorType', 'error')}: {data.get('error')}")
        return data["data"]

    def query(self, expr: str) -> dict:
        return self.get("/api/v1/query", {"query": expr})


# ------------------------------------------------------------------------------------ load


def drive_load(addr: str, round_no: int) -> dict:
    """One round of requests covering what the dashboard shows. Round 1 creates; round 2
    rewrites the documents (new versions: the tool-cache entry depending on one goes stale)
    and finds the short-TTL entry expired. Bounded: a few hundred requests."""
    from treestore import TreeStoreClient
    from treestore.errors import TreeStoreError

    codes: dict[str, int] = {}

    def expect_error(fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except TreeStoreError as e:
            if e.method is None:  # refused by the client: the server never saw it
                raise RuntimeError(f"load: {fn.__name__}{args[:1]} refused by the client: {e}") from None
            name = f"{e.method} {e.code.name}"
            codes[name] = codes.get(name, 0) + 1
            return
        raise RuntimeError(f"load: {fn.__name__}{args} succeeded, expected an error")

    def tree(doc: int) -> list[dict]:
        return [{"node_id": f"{c:02d}", "title": f"Chapter {c} of {doc}", "start_page": c,
                 "end_page": c + 1, "summary": f"round {round_no}",
                 "children": [{"node_id": f"{c:02d}.{s}", "title": f"Section {c}.{s}",
                               "text": f"text of {doc}/{c}.{s} round {round_no} " * 4}
                              for s in range(3)]}
                for c in range(4)]

    docs = [f"check-{i}" for i in range(6)]
    with TreeStoreClient(addr, timeout=10.0) as ts:
        ts.health()
        for i, doc in enumerate(docs):
            ts.put_document(doc, tree(i), name=f"{doc}.pdf", overwrite=True,
                            message=f"round {round_no}")
        for _ in range(4):
            for doc in docs:
                ts.get_node(doc, "01.2")
                ts.get_node(doc, "00")
                ts.get_subtree(doc, "02")
                ts.get_children(doc, "03")
                ts.get_ancestors(doc, "03.1")
        for doc in docs:
            ts.get_subtree(doc)
            ts.get_document(doc, include_tree=True)
        list(ts.search_nodes("Section", limit=5))
        ts.update_node(docs[0], "00", title=f"Chapter 0, round {round_no}")

        # Tool-result cache: a hit, a not_found; in round 2 a stale and an expired entry.
        args = {"doc_id": docs[0], "depth": 2}
        if round_no == 2:
            stale = ts.get_tool_result("check_tool", args)
            expired = ts.get_tool_result("check_short_ttl", {"n": 1})
            if stale.hit or expired.hit:
                raise RuntimeError(f"load: expected stale and expired misses, got {stale.miss_reason}, {expired.miss_reason}")
        ts.store_tool_result("check_tool", args, {"nodes": 5}, ttl_seconds=600, depends_on=[docs[0]])
        ts.store_tool_result("check_short_ttl", {"n": 1}, {"nodes": 1}, ttl_seconds=1)
        for _ in range(3):
            if not ts.get_tool_result("check_tool", args).hit:
                raise RuntimeError("load: expected a tool-cache hit")
        if ts.get_tool_result("check_tool", {"doc_id": "nothing"}).hit:
            raise RuntimeError("load: expected a tool-cache miss")

        # Transactions: one committed, one rolled back, one left to expire.
        with ts.transaction(docs[1], message=f"round {round_no}") as tx:
            tx.insert_node("", {"node_id": f"annex-{round_no}", "title": "Annex"})
            tx.update_node("00", title=f"Chapter 0 (tx {round_no})")
        try:
            with ts.transaction(docs[2]) as tx:
                tx.update_node("00", title="never committed")
                raise KeyError("roll back")
        except KeyError:
            pass
        ts.begin_transaction(docs[3], timeout_ms=1000)

        # Client errors.
        expect_error(ts.get_node, docs[0], "no-such-node")
        expect_error(ts.get_subtree, "no-such-document")
        expect_error(ts.put_document, docs[0], tree(0), overwrite=False)
        expect_error(ts.get_node, "x" * 300, "00")
        expect_error(ts.put_document, "check-dup", [{"node_id": "a", "title": "A"},
                                                    {"node_id": "a", "title": "again"}])
    return codes


# ------------------------------------------------------------------------------ dashboard


BUILTINS_HELP = "$__rate_interval, $__interval, $__range (and _s, _ms)"


def builtin_vars(rate_interval: str, interval: str, rng: str) -> dict[str, str]:
    def seconds(d: str) -> int:
        m = re.fullmatch(r"(\d+)([smh])", d)
        if not m:
            raise ValueError(f"duration {d!r}: use e.g. 30s, 1m, 1h")
        return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]

    return {
        "__rate_interval": rate_interval,
        "__interval": interval,
        "__interval_ms": str(seconds(interval) * 1000),
        "__range": rng,
        "__range_s": str(seconds(rng)),
        "__range_ms": str(seconds(rng) * 1000),
    }


VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def substitute(expr: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """The expression with every variable replaced; and the names it did not know."""
    unknown: list[str] = []

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name in values:
            return values[name]
        unknown.append(name)
        return m.group(0)

    return VAR_RE.sub(repl, expr), unknown


def regex_escape(value: str) -> str:
    # As Grafana escapes a multi-value variable's values for a Prometheus regex matcher: a
    # backslash before each regex metacharacter, written doubled inside the PromQL string
    # ("127\\.0\\.0\\.1:9090" is the regex 127\.0\.0\.1:9090).
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value)


def resolve_variables(dashboard: dict, prom: Prometheus, values: dict[str, str]) -> list[str]:
    """Adds each template variable's value to `values` (all of its values, as Grafana's "All"
    sends them); returns the problems."""
    problems = []
    for var in dashboard.get("templating", {}).get("list", []):
        name, kind = var.get("name"), var.get("type")
        if kind == "query":
            q = var.get("definition") or var.get("query")
            if isinstance(q, dict):
                q = q.get("query")
            q, unknown = substitute(q or "", values)
            if unknown:
                problems.append(f"variable ${name}: unknown variables {unknown} in {q!r}")
                continue
            m = re.fullmatch(r"\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*", q)
            if not m:
                problems.append(f"variable ${name}: query {q!r} is not label_values(...), which this check resolves")
                continue
            selector, label = m.group(1), m.group(2)
            params = {"match[]": selector} if selector else None
            try:
                found = prom.get(f"/api/v1/label/{label}/values", params)
            except RuntimeError as e:
                problems.append(f"variable ${name}: {q}: {e}")
                continue
            if not found:
                problems.append(f"variable ${name}: {q} has no values")
                continue
            log(f"variable ${name} = {found}")
            if var.get("multi") or var.get("includeAll"):
                if var.get("includeAll") and var.get("allValue"):
                    values[name] = var["allValue"]
                else:
                    values[name] = "(" + "|".join(regex_escape(v) for v in found) + ")"
            else:
                values[name] = found[0]
        elif kind in ("custom", "constant", "interval", "textbox"):
            current = var.get("current", {}).get("value")
            if isinstance(current, list):
                current = current[0] if current else ""
            values[name] = str(current if current is not None else var.get("query", ""))
        else:
            problems.append(f"variable ${name}: type {kind!r} is not handled by this check")
    return problems


def exposed_metric_names(metrics_text: str) -> set[str]:
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def panels_of(dashboard: dict):
    """(row title, panel) of every panel but rows, in order, collapsed rows included."""
    row = "(top)"
    for p in dashboard.get("panels", []):
        if p.get("type") == "row":
            row = p.get("title", "")
            for inner in p.get("panels", []):
                yield row, inner
        else:
            yield row, p


def check_panels(dashboard: dict, prom: Prometheus, values: dict[str, str],
                 exposed: set[str]) -> tuple[int, list[str]]:
    checked, failures = 0, []
    for row, panel in panels_of(dashboard):
        title = panel.get("title", "?")
        targets = panel.get("targets", [])
        if not targets:
            failures.append(f"[{row}] {title}: no queries")
            log(f"FAIL  [{row}] {title}: no queries")
            continue
        for t in targets:
            checked += 1
            where = f"[{row}] {title} / {t.get('refId', '?')}"
            expr, unknown = substitute(t.get("expr", ""), values)
            if unknown:
                failures.append(f"{where}: unknown variables {unknown}")
                log(f"FAIL  {where}: unknown variables {unknown} (known: {sorted(values)}; built in: {BUILTINS_HELP})")
                continue
            try:
                data = prom.query(expr)
            except RuntimeError as e:
                failures.append(f"{where}: query error")
                log(f"FAIL  {where}: query error: {e}\n      {expr}")
                continue
            if data["resultType"] == "scalar":
                samples = [data["result"]]
            else:
                samples = [r["value"] for r in data["result"]]
            if not samples:
                referenced = sorted(set(re.findall(r"\btreestore_[a-z0-9_]+", expr)))
                missing = [m for m in referenced if m not in exposed]
                why = (f"not exposed by this server: {', '.join(missing)}" if missing
                       else "every metric it reads is exposed; no series matched the query")
                failures.append(f"{where}: no series ({why})")
                log(f"FAIL  {where}: no series; {why}\n      {expr}")
                continue
            numbers = [float(v[1]) for v in samples]
            if all(math.isnan(x) for x in numbers):
                failures.append(f"{where}: only NaN")
                log(f"FAIL  {where}: {len(samples)} series, all NaN (nothing happened in the rate window?)\n      {expr}")
                continue
            log(f"OK    {where}: {len(samples)} series")
    return checked, failures


# --------------------------------------------------------------------------------- alerts


def check_alert_rules(prom: Prometheus, alerts_file: Path, since: float, procs: Processes,
                      exposed: set[str]) -> list[str]:
    names_in_file = re.findall(r"^\s*-\s*alert:\s*(\S+)\s*$", alerts_file.read_text(), re.M)

    def rules():
        return [r for g in prom.get("/api/v1/rules")["groups"] for r in g["rules"]]

    def evaluated_since_load() -> bool:
        # lastEvaluation is RFC 3339 with nanoseconds; evaluated after the load ended means
        # the rule saw its data.
        for r in rules():
            m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$",
                         r.get("lastEvaluation", ""))
            if not m or m.group(1).startswith("0001-"):
                return False
            tz = "+00:00" if m.group(2) == "Z" else m.group(2)
            if datetime.fromisoformat(m.group(1) + tz).timestamp() < since:
                return False
        return True

    wait_for("every alert rule to be evaluated after the load", evaluated_since_load, 30, procs)
    failures = []
    loaded = rules()
    loaded_names = [r["name"] for r in loaded]
    for name in names_in_file:
        if name not in loaded_names:
            failures.append(f"alert {name}: in {alerts_file.name} but not loaded by Prometheus")
            log(f"FAIL  alert {name}: not loaded by Prometheus")
    for r in loaded:
        name = r["name"]
        if r.get("health") != "ok" or r.get("lastError"):
            failures.append(f"alert {name}: evaluation {r.get('health')}: {r.get('lastError')}")
            log(f"FAIL  alert {name}: Prometheus evaluates it as {r.get('health')}: {r.get('lastError')}")
            continue
        try:
            data = prom.query(r["query"])
        except RuntimeError as e:
            failures.append(f"alert {name}: query error")
            log(f"FAIL  alert {name}: query error: {e}")
            continue
        n = len(data["result"]) if data["resultType"] != "scalar" else 1
        missing = sorted({m for m in re.findall(r"\btreestore_[a-z0-9_]+", r["query"])} - exposed)
        waits = f"; reads metrics this server does not expose: {', '.join(missing)}" if missing else ""
        log(f"OK    alert {name}: evaluates ({n} series now, state {r.get('state', '?')}){waits}")
    return failures


# ----------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("TREESTORE_BIN",
                    "/var/cache/treestore/target/debug/treestore"), help="treestore server binary")
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--promtool", default="/usr/bin/promtool")
    ap.add_argument("--dashboard", default=str(ROOT / "deploy/grafana-dashboards/treestore.json"))
    ap.add_argument("--alerts", default=str(ROOT / "deploy/prometheus/alerts.yml"))
    ap.add_argument("--workdir", help="folder for the throwaway data (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the data and logs")
    ap.add_argument("--grpc-port", type=int, default=0, help="0 = a free port")
    ap.add_argument("--metrics-port", type=int, default=0, help="0 = a free port")
    ap.add_argument("--prometheus-port", type=int, default=0, help="0 = a free port")
    ap.add_argument("--rate-interval", default="1m", help="what $__rate_interval stands for")
    ap.add_argument("--interval", default="15s", help="what $__interval stands for")
    ap.add_argument("--range", default="5m", help="what $__range stands for")
    args = ap.parse_args()

    for path, what in ((args.bin, "TreeStore server binary (TREESTORE_BIN)"),
                       (args.prometheus, "prometheus (Debian package prometheus)"),
                       (args.promtool, "promtool (Debian package prometheus)")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            log(f"FAIL  {what} not found at {path}")
            return 1
    dashboard = json.loads(Path(args.dashboard).read_text())
    values = builtin_vars(args.rate_interval, args.interval, args.range)

    base = Path(args.workdir) if args.workdir else None
    if base:
        base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="check-dashboard-", dir=base))
    grpc_port = args.grpc_port or free_port()
    metrics_port = args.metrics_port or free_port()
    prom_port = args.prometheus_port or free_port()
    procs = Processes()

    def on_signal(signum, _frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    failures: list[str] = []
    checked, panel_failures = 0, []
    try:
        log(f"work dir {work}; server gRPC 127.0.0.1:{grpc_port}, metrics 127.0.0.1:{metrics_port}; "
            f"Prometheus 127.0.0.1:{prom_port}")
        env = dict(os.environ, TREESTORE_LOG="warn")
        procs.start("treestore", [
            args.bin, "serve", "--insecure-plaintext", "--listen", f"127.0.0.1:{grpc_port}",
            "--metrics-listen", f"127.0.0.1:{metrics_port}", "--data-dir", str(work / "data"),
            "--shards", "2", "--executors", "1", "--router-threads", "1", "--no-pin-cores",
            "--cache-bytes", str(32 << 20), "--checkpoint-interval-secs", "2",
        ], work / "treestore.log", env=env)
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        wait_for("the server's /metrics", lambda: http_get(metrics_url), 60, procs)

        prom_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(Path(args.alerts).resolve())],
            "scrape_configs": [{"job_name": "treestore",
                                "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
        }
        (work / "prometheus.yml").write_text(json.dumps(prom_config, indent=2))  # JSON is YAML
        procs.start("prometheus", [
            args.prometheus, f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}", "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ], work / "prometheus.log")
        prom = Prometheus(f"http://127.0.0.1:{prom_port}")
        wait_for("Prometheus ready", lambda: http_get(prom.base + "/-/ready"), 60, procs)
        wait_for("Prometheus to scrape the server",
                 lambda: any(r["value"][1] == "1" for r in prom.query('up{job="treestore"}')["result"]),
                 60, procs)

        addr = f"127.0.0.1:{grpc_port}"
        from treestore import TreeStoreClient
        with TreeStoreClient(addr) as ts:
            ts.wait_until_ready(timeout=60)
        # Two rounds a few scrapes apart: every series the first round creates is scraped
        # before the second increases it, so rates over the window are not zero.
        codes = drive_load(addr, 1)
        time.sleep(3)
        for k, v in drive_load(addr, 2).items():
            codes[k] = codes.get(k, 0) + v
        log(f"load done; client errors seen: {codes}")
        load_end = time.time()
        time.sleep(3)  # three scrapes
        procs.check_alive()

        metrics_text = http_get(metrics_url).decode()
        exposed = exposed_metric_names(metrics_text)

        log("== promtool check metrics (the server's /metrics)")
        r = subprocess.run([args.promtool, "check", "metrics"], input=metrics_text.encode(),
                           capture_output=True, timeout=60)
        out = (r.stdout + r.stderr).decode(errors="replace").strip()
        if r.returncode != 0:
            failures.append(f"promtool check metrics: exit {r.returncode}")
            log(f"FAIL  promtool check metrics (exit {r.returncode}):\n{out}")
        else:
            log("OK    promtool check metrics" + (f": {out}" if out else ""))

        log(f"== dashboard {args.dashboard}: every panel's queries")
        problems = resolve_variables(dashboard, prom, values)
        for p in problems:
            log(f"FAIL  {p}")
        failures += problems
        checked, panel_failures = check_panels(dashboard, prom, values, exposed)
        failures += panel_failures

        log(f"== alert rules {args.alerts}")
        failures += check_alert_rules(prom, Path(args.alerts), load_end, procs, exposed)
        procs.check_alive()
    except (RuntimeError, SystemExit) as e:
        failures.append(str(e))
        log(f"FAIL  {e}")
    finally:
        procs.stop_all()
        if args.keep:
            log(f"data and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    log("")
    if panel_failures:
        log(f"dashboard: {checked - len(panel_failures)} of {checked} panel queries returned data; these did not:")
        for f in panel_failures:
            log(f"  - {f}")
    elif checked:
        log(f"dashboard: all {checked} panel queries returned data")
    if failures:
        log(f"check_dashboard: FAILED ({len(failures)} problem(s))")
        return 1
    log("check_dashboard: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
