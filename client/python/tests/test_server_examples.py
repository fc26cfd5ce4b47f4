"""The CLI and examples/python scripts against the real server (marker ``server``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples" / "python"


PKG = Path(__file__).resolve().parents[1]  # client/python (works without pip install)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(PKG), *filter(None, [os.environ.get("PYTHONPATH")])])}


def run(args, timeout=120):
    # From a directory outside the repository: the scripts must not depend on the cwd.
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd="/")
    assert proc.returncode == 0, f"{args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def test_cli_ingest_get_export(server, tmp_path, fixture_files, uid):
    src = tmp_path / "in"
    src.mkdir()
    for p in fixture_files:
        (src / f"{uid}_{p.name}").write_bytes(p.read_bytes())
    out = run(["-m", "treestore", "--addr", server.address, "ingest", src, "--no-progress"])
    listing = run(["-m", "treestore", "--addr", server.address, "list", "--prefix", uid])
    assert len(listing.strip().splitlines()) == 4
    for p in fixture_files:
        doc_id = f"{uid}_{p.stem}".removesuffix("_structure")
        shown = run(["-m", "treestore", "--addr", server.address, "get", doc_id, "--depth", "1"])
        assert doc_id in shown
        dest = tmp_path / f"{doc_id}.json"
        run(["-m", "treestore", "--addr", server.address, "export", doc_id, "-o", dest])
        assert json.loads(dest.read_text()) == json.loads(p.read_text())
    # ingesting again without --overwrite fails with a clear message and exit code 1
    proc = subprocess.run([sys.executable, "-m", "treestore", "--addr", server.address,
                           "ingest", src, "--no-progress"], capture_output=True, text=True,
                          env=ENV)
    assert proc.returncode == 1 and "already exists" in proc.stderr
    # --overwrite of unchanged files writes no version and says so
    proc = subprocess.run([sys.executable, "-m", "treestore", "--addr", server.address,
                           "ingest", src, "--overwrite", "--no-progress"], capture_output=True,
                          text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("unchanged (version 1 in force") == 4, proc.stderr
    assert "version 0" not in proc.stderr
    assert json.loads(run(["-m", "treestore", "--addr", server.address, "health"]))["status"] \
        == "serving"


def test_examples(server):
    """The examples run as a user runs them: default fixtures (the repository's own), from
    another directory, and a second run of each works as the first did."""
    addr = ["--addr", server.address]
    for _ in range(2):
        out = run([EXAMPLES / "ingest_pageindex.py", *addr, "--overwrite"])
        assert "ingested" in out.lower()
        out = run([EXAMPLES / "query_policy.py", *addr])
        assert "Regulation Best Interest" in out or "regbi" in out
        out = run([EXAMPLES / "temporal_lookup.py", *addr])
        assert "which edition was in force?" in out
        assert "sections added" in out
        out = run([EXAMPLES / "react_agent.py", *addr])
        assert "did not exist yet" in out and "version 2 of" in out
        assert "cache (this run):" in out
