#!/usr/bin/env bash
# The whole test suite: formatting and lints, Rust unit/integration/property/crash tests (with
# and without failpoints), the Python client's tests against the real server binary, and the
# Kubernetes manifests and seccomp profiles (scripts/check_k8s.sh), the monitoring files
# (Prometheus rules and their tests, the compose stack, the Grafana dashboard against a live
# server and Prometheus: scripts/check_monitoring.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/treestore/target}"
VENV="${TREESTORE_VENV:-/var/cache/treestore/venv}"

bash scripts/check_k8s.sh
bash scripts/check_image.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
# Every cargo command below selects the whole workspace with its tests, so all resolve the
# dependencies' features alike and share one build of RocksDB (a package subset, or a build
# without the dev-dependencies, would compile RocksDB's C++ once more).
echo "== cargo clippy"
# Clippy only type-checks: nothing it builds links RocksDB. Its build of librocksdb-sys (check
# mode has a build-script output of its own) is told where a library would be instead of
# compiling RocksDB's C++ a second time: the tests below compile it once, for everything.
ROCKSDB_LIB_DIR=/nonexistent ROCKSDB_STATIC=1 cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
# Builds the debug server binary too (the integration tests run it).
cargo test --workspace
echo "== cargo test (failpoints)"
cargo test --workspace --features treestore-shards/failpoints --test runtime_failpoints --test failpoints
echo "== python client tests (real server)"
TREESTORE_BIN="$CARGO_TARGET_DIR/debug/treestore" "$VENV/bin/python" -m pytest -q client/python/tests
# Where io_uring works, the passes above ran the shards on glommio (--io-uring=auto). The tests
# of the runtime and of the server run again on the executors without io_uring; every server a
# test starts reads TREESTORE_IO_URING.
echo "== runtime and server tests again without io_uring (TREESTORE_IO_URING=off)"
TREESTORE_IO_URING=off cargo test --workspace --test runtime --test model_runtime --test api \
  --test api_more --test end_to_end --test malformed --test crash_kill9 --test io_uring_fallback \
  --test disk_full --test log_corruption
TREESTORE_IO_URING=off TREESTORE_BIN="$CARGO_TARGET_DIR/debug/treestore" \
  "$VENV/bin/python" -m pytest -q -m server client/python/tests
bash scripts/check_monitoring.sh
