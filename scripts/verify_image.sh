#!/usr/bin/env bash
# Checks a built TreeStore image on a machine with a Docker engine (CI has none; README,
# "Container and Kubernetes", says when this last ran and what it found):
#   bash scripts/verify_image.sh [IMAGE]            (default treestore:latest)
# - size under 30 MB (docker image inspect), non-root user 10001:10001, the entrypoint, command,
#   health check, ports and volume the Kubernetes manifests rely on, /data owned by 10001;
# - a container started from it turns healthy (its HEALTHCHECK, `treestore health`), answers
#   `treestore health` through the published gRPC port and serves metrics, runs as uid 10001;
# - `docker stop` ends it with exit status 0 within the stop timeout.
# Env: DOCKER (default docker), GRPC_PORT (50171), METRICS_PORT (9171), MAX_BYTES (30000000),
# RUN_OPTS (extra `docker run` options, e.g. "--security-opt seccomp=PROFILE").
set -euo pipefail
IMAGE="${1:-treestore:latest}"
DOCKER="${DOCKER:-docker}"
GRPC_PORT="${GRPC_PORT:-50171}"
METRICS_PORT="${METRICS_PORT:-9171}"
MAX_BYTES="${MAX_BYTES:-30000000}"
NAME="treestore-verify-$$"
failures=0

ok() { echo "ok    $*"; }
bad() { echo "FAIL  $*"; failures=$((failures + 1)); }
expect() { # expect WHAT ACTUAL WANTED
  if [ "$2" = "$3" ]; then ok "$1: $2"; else bad "$1: got '$2', want '$3'"; fi
}
cleanup() { "$DOCKER" rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

inspect() { "$DOCKER" image inspect -f "$1" "$IMAGE"; }
size=$(inspect '{{.Size}}')
if [ "$size" -lt "$MAX_BYTES" ]; then ok "size: $size bytes"; else bad "size: $size bytes >= $MAX_BYTES"; fi
expect "user" "$(inspect '{{.Config.User}}')" "10001:10001"
expect "entrypoint" "$(inspect '{{json .Config.Entrypoint}}')" '["/usr/local/bin/treestore"]'
expect "cmd" "$(inspect '{{json .Config.Cmd}}')" '["serve"]'
expect "healthcheck" "$(inspect '{{json .Config.Healthcheck.Test}}')" '["CMD","/usr/local/bin/treestore","health"]'
expect "stop signal" "$(inspect '{{.Config.StopSignal}}')" "SIGTERM"
# shellcheck disable=SC2016 # Go template variables, not shell ones
expect "exposed ports" "$(inspect '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}')" "50051/tcp 9090/tcp "
# shellcheck disable=SC2016 # Go template variables, not shell ones
expect "volumes" "$(inspect '{{range $v, $_ := .Config.Volumes}}{{$v}} {{end}}')" "/data "
for var in TREESTORE_DATA_DIR=/data TREESTORE_LISTEN=0.0.0.0:50051 \
    TREESTORE_METRICS_LISTEN=0.0.0.0:9090 TREESTORE_LOG_FORMAT=json TREESTORE_IO_URING=auto; do
  if inspect '{{range .Config.Env}}{{println .}}{{end}}' | grep -qx "$var"; then ok "env $var"; else bad "env $var missing"; fi
done
# The image's file system: /data owned by 10001, no shell.
"$DOCKER" create --name "$NAME" "$IMAGE" >/dev/null
listing=$("$DOCKER" export "$NAME" | tar --numeric-owner -tvf -)
expect "/data owner" "$(awk '$6 == "data/" { print $2 }' <<<"$listing")" "10001/10001"
if grep -qE ' (bin/sh|usr/bin/sh|bin/bash)$' <<<"$listing"; then bad "the image has a shell"; else ok "no shell in the image"; fi
echo "files: $(grep -vc '/$' <<<"$listing")"
"$DOCKER" rm "$NAME" >/dev/null

# Without TLS settings the image refuses to start (README, "Security"): this check runs it in
# plaintext on the loopback, saying so.
# shellcheck disable=SC2086 # RUN_OPTS is a list of options
"$DOCKER" run -d --name "$NAME" --ulimit memlock=8388608 -e TREESTORE_INSECURE_PLAINTEXT=true ${RUN_OPTS:-} \
  -p "127.0.0.1:$GRPC_PORT:50051" -p "127.0.0.1:$METRICS_PORT:9090" "$IMAGE" >/dev/null
status=""
for _ in $(seq 1 90); do
  status=$("$DOCKER" inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$NAME")
  case "$status" in "running healthy" | exited* | dead*) break ;; esac
  sleep 1
done
if [ "$status" != "running healthy" ]; then
  bad "container did not turn healthy: $status"
  "$DOCKER" logs "$NAME" 2>&1 | tail -20
  echo "$failures check(s) failed"
  exit 1
fi
ok "HEALTHCHECK: healthy"
if "$DOCKER" exec "$NAME" /usr/local/bin/treestore health; then ok "docker exec treestore health: exit 0"; else bad "docker exec treestore health"; fi
# The image's own binary, from outside the container, through the published port.
if "$DOCKER" run --rm --network host "$IMAGE" health --addr "127.0.0.1:$GRPC_PORT"; then
  ok "treestore health via 127.0.0.1:$GRPC_PORT: exit 0"
else
  bad "treestore health via 127.0.0.1:$GRPC_PORT"
fi
pid=$("$DOCKER" inspect -f '{{.State.Pid}}' "$NAME")
expect "server uid/gid" "$(awk '/^Uid:/ { u = $2 } /^Gid:/ { g = $2 } END { print u "/" g }' "/proc/$pid/status")" "10001/10001"
metrics=$(curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" || true)
if grep -q '^treestore_' <<<"$metrics"; then
  ok "metrics on :$METRICS_PORT ($(grep -c '^treestore_' <<<"$metrics") treestore_ samples)"
else
  bad "no treestore_ metrics on :$METRICS_PORT"
fi
t0=$(date +%s.%N)
"$DOCKER" stop -t 30 "$NAME" >/dev/null
t1=$(date +%s.%N)
expect "exit status after docker stop" "$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$NAME")" "0"
echo "docker stop took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
if [ "$failures" -ne 0 ]; then
  "$DOCKER" logs "$NAME" 2>&1 | tail -20
  echo "$failures check(s) failed"
  exit 1
fi
echo "image $IMAGE: all checks passed"
