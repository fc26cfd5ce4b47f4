"""Where the source data lives: table and column names, defaulting to the documented layout
(deploy/postgres/legacy_schema.sql), overridable with a small TOML file
(deploy/postgres/migrate.example.toml lists every key).

A column mapped to "" does not exist in the source: text fields read as "", numbers as
unknown, extras and metadata as empty. A table mapped to "" does not exist: no history
table means no earlier versions, no versions table means every version takes effect when
it was committed, no cross-reference or tool-result table means nothing of that kind.
"""

from __future__ import annotations

import hashlib
import json
try:
    import tomllib
except ImportError:  # Python 3.10
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ImportError:
        raise ImportError("the migration needs Python >= 3.11 (tomllib) or the tomli "
                          "package on 3.10") from None
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from psycopg import sql

# Per section: the table keys, then {logical column: default name}. Logical columns in
# REQUIRED must map to a real column.
SECTIONS: dict[str, dict[str, str]] = {
    "documents": {"table": "documents", "history_table": "documents_history",
                  "doc_id": "doc_id", "name": "name", "description": "description",
                  "metadata": "metadata", "valid_from": "valid_from", "valid_to": "valid_to"},
    "nodes": {"table": "nodes", "history_table": "nodes_history", "doc_id": "doc_id",
              "node_id": "node_id", "parent_id": "parent_id", "position": "position",
              "title": "title", "summary": "summary", "text": "text",
              "start_page": "start_page", "end_page": "end_page", "line_num": "line_num",
              "extras": "extras", "valid_from": "valid_from", "valid_to": "valid_to"},
    "versions": {"table": "document_versions", "doc_id": "doc_id",
                 "valid_from": "valid_from", "effective_at": "effective_at",
                 "message": "message"},
    "cross_references": {"table": "cross_references", "from_doc": "from_doc",
                         "from_node": "from_node", "to_doc": "to_doc", "to_node": "to_node",
                         "kind": "kind", "label": "label"},
    "tool_results": {"table": "tool_results", "tool_name": "tool_name", "args": "args",
                     "result": "result", "doc_ids": "doc_ids", "created_at": "created_at",
                     "expires_at": "expires_at"},
}
REQUIRED = {
    "documents": {"table", "doc_id", "valid_from", "valid_to"},
    "nodes": {"table", "doc_id", "node_id", "parent_id", "position", "valid_from", "valid_to"},
    "versions": {"doc_id", "valid_from", "effective_at"},
    "cross_references": {"from_doc", "from_node", "to_doc", "to_node"},
    "tool_results": {"tool_name", "args", "result", "created_at", "expires_at"},
}
#: SQL type of a missing column, so that it reads as a typed NULL.
NULL_TYPES = {"start_page": "integer", "end_page": "integer", "line_num": "integer",
              "extras": "jsonb", "metadata": "jsonb", "doc_ids": "text[]"}


class ConfigError(ValueError):
    """A config file that does not describe a usable source."""


@dataclass(frozen=True)
class Section:
    """One logical table: its real name(s) and column names."""

    key: str
    names: dict[str, str]
    schema: str

    @property
    def present(self) -> bool:
        return bool(self.names.get("table"))

    def table(self, history: bool = False) -> sql.Composable:
        name = self.names["history_table" if history else "table"]
        return sql.Identifier(self.schema, name)

    @property
    def has_history(self) -> bool:
        return bool(self.names.get("history_table"))

    def col(self, logical: str) -> sql.Composable:
        """The column as an expression (a typed NULL when the source has none)."""
        name = self.names[logical]
        if not name:
            return sql.SQL("NULL::{}").format(sql.SQL(NULL_TYPES.get(logical, "text")))
        return sql.Identifier(name)

    def cols(self, *logical: str) -> sql.Composable:
        return sql.SQL(", ").join(self.col(c) for c in logical)


@dataclass(frozen=True)
class MigrationConfig:
    schema: str = "public"
    sections: dict[str, Section] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Section:
        return self.sections[key]

    def fingerprint(self) -> str:
        """Identifies the mapping (kept in the checkpoint: another mapping starts afresh)."""
        data = {k: s.names for k, s in self.sections.items()} | {"schema": self.schema}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def load_config(path: Optional[Path] = None) -> MigrationConfig:
    """The mapping from a TOML file (None = the documented defaults)."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
    schema = raw.pop("schema", "public")
    if not isinstance(schema, str) or not schema:
        raise ConfigError("schema: must be a non-empty string")
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"unknown section(s) {sorted(unknown)}; known: {sorted(SECTIONS)}")
    sections = {}
    for key, defaults in SECTIONS.items():
        given = raw.get(key, {})
        if not isinstance(given, dict):
            raise ConfigError(f"[{key}] must be a table")
        bad = set(given) - set(defaults)
        if bad:
            raise ConfigError(f"[{key}]: unknown key(s) {sorted(bad)}; known: {sorted(defaults)}")
        names = {**defaults, **given}
        for k, v in names.items():
            if not isinstance(v, str):
                raise ConfigError(f"[{key}] {k}: must be a string (\"\" = none)")
        section = Section(key, names, schema)
        required = REQUIRED[key] if section.present or key in ("documents", "nodes") else set()
        if key in ("documents", "nodes") and not section.has_history:
            required = required - {"valid_to"}  # current rows are valid until further notice
        missing = sorted(c for c in required if not names.get(c))
        if missing:
            raise ConfigError(f"[{key}]: {', '.join(missing)} must name a column")
        sections[key] = section
    return MigrationConfig(schema, sections)
