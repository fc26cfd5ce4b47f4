#!/usr/bin/env bash
# TreeStore vs PostgreSQL: the whole benchmark in one command (see README.md beside this file).
#
#   bash benches/vs_postgres/run.sh            # full corpus (1M nodes), results/ in the repo
#   bash benches/vs_postgres/run.sh --quick    # 110k nodes, shorter runs, results in the work dir
#   bash benches/vs_postgres/run.sh --smoke    # tiny corpus, a few iterations (CI keeps it working)
#
# Builds the binaries, installs the Python packages, generates the corpus, starts a throwaway
# PostgreSQL 15 and a throwaway TreeStore on their own ports and data directories, loads the same
# corpus into both, runs the Python (1 client) and Rust/pgbench (1 and 64 clients) parts and a
# pinned server-CPU pass, writes the results and stops both servers (also on failure).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

usage() {
  cat <<EOF
usage: bash benches/vs_postgres/run.sh [--quick|--smoke] [options]
  --quick            110k-node corpus, 3 s per Rust/pgbench workload, fewer Python iterations
  --smoke            tiny corpus, 1 s per workload, a few iterations; debug binaries
  --out DIR          results directory (default: benches/vs_postgres/results for a full run,
                     WORK/results-MODE otherwise)
  --work-dir DIR     scratch directory: corpus, data directories, logs
                     (default: \${TMPDIR:-/tmp}/treestore-vs-postgres)
  --ts-port N        TreeStore gRPC port (default 56051)
  --metrics-port N   TreeStore metrics port (default 56090)
  --pg-port N        PostgreSQL port (default 56432)
  --seconds N        seconds per Rust/pgbench workload (default: 10 full, 3 quick, 1 smoke)
  --iterations-scale F  multiply the Python iteration counts (default 1)
  --seed N           corpus seed (default 20261130)
  --no-pinned        skip the pinned server-CPU pass
environment: TREESTORE_BIN, TREESTORE_BENCH_BIN (use these binaries instead of building),
  CARGO_TARGET_DIR (default /var/cache/treestore/target), TREESTORE_VENV (default
  /var/cache/treestore/venv), PG_BIN (default /usr/lib/postgresql/15/bin)
EOF
}

MODE=full
OUT=""
WORK="${TMPDIR:-/tmp}/treestore-vs-postgres"
TS_PORT=56051
METRICS_PORT=56090
PG_PORT=56432
SECS=""
ITER_SCALE=1
SEED=20261130
PINNED=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --smoke) MODE=smoke ;;
    --out) OUT="$2"; shift ;;
    --work-dir) WORK="$2"; shift ;;
    --ts-port) TS_PORT="$2"; shift ;;
    --metrics-port) METRICS_PORT="$2"; shift ;;
    --pg-port) PG_PORT="$2"; shift ;;
    --seconds) SECS="$2"; shift ;;
    --iterations-scale) ITER_SCALE="$2"; shift ;;
    --seed) SEED="$2"; shift ;;
    --no-pinned) PINNED=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
WARMUP=2  # seconds of unmeasured warm-up per workload in the pinned pass (after a restart)
case "$MODE" in
  full) : "${SECS:=10}"; : "${OUT:=$HERE/results}" ;;
  quick) : "${SECS:=3}"; : "${OUT:=$WORK/results-quick}" ;;
  smoke) : "${SECS:=1}"; : "${OUT:=$WORK/results-smoke}"; WARMUP=1 ;;
esac
mkdir -p "$WORK" "$OUT"
WORK="$(cd "$WORK" && pwd)"
OUT="$(cd "$OUT" && pwd)"
RAW="$OUT/raw"
rm -rf "$RAW"
mkdir -p "$RAW"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
T_START=$(date +%s)
LOADAVG=()  # the machine's load average at each phase: other work on it shows here
say() {
  echo "== [$(( $(date +%s) - T_START ))s] $*"
  LOADAVG+=("$(( $(date +%s) - T_START ))s $* :: $(cut -d' ' -f1-3 /proc/loadavg)")
}

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/treestore/target}"
VENV="${TREESTORE_VENV:-/var/cache/treestore/venv}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PY="$VENV/bin/python"

# ---- prerequisites: apt packages, venv, Python packages, binaries ---------------------------
if [ ! -x "$PY" ] || [ ! -x "$PG_BIN/pgbench" ] || [ ! -f "$(dirname "$PG_BIN")/lib/ltree.so" ]; then
  say "installing prerequisites (scripts/setup.sh)"
  bash "$REPO/scripts/setup.sh"
fi
if ! "$PY" -c 'import psycopg, matplotlib, treestore' 2>/dev/null; then
  say "installing Python packages (benches/vs_postgres/requirements.txt)"
  "$PY" -m pip install -q -r "$HERE/requirements.txt"
fi

