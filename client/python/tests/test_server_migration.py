"""scripts/migrate_postgres_to_treestore.py against a real PostgreSQL started here (initdb in
a temporary directory, a free port) and a real TreeStore server (marker ``server``).

The source: the PageIndex fixtures in the documented layout, a synthetic history made
through the versioning trigger (edits, moves, subtree deletes, inserts, a back-dated
correction, a rename, a version without row changes), cross references and cached tool
results. Checked: migrate + --verify, as-of reads against the schema's own SQL functions,
a second run changing nothing, new source versions carried over, a run killed half way and
resumed, --verify finding corrupted nodes, --dry-run, --only, and a config mapping other
table and column names.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

try:
    import psycopg
except ImportError as exc:  # a missing install step must fail the suite, not skip it
    raise ImportError("psycopg is missing: pip install -r scripts/requirements-migrate.txt "
                      "(scripts/setup.sh does)") from exc

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "migrate_postgres_to_treestore.py"
sys.path.insert(0, str(REPO / "scripts"))

from pg_migration import fill, source  # noqa: E402
from pg_migration.config import load_config  # noqa: E402
from pg_migration.pgserver import TempPostgres  # noqa: E402

from treestore import NotFound  # noqa: E402

pytestmark = pytest.mark.server

PKG = REPO / "client" / "python"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(PKG), *filter(None, [os.environ.get("PYTHONPATH")])])}
FIXTURE_DOCS = ["disney_q1_fy25_earnings", "fed_2019_annual_report", "fed_2023_annual_report",
                "regbi_interpretive_release"]


@pytest.fixture(scope="module")
def pg():
    try:
        cluster = TempPostgres().start()
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cluster
    cluster.stop()


def filled_db(pg, fixture_files) -> str:
    """A new database in the cluster holding the fixtures with their synthetic history."""
    name = f"src_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.dsn, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    dsn = pg.dsn.replace("dbname=postgres", f"dbname={name}")
    with psycopg.connect(dsn, autocommit=True) as c:
        fill.create_schema(c)
        for path in fixture_files:
            doc = path.name.removesuffix("_structure.json")
            fill.load_pageindex(c, path, doc, "2019-07-12" if "regbi" in doc else "2019-12-31")
        fill.synthetic_history(c, FIXTURE_DOCS)
        fill.cross_references(c, FIXTURE_DOCS)
        fill.tool_results(c, FIXTURE_DOCS)
    return dsn


def migrate(dsn, server, *args, check=True, timeout=300):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--pg", dsn, "--addr", server.address,
                           "--no-progress", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout, cwd="/")
    if check:
        assert proc.returncode == 0, f"{args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def source_versions(dsn) -> dict[str, list]:
    cfg = load_config()
    with psycopg.connect(dsn, autocommit=True) as c:
        return {d: source.pg_versions(c, cfg, d) for d in FIXTURE_DOCS}


def test_migrate_verify_and_run_again(pg, server_factory, fixture_files, tmp_path):
    dsn = filled_db(pg, fixture_files)
    srv = server_factory()
    ckpt = tmp_path / "ckpt.json"
    out = migrate(dsn, srv, "--checkpoint", ckpt).stdout
    assert "4 documents: 4 migrated" in out and "tool results 5 stored" in out
    out = migrate(dsn, srv, "--verify").stdout
    assert out.strip().endswith("0 difference(s)") and "4 documents" in out

    from treestore import TreeStoreClient
    with TreeStoreClient(srv.address) as ts, psycopg.connect(dsn, autocommit=True) as c:
        versions = source_versions(dsn)
        total = sum(len(v) for v in versions.values())
        assert ts.stats().versions == total == 4 * 8
        # as-of reads answer what the schema's own as-of queries answer
        for doc in FIXTURE_DOCS:
            for probe in ("2019-01-01", "2019-12-31", "2020-02-15", "2020-06-01", "2021-01-01",
                          "2030-01-01"):
                at = c.execute("SELECT legacy_version_in_force(%s, %s)", (doc, probe)).fetchone()[0]
                try:
                    _, roots = ts.get_document(doc, as_of=probe, axis="effective",
                                               include_tree=True, include_text=True)
                except NotFound:
                    assert at is None, (doc, probe)
                    continue
                rows = c.execute("SELECT node_id, parent_id, title, summary, text FROM "
                                 "legacy_nodes_as_of(%s, %s)", (doc, at)).fetchall()
                got = {n.node_id: (n.parent_id or None, n.title, n.summary, n.text)
                       for r in roots for n in r.walk()}
                assert got == {r[0]: (r[1], r[2], r[3] or "", r[4] or "") for r in rows}
        # the commit time of each source version travels in the version's metadata
        v = versions["regbi_interpretive_release"]
        doc, _ = ts.get_document("regbi_interpretive_release", version=3)
        assert doc.metadata["pg.committed_at"] == source.iso(v[2][0])
        assert [x.message for x in ts.iter_versions("regbi_interpretive_release")] == \
            [m for _, _, m in v]
        # cross references and fresh tool results came over
        assert ts.get_tool_result("pi_search", {"doc_id": "regbi_interpretive_release",
                                                "depth": 2}).hit
        assert not ts.get_tool_result("get_node", {"doc_id": "regbi_interpretive_release",
                                                   "node_id": "0000"}).hit  # stale in PG
        stats = ts.stats()

        # a second run changes nothing (with the checkpoint, and without it)
        out = migrate(dsn, srv, "--checkpoint", ckpt).stdout
        assert "0 migrated, 4 up to date" in out and "wrote 0 versions" in out
        assert "cross references +0 -0" in out
        out = migrate(dsn, srv, "--no-checkpoint").stdout
        assert "0 migrated, 4 up to date" in out and "cross references +0 -0" in out
        assert ts.stats().versions == stats.versions

        # a document changed in PostgreSQL since gets its new versions, and only it
        with c.transaction():
            c.execute("UPDATE nodes SET summary = 'Rewritten.' WHERE doc_id = "
                      "'fed_2023_annual_report' AND node_id = '0001'")
            c.execute("SELECT legacy_record_version('fed_2023_annual_report', '2024-01-01', "
                      "'rewrite')")
        c.execute("DELETE FROM cross_references WHERE label = 'reference 0'")
        out = migrate(dsn, srv, "--checkpoint", ckpt).stdout
        assert "1 migrated, 3 up to date" in out and "wrote 1 versions" in out
        assert ts.stats().versions == stats.versions + 1
        assert ts.get_node("fed_2023_annual_report", "0001").summary == "Rewritten."
    assert migrate(dsn, srv, "--verify").stdout.strip().endswith("0 difference(s)")


def test_killed_half_way_resumes(pg, server_factory, fixture_files, tmp_path):
    dsn = filled_db(pg, fixture_files)
    srv = server_factory()
    ckpt = tmp_path / "ckpt.json"
    from treestore import TreeStoreClient
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--pg", dsn, "--addr", srv.address,
                             "--no-progress", "--checkpoint", str(ckpt), "--concurrency", "1",
                             "--throttle-ms", "150"], env=ENV, cwd="/",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    total = 4 * 8
    try:
        with TreeStoreClient(srv.address) as ts:
            deadline = time.monotonic() + 120
            while ts.stats().versions < 10:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            written = ts.stats().versions
            assert 10 <= written < total
            # a document stopped between two of its versions, or not started
            partial = []
            for doc in FIXTURE_DOCS:
                try:
                    n = len(list(ts.iter_versions(doc)))
                except NotFound:
                    n = 0
                partial.append(n)
            assert any(n < 8 for n in partial) and sum(partial) == written
            out = migrate(dsn, srv, "--checkpoint", ckpt).stdout
            assert "0 failed" in out and f"wrote {total - written} versions" in out
            assert ts.stats().versions == total
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = migrate(dsn, srv, "--verify").stdout
    assert out.strip().endswith("0 difference(s)")


def test_verify_finds_corrupted_nodes(pg, server_factory, fixture_files, tmp_path):
    dsn = filled_db(pg, fixture_files)
    srv = server_factory()
    migrate(dsn, srv, "--no-checkpoint")
    versions = source_versions(dsn)
    with psycopg.connect(dsn, autocommit=True) as c:
        # corrupt one node of one historical version behind the migration's back
        row = c.execute("SELECT node_id, title, (extract(epoch FROM valid_from) * 1000000)"
                        "::bigint FROM nodes_history WHERE doc_id = 'regbi_interpretive_release' "
                        "ORDER BY valid_from, node_id LIMIT 1").fetchone()
        c.execute("UPDATE nodes_history SET title = 'CORRUPTED' WHERE doc_id = "
                  "'regbi_interpretive_release' AND node_id = %s AND title = %s", row[:2])
    node_id, title, valid_from = row
    proc = migrate(dsn, srv, "--verify", check=False)
    assert proc.returncode == 1
    diffs = [line for line in proc.stdout.splitlines() if line.startswith("DIFF ")]
    at = [i for i, (t, _, _) in enumerate(versions["regbi_interpretive_release"], 1)
          if t >= valid_from]
    # the row was valid in one or more versions: each is named with its node and field
    assert diffs and all(f"node '{node_id}': title: postgres 'CORRUPTED' != treestore "
                         f"{title!r}" in d for d in diffs)
    assert any(f"document 'regbi_interpretive_release' version {at[0]} (source " in d
               for d in diffs)
    # and a change made in TreeStore outside the migration
    from treestore import TreeStoreClient
    with TreeStoreClient(srv.address) as ts:
        ts.update_node("fed_2019_annual_report", "0000", title="tampered")
    proc = migrate(dsn, srv, "--verify", check=False)
    assert proc.returncode == 1
    assert "document 'fed_2019_annual_report' version 9 (source " in proc.stdout
    assert "a second TreeStore version for the same source version" in proc.stdout
    # and a document deleted in PostgreSQL after the migration
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SELECT legacy_delete_document('disney_q1_fy25_earnings')")
    proc = migrate(dsn, srv, "--verify", check=False)
    assert "DIFF document 'disney_q1_fy25_earnings': migrated to TreeStore, no longer in " \
        "PostgreSQL" in proc.stdout


def test_dry_run_and_only(pg, server_factory, fixture_files):
    dsn = filled_db(pg, fixture_files)
    srv = server_factory()
    out = migrate(dsn, srv, "--dry-run").stdout
    assert "dry run: 4 documents" in out and "would write 32 versions" in out
    from treestore import TreeStoreClient
    with TreeStoreClient(srv.address) as ts:
        assert ts.stats().documents == 0
        proc = migrate(dsn, srv, "--no-checkpoint", "--only", "regbi_interpretive_release",
                       check=False)
        assert "1 documents: 1 migrated" in proc.stdout
        assert [d.doc_id for d in ts.iter_documents()] == ["regbi_interpretive_release"]
        # a reference to a document not migrated (yet) cannot be added: reported, exit 1
        refs_out = [line for line in proc.stderr.splitlines() if line.startswith("ERROR ")]
        assert proc.returncode == (1 if refs_out else 0)
        assert all("cross reference regbi_interpretive_release/" in line for line in refs_out)
    proc = migrate(dsn, srv, "--verify", "--only", "regbi_interpretive_release,nope",
                   check=False)
    assert "document 'nope': not in PostgreSQL (--only)" in proc.stdout


def test_config_maps_other_names(pg, server_factory, fixture_files, tmp_path):
    dsn = filled_db(pg, fixture_files)
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("ALTER TABLE nodes RENAME TO sections")
        c.execute("ALTER TABLE nodes_history RENAME TO sections_log")
        c.execute("ALTER TABLE sections RENAME COLUMN title TO heading")
        c.execute("ALTER TABLE sections_log RENAME COLUMN title TO heading")
        c.execute("ALTER TABLE document_versions RENAME COLUMN effective_at TO in_force_from")
        c.execute("DROP TABLE tool_results")
    config = tmp_path / "mapping.toml"
    config.write_text('[nodes]\ntable = "sections"\nhistory_table = "sections_log"\n'
                      'title = "heading"\nline_num = ""\n\n[versions]\n'
                      'effective_at = "in_force_from"\n\n[tool_results]\ntable = ""\n')
    srv = server_factory()
    out = migrate(dsn, srv, "--config", config, "--no-checkpoint").stdout
    assert "4 migrated" in out and "tool results 0 stored" in out
    out = migrate(dsn, srv, "--config", config, "--verify").stdout
    assert out.strip().endswith("0 difference(s)")
    bad = tmp_path / "bad.toml"
    bad.write_text('[nodes]\nnode_id = ""\n')
    proc = migrate(dsn, srv, "--config", bad, check=False)
    assert proc.returncode == 2 and "node_id must name a column" in proc.stderr


def test_source_reconstruction_matches_the_schema_functions(pg, fixture_files):
    """The migration rebuilds versions in Python; the schema defines them in SQL. Same."""
    dsn = filled_db(pg, fixture_files)
    cfg = load_config()
    with psycopg.connect(dsn, autocommit=True) as c:
        histories = source.load_histories(c, cfg, FIXTURE_DOCS)
        for doc in FIXTURE_DOCS:
            built = source.build_versions(histories[doc])
            sql_versions = c.execute(
                "SELECT (extract(epoch FROM valid_from) * 1000000)::bigint, (extract(epoch FROM "
                "effective_at) * 1000000)::bigint, message FROM legacy_versions(%s)",
                (doc,)).fetchall()
            assert [(v.at, v.effective, v.message) for v in built] == \
                [tuple(r) for r in sql_versions]
            for v in built:
                rows = c.execute("SELECT node_id, title, summary FROM legacy_nodes_as_of(%s, "
                                 "'epoch'::timestamptz + %s * interval '1 microsecond')",
                                 (doc, v.at)).fetchall()
                assert sorted((r.node_id, r.title, r.summary) for r in v.nodes) == \
                    sorted((r[0], r[1], r[2] or "") for r in rows)
        assert json.dumps(sorted(histories)) == json.dumps(sorted(FIXTURE_DOCS))
