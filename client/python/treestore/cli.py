"""``treestore-cli`` / ``python -m treestore``: ingest, read and export PageIndex documents.

    treestore-cli --addr localhost:50051 ingest /path/to/dir_or_files... [--overwrite]
    treestore-cli get DOC_ID [NODE_ID] [--depth N] [--text] [--json] [--version V | --as-of T]
    treestore-cli export DOC_ID [-o out.json] [--version V | --as-of T [--axis effective]]
    treestore-cli list [--prefix P]
    treestore-cli versions DOC_ID [--json]
    treestore-cli health | stats
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from ._base import DEFAULT_ADDRESS, DEFAULT_TIMEOUT, token_from_env
from .client import TreeStoreClient
from .errors import AlreadyExists, TreeStoreError
from ._tool_render import iso
from .pageindex import export_document, ingest, load_pageindex
from .types import Node


def _files(paths: Sequence[str], recursive: bool) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            pattern = "**/*.json" if recursive else "*.json"
            out.extend(sorted(f for f in p.glob(pattern) if f.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise SystemExit(f"treestore-cli: no such file or directory: {p}")
    return out


def _progress(items: list[Path], enabled: bool) -> Any:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a declared dependency
        return items
    return tqdm(items, unit="doc", desc="ingest", file=sys.stderr)


def _cmd_ingest(client: TreeStoreClient, ns: argparse.Namespace) -> int:
    files = _files(ns.paths, ns.recursive)
    if ns.id and len(files) != 1:
        raise SystemExit("treestore-cli: --id needs exactly one file")
    failures = 0
    for path in _progress(files, not ns.no_progress):
        try:
            if ns.dry_run:
                doc = load_pageindex(path, doc_id=ns.id)
                print(f"{path}: {doc.doc_id} ({doc.node_count()} nodes) [dry run]")
                continue
            res = ingest(client, path, doc_id=ns.id, overwrite=ns.overwrite)
            assert res.document is not None
            doc_id = res.document.doc_id
            if res.version.version == 0:
                # --overwrite with the tree already stored: the server wrote no version
                current = res.document.version or client.get_document(doc_id)[0].version
                msg = (f"{path}: {doc_id} unchanged (version {current} in force, "
                       f"{res.document.node_count} nodes)")
            else:
                by = f" by {res.version.committed_by}" if res.version.committed_by else ""
                msg = (f"{path}: {doc_id} version {res.version.version}{by} "
                       f"({res.document.node_count} nodes)")
            if not ns.quiet:
                print(msg, file=sys.stderr)
        except AlreadyExists as exc:
            failures += 1
            print(f"{path}: already exists ({exc.details}); use --overwrite", file=sys.stderr)
        except (TreeStoreError, ValueError, OSError) as exc:
            failures += 1
            print(f"{path}: {exc}", file=sys.stderr)
    return 1 if failures else 0


def _read_kwargs(ns: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if ns.version is not None:
        kwargs["version"] = ns.version
    if ns.as_of is not None:
        kwargs["as_of"] = ns.as_of
        kwargs["axis"] = ns.axis
    return kwargs


def _print_outline(nodes: list[Node], indent: int = 0, text: bool = False) -> None:
    for n in nodes:
        pages = ""
        if n.start_page is not None:
            pages = f"  [p. {n.start_page}" + (f"-{n.end_page}" if n.end_page not in
                                               (None, n.start_page) else "") + "]"
        elif n.line_num is not None:
            pages = f"  [line {n.line_num}]"
        more = "  (+)" if n.has_children and not n.children else ""
        print(f"{'  ' * indent}{n.node_id}  {n.title}{pages}{more}")
        if text and n.text:
            for line in n.text.splitlines():
                print(f"{'  ' * (indent + 2)}{line}")
        _print_outline(n.children, indent + 1, text)


def _cmd_get(client: TreeStoreClient, ns: argparse.Namespace) -> int:
    kwargs = _read_kwargs(ns)
    doc, _ = client.get_document(ns.doc_id, **kwargs)
    roots = client.get_subtree(ns.doc_id, ns.node_id or "", max_depth=ns.depth,
                               include_text=ns.text, **kwargs)
    if ns.json:
        print(json.dumps({"document": dataclasses.asdict(doc),
                          "nodes": [n.to_dict() for n in roots]},
                         ensure_ascii=False, indent=2))
        return 0
    print(f"{doc.doc_id}: {doc.name}  (version {doc.version}, {doc.node_count} nodes)")
    if doc.description:
        print(f"  {doc.description}")
    _print_outline(roots, 1, ns.text)
    return 0


def _cmd_export(client: TreeStoreClient, ns: argparse.Namespace) -> int:
    data = export_document(client, ns.doc_id, **_read_kwargs(ns))
    text = json.dumps(data, ensure_ascii=False, indent=ns.indent)
    if ns.output and ns.output != "-":
        Path(ns.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


def _cmd_list(client: TreeStoreClient, ns: argparse.Namespace) -> int:
    for d in client.iter_documents(id_prefix=ns.prefix):
        print(f"{d.doc_id}\tv{d.version}\t{d.node_count} nodes\t{d.name}")
    return 0


def _cmd_versions(client: TreeStoreClient, ns: argparse.Namespace) -> int:
    """The document's history, oldest first: who committed what, when."""
    for v in client.iter_versions(ns.doc_id):
        if ns.json:
            print(json.dumps(dataclasses.asdict(v), ensure_ascii=False))
            continue
        by = v.committed_by or "-"
        print(f"v{v.version}\t{iso(v.commit_time)}\t{by}\t{v.nodes_changed} nodes changed"
              f"\t{v.message}")
    return 0


