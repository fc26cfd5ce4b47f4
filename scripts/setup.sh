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
# PostgreSQL 15 with ltree and pgbench (part of postgresql-15 on Debian 12), for
# benches/vs_postgres and its smoke test.
[ -x /usr/lib/postgresql/15/bin/pgbench ] && [ -f /usr/lib/postgresql/15/lib/ltree.so ] \
  || need_apt+=(postgresql-15 postgresql-contrib)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install the Rust toolchain (rustup)" >&2; exit 1; }
mkdir -p "$CARGO_TARGET_DIR"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e "./client/python[dev]"
# psycopg and matplotlib for benches/vs_postgres.
"$VENV/bin/python" -m pip install -q -r benches/vs_postgres/requirements.txt
# Offline Kubernetes API schemas, to check deploy/kubernetes.
"$VENV/bin/python" -m pip install -q "kubernetes-validate==1.37.0"
