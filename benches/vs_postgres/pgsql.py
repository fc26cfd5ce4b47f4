"""PostgreSQL side of the benchmark: schema, indexes and the SQL of every query.

Schema (the usual best one for trees with history in PostgreSQL; see README.md):

* ``nodes``: the latest version of every node. ``path`` is an ltree of the document id
  followed by the 0-based position of each ancestor and of the node, zero-padded to 4 digits
  (``doc_00042.0001.0003``), so ``ORDER BY path`` is the tree's preorder by position.
  ``has_children`` is stored (maintained by writers) so that reads need not compute it.
  ``tsv`` is a stored ``strip(to_tsvector('simple', title || summary || text))``: the
  ``simple`` configuration lowercases whole words without stemming or stop words, which is
  TreeStore's search semantics.
* ``nodes_history``: earlier contents of nodes with their validity range
  ``[valid_from, valid_to)`` on the effective-time axis (Unix microseconds); ``nodes.valid_from``
  is the start of the current row's validity. A ``BEFORE UPDATE`` trigger moves the old row
  into the history in the same transaction (what a system-versioned temporal table does).
* ``docs``: one row per document with its version number, bumped by every write.
* ``xrefs``: cross references, primary key (from_doc, from_node, to_doc, to_node, kind).

Queries have ``{name}`` placeholders, rendered as psycopg ``%(name)s`` parameters or as pgbench
SQL expressions (:func:`render`). Where several formulations exist, every variant is listed
under the query; the harness measures them all from Python and uses the fastest.
"""

from __future__ import annotations

import re

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS ltree;
CREATE TABLE docs (
    doc_id       text PRIMARY KEY,
    name         text NOT NULL,
    description  text NOT NULL,
    version      bigint NOT NULL,
    updated_at   bigint NOT NULL
);
CREATE TABLE nodes (
    doc_id       text NOT NULL,
    node_id      text NOT NULL,
    parent_id    text,
    position     integer NOT NULL,
    path         ltree NOT NULL,
    title        text NOT NULL,
    summary      text NOT NULL,
    text         text NOT NULL,
    start_page   bigint,
    end_page     bigint,
    line_num     bigint,
    extra_json   text NOT NULL,
    has_children boolean NOT NULL,
    valid_from   bigint NOT NULL,
    tsv          tsvector GENERATED ALWAYS AS
                 (strip(to_tsvector('simple', title || ' ' || summary || ' ' || text))) STORED
);
CREATE TABLE nodes_history (
    doc_id       text NOT NULL,
    node_id      text NOT NULL,
    parent_id    text,
    position     integer NOT NULL,
    path         ltree NOT NULL,
    title        text NOT NULL,
    summary      text NOT NULL,
    text         text NOT NULL,
    start_page   bigint,
    end_page     bigint,
    line_num     bigint,
    extra_json   text NOT NULL,
    has_children boolean NOT NULL,
    valid_from   bigint NOT NULL,
    valid_to     bigint NOT NULL
);
CREATE TABLE xrefs (
    from_doc   text NOT NULL,
    from_node  text NOT NULL,
    to_doc     text NOT NULL,
    to_node    text NOT NULL,
    kind       text NOT NULL,
    label      text NOT NULL,
    created_at bigint NOT NULL
);
"""

# Columns loaded by COPY (tsv is generated).
NODE_COPY_COLS = ("doc_id", "node_id", "parent_id", "position", "path", "title", "summary",
                  "text", "start_page", "end_page", "line_num", "extra_json", "has_children",
                  "valid_from")
HISTORY_COPY_COLS = NODE_COPY_COLS + ("valid_to",)
XREF_COPY_COLS = ("from_doc", "from_node", "to_doc", "to_node", "kind", "label", "created_at")
DOC_COPY_COLS = ("doc_id", "name", "description", "version", "updated_at")

# Built after the bulk load (faster than maintaining them during COPY).
INDEXES = """
ALTER TABLE nodes ADD PRIMARY KEY (doc_id, node_id);
CREATE INDEX nodes_parent ON nodes (doc_id, parent_id, position);
CREATE INDEX nodes_doc_path ON nodes (doc_id, path);
CREATE INDEX nodes_path_gist ON nodes USING gist (path);
CREATE INDEX nodes_tsv ON nodes USING gin (tsv);
CREATE INDEX nodes_history_node ON nodes_history (doc_id, node_id, valid_from);
CREATE INDEX nodes_history_path_gist ON nodes_history USING gist (path);
ALTER TABLE xrefs ADD PRIMARY KEY (from_doc, from_node, to_doc, to_node, kind);
CREATE FUNCTION nodes_versioning() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ts bigint := (extract(epoch FROM now()) * 1000000)::bigint;
BEGIN
    INSERT INTO nodes_history (doc_id, node_id, parent_id, position, path, title, summary, text,
                               start_page, end_page, line_num, extra_json, has_children,
                               valid_from, valid_to)
    VALUES (OLD.doc_id, OLD.node_id, OLD.parent_id, OLD.position, OLD.path, OLD.title,
            OLD.summary, OLD.text, OLD.start_page, OLD.end_page, OLD.line_num, OLD.extra_json,
            OLD.has_children, OLD.valid_from, ts);
    NEW.valid_from := ts;
    RETURN NEW;
