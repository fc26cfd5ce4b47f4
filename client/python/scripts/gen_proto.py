#!/usr/bin/env python3
"""Regenerate the committed gRPC/protobuf stubs of the TreeStore Python client.

Usage (from anywhere):

    python client/python/scripts/gen_proto.py            # writes treestore/_proto/
    python client/python/scripts/gen_proto.py --out DIR  # writes into DIR (used by the drift test)

Needs ``grpcio-tools`` (the version pinned in the ``dev`` extra of pyproject.toml; another
version produces slightly different, still compatible, output). Input is
``proto/treestore.proto`` at the repository root (``../../proto`` from ``client/python``).
The generated ``treestore_pb2_grpc.py`` is patched to import its sibling module relatively
(``from . import treestore_pb2``) so the stubs work inside the ``treestore._proto`` package.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PKG_ROOT = HERE.parent  # client/python
DEFAULT_PROTO_DIR = (PKG_ROOT / ".." / ".." / "proto").resolve()
DEFAULT_OUT = PKG_ROOT / "treestore" / "_proto"
PROTO_NAME = "treestore.proto"
GENERATED = ("treestore_pb2.py", "treestore_pb2.pyi", "treestore_pb2_grpc.py")


def generate(out_dir: Path, proto_dir: Path = DEFAULT_PROTO_DIR) -> list[Path]:
    """Generate the stubs into ``out_dir`` and return the written files."""
    try:
        from grpc_tools import protoc  # type: ignore[import-untyped]
        import grpc_tools
    except ImportError as exc:  # pragma: no cover - environment problem
        raise SystemExit("grpcio-tools is required: pip install -e 'client/python[dev]'") from exc

    proto_file = proto_dir / PROTO_NAME
    if not proto_file.is_file():
        raise SystemExit(f"proto file not found: {proto_file}")
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(proto_file),
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise SystemExit(f"protoc failed with exit code {rc}")

    grpc_file = out_dir / "treestore_pb2_grpc.py"
    src = grpc_file.read_text(encoding="utf-8")
    fixed, n = re.subn(r"^import treestore_pb2 as treestore__pb2$",
                       "from . import treestore_pb2 as treestore__pb2", src, flags=re.M)
    if n != 1:
        raise SystemExit("could not patch the import in treestore_pb2_grpc.py")
    grpc_file.write_text(fixed, encoding="utf-8")

    init = out_dir / "__init__.py"
    if not init.exists():
        init.write_text('"""Generated protobuf/gRPC stubs (do not edit; see scripts/gen_proto.py)."""\n',
                        encoding="utf-8")
    return [out_dir / name for name in GENERATED]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--proto-dir", type=Path, default=DEFAULT_PROTO_DIR,
                        help="directory containing treestore.proto")
    ns = parser.parse_args(argv)
    for path in generate(ns.out, ns.proto_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
