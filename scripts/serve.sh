#!/usr/bin/env bash
# Sets up the machine, builds TreeStore in release mode and runs the server:
# gRPC on :50051, Prometheus metrics on :9090, data in ./data (override with flags, see
# `treestore serve --help`; extra arguments are passed to `treestore serve`). The server needs
# TLS and an auth file (--tls-cert, --tls-key, --auth-file) or an explicit --insecure-plaintext
# (README, "Security"): `bash scripts/serve.sh --insecure-plaintext` for development.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/treestore/target}"
cargo build --release --bin treestore
exec "$CARGO_TARGET_DIR/release/treestore" serve "$@"