def _cmd_health(client: TreeStoreClient, ns: argparse.Namespace) -> int:
    h = client.health()
    print(json.dumps(dataclasses.asdict(h), indent=2))
    return 0 if h.serving else 2


def _cmd_stats(client: TreeStoreClient, ns: argparse.Namespace) -> int:
    print(json.dumps(dataclasses.asdict(client.stats()), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="treestore-cli",
                                description="TreeStore command-line client (PageIndex trees).")
    p.add_argument("--addr", default=DEFAULT_ADDRESS,
                   help=f"server host:port (default {DEFAULT_ADDRESS})")
    p.add_argument("--token", default=None,
                   help="bearer token (default: $TREESTORE_TOKEN, or the file "
                        "$TREESTORE_TOKEN_FILE)")
    p.add_argument("--namespace", default=os.environ.get("TREESTORE_NAMESPACE") or None,
                   help="namespace (tenant) to work in (default: $TREESTORE_NAMESPACE, else "
                        "the server's 'default')")
    p.add_argument("--tls", action="store_true",
                   help="connect with TLS (implied by --ca-cert/--client-cert)")
    p.add_argument("--ca-cert", help="PEM file of the CA that signed the server's certificate")
    p.add_argument("--client-cert", help="PEM client certificate (mutual TLS)")
    p.add_argument("--client-key", help="PEM key of --client-cert")
    p.add_argument("--server-name", help="name to verify the server's certificate against")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"per-call deadline in seconds (default {DEFAULT_TIMEOUT})")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="store PageIndex JSON files (files or directories)")
    s.add_argument("paths", nargs="+", help="JSON files or directories of *.json")
    s.add_argument("--id", help="document id (single file only; default: from the file name)")
    s.add_argument("--overwrite", action="store_true", help="replace existing documents "
                   "(creates a new version)")
    s.add_argument("-r", "--recursive", action="store_true", help="recurse into directories")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--dry-run", action="store_true", help="only parse and report")
    s.add_argument("-q", "--quiet", action="store_true", help="no per-file lines")
    s.set_defaults(func=_cmd_ingest)

    def read_opts(sp: argparse.ArgumentParser) -> None:
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--version", type=int, help="read this version")
        g.add_argument("--as-of", help="read the version in force at this ISO date/time")
        sp.add_argument("--axis", choices=["commit", "effective"], default="commit",
                        help="time axis of --as-of (default commit)")

    s = sub.add_parser("get", help="show a document outline or a subtree")
    s.add_argument("doc_id")
    s.add_argument("node_id", nargs="?", default="", help="subtree root (default: whole doc)")
    s.add_argument("--depth", type=int, default=0, help="levels to show (0 = all)")
    s.add_argument("--text", action="store_true", help="include node text")
    s.add_argument("--json", action="store_true", help="print JSON instead of an outline")
    read_opts(s)
    s.set_defaults(func=_cmd_get)

    s = sub.add_parser("export", help="export a document as PageIndex JSON")
    s.add_argument("doc_id")
    s.add_argument("-o", "--output", help="output file (default stdout)")
    s.add_argument("--indent", type=int, default=2, help="JSON indent (default 2)")
    read_opts(s)
    s.set_defaults(func=_cmd_export)

    s = sub.add_parser("list", help="list documents")
    s.add_argument("--prefix", default="", help="doc_id prefix")
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser("versions", help="a document's versions: commit time, who committed "
                       "each (\"-\": not recorded), nodes changed, message")
    s.add_argument("doc_id")
    s.add_argument("--json", action="store_true", help="one JSON object per version")
    s.set_defaults(func=_cmd_versions)

    s = sub.add_parser("health", help="server and shard health (exit 2 unless serving)")
    s.set_defaults(func=_cmd_health)
    s = sub.add_parser("stats", help="server counters")
    s.set_defaults(func=_cmd_stats)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        token = ns.token if ns.token is not None else token_from_env()
        with TreeStoreClient(ns.addr, timeout=ns.timeout, token=token,
                             tls=True if ns.tls else None, ca_cert=ns.ca_cert,
                             client_cert=ns.client_cert, client_key=ns.client_key,
                             server_name=ns.server_name, namespace=ns.namespace) as client:
            return int(ns.func(client, ns))
    except TreeStoreError as exc:
        print(f"treestore-cli: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"treestore-cli: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
