#!/usr/bin/env bash
# Checks deploy/k8s and deploy/seccomp (run by scripts/test.sh; installs nothing: scripts/setup.sh
# installs kubernetes-validate and checkov; kubectl, for `kubectl kustomize`, comes with the
# machine image):
#   - deploy/tests (pytest): the seccomp profile (moby's default plus io_uring, the generated
#     Kubernetes variants current), the kustomizations list exactly their files, one object per
#     file, and the rendered StatefulSet's settings in both variants;
#   - every object file, and what `kubectl kustomize` renders for deploy/k8s and
#     deploy/k8s/io-uring, against the Kubernetes 1.29 API schema (strict);
#   - checkov over the object files and the rendered output. A skipped rule is skipped in the
#     manifest itself (checkov.io/skipN annotation) with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${TREESTORE_VENV:-/var/cache/treestore/venv}"
CHECKOV_VENV="${TREESTORE_CHECKOV_VENV:-/var/cache/treestore/venv-checkov}"
K8S_VERSION=1.29

command -v kubectl >/dev/null || { echo "kubectl not found (needed for kubectl kustomize)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== deploy/tests (seccomp profiles, kustomizations, rendered manifests)"
"$VENV/bin/python" -m pytest -q -p no:asyncio -p no:cacheprovider deploy/tests

# Object files: every YAML under deploy/k8s but the kustomizations and the Security Profiles
# Operator CR, whose schema is not part of Kubernetes' (deploy/tests checks its content).
mapfile -t objects < <(find deploy/k8s -name '*.yaml' ! -name kustomization.yaml \
  ! -path deploy/k8s/io-uring/seccompprofile.yaml | sort)
[ ${#objects[@]} -gt 0 ] || { echo "no object files under deploy/k8s" >&2; exit 1; }
mkdir -p "$work/rendered"
kubectl kustomize deploy/k8s > "$work/rendered/default.yaml"
kubectl kustomize deploy/k8s/io-uring > "$work/rendered/io-uring.yaml"

echo "== deploy/k8s against the Kubernetes $K8S_VERSION API schema (strict)"
# kubernetes-validate only warns about a kind it has no schema for: treat that as a failure.
"$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" \
  "${objects[@]}" "$work/rendered/default.yaml" "$work/rendered/io-uring.yaml" 2>&1 \
  | tee "$work/validate.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
if grep -q . "$work/validate.log"; then
  echo "kubernetes-validate reported the above" >&2
  exit 1
fi

echo "== checkov"
# --skip-download: no calls to the vendor's platform (this machine reaches no network).
run_checkov() {
  "$CHECKOV_VENV/bin/checkov" --framework kubernetes --compact --quiet --skip-download "$@" \
    | tee "$work/checkov.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
  # checkov passes a directory it found nothing in: make sure it checked something.
  grep -Eq 'Passed checks: [1-9][0-9]*, Failed checks: 0' "$work/checkov.log" \
    || { echo "checkov checked nothing" >&2; exit 1; }
}
run_checkov -d deploy/k8s
run_checkov -d "$work/rendered"