END $$;
CREATE TRIGGER nodes_versioning BEFORE UPDATE ON nodes
    FOR EACH ROW EXECUTE FUNCTION nodes_versioning();
"""

# What TreeStore returns for a node (Node message); text only where TreeStore fills it.
_COLS = ("node_id, parent_id, position, title, summary, {text}start_page, end_page, line_num, "
         "extra_json, has_children")
COLS = _COLS.format(text="text, ")
COLS_NO_TEXT = _COLS.format(text="")


def _cols(prefix: str, text: bool = False) -> str:
    cols = (COLS if text else COLS_NO_TEXT).split(", ")
    return ", ".join(f"{prefix}.{c}" for c in cols)


_SUBTREE_LTREE = f"""
SELECT {COLS_NO_TEXT} FROM nodes
WHERE path <@ (SELECT path FROM nodes WHERE doc_id = {{doc}} AND node_id = {{node}})
ORDER BY path"""

_SUBTREE_RECURSIVE = f"""
WITH RECURSIVE t AS (
    SELECT {COLS_NO_TEXT}, ARRAY[position] AS ord FROM nodes
    WHERE doc_id = {{doc}} AND node_id = {{node}}
  UNION ALL
    SELECT {_cols('n')}, t.ord || n.position FROM t
    JOIN nodes n ON n.doc_id = {{doc}} AND n.parent_id = t.node_id)
SELECT {COLS_NO_TEXT} FROM t ORDER BY ord"""

_AS_OF_ROOT = """
    SELECT path FROM nodes
    WHERE doc_id = {doc} AND node_id = {node} AND valid_from <= {t}
  UNION ALL
    SELECT path FROM nodes_history
    WHERE doc_id = {doc} AND node_id = {node} AND valid_from <= {t} AND {t} < valid_to"""

# query -> variant -> SQL. The variant names say which index does the work.
QUERIES: dict[str, dict[str, str]] = {
    "select1": {"constant": "SELECT 1"},
    "node": {"btree_pk": f"""
SELECT {COLS} FROM nodes WHERE doc_id = {{doc}} AND node_id = {{node}}"""},
    "children": {"btree_parent": f"""
SELECT {COLS_NO_TEXT} FROM nodes WHERE doc_id = {{doc}} AND parent_id = {{node}}
ORDER BY position"""},
    "subtree_100": {"ltree_gist": _SUBTREE_LTREE, "recursive": _SUBTREE_RECURSIVE},
    "subtree_1000": {"ltree_gist": _SUBTREE_LTREE, "recursive": _SUBTREE_RECURSIVE},
    "subtree_10000": {
        "btree_doc_path": f"""
SELECT {COLS_NO_TEXT} FROM nodes WHERE doc_id = {{doc}} ORDER BY path""",
        "recursive": f"""
WITH RECURSIVE t AS (
    SELECT {COLS_NO_TEXT}, ARRAY[position] AS ord FROM nodes
    WHERE doc_id = {{doc}} AND parent_id IS NULL
  UNION ALL
    SELECT {_cols('n')}, t.ord || n.position FROM t
    JOIN nodes n ON n.doc_id = {{doc}} AND n.parent_id = t.node_id)
SELECT {COLS_NO_TEXT} FROM t ORDER BY ord"""},
    "ancestors": {
        "recursive": f"""
