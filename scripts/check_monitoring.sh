#!/usr/bin/env bash
# Checks of the monitoring files (called by scripts/test.sh; scripts/setup.sh installs what it
# needs: Debian's prometheus package for promtool and prometheus, check-jsonschema in the venv):
# - promtool: deploy/prometheus.yml, the alert rules and their unit tests;
# - docker-compose.yml against the compose-spec schema (check-jsonschema's vendored copy), and
#   what the schemas cannot see (scripts/check_monitoring_static.py);
# - live: the TreeStore server binary and a real Prometheus, every dashboard query and alert
#   expression evaluated against real data, promtool check metrics on /metrics
#   (scripts/check_dashboard.py).
# Arguments are passed to check_dashboard.py (e.g. --grpc-port 50161 --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/treestore/target}"
VENV="${TREESTORE_VENV:-/var/cache/treestore/venv}"
TREESTORE_BIN="${TREESTORE_BIN:-$CARGO_TARGET_DIR/debug/treestore}"

for tool in promtool prometheus; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool not found: run scripts/setup.sh (Debian package prometheus)" >&2; exit 1; }
done
[ -x "$VENV/bin/check-jsonschema" ] || { echo "$VENV/bin/check-jsonschema not found: run scripts/setup.sh" >&2; exit 1; }

echo "== promtool check config deploy/prometheus.yml"
promtool check config deploy/prometheus.yml
echo "== promtool check rules deploy/prometheus/alerts.yml"
promtool check rules deploy/prometheus/alerts.yml
echo "== promtool test rules deploy/prometheus/alerts_test.yml"
promtool test rules deploy/prometheus/alerts_test.yml
echo "== docker-compose.yml against the compose-spec schema"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
echo "== compose stack, alert rules and dashboard: static checks"
"$VENV/bin/python" scripts/check_monitoring_static.py
echo "== dashboard and alert rules against a live server and Prometheus"
# The client of this checkout, whatever the venv's editable install points at.
PYTHONPATH="$PWD/client/python${PYTHONPATH:+:$PYTHONPATH}" \
  "$VENV/bin/python" scripts/check_dashboard.py --bin "$TREESTORE_BIN" "$@"
