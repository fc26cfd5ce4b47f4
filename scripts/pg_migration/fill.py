"""Filling a source database in the documented layout: the schema, PageIndex files as
documents, a synthetic history made through the service's own path (UPDATE/DELETE with the
versioning trigger: edits, moves, deletes, inserts, renames, back-dated effective dates),
cross references and cached tool results; and a large synthetic corpus written with COPY
for benchmarks. Used by the tests and by scripts/bench_pg_migration.py.
"""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Optional

REPO = Path(__file__).resolve().parents[2]
SCHEMA_SQL = REPO / "deploy" / "postgres" / "legacy_schema.sql"
TYPED = {"title", "node_id", "summary", "text", "start_index", "end_index", "line_num", "nodes"}


def create_schema(conn: Any) -> None:
    conn.execute(SCHEMA_SQL.read_text(encoding="utf-8"))


def label(node_id: str) -> str:
    """An ltree label for a node id (PostgreSQL 15 labels: letters, digits, underscore)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", node_id) or "_"


def load_pageindex(conn: Any, path: Path, doc_id: str, effective: str,
                   message: str = "imported") -> int:
    """Insert a PageIndex JSON file as a document (one transaction: its first version).
    Sibling positions are spaced by 10 (gaps are allowed). Returns the node count."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows: list[tuple] = []

    def visit(nodes: list[dict], parent: Optional[str], prefix: str) -> None:
        for i, n in enumerate(nodes):
            path_ = f"{prefix}.{label(n['node_id'])}" if prefix else label(n["node_id"])
            extras = {k: v for k, v in n.items() if k not in TYPED}
            rows.append((doc_id, n["node_id"], parent, i * 10, path_, n.get("title", ""),
                         n.get("summary"), n.get("text"), n.get("start_index"),
                         n.get("end_index"), n.get("line_num"), json.dumps(extras)))
            visit(n.get("nodes", []), n["node_id"], path_)

    visit(data["structure"], None, "")
    with conn.transaction():
        conn.execute("INSERT INTO documents (doc_id, name, description, metadata) "
                     "VALUES (%s, %s, %s, %s)",
                     (doc_id, data.get("doc_name", ""), data.get("doc_description", ""),
                      json.dumps({"source": Path(path).name, "pages": 0})))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO nodes (doc_id, node_id, parent_id, position, path, "
                            "title, summary, text, start_page, end_page, line_num, extras) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        conn.execute("SELECT legacy_record_version(%s, %s, %s)", (doc_id, effective, message))
    return len(rows)


def _nodes(conn: Any, doc_id: str) -> list[tuple]:
    return conn.execute("SELECT node_id, parent_id, position, path::text FROM nodes "
                        "WHERE doc_id = %s ORDER BY path", (doc_id,)).fetchall()


def _move(conn: Any, doc_id: str, node: str, new_parent: Optional[str], position: int) -> None:
    """Move a node with its subtree (parent, position, and the paths below it)."""
    old_path = conn.execute("SELECT path::text FROM nodes WHERE doc_id=%s AND node_id=%s",
                            (doc_id, node)).fetchone()[0]
    parent_path = "" if new_parent is None else conn.execute(
        "SELECT path::text FROM nodes WHERE doc_id=%s AND node_id=%s",
        (doc_id, new_parent)).fetchone()[0]
    new_path = f"{parent_path}.{label(node)}" if parent_path else label(node)
    conn.execute("UPDATE nodes SET parent_id = %s, position = %s WHERE doc_id=%s AND "
                 "node_id=%s", (new_parent, position, doc_id, node))
    conn.execute("UPDATE nodes SET path = CASE WHEN path = %(old)s::ltree THEN %(new)s::ltree "
                 "ELSE %(new)s::ltree || subpath(path, nlevel(%(old)s::ltree)) END "
                 "WHERE doc_id = %(doc)s AND path <@ %(old)s::ltree",
                 {"new": new_path, "old": old_path, "doc": doc_id})


def synthetic_history(conn: Any, doc_ids: Iterable[str], *, seed: int = 7,
                      start: str = "2020-01-01") -> int:
    """Apply a history to each document, one transaction (= one version) per step: an edit,
    a move, a subtree delete, an insert, a back-dated correction, a rename with new
    metadata (no effective date recorded: effective when committed), and a recorded
    version that changes no row. Returns the number of versions added."""
    rng = random.Random(seed)
    base = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
    added = 0
    for k, doc in enumerate(sorted(doc_ids)):
        eff = base + timedelta(days=30 * k)

        def record(effective: Optional[datetime], message: str) -> None:
            if effective is not None:
                conn.execute("SELECT legacy_record_version(%s, %s, %s)",
                             (doc, effective, message))

        nodes = _nodes(conn, doc)
        ids = [n[0] for n in nodes]
        with conn.transaction():  # edit
            target = rng.choice(ids)
            conn.execute("UPDATE nodes SET title = title || ' (amended)', summary = "
                         "coalesce(summary, '') || ' Amended: the obligation now also "
                         "covers retail customers.' WHERE doc_id=%s AND node_id=%s",
                         (doc, target))
            record(eff + timedelta(days=10), f"amend {target}")
        nodes = _nodes(conn, doc)
        paths = {n[0]: n[3] for n in nodes}
        with conn.transaction():  # move a node (not a top-level one) under another subtree
            movable = [n for n in nodes if n[1] is not None] or nodes
            node = rng.choice(movable)[0]
            targets = [n[0] for n in nodes if not (n[3] + ".").startswith(paths[node] + ".")]
            new_parent = rng.choice(targets) if targets else None
            _move(conn, doc, node, new_parent, -1)
            record(eff + timedelta(days=20), f"move {node}")
        nodes = _nodes(conn, doc)
        with conn.transaction():  # delete a subtree (children go by the cascade)
            victim = rng.choice([n[0] for n in nodes if n[1] is not None] or [nodes[-1][0]])
            conn.execute("DELETE FROM nodes WHERE doc_id=%s AND node_id=%s", (doc, victim))
            record(eff + timedelta(days=40), f"delete {victim}")
        nodes = _nodes(conn, doc)
        with conn.transaction():  # insert
            parent = rng.choice(nodes)
            conn.execute("INSERT INTO nodes (doc_id, node_id, parent_id, position, path, title, "
                         "summary, text, start_page, end_page, extras) VALUES (%s, %s, %s, 5, "
                         "%s, 'Supplementary guidance', 'Added section.', 'New text.', 3, 4, "
                         "'{\"added_by\": \"synthetic\"}')",
                         (doc, f"9{k:03d}", parent[0], f"{parent[3]}.{label(f'9{k:03d}')}"))
            record(eff + timedelta(days=50), "insert")
        nodes = _nodes(conn, doc)
        with conn.transaction():  # back-dated correction: in force before the last versions
            target = rng.choice([n[0] for n in nodes])
            conn.execute("UPDATE nodes SET text = coalesce(text, '') || ' [corrected]', "
                         "start_page = coalesce(start_page, 0) + 1 WHERE doc_id=%s AND "
                         "node_id=%s", (doc, target))
            record(eff + timedelta(days=15), f"back-dated correction of {target}")
        with conn.transaction():  # rename, new metadata; no effective date recorded
            conn.execute("UPDATE documents SET name = name || ' (rev. 2)', metadata = "
                         "metadata || '{\"revision\": 2, \"owner\": \"compliance\"}' "
                         "WHERE doc_id=%s", (doc,))
        with conn.transaction():  # a recorded version that changes no row
            record(eff + timedelta(days=60), "reviewed, no change")
        added += 7
    return added


def cross_references(conn: Any, doc_ids: list[str], *, seed: int = 11, count: int = 12) -> int:
    """Random references between current nodes (within and across documents)."""
    rng = random.Random(seed)
    nodes = [(d, n[0]) for d in sorted(doc_ids) for n in _nodes(conn, d)]
    made = 0
    for i in range(count):
        a, b = rng.sample(nodes, 2)
        made += conn.execute("INSERT INTO cross_references (from_doc, from_node, to_doc, "
                             "to_node, kind, label) VALUES (%s, %s, %s, %s, %s, %s) "
                             "ON CONFLICT DO NOTHING",
                             (*a, *b, ["cites", "supersedes", ""][i % 3],
                              f"reference {i}")).rowcount
    return made


def tool_results(conn: Any, doc_ids: list[str]) -> dict[str, int]:
    """Cached results: fresh ones (created now, after every change), expired ones, and stale
    ones (created before their document's last change)."""
    docs = sorted(doc_ids)
    rows = []
    for i, d in enumerate(docs):
        rows.append(("pi_search", {"doc_id": d, "depth": 2}, {"tree": [d, i]}, [d],
                     "now()", "now() + interval '2 hours'"))
        rows.append(("temporal_lookup", {"doc_id": d, "date": "2021-01-01"}, {"v": i}, [d],
                     "now() - interval '3 hours'", "now() - interval '1 hour'"))
        rows.append(("get_node", {"doc_id": d, "node_id": "0000"}, {"stale": True}, [d],
                     "'2000-01-01'::timestamptz", "now() + interval '1 day'"))
    rows.append(("list_documents", {}, {"documents": docs}, [], "now()",
                 "now() + interval '90 days'"))
    for tool, args, result, deps, created, expires in rows:
        conn.execute(f"INSERT INTO tool_results (tool_name, args, result, doc_ids, created_at, "
                     f"expires_at) VALUES (%s, %s, %s, %s, {created}, {expires})",
                     (tool, json.dumps(args), json.dumps(result), deps))
    return {"fresh": len(docs) + 1, "expired": len(docs), "stale": len(docs)}


# ---------------------------------------------------------------------------------------
# a large corpus for benchmarks (COPY, triggers off)
# ---------------------------------------------------------------------------------------

_WORDS = ("broker dealer customer recommendation obligation disclosure conflict interest "
          "capital liquidity reserve policy rate inflation employment supervision bank "
          "regulation retail investor account advice fee compensation standard care best "
          "interest duty loyalty fiduciary adviser incidental prong exclusion").split()


def _paragraphs(rng: random.Random, count: int, words: int) -> list[str]:
    return [" ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."
            for _ in range(count)]


def bulk_corpus(conn: Any, *, docs: int, nodes_per_doc: int, history_every: int = 5,
                seed: int = 3) -> dict[str, int]:
    """``docs`` documents of ``nodes_per_doc`` nodes (10 top-level chapters, 5 children per
    node below), ~600 bytes of summary and text each. Every ``history_every``-th document
    gets three more versions: 5% of its nodes edited, then two deleted and one moved, then
    three inserted with a back-dated effective date. Returns row counts."""
    rng = random.Random(seed)
    summaries = _paragraphs(rng, 997, 30)
    texts = _paragraphs(rng, 1009, 60)
    t0 = datetime(2021, 1, 1, tzinfo=timezone.utc)
    hour = timedelta(hours=1)
    counts = {"documents": 0, "nodes": 0, "nodes_history": 0, "versions": 0}
    conn.execute("SET session_replication_role = replica")  # no triggers, no FK checks
    with conn.cursor() as cur:
        with cur.copy("COPY documents (doc_id, name, description, metadata, valid_from) "
                      "FROM STDIN") as cp:
            for d in range(docs):
                cp.write_row((f"doc{d:06d}", f"Synthetic report {d}.pdf",
                              f"A synthetic policy document number {d}.",
                              json.dumps({"corpus": "synthetic", "n": str(d)}),
                              t0 + timedelta(seconds=d)))
                counts["documents"] += 1
        cols = ("doc_id, node_id, parent_id, position, path, title, summary, text, start_page, "
                "end_page, extras, valid_from, valid_to")
        current: list[tuple] = []
        history: list[tuple] = []
        versions: list[tuple] = []
        for d in range(docs):
            doc = f"doc{d:06d}"
            created = t0 + timedelta(seconds=d)
            state: dict[str, list] = {}
            paths: dict[str, str] = {}
            for i in range(nodes_per_doc):
                nid = f"n{i}"
                parent = None if i < 10 else f"n{(i - 10) // 5}"
                pos = i if i < 10 else (i - 10) % 5
                paths[nid] = f"{paths[parent]}.{nid}" if parent else nid
                state[nid] = [doc, nid, parent, pos, paths[nid], f"Section {i} of {doc}",
                              summaries[(i * 7 + d) % len(summaries)],
                              texts[(i * 13 + d) % len(texts)], i // 3 + 1, i // 3 + 2,
                              "{}", created]
            versions.append((doc, created, created.date(), "initial import"))
            if history_every and d % history_every == 0:
                def close(nid: str, at: datetime) -> None:
                    history.append(tuple(state[nid]) + (at,))
                t = created + hour
                for nid in rng.sample(sorted(state), max(1, nodes_per_doc // 20)):
                    close(nid, t)
                    state[nid] = state[nid][:6] + [state[nid][6] + " Amended."] + \
                        state[nid][7:11] + [t]
                versions.append((doc, t, (created + 30 * 24 * hour).date(), "amendments"))
                t = created + 2 * hour
                leaves = [n for n in state if not any(s[2] == n for s in state.values())]
                for nid in rng.sample(leaves, 2):
                    close(nid, t)
                    del state[nid]
                mover = rng.choice([n for n in state if state[n][2] is not None and not any(
                    s[2] == n for s in state.values())])
                close(mover, t)
                state[mover] = state[mover][:2] + ["n0", 99, f"n0.{mover}"] + \
                    state[mover][5:11] + [t]
                versions.append((doc, t, (created + 60 * 24 * hour).date(), "restructure"))
                t = created + 3 * hour
                for j in range(3):
                    nid = f"x{j}"
                    state[nid] = [doc, nid, "n1", 100 + j, f"n1.{nid}", f"Annex {j}",
                                  "Annex.", "Annex text.", 1, 1, '{"annex": true}', t]
                versions.append((doc, t, (created + 15 * 24 * hour).date(),
                                 "annexes (back-dated)"))
            current.extend(tuple(s) for s in state.values())
            if len(current) >= 50_000:
                _copy_nodes(cur, "nodes", cols, current, None)
                counts["nodes"] += len(current)
                current = []
        _copy_nodes(cur, "nodes", cols, current, None)
        counts["nodes"] += len(current)
        _copy_nodes(cur, "nodes_history", cols, history, True)
        counts["nodes_history"] += len(history)
        with cur.copy("COPY document_versions (doc_id, valid_from, effective_at, message) "
                      "FROM STDIN") as cp:
            for v in versions:
                cp.write_row(v)
        counts["versions"] = len(versions)
    conn.execute("SET session_replication_role = origin")
    conn.execute("ANALYZE")
    return counts


def _copy_nodes(cur: Any, table: str, cols: str, rows: list[tuple],
                closed: Optional[bool]) -> None:
    with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
        for r in rows:
            if closed:
                cp.write_row(r)
            else:
                cp.write_row(r + ("infinity",))
