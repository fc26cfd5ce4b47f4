#!/usr/bin/env bash
# The whole test suite: formatting and lints, Rust unit/integration/property/crash tests (with
# and without failpoints), the Python client's tests against the real server binary, and the
# Kubernetes manifests against the API schema.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/treestore/target}"
VENV="${TREESTORE_VENV:-/var/cache/treestore/venv}"

echo "== deploy/kubernetes against the Kubernetes API schema (strict)"
"$VENV/bin/kubernetes-validate" --strict --quiet -k 1.29 deploy/kubernetes/*.yaml
bash scripts/check_image.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
# Every cargo command below selects the whole workspace with its tests, so all resolve the
# dependencies' features alike and share one build of RocksDB (a package subset, or a build
# without the dev-dependencies, would compile RocksDB's C++ once more).
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
# Builds the debug server binary too (the integration tests run it).
cargo test --workspace
echo "== cargo test (failpoints)"
cargo test --workspace --features treestore-shards/failpoints --test runtime_failpoints --test failpoints
echo "== python client tests (real server)"
TREESTORE_BIN="$CARGO_TARGET_DIR/debug/treestore" "$VENV/bin/python" -m pytest -q client/python/tests
