#!/usr/bin/env python3
"""Derives TreeStore's Kubernetes seccomp profiles from deploy/seccomp/treestore.json.

deploy/seccomp/treestore.json is Docker's default profile (moby/profiles seccomp v0.2.3) plus one
rule allowing io_uring. It is in Docker's format: `archMap`, and rules that apply only with some
capabilities or on some architectures (`includes`/`excludes`). Docker resolves those itself;
containerd does not: it reads a Localhost profile as a plain OCI runtime-spec `LinuxSeccomp`
and ignores the fields it does not know, so every conditional rule would apply unconditionally
(unshare, mount, bpf... allowed; clone3 both allowed and denied, which runc rejects). This
script resolves the conditions the way Docker does, for a container without capabilities (the
StatefulSet drops ALL) on amd64 and arm64 nodes, and writes:

  deploy/seccomp/treestore-oci.json            the profile to install on nodes
  deploy/k8s/io-uring/seccompprofile.yaml      the same rules as a Security Profiles Operator CR

    python3 scripts/seccomp_profiles.py --write   # regenerate after editing treestore.json
    python3 scripts/seccomp_profiles.py --check   # exit 1 if a generated file is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER_PROFILE = ROOT / "deploy/seccomp/treestore.json"
OCI_PROFILE = ROOT / "deploy/seccomp/treestore-oci.json"
SPO_PROFILE = ROOT / "deploy/k8s/io-uring/seccompprofile.yaml"

# github.com/moby/profiles/seccomp v0.2.3, seccomp/default.json (vendored by Docker Engine 29):
# sha256 of the file's bytes, and its git blob id (`git hash-object default.json`).
UPSTREAM_SHA256 = "536529b665dd0972c37bfb569f5d4ac8a53592e7b00752bc39ff063ca9864c74"
UPSTREAM_GIT_BLOB = "ea5a494afb8d64898fa0f4f47ae0c4f5ba9cbbc9"

IO_URING = ["io_uring_enter", "io_uring_register", "io_uring_setup"]

# Node architectures the Kubernetes profile is resolved for (Go's GOARCH names, as Docker
# matches `includes.arches` against them) with the libseccomp architecture of each.
NODE_ARCHES = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}
# Capabilities the container keeps: none (securityContext.capabilities.drop: [ALL]).
CAPS: frozenset[str] = frozenset()
# Oldest node kernel assumed (io_uring as glommio uses it needs 5.8); only `minKernel: 4.8`
# (ptrace, process_vm_readv/writev) depends on it.
MIN_NODE_KERNEL = (5, 8)


def load(path: Path = DOCKER_PROFILE) -> dict:
    return json.loads(path.read_text())


def is_treestore_rule(rule: dict) -> bool:
    return sorted(rule.get("names", [])) == IO_URING


def upstream_bytes(profile: dict) -> bytes:
    """The profile without TreeStore's rule, serialized as moby's generator writes it
    (Go's json.MarshalIndent with a tab, no trailing newline)."""
    rest = dict(profile)
    rest["syscalls"] = [r for r in profile["syscalls"] if not is_treestore_rule(r)]
    return json.dumps(rest, indent="\t").encode()


def _kernel(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def applies(rule: dict, goarch: str, caps: frozenset[str] = CAPS) -> bool:
    """Whether Docker would keep `rule` for a container with `caps` on a `goarch` host
    (moby's setupSeccomp: excludes first, then includes; includes.caps needs every cap)."""
    exc, inc = rule.get("excludes") or {}, rule.get("includes") or {}
    if goarch in (exc.get("arches") or []):
        return False
    if any(c in caps for c in exc.get("caps") or []):
        return False
    if exc.get("minKernel") and MIN_NODE_KERNEL >= _kernel(exc["minKernel"]):
        return False
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    if any(c not in caps for c in inc.get("caps") or []):
        return False
    if inc.get("minKernel") and MIN_NODE_KERNEL < _kernel(inc["minKernel"]):
        return False
    return True


def oci_profile(profile: dict) -> dict:
    """The rules Docker applies on any of NODE_ARCHES, in the OCI runtime-spec format.

    One file serves both architectures: a rule kept only on amd64 (arch_prctl, modify_ldt)
    names syscalls arm64 does not have, and the other way round, so runc skips them there."""
    arches: list[str] = []
    for goarch, native in NODE_ARCHES.items():
        for m in profile["archMap"]:
            if m["architecture"] == native:
                arches += [native] + (m["subArchitectures"] or [])
    syscalls = []
    for rule in profile["syscalls"]:
        if not any(applies(rule, goarch) for goarch in NODE_ARCHES):
            continue
        out = {"names": rule["names"], "action": rule["action"]}
        if rule.get("args"):
            out["args"] = rule["args"]
        if "errnoRet" in rule:
            out["errnoRet"] = rule["errnoRet"]
        syscalls.append(out)
    return {
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": profile["defaultErrnoRet"],
        "architectures": arches,
        "syscalls": syscalls,
    }


def oci_text(profile: dict) -> str:
    return json.dumps(oci_profile(profile), indent=2) + "\n"


def _yaml_scalar(v) -> str:
    if isinstance(v, bool) or v is None:
        raise TypeError(v)
    if isinstance(v, int):
        return str(v)
    return json.dumps(v)  # a double-quoted YAML string


def spo_text(profile: dict) -> str:
    """A SeccompProfile (security-profiles-operator.x-k8s.io/v1beta1) with the OCI profile's
    rules. v1beta1 has no defaultErrnoRet (runc's default for SCMP_ACT_ERRNO is EPERM, the
    same as Docker's defaultErrnoRet 1) and types errnoRet as a string."""
    oci = oci_profile(profile)
    if oci["defaultErrnoRet"] != 1:
        raise ValueError("v1beta1 cannot express defaultErrnoRet other than EPERM (1)")
    lines = [
        "# Generated by scripts/seccomp_profiles.py from deploy/seccomp/treestore.json: edit that",
        "# file and run `python3 scripts/seccomp_profiles.py --write`, never this one.",
        "#",
        "# For clusters running the Security Profiles Operator (SPO), which writes the profile to",
        "# every node. Not part of the kustomization (the kind exists only where SPO is installed):",
        "#   kubectl apply -f deploy/k8s/io-uring/seccompprofile.yaml",
        "#   kubectl get seccompprofile treestore -o jsonpath='{.status.localhostProfile}'",
        "# SPO 0.9 and later (cluster-scoped profiles) answer operator/treestore.json; earlier",
        "# releases keep profiles per namespace (apply with -n NAMESPACE) and answer",
        "# operator/NAMESPACE/treestore.json. Put that path in the io-uring overlay's",
        "# localhostProfile in place of profiles/treestore.json.",
        "# clone3 must fail with ENOSYS (38) so glibc falls back to clone, whose flags the filter",
        "# checks. v1beta1 types errnoRet as a string; check that the node's copy",
        "# (/var/lib/kubelet/seccomp/<localhostProfile>) has \"errnoRet\": 38 without quotes, as",
        "# containerd rejects a quoted one (kubernetes-sigs/security-profiles-operator#1769).",
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1",
        "kind: SeccompProfile",
        "metadata:",
        "  name: treestore",
        "spec:",
        f"  defaultAction: {oci['defaultAction']}",
        "  architectures:",
    ]
    lines += [f"    - {a}" for a in oci["architectures"]]
    lines.append("  syscalls:")
    for rule in oci["syscalls"]:
        lines.append(f"    - action: {rule['action']}")
        if "errnoRet" in rule:
            lines.append(f"      errnoRet: {json.dumps(str(rule['errnoRet']))}")
        if "args" in rule:
            lines.append("      args:")
            for arg in rule["args"]:
                keys = list(arg)
                lines.append(f"        - {keys[0]}: {_yaml_scalar(arg[keys[0]])}")
                lines += [f"          {k}: {_yaml_scalar(arg[k])}" for k in keys[1:]]
        lines.append("      names:")
        lines += [f"        - {n}" for n in rule["names"]]
    return "\n".join(lines) + "\n"


def generated(profile: dict) -> dict[Path, str]:
    return {OCI_PROFILE: oci_text(profile), SPO_PROFILE: spo_text(profile)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the derived files")
    mode.add_argument("--check", action="store_true", help="exit 1 if a derived file is stale")
    args = ap.parse_args()
    profile = load()
    digest = hashlib.sha256(upstream_bytes(profile)).hexdigest()
    if digest != UPSTREAM_SHA256:
        print(
            f"{DOCKER_PROFILE.relative_to(ROOT)}: without the io_uring rule it is no longer "
            f"moby's profile (sha256 {digest}, expected {UPSTREAM_SHA256})",
            file=sys.stderr,
        )
        if args.check:
            return 1
    stale = []
    for path, text in generated(profile).items():
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            stale.append(str(path.relative_to(ROOT)))
    if stale:
        print(
            "stale: " + ", ".join(stale) + " (run python3 scripts/seccomp_profiles.py --write)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