mkdir -p "$WORK/bin"
need_build=()
[ -n "${TREESTORE_BIN:-}" ] || need_build+=(--bin treestore)
[ -n "${TREESTORE_BENCH_BIN:-}" ] || need_build+=(--bin treestore-bench)
PROFILE=release
[ "$MODE" = smoke ] && PROFILE=debug
if [ ${#need_build[@]} -gt 0 ]; then
  say "cargo build ($PROFILE) ${need_build[*]}"
  profile_flag=()
  [ "$PROFILE" = release ] && profile_flag=(--release)
  (cd "$REPO" && cargo build "${profile_flag[@]}" "${need_build[@]}")
fi
# Copies, so that another build cannot swap them during the run.
cp "${TREESTORE_BIN:-$CARGO_TARGET_DIR/$PROFILE/treestore}" "$WORK/bin/treestore"
cp "${TREESTORE_BENCH_BIN:-$CARGO_TARGET_DIR/$PROFILE/treestore-bench}" "$WORK/bin/treestore-bench"
TS="$WORK/bin/treestore"
BENCH="$WORK/bin/treestore-bench"

# ---- corpus -----------------------------------------------------------------------------------
CORPUS="$WORK/corpus-$MODE-$SEED"
say "corpus"
"$PY" "$HERE/corpus.py" --scale "$MODE" --seed "$SEED" --out "$CORPUS"

# ---- servers ----------------------------------------------------------------------------------
PG_SETTINGS=(
  "listen_addresses = '127.0.0.1'"
  "port = $PG_PORT"
  "unix_socket_directories = ''"
  "max_connections = 100"
  "shared_buffers = 4GB"
  "effective_cache_size = 8GB"
  "work_mem = 64MB"
  "maintenance_work_mem = 1GB"
  "max_wal_size = 8GB"
  "fsync = on"
  "synchronous_commit = on"
  "full_page_writes = on"
  "wal_sync_method = fdatasync"
  "random_page_cost = 1.1"
  "jit = off"
  "autovacuum = off"
)
# TreeStore gets the 4 GiB PostgreSQL gets as shared_buffers, split between its two caches:
# RocksDB's block cache (encoded blocks) and the tree cache (decoded documents).
TS_CACHE_BYTES=2147483648
TS_TREE_CACHE_BYTES=2147483648
PGDATA="$WORK/pg/data"
DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench"
TS_PID=""

as_postgres() {
  # initdb refuses to run as root: run PostgreSQL as the postgres user when we are root.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
stop_ts() {
  if [ -n "$TS_PID" ] && kill -0 "$TS_PID" 2>/dev/null; then
    kill -TERM "$TS_PID"
    for _ in $(seq 1 600); do kill -0 "$TS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$TS_PID" 2>/dev/null && kill -KILL "$TS_PID"
    wait "$TS_PID" 2>/dev/null || true
  fi
  TS_PID=""
}
stop_pg() {
  if [ -f "$PGDATA/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null || true
  fi
}
cleanup() {
  local rc=$?
  stop_ts
  stop_pg
  [ $rc -eq 0 ] || echo "run.sh: FAILED (exit $rc); logs in $LOGS" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_ts() {  # start_ts [prefix command...]: serve on the corpus data directory
  "$@" "$TS" serve --insecure-plaintext --listen "127.0.0.1:$TS_PORT" --metrics-listen "127.0.0.1:$METRICS_PORT" \
    --data-dir "$WORK/ts" --cache-bytes "$TS_CACHE_BYTES" \
    --tree-cache-bytes "$TS_TREE_CACHE_BYTES" "${TS_EXTRA[@]}" >>"$LOGS/treestore.log" 2>&1 &
  TS_PID=$!
  "$PY" - "$TS_PORT" <<'EOF'
import sys
from treestore import TreeStoreClient
with TreeStoreClient(f"127.0.0.1:{sys.argv[1]}") as c:
    c.wait_until_ready(timeout=300)
EOF
}
TS_EXTRA=()
wait_idle() {  # wait_idle PID: until the process uses < 5% of a core over 2 s (at most 300 s)
  "$PY" - "$1" <<'EOF'
import os, sys, time
pid, hz = sys.argv[1], os.sysconf("SC_CLK_TCK")
def cpu() -> float:
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / hz
t0 = time.monotonic()
while True:
    c0 = cpu()
    time.sleep(2)
    used = (cpu() - c0) / 2
    if used < 0.05 or time.monotonic() - t0 > 300:
        break
print(f"server idle after {time.monotonic() - t0:.0f} s ({used:.0%} of a core)", flush=True)
EOF
}

say "PostgreSQL: initdb and start"
stop_pg
rm -rf "$WORK/pg"
mkdir -p "$WORK/pg"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/pg"
as_postgres "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C >"$LOGS/initdb.log"
printf '%s\n' "${PG_SETTINGS[@]}" >>"$PGDATA/postgresql.conf"
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg/server.log" -w -t 120 start >/dev/null
"$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE bench"
say "PostgreSQL: load"
"$PY" "$HERE/pg_load.py" --corpus "$CORPUS" --dsn "$DSN" --stats "$RAW/load_postgres.json"

say "TreeStore: start and load"
rm -rf "$WORK/ts"
start_ts
"$BENCH" --addr "127.0.0.1:$TS_PORT" --clients 16 --connections 4 \
  --load "$CORPUS/docs.jsonl" --load-xrefs "$CORPUS/xrefs.tsv" --json "$RAW/load_treestore.json"
wait_idle "$TS_PID"  # background work after the load (checkpoints, compactions) settles first
# Every version of every document read once: TreeStore's caches hold the corpus, as
# PostgreSQL's shared_buffers do after pg_prewarm (pg_load.py).
"$BENCH" --addr "127.0.0.1:$TS_PORT" --clients 16 --connections 4 --prewarm "$CORPUS/docs.jsonl" \
  --json "$RAW/prewarm_treestore.json"
wait_idle "$TS_PID"

# ---- Python, 1 client -----------------------------------------------------------------------
say "Python part (1 client)"
"$PY" "$HERE/bench_python.py" --corpus "$CORPUS" --ts "127.0.0.1:$TS_PORT" --dsn "$DSN" \
  --mode "$MODE" --iterations-scale "$ITER_SCALE" --out "$RAW/python.json"

# ---- Rust and pgbench, 1 and 64 clients -------------------------------------------------------
for c in 1 64; do
  conns=4; [ "$c" = 1 ] && conns=1
  say "Rust part: treestore-bench, $c clients"
  "$BENCH" --addr "127.0.0.1:$TS_PORT" --corpus "$CORPUS/targets.json" --clients "$c" \
    --connections "$conns" --seconds "$SECS" --metrics-addr "127.0.0.1:$METRICS_PORT" \
    --json "$RAW/treestore_c$c.json"
  say "Rust part: pgbench, $c clients"
  "$PY" "$HERE/pgbench_run.py" --corpus "$CORPUS" --pg-bin "$PG_BIN" --port "$PG_PORT" \
    --clients "$c" --seconds "$SECS" --python-results "$RAW/python.json" \
    --log-dir "$LOGS/pgbench-c$c" --out "$RAW/pgbench_c$c.json"
done
stop_pg
# The tree cache's state after the measured workloads (what it held, how often it answered).
"$PY" - "127.0.0.1:$METRICS_PORT" >"$RAW/treestore_cache_metrics.txt" <<'EOF'
import sys, urllib.request
text = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=10).read().decode()
print("".join(l + "\n" for l in text.splitlines() if l.startswith("treestore_tree_cache_")), end="")
EOF

# ---- pinned pass: server CPU per request ------------------------------------------------------
if [ "$PINNED" = 1 ]; then
  say "pinned pass: server on core 1, load generator on core 0"
  stop_ts
  TS_EXTRA=(--no-pin-cores)
  start_ts taskset -c 1
  wait_idle "$TS_PID"
  for c in 1 64; do
    conns=4; [ "$c" = 1 ] && conns=1
    taskset -c 0 "$BENCH" --addr "127.0.0.1:$TS_PORT" --corpus "$CORPUS/targets.json" \
      --clients "$c" --connections "$conns" --threads 1 --seconds "$SECS" --warmup "$WARMUP" \
      --workloads grpc_health,health,node,subtree_1000 --server-pid "$TS_PID" \
      --metrics-addr "127.0.0.1:$METRICS_PORT" --json "$RAW/pinned_c$c.json"
  done
  TS_EXTRA=()
fi
stop_ts

# ---- report -----------------------------------------------------------------------------------
say "report"
cat >"$RAW/settings.json" <<EOF
{
  "mode": "$MODE",
  "seed": $SEED,
  "seconds_per_rust_workload": $SECS,
  "python_iterations_scale": $ITER_SCALE,
  "treestore_binary_profile": "$([ -n "${TREESTORE_BIN:-}" ] && echo "given: TREESTORE_BIN" || echo "$PROFILE")",
  "treestore_serve_flags": "--cache-bytes $TS_CACHE_BYTES --tree-cache-bytes $TS_TREE_CACHE_BYTES (default shards, executors, router threads, log level)",
  "postgresql_settings": $("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${PG_SETTINGS[@]}"),
  "run_seconds": $(( $(date +%s) - T_START )),
  "load_average_at_each_phase": $("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${LOADAVG[@]}")
}
EOF
"$PY" "$HERE/report.py" --raw "$RAW" --corpus "$CORPUS" --out "$OUT"
say "done: $OUT"
