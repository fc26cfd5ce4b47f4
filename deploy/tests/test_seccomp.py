"""deploy/seccomp: Docker's default profile plus io_uring, and the profiles derived from it."""

import hashlib
import json
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import seccomp_profiles as sp  # noqa: E402

IO_URING = {"io_uring_setup", "io_uring_enter", "io_uring_register"}
DENY = {"SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD"}
# Syscalls Docker's default allows any container (a sample: a profile that lost them is no
# longer the default), and ones it allows only with capabilities (CAP_SYS_ADMIN,
# CAP_SYS_MODULE, CAP_SYS_BOOT...) or never.
ALWAYS = {"read", "write", "openat", "close", "mmap", "munmap", "futex", "epoll_wait",
          "epoll_pwait", "accept4", "fsync", "fdatasync", "pread64", "pwrite64", "rseq",
          "sched_getaffinity", "mlock", "getrandom", "exit_group", "statx", "fallocate"}
NOT_WITHOUT_CAPS = {"mount", "umount2", "unshare", "setns", "bpf", "init_module", "reboot",
                    "kexec_load", "open_by_handle_at", "perf_event_open", "keyctl", "add_key"}


def unconditional(profile: dict, action: str = "SCMP_ACT_ALLOW") -> set[str]:
    """Names that `action` applies to with no condition (arguments, capabilities, arches)."""
    return {n for r in profile["syscalls"] if r["action"] == action and not r.get("args")
            and not r.get("includes") and not r.get("excludes") for n in r["names"]}


def mentioned(profile: dict) -> set[str]:
    return {n for r in profile["syscalls"] for n in r["names"]}


@pytest.fixture(scope="module")
def docker() -> dict:
    return json.loads(sp.DOCKER_PROFILE.read_text())


@pytest.fixture(scope="module")
def oci() -> dict:
    return json.loads(sp.OCI_PROFILE.read_text())


def test_docker_profile_denies_by_default(docker):
    assert docker["defaultAction"] in DENY
    assert docker["defaultErrnoRet"] == 1  # EPERM


def test_docker_profile_allows_io_uring(docker):
    assert IO_URING <= unconditional(docker)
    [rule] = [r for r in docker["syscalls"] if IO_URING & set(r["names"])]
    assert set(rule["names"]) == IO_URING and rule["action"] == "SCMP_ACT_ALLOW"


def test_docker_profile_is_mobys_default_plus_io_uring(docker):
    # Everything but the io_uring rule is moby/profiles seccomp v0.2.3 byte for byte.
    upstream = sp.upstream_bytes(docker)
    assert hashlib.sha256(upstream).hexdigest() == sp.UPSTREAM_SHA256
    blob = b"blob %d\0" % len(upstream) + upstream
    assert hashlib.sha1(blob).hexdigest() == sp.UPSTREAM_GIT_BLOB
    assert len(docker["syscalls"]) == len(json.loads(upstream)["syscalls"]) + 1
    assert ALWAYS <= unconditional(docker)
    assert not NOT_WITHOUT_CAPS & unconditional(docker)


def test_oci_profile_is_current(docker):
    assert sp.OCI_PROFILE.read_text() == sp.oci_text(docker)


def test_oci_profile_has_no_docker_only_fields(oci):
    # containerd decodes a Localhost profile as an OCI LinuxSeccomp and drops unknown fields:
    # a condition left in would silently become no condition.
    assert set(oci) == {"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}
    for rule in oci["syscalls"]:
        assert set(rule) <= {"names", "action", "args", "errnoRet"}, rule


def test_oci_profile_rules(oci):
    assert oci["defaultAction"] in DENY
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"} <= set(oci["architectures"])
    allowed = unconditional(oci)
    assert IO_URING <= allowed
    assert ALWAYS <= allowed
    assert not NOT_WITHOUT_CAPS & mentioned(oci)
    # clone: only without namespace flags in its first argument (the s390 variant, which tests
    # the second, must not be there); clone3 fails with ENOSYS so glibc falls back to clone.
    assert [r["args"] for r in oci["syscalls"] if "clone" in r["names"]] == [
        [{"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}]]
    assert [r for r in oci["syscalls"] if "clone3" in r["names"]] == [
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]


def test_oci_profile_actions_do_not_conflict(oci):
    # runc cannot add two unconditional rules with different actions for one syscall.
    seen: dict[str, str] = {}
    for rule in oci["syscalls"]:
        if rule.get("args"):
            continue
        for name in rule["names"]:
            assert seen.setdefault(name, rule["action"]) == rule["action"], name


def test_spo_profile_matches_oci_profile(docker, oci):
    assert sp.SPO_PROFILE.read_text() == sp.spo_text(docker)
    cr = yaml.safe_load(sp.SPO_PROFILE.read_text())
    assert cr["apiVersion"] == "security-profiles-operator.x-k8s.io/v1beta1"
    assert cr["kind"] == "SeccompProfile" and cr["metadata"]["name"] == "treestore"
    spec = cr["spec"]
    assert spec["defaultAction"] == oci["defaultAction"]
    assert spec["architectures"] == oci["architectures"]
    as_oci = [{"names": r["names"], "action": r["action"],
               **({"args": r["args"]} if "args" in r else {}),
               **({"errnoRet": int(r["errnoRet"])} if "errnoRet" in r else {})}
              for r in spec["syscalls"]]
    assert as_oci == oci["syscalls"]


def test_resolution_follows_docker_rules(docker):
    # The conditions as Docker applies them, on rules of the profile itself.
    by_first: dict[str, dict] = {}
    for rule in docker["syscalls"]:
        by_first.setdefault(rule["names"][0], rule)
    assert not sp.applies(by_first["bpf"], "amd64")  # needs CAP_SYS_ADMIN
    assert sp.applies(by_first["bpf"], "amd64", frozenset({"CAP_SYS_ADMIN"}))
    assert sp.applies(by_first["arch_prctl"], "amd64")
    assert not sp.applies(by_first["arch_prctl"], "arm64")
    assert sp.applies(by_first["arm_fadvise64_64"], "arm64")
    assert not sp.applies(by_first["s390_pci_mmio_read"], "amd64")
    assert sp.applies(by_first["clone3"], "amd64")  # the ENOSYS rule, excluded with SYS_ADMIN
    assert not sp.applies(by_first["clone3"], "amd64", frozenset({"CAP_SYS_ADMIN"}))
