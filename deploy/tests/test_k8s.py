"""deploy/k8s: kustomizations that list exactly their files, one object per file, and the
StatefulSet's settings as rendered by `kubectl kustomize` for both variants."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))
# Object files no kustomization lists, each with the reason.
UNLISTED = {
    # A Security Profiles Operator CR: the kind exists only where SPO is installed, so it is
    # applied on its own (deploy/seccomp/README.md).
    K8S / "io-uring/seccompprofile.yaml",
}


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def object_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def render(directory: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl not found: `kubectl kustomize` renders the kustomizations")
    out = subprocess.run([kubectl, "kustomize", str(directory)], check=True,
                         capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d is not None]


def named(objs: list[dict]) -> dict[tuple[str, str], dict]:
    keys = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert len(keys) == len(set(keys)), keys
    return dict(zip(keys, objs))


def test_there_is_something_to_check():
    assert K8S / "kustomization.yaml" in KUSTOMIZATIONS
    assert K8S / "io-uring/kustomization.yaml" in KUSTOMIZATIONS
    assert len(object_files()) >= 6


@pytest.mark.parametrize("path", object_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_one_object_per_file(path):
    [obj] = docs(path)
    assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"]


@pytest.mark.parametrize("kust", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(K8S)))
def test_kustomization_lists_exactly_its_files(kust):
    [k] = docs(kust)
    assert k["kind"] == "Kustomization"
    listed = set()
    for entry in k.get("resources", []):
        target = (kust.parent / entry).resolve()
        assert target.exists(), f"{kust}: {entry} does not exist"
        if target.is_dir():
            assert (target / "kustomization.yaml").is_file(), f"{kust}: {entry} has none"
        listed.add(target)
    here = {p for p in kust.parent.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert here - listed - UNLISTED == set(), f"{kust}: not listed"


def test_every_object_file_is_listed_somewhere():
    listed = set()
    for kust in KUSTOMIZATIONS:
        for entry in docs(kust)[0].get("resources", []):
            listed.add((kust.parent / entry).resolve())
    assert set(object_files()) - listed == UNLISTED


def test_checkov_skips_give_reasons():
    skips = []
    for path in [*object_files(), *KUSTOMIZATIONS]:
        for m in re.finditer(r"checkov\.io/skip\d+:\s*(.*)", path.read_text()):
            skips.append(m.group(1))
            assert re.fullmatch(r"CKV2?_K8S_\d+=\S.{30,}", m.group(1)), (path, m.group(1))
    assert skips


def test_config_is_toml_with_io_uring_auto():
    cm = named(render(K8S))[("ConfigMap", "treestore-config")]
    config = tomllib.loads(cm["data"]["treestore.toml"])
    assert config["io_uring"] == "auto"
    assert config["listen"] == "0.0.0.0:50051" and config["metrics_listen"] == "0.0.0.0:9090"
    assert config["data_dir"] == "/data"


def container(sts: dict) -> dict:
    [c] = sts["spec"]["template"]["spec"]["containers"]
    return c


def test_base_statefulset():
    objs = named(render(K8S))
    assert set(objs) == {("ConfigMap", "treestore-config"), ("Service", "treestore"),
                         ("Service", "treestore-headless"), ("StatefulSet", "treestore"),
                         ("PodDisruptionBudget", "treestore")}
    sts = objs[("StatefulSet", "treestore")]
    pod = sts["spec"]["template"]["spec"]
    c = container(sts)
    assert sts["spec"]["serviceName"] == "treestore-headless"
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["data"]
    assert pod["terminationGracePeriodSeconds"] == 120
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001 and sc["runAsGroup"] == 10001
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["command"] == ["/usr/local/bin/treestore", "serve"]
    assert c["args"] == ["--config", "/etc/treestore/treestore.toml"]
    assert c["image"] == "treestore:0.1.0"  # from base/kustomization.yaml images
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["exec"]["command"] == ["/usr/local/bin/treestore", "health"], probe
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["TREESTORE_SHARDS"] == "2" and "TREESTORE_IO_URING" not in env
    assert env["TREESTORE_HEALTH_TLS_CA"] == "/var/run/secrets/treestore/tls/ca.crt"
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
    ann = sts["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "9090"
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts["/data"] == "data" and mounts["/etc/treestore"] == "config"
    # TLS and tokens from Secrets, at the paths the config names.
    config = tomllib.loads(objs[("ConfigMap", "treestore-config")]["data"]["treestore.toml"])
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"tls": "treestore-tls", "auth": "treestore-auth"}
    for key, volume in (("tls_cert", "tls"), ("tls_key", "tls"), ("auth_file", "auth")):
        mount = next(p for p, n in mounts.items() if n == volume)
        assert config[key].startswith(mount + "/"), key
    assert "insecure_plaintext" not in config and "no_auth" not in config


def test_io_uring_overlay():
    base, overlay = render(K8S), render(K8S / "io-uring")
    assert named(base).keys() == named(overlay).keys()
    sts = named(overlay)[("StatefulSet", "treestore")]
    localhost = {"type": "Localhost", "localhostProfile": "profiles/treestore.json"}
    assert sts["spec"]["template"]["spec"]["securityContext"]["seccompProfile"] == localhost
    c = container(sts)
    assert c["securityContext"]["seccompProfile"] == localhost
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["TREESTORE_IO_URING"] == "on" and env["TREESTORE_SHARDS"] == "2"
    # Everything else as in the base (the patch only adds).
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["image"] == "treestore:0.1.0"
