#!/usr/bin/env bash
# Lints the Dockerfile with hadolint (installed into the venv by scripts/setup.sh). Every rule
# counts (failure threshold: style); a rule the Dockerfile ignores says why next to its
# `# hadolint ignore=` comment. Building and running the image needs a Docker engine, which CI
# does not have: README ("Container and Kubernetes") says how the image was checked.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${TREESTORE_VENV:-/var/cache/treestore/venv}"
HADOLINT="$VENV/bin/hadolint"
[ -x "$HADOLINT" ] || { echo "hadolint not found at $HADOLINT: run scripts/setup.sh" >&2; exit 1; }
echo "== hadolint Dockerfile"
"$HADOLINT" --version
"$HADOLINT" --failure-threshold style --no-color Dockerfile
# An ignore pragma without a reason on the comment lines just above it is not accepted.
awk '
  /^# hadolint ignore=/ { if (!reason) { printf "Dockerfile:%d: hadolint ignore without a reason above it\n", NR; bad = 1 } }
  /^#/ && !/^# hadolint ignore=/ { reason = 1; next }
  { reason = 0 }
  END { exit bad }
' Dockerfile
echo "Dockerfile: hadolint clean"
