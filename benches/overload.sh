#!/usr/bin/env bash
# Overload, A/B: bursts far beyond what the server takes at once, against the release binaries
# of one or more builds, one after the other on the same machine (the server pinned to one core,
# the load generator to the other). Each burst is `treestore-bench --burst N` over 4 HTTP/2
# connections: N requests sent at once, each timed from its send to its answer; it prints the
# latency (p50, p99, max) and the count of each status.
#
# Bursts, for each build and each server config (the default, whose tree cache answers reads on
# the router thread; and --tree-cache-bytes 0, whose reads all reach a shard):
#   get_subtree    whole 561-node documents with text (~150 KB answers)
#   get_subtree with a 2 s deadline on every request
#   get_node
#   write          durable UpdateNode
#
#   bash benches/overload.sh [N] BIN_DIR [BIN_DIR...] > out.txt
# BIN_DIR holds treestore and treestore-bench (a release build's target/release, or a copy).
# Env: PORT/METRICS_PORT (54051/54090), WORK (default a temp dir), SERVER_CORE/LOAD_CORE (0/1).
set -euo pipefail
N=${1:?usage: overload.sh N BIN_DIR [BIN_DIR...]}
shift
[ $# -ge 1 ] || { echo "usage: overload.sh N BIN_DIR [BIN_DIR...]" >&2; exit 2; }
PORT=${PORT:-54051}
METRICS_PORT=${METRICS_PORT:-54090}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; true; }
trap cleanup EXIT

start() {  # start BIN_DIR SERVER_FLAGS...
  local bin=$1; shift
  rm -rf "$WORK/data"
  taskset -c "$SERVER_CORE" "$bin/treestore" serve --listen "127.0.0.1:$PORT" \
    --metrics-listen "127.0.0.1:$METRICS_PORT" --data-dir "$WORK/data" --shards 2 \
    --executors 1 --router-threads 1 --no-pin-cores --insecure-plaintext --log warn "$@" \
    > "$WORK/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    if "$bin/treestore" health --addr "127.0.0.1:$PORT" --timeout-ms 500 >/dev/null 2>&1; then
      return
    fi
    sleep 0.2
  done
  echo "the server did not start: $(tail -5 "$WORK/server.log")" >&2
  exit 1
}

stop() {
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

burst() {  # burst BIN_DIR WORKLOAD [BENCH_FLAGS...]
  local bin=$1 workload=$2; shift 2
  taskset -c "$LOAD_CORE" "$bin/treestore-bench" --addr "127.0.0.1:$PORT" --connections 4 \
    --threads 1 --workloads "$workload" --burst "$N" "$@"
}

for bin in "$@"; do
  for config in default "--tree-cache-bytes 0"; do
    echo "== $bin, server config: $config"
    # shellcheck disable=SC2086 # the config is a list of flags
    [ "$config" = default ] && start "$bin" || start "$bin" $config
    burst "$bin" get_subtree
    burst "$bin" get_subtree --burst-deadline-ms 2000
    burst "$bin" get_node
    burst "$bin" write
    grep -h "refused_total" <(curl -s "http://127.0.0.1:$METRICS_PORT/metrics") \
      | grep -v '^#' | grep -v ' 0$' || true
    stop
  done
done
