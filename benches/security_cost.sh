#!/usr/bin/env bash
# What TLS and token authentication cost in throughput: the same server and load generator in
# three modes, one after the other on the same machine, the server pinned to one core and the
# load generator to the other (taskset):
#   plaintext   --insecure-plaintext
#   tls         --tls-cert/--tls-key --no-auth
#   tls+token   --tls-cert/--tls-key --auth-file (one principal, no limits), every request
#               with `authorization: Bearer <token>` (the default namespace: no header)
#   tls+token+namespace  the same, every request also naming the namespace `acme`
#               (`treestore-namespace: acme`: the header checked against the principal's
#               grant, every id qualified)
# Workloads of treestore-bench (long-lived HTTP/2 connections: the handshake is paid once per
# connection, not per request): health, get_node, write. Prints one summary line per mode and
# workload; with --server-pid the server's CPU time per request too.
#
#   CARGO_TARGET_DIR=... cargo build --release --bin treestore --bin treestore-bench
#   bash benches/security_cost.sh [SECONDS] [CLIENTS] > out.txt
# Env: CARGO_TARGET_DIR (the release binaries), PORT/METRICS_PORT (53051/53090), WORK
# (default a temp dir), SERVER_CORE/LOAD_CORE (0/1).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-10}
CLIENTS=${2:-64}
BIN="${CARGO_TARGET_DIR:-/var/cache/treestore/target}/release"
PORT=${PORT:-53051}
METRICS_PORT=${METRICS_PORT:-53090}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; true; }
trap cleanup EXIT

# A CA and the server's certificate (made here, never committed), a token and its auth file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=bench CA" -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$WORK/san.ext"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 2 -extfile "$WORK/san.ext" -out "$WORK/tls.crt" 2>/dev/null
"$BIN/treestore" token --name bench --scopes read,write > "$WORK/token.out"
TOKEN=$(head -1 "$WORK/token.out")
sed -n '/^\[\[principal\]\]/,$p' "$WORK/token.out" > "$WORK/principals.toml"
printf 'namespaces = ["default", "acme"]\n' >> "$WORK/principals.toml"

tls=(--tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key")
run() {  # run MODE SERVER_FLAGS... -- BENCH_FLAGS...
  local mode=$1; shift
  local sflags=() bflags=()
  while [ "$1" != "--" ]; do sflags+=("$1"); shift; done; shift
  bflags=("$@")
  rm -rf "$WORK/data"
  taskset -c "$SERVER_CORE" "$BIN/treestore" serve --listen "127.0.0.1:$PORT" \
    --metrics-listen "127.0.0.1:$METRICS_PORT" --data-dir "$WORK/data" --shards 2 \
    --executors 1 --router-threads 1 --no-pin-cores --log warn "${sflags[@]}" \
    > "$WORK/server-$mode.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    if "$BIN/treestore" health --addr "127.0.0.1:$PORT" --timeout-ms 500 \
        ${TLS_CA:+--tls-ca "$TLS_CA" --tls-server-name localhost} >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  echo "== $mode"
  # Only the token mode's load generator sees TREESTORE_TOKEN (set by its caller).
  taskset -c "$LOAD_CORE" "$BIN/treestore-bench" --addr "127.0.0.1:$PORT" --clients "$CLIENTS" \
    --connections 4 --threads 1 --seconds "$SECONDS_PER" --warmup 2 \
    --workloads health,get_node,write --server-pid "$server_pid" "${bflags[@]}"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

TLS_CA="" run plaintext --insecure-plaintext --
TLS_CA="$WORK/ca.crt" run tls "${tls[@]}" --no-auth -- --tls-ca "$WORK/ca.crt" \
  --tls-server-name localhost
# The token through the environment (TREESTORE_TOKEN), not the command line.
TREESTORE_TOKEN="$TOKEN" TLS_CA="$WORK/ca.crt" run tls+token "${tls[@]}" \
  --auth-file "$WORK/principals.toml" -- --tls-ca "$WORK/ca.crt" --tls-server-name localhost
TREESTORE_TOKEN="$TOKEN" TLS_CA="$WORK/ca.crt" run tls+token+namespace "${tls[@]}" \
  --auth-file "$WORK/principals.toml" -- --tls-ca "$WORK/ca.crt" --tls-server-name localhost \
  --namespace acme