WITH RECURSIVE a AS (
    SELECT {_cols('p')}, 1 AS up FROM nodes c
    JOIN nodes p ON p.doc_id = c.doc_id AND p.node_id = c.parent_id
    WHERE c.doc_id = {{doc}} AND c.node_id = {{node}}
  UNION ALL
    SELECT {_cols('p')}, a.up + 1 FROM a
    JOIN nodes p ON p.doc_id = {{doc}} AND p.node_id = a.parent_id)
SELECT {COLS_NO_TEXT} FROM a ORDER BY up DESC""",
        "ltree_gist": f"""
SELECT {_cols('n')} FROM nodes n,
    (SELECT path FROM nodes WHERE doc_id = {{doc}} AND node_id = {{node}}) self
WHERE n.path @> self.path AND n.path <> self.path
ORDER BY n.path""",
        "ltree_btree_prefixes": f"""
SELECT {COLS_NO_TEXT} FROM nodes
WHERE doc_id = {{doc}} AND path = ANY (ARRAY(
    SELECT subpath(s.path, 0, i) FROM nodes s, generate_series(2, nlevel(s.path) - 1) i
    WHERE s.doc_id = {{doc}} AND s.node_id = {{node}}))
ORDER BY path"""},
    "node_as_of": {"btree_union": f"""
SELECT {COLS} FROM nodes
WHERE doc_id = {{doc}} AND node_id = {{node}} AND valid_from <= {{t}}
UNION ALL
SELECT {COLS} FROM nodes_history
WHERE doc_id = {{doc}} AND node_id = {{node}} AND valid_from <= {{t}} AND {{t}} < valid_to"""},
    "subtree_as_of": {"ltree_gist_union": f"""
WITH root AS ({_AS_OF_ROOT})
SELECT {COLS_NO_TEXT}, path FROM nodes
WHERE path <@ (SELECT path FROM root) AND valid_from <= {{t}}
UNION ALL
SELECT {COLS_NO_TEXT}, path FROM nodes_history
WHERE path <@ (SELECT path FROM root) AND valid_from <= {{t}} AND {{t}} < valid_to
ORDER BY path"""},
    "search": {"gin_tsvector": """
SELECT doc_id, node_id, title FROM nodes
WHERE tsv @@ plainto_tsquery('simple', {query})
ORDER BY doc_id, node_id LIMIT 20"""},
    "xref_2hop": {"btree_pk": """
WITH h1 AS (
    SELECT from_doc, from_node, to_doc, to_node, kind, label, created_at FROM xrefs
    WHERE from_doc = {doc} AND from_node = {node})
SELECT 1 AS hops, * FROM h1
UNION ALL
SELECT 2, x.from_doc, x.from_node, x.to_doc, x.to_node, x.kind, x.label, x.created_at
FROM (SELECT DISTINCT to_doc, to_node FROM h1) t
JOIN xrefs x ON x.from_doc = t.to_doc AND x.from_node = t.to_node
WHERE NOT EXISTS (SELECT 1 FROM h1 WHERE h1.from_doc = x.from_doc AND h1.from_node = x.from_node
                  AND h1.to_doc = x.to_doc AND h1.to_node = x.to_node AND h1.kind = x.kind)
ORDER BY 1, 2, 3, 4, 5, 6"""},
    "update": {"cte_trigger": f"""
WITH d AS (
    UPDATE docs SET version = version + 1,
                    updated_at = (extract(epoch FROM now()) * 1000000)::bigint
    WHERE doc_id = {{doc}} RETURNING version)
UPDATE nodes SET title = {{title}} WHERE doc_id = {{doc}} AND node_id = {{node}}
RETURNING {COLS}, (SELECT version FROM d)"""},
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(sql: str, values: dict[str, str]) -> str:
    """Replaces every ``{name}`` with ``values[name]`` (a KeyError names a missing one)."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], sql).strip()


def for_psycopg(sql: str) -> str:
    """``{name}`` -> ``%(name)s`` (psycopg binds each name once, however often it appears)."""
    return _PLACEHOLDER.sub(lambda m: f"%({m.group(1)})s", sql).strip()


def placeholders(sql: str) -> set[str]:
    return set(_PLACEHOLDER.findall(sql))
