"""The committed stubs in treestore/_proto must match proto/treestore.proto."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PKG_ROOT = Path(__file__).resolve().parents[1]
PROTO = PKG_ROOT.parent.parent / "proto" / "treestore.proto"
COMMITTED = PKG_ROOT / "treestore" / "_proto"
FILES = ("treestore_pb2.py", "treestore_pb2.pyi", "treestore_pb2_grpc.py")
PINNED_TOOLS = "1.85.1"  # keep equal to the dev extra in pyproject.toml


def _load_gen_script():
    spec = importlib.util.spec_from_file_location("gen_proto", PKG_ROOT / "scripts" / "gen_proto.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pinned_version_matches_pyproject():
    text = (PKG_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"grpcio-tools=={PINNED_TOOLS}"' in text


def test_committed_stubs_match_proto(tmp_path):
    pytest.importorskip("grpc_tools", reason="needs the dev extra (grpcio-tools)")
    if not PROTO.is_file():
        pytest.fail(f"proto file not found at {PROTO}")
    gen = _load_gen_script()
    gen.generate(tmp_path, PROTO.parent)

    # 1. semantic check (independent of the grpcio-tools version): same descriptor
    sys.path.insert(0, str(tmp_path))
    try:
        fresh_src = (tmp_path / "treestore_pb2.py").read_text(encoding="utf-8")
        committed_src = (COMMITTED / "treestore_pb2.py").read_text(encoding="utf-8")

        def serialized(src: str) -> bytes:
            start = src.index("AddSerializedFile(b'") + len("AddSerializedFile(")
            end = src.index("')\n", start) + 1
            return eval(src[start:end])  # a bytes literal written by protoc

        assert serialized(fresh_src) == serialized(committed_src), (
            "committed stubs are out of date: run python client/python/scripts/gen_proto.py")
    finally:
        sys.path.remove(str(tmp_path))

    # 2. byte-for-byte check with the pinned generator
    import grpc_tools

    version = getattr(grpc_tools, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("grpcio-tools")
    if version != PINNED_TOOLS:
        pytest.skip(f"grpcio-tools {version} installed, stubs pinned to {PINNED_TOOLS}: "
                    "descriptor matches, byte comparison skipped")
    for name in FILES:
        fresh = (tmp_path / name).read_text(encoding="utf-8")
        committed = (COMMITTED / name).read_text(encoding="utf-8")
        assert fresh == committed, (
            f"{name} differs from a fresh generation: run python client/python/scripts/gen_proto.py")


def test_relative_import_patched():
    src = (COMMITTED / "treestore_pb2_grpc.py").read_text(encoding="utf-8")
    assert "from . import treestore_pb2 as treestore__pb2" in src
    assert "\nimport treestore_pb2" not in src


def test_service_has_the_27_rpcs():
    from treestore._proto import treestore_pb2 as pb

    methods = [m.name for m in pb.DESCRIPTOR.services_by_name["TreeStore"].methods]
    assert methods == [
        "PutDocument", "GetDocument", "ListDocuments", "DeleteDocument", "ListVersions",
        "GetNode", "GetSubtree", "GetChildren", "GetAncestors", "InsertNode", "UpdateNode",
        "MoveNode", "DeleteNode", "SearchNodes", "GetVersionAsOf", "DiffVersions",
        "AddCrossReference", "RemoveCrossReference", "GetCrossReferences", "StoreToolResult",
        "GetToolResult", "BeginTransaction", "CommitTransaction", "RollbackTransaction",
        "Watch", "Health", "Stats"]
    for m in pb.DESCRIPTOR.services_by_name["TreeStore"].methods:
        assert m.input_type.name == f"{m.name}Request"
        if m.name == "Watch":  # the one server-streaming RPC
            assert m.server_streaming and not m.client_streaming
            assert m.output_type.name == "WatchEvent"
        else:
            assert not m.server_streaming and not m.client_streaming
            assert m.output_type.name == f"{m.name}Response"


def test_every_rpc_has_a_client_method():
    import re

    from treestore import AsyncTreeStoreClient, TreeStoreClient
    from treestore._proto import treestore_pb2 as pb

    for m in pb.DESCRIPTOR.services_by_name["TreeStore"].methods:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", m.name).lower()
        assert callable(getattr(TreeStoreClient, snake)), snake
        assert callable(getattr(AsyncTreeStoreClient, snake)), snake
