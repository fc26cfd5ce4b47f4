"""The benchmark corpus: a deterministic (seeded) generator, and the query targets.

One corpus feeds both systems (TreeStore through ``treestore-bench --load``, PostgreSQL through
``pg_load.py``), so both hold exactly the same documents, versions and cross references:

* the 4 PageIndex fixtures of ``fixtures/pageindex/`` (converted with the client's
  ``treestore.pageindex.from_pageindex``, so what is stored is what a user would store);
* ``big_doc``: one PageIndex-like document of ``chapters x sections x subsections x leaves``
  (full scale 10 x 10 x 9 x 10 = 10,010 nodes: sections of 100 nodes, chapters of 1,001);
* ``doc_00000`` ... : small documents of exactly 100 nodes each (4 chapters of 4 sections of 5
  leaves; full scale 10,000 of them = 1,000,000 nodes);
* history: ``big_doc`` and the first ``history_docs`` small documents have ``VERSIONS``
  versions with effective times 2020-01-01, 2021-01-01, ...; each later version rewrites the
  title and summary of about 10% of the nodes (the structure never changes);
* cross references: in the first ``xref_docs`` small documents the nodes ``0001, 0011, ...,
  0091`` ("hubs") each cite 3 other hubs (kind ``cites``), so a 2-hop walk returns ~12.

Node ids are PageIndex-style preorder numbers ("0000", "0001", ...; 5 digits in ``big_doc``).
Titles have 4 words, summaries 40, leaves 60 words of text, inner nodes none; words are drawn
from a Zipf-distributed vocabulary of pseudo-words so that searches have realistic hit counts.

Outputs (in the corpus directory): ``docs.jsonl`` (one document per line: its first version as
a tree of TreeStore NodeInput fields, later versions as per-node changes), ``xrefs.tsv`` and
``targets.json`` (per workload, a seeded sample of targets, used by the Python and Rust
clients; pgbench draws from the same sets with the formulas of :func:`pgbench_vars`).

    python corpus.py --scale full --out DIR
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import itertools
import json
import random
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "pageindex"
FORMAT_VERSION = 1  # bump when the generated corpus changes for the same scale and seed

VERSIONS = 4  # versions of each history document
EFFECTIVE_YEAR0 = 2020  # version v takes effect on Jan 1 of EFFECTIVE_YEAR0 + v - 1
AS_OF_TIME = 1_625_097_600_000_000  # 2021-07-01T00:00:00Z: version 2 is in force
HUB_STRIDE = 10  # hubs are the nodes 1, 11, 21, ... of an xref document
XREFS_PER_HUB = 3
SEARCH_QUERIES = 64
SMALL_SHAPE = (4, 4, 5)  # chapters, sections per chapter, leaves per section: 100 nodes
SMALL_NODES = SMALL_SHAPE[0] * (1 + SMALL_SHAPE[1] * (1 + SMALL_SHAPE[2]))
SAMPLE = 4096  # targets per workload in targets.json


@dataclass(frozen=True)
class Scale:
    """Sizes of the corpus."""

    name: str
    small_docs: int
    big_shape: tuple[int, int, int, int]  # chapters, sections, subsections, leaves
    history_docs: int
    xref_docs: int

    @property
    def big_section(self) -> int:
        """Nodes in one section of big_doc."""
        _, _, sub, leaves = self.big_shape
        return 1 + sub * (1 + leaves)

    @property
    def big_chapter(self) -> int:
        return 1 + self.big_shape[1] * self.big_section

    @property
    def big_nodes(self) -> int:
        return self.big_shape[0] * self.big_chapter


SCALES = {
    "full": Scale("full", small_docs=10_000, big_shape=(10, 10, 9, 10), history_docs=1_000,
                  xref_docs=2_000),
    "quick": Scale("quick", small_docs=1_000, big_shape=(10, 10, 9, 10), history_docs=100,
                   xref_docs=200),
    "smoke": Scale("smoke", small_docs=40, big_shape=(3, 3, 2, 3), history_docs=5,
                   xref_docs=10),
}

BIG_DOC = "big_doc"


def small_doc_id(i: int) -> str:
    return f"doc_{i:05d}"


def small_node_id(n: int) -> str:
    return f"{n:04d}"


def big_node_id(n: int) -> str:
    return f"{n:05d}"


def effective_time(version: int) -> int:
    """Unix microseconds of Jan 1 (UTC) of the year version ``version`` takes effect."""
    year = EFFECTIVE_YEAR0 + version - 1
    days = sum(366 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 365
               for y in range(1970, year))
    return days * 86_400 * 1_000_000


# ------------------------------------------------------------------------------------------
# words
# ------------------------------------------------------------------------------------------

_ONSETS = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "br",
           "cl", "dr", "gr", "pl", "pr", "st", "tr", "ch", "sh"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]
_CODAS = ["", "", "n", "r", "s", "l", "t", "m", "nd", "st"]


class Words:
    """A Zipf-distributed vocabulary of lowercase pseudo-words (letters only)."""

    def __init__(self, rng: random.Random, size: int = 4000) -> None:
        seen: set[str] = set()
        words: list[str] = []
        while len(words) < size:
            n = rng.choice((2, 2, 3))
            w = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(n)) + \
                rng.choice(_CODAS)
            if w not in seen:
                seen.add(w)
                words.append(w)
        self.words = words
        self.cum = list(itertools.accumulate(1.0 / (r + 1) for r in range(size)))

    def draw(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=k)

    def phrase(self, rng: random.Random, k: int, title: bool = False) -> str:
        ws = self.draw(rng, k)
        if title:
            return " ".join(w.capitalize() for w in ws)
        return " ".join(ws)

    def search_queries(self, rng: random.Random, n: int) -> list[str]:
        """Two-word queries of mid-frequency words (ranks 150..1200: hundreds of matches in
        the full corpus, so a page of 20 is always full)."""
        lo, hi = 150, min(1200, len(self.words) - 1)
        return [f"{self.words[rng.randint(lo, hi)]} {self.words[rng.randint(lo, hi)]}"
                for _ in range(n)]


# ------------------------------------------------------------------------------------------
# documents
# ------------------------------------------------------------------------------------------

class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = Words(random.Random(seed ^ 0x5EED))

    def node(self, node_id: str, page: int, leaf: bool) -> dict[str, Any]:
        n: dict[str, Any] = {
            "node_id": node_id,
            "title": self.words.phrase(self.rng, 4, title=True),
            "summary": self.words.phrase(self.rng, 40) + ".",
            "start_page": page,
            "end_page": page + (1 if leaf else 3),
        }
        if leaf:
            n["text"] = self.words.phrase(self.rng, 60) + "."
        return n

    def shaped(self, shape: tuple[int, ...], ids: Iterator[str], page: int = 1) -> list[dict]:
        """Nodes of ``shape[0]`` siblings, each with a subtree of ``shape[1:]``, in preorder id
        order."""
        out = []
        for _ in range(shape[0]):
            n = self.node(next(ids), page, leaf=len(shape) == 1)
            if len(shape) > 1:
                n["children"] = self.shaped(shape[1:], ids, page)
            out.append(n)
            page += 2
        return out

    def changes(self, roots: list[dict], version: int) -> dict[str, dict[str, str]]:
        """Version ``version``'s new titles and summaries for ~10% of the nodes."""
        out = {}
        for n in walk(roots):
            if self.rng.random() < 0.10:
                out[n["node_id"]] = {
                    "title": self.words.phrase(self.rng, 4, title=True),
                    "summary": f"Revision {version}: " + self.words.phrase(self.rng, 38) + ".",
                }
        return out


def walk(nodes: list[dict]) -> Iterator[dict]:
    for n in nodes:
        yield n
        yield from walk(n.get("children", ()))


def fixture_docs() -> list[dict]:
    """The PageIndex fixtures as converted by the client (same fields TreeStore stores)."""
    sys.path.insert(0, str(REPO / "client" / "python"))
    from treestore.pageindex import from_pageindex

    def to_dict(n: Any) -> dict:
        d: dict[str, Any] = {"node_id": n.node_id, "title": n.title}
        for k in ("summary", "text", "extra_json"):
            if getattr(n, k):
                d[k] = getattr(n, k)
        for k in ("start_page", "end_page", "line_num"):
            if getattr(n, k) is not None:
                d[k] = getattr(n, k)
        if n.children:
            d["children"] = [to_dict(c) for c in n.children]
        return d

    docs = []
    for path in sorted(FIXTURES.glob("*_structure.json")):
        stem = path.name[: -len("_structure.json")]
        doc_id = "pageindex_" + re.sub(r"[^A-Za-z0-9_]", "_", stem)
        pi = from_pageindex(json.loads(path.read_text()), doc_id=doc_id, source_name=path.name)
        docs.append({"doc_id": doc_id, "name": pi.name, "description": pi.description,
                     "versions": [{"effective_time": effective_time(1),
                                   "roots": [to_dict(r) for r in pi.roots]}]})
    return docs


def generate(scale: Scale, seed: int, out: Path) -> dict[str, Any]:
    """Writes docs.jsonl, xrefs.tsv and targets.json into ``out``; returns the stats."""
    out.mkdir(parents=True, exist_ok=True)
    g = Gen(seed)
    stats = {"documents": 0, "nodes": 0, "versions": 0, "history_node_changes": 0,
             "xrefs": 0}
    with (out / "docs.jsonl.tmp").open("w") as f:
        def emit(doc: dict) -> None:
            f.write(json.dumps(doc, separators=(",", ":")) + "\n")
            stats["documents"] += 1
            stats["nodes"] += sum(1 for _ in walk(doc["versions"][0]["roots"]))
            stats["versions"] += len(doc["versions"])
            stats["history_node_changes"] += sum(len(v.get("changes", {}))
                                                 for v in doc["versions"])

        def with_history(doc_id: str, name: str, roots: list[dict], versions: int) -> dict:
            vs: list[dict] = [{"effective_time": effective_time(1), "roots": roots}]
            for v in range(2, versions + 1):
                vs.append({"effective_time": effective_time(v), "changes": g.changes(roots, v)})
            return {"doc_id": doc_id, "name": name,
                    "description": f"Synthetic PageIndex-like document {doc_id}",
                    "versions": vs}

        for doc in fixture_docs():
            emit(doc)
        big = g.shaped(scale.big_shape, (big_node_id(n) for n in itertools.count()))
        emit(with_history(BIG_DOC, "big-document.pdf", big, VERSIONS))
        for i in range(scale.small_docs):
            roots = g.shaped(SMALL_SHAPE, (small_node_id(n) for n in itertools.count()))
            versions = VERSIONS if i < scale.history_docs else 1
            emit(with_history(small_doc_id(i), f"report-{i:05d}.pdf", roots, versions))
    (out / "docs.jsonl.tmp").replace(out / "docs.jsonl")

    hubs = [(small_doc_id(d), small_node_id(h)) for d in range(scale.xref_docs)
            for h in range(1, SMALL_NODES, HUB_STRIDE)]
    with (out / "xrefs.tsv").open("w") as f:
        for src in hubs:
            targets: set[tuple[str, str]] = set()
            while len(targets) < XREFS_PER_HUB:
                t = g.rng.choice(hubs)
                if t[0] != src[0]:
                    targets.add(t)
            for t in sorted(targets):
                f.write(f"{src[0]}\t{src[1]}\t{t[0]}\t{t[1]}\tcites\tsee {t[1]}\n")
                stats["xrefs"] += 1

    queries = g.words.search_queries(random.Random(seed ^ 0x5EA2C4), SEARCH_QUERIES)
    targets = {"scale": asdict(scale), "seed": seed, "format": FORMAT_VERSION,
               "stats": stats, "as_of_time": AS_OF_TIME, "search_queries": queries,
               "workloads": sample_targets(scale, queries, random.Random(seed ^ 0x7A26E7))}
    (out / "targets.json").write_text(json.dumps(targets, indent=1) + "\n")
    return stats


# ------------------------------------------------------------------------------------------
# targets: the sets each workload draws from (same sets for every client)
# ------------------------------------------------------------------------------------------

def small_inner_section(c: int, s: int) -> int:
    """Preorder number of section ``s`` of chapter ``c`` in a small document."""
    return c * (SMALL_NODES // SMALL_SHAPE[0]) + 1 + s * (1 + SMALL_SHAPE[2])


def big_section(scale: Scale, c: int, s: int) -> int:
    return c * scale.big_chapter + 1 + s * scale.big_section


def sample_targets(scale: Scale, queries: list[str], rng: random.Random) -> dict[str, list]:
    """SAMPLE uniform draws from each workload's target set (see pgbench_vars for the sets)."""
    ch, sec, leaves = SMALL_SHAPE
    bc, bs = scale.big_shape[0], scale.big_shape[1]
    r = rng.randrange

    def small(lo: int, hi: int) -> str:
        return small_doc_id(r(lo, hi))

    def t(doc: str, node: str = "", **kw: Any) -> dict:
        return {"doc": doc, "node": node, **kw}

    gens = {
        "node": lambda: t(small(0, scale.small_docs), small_node_id(r(SMALL_NODES))),
        "children": lambda: t(small(0, scale.small_docs),
                              small_node_id(small_inner_section(r(ch), r(sec)))),
        "subtree_100": lambda: t(BIG_DOC, big_node_id(big_section(scale, r(bc), r(bs)))),
        "subtree_1000": lambda: t(BIG_DOC, big_node_id(r(bc) * scale.big_chapter)),
        "subtree_10000": lambda: t(BIG_DOC, ""),
        "ancestors": lambda: t(small(0, scale.small_docs),
                               small_node_id(small_inner_section(r(ch), r(sec)) + 1 + r(leaves))),
        "node_as_of": lambda: t(small(0, scale.history_docs), small_node_id(r(SMALL_NODES)),
                                as_of=AS_OF_TIME),
        "subtree_as_of": lambda: t(BIG_DOC, big_node_id(big_section(scale, r(bc), r(bs))),
                                   as_of=AS_OF_TIME),
        "search": lambda: t("", "", query=queries[r(len(queries))]),
        "xref_2hop": lambda: t(small(0, scale.xref_docs),
                               small_node_id(1 + HUB_STRIDE * r(SMALL_NODES // HUB_STRIDE))),
        "update": lambda: t(small(0, scale.small_docs), small_node_id(r(SMALL_NODES))),
    }
    return {name: [gen() for _ in range(SAMPLE)] for name, gen in gens.items()}


def pgbench_vars(scale: Scale, workload: str, queries: list[str]) -> tuple[list[str], dict]:
    """pgbench ``\\set`` lines and SQL expressions for the placeholders of ``workload``'s query,
    drawing uniformly from the same target set as :func:`sample_targets` (pgbench has no
    string variables: ids are computed in SQL from random integers; the cost is a few
    function calls per statement)."""
    ch, sec, leaves = SMALL_SHAPE
    bc, bs = scale.big_shape[0], scale.big_shape[1]
    per_ch = SMALL_NODES // ch

    def doc(var: str) -> str:
        return f"('doc_' || lpad(:{var}::text, 5, '0'))"

    def node4(expr: str) -> str:
        return f"lpad(({expr})::text, 4, '0')"

    def node5(expr: str) -> str:
        return f"lpad(({expr})::text, 5, '0')"

    big = f"'{BIG_DOC}'"
    section = f":c * {per_ch} + 1 + :s * {1 + leaves}"
    big_sec = f":c * {scale.big_chapter} + 1 + :s * {scale.big_section}"
    sets: dict[str, tuple[list[str], dict]] = {
        "node": ([f"\\set d random(0, {scale.small_docs - 1})",
                  f"\\set n random(0, {SMALL_NODES - 1})"],
                 {"doc": doc("d"), "node": node4(":n")}),
        "children": ([f"\\set d random(0, {scale.small_docs - 1})",
                      f"\\set c random(0, {ch - 1})", f"\\set s random(0, {sec - 1})"],
                     {"doc": doc("d"), "node": node4(section)}),
        "subtree_100": ([f"\\set c random(0, {bc - 1})", f"\\set s random(0, {bs - 1})"],
                        {"doc": big, "node": node5(big_sec)}),
        "subtree_1000": ([f"\\set c random(0, {bc - 1})"],
                         {"doc": big, "node": node5(f":c * {scale.big_chapter}")}),
        "subtree_10000": ([], {"doc": big}),
        "ancestors": ([f"\\set d random(0, {scale.small_docs - 1})",
                       f"\\set c random(0, {ch - 1})", f"\\set s random(0, {sec - 1})",
                       f"\\set l random(0, {leaves - 1})"],
                      {"doc": doc("d"), "node": node4(f"{section} + 1 + :l")}),
        "node_as_of": ([f"\\set d random(0, {scale.history_docs - 1})",
                        f"\\set n random(0, {SMALL_NODES - 1})"],
                       {"doc": doc("d"), "node": node4(":n"), "t": f"{AS_OF_TIME}::bigint"}),
        "subtree_as_of": ([f"\\set c random(0, {bc - 1})", f"\\set s random(0, {bs - 1})"],
                          {"doc": big, "node": node5(big_sec), "t": f"{AS_OF_TIME}::bigint"}),
        "search": ([f"\\set q random(1, {len(queries)})"],
                   {"query": "(ARRAY[" + ", ".join("'" + q.replace("'", "''") + "'"
                                                   for q in queries) + "])[:q]"}),
        "xref_2hop": ([f"\\set d random(0, {scale.xref_docs - 1})",
                       f"\\set h random(0, {SMALL_NODES // HUB_STRIDE - 1})"],
                      {"doc": doc("d"), "node": node4(f"1 + {HUB_STRIDE} * :h")}),
        "update": ([f"\\set d random(0, {scale.small_docs - 1})",
                    f"\\set n random(0, {SMALL_NODES - 1})",
                    "\\set k random(0, 1000000000)"],
                   {"doc": doc("d"), "node": node4(":n"), "title": "('pgbench ' || :k)"}),
    }
    return sets[workload]


# ------------------------------------------------------------------------------------------

def corpus_key(scale: Scale, seed: int) -> str:
    """Identifies a generated corpus: a directory with this key is reused as is."""
    fixtures = b"".join(p.read_bytes() for p in sorted(FIXTURES.glob("*_structure.json")))
    src = Path(__file__).read_bytes()
    h = hashlib.sha256(json.dumps([asdict(scale), seed, FORMAT_VERSION]).encode() + fixtures +
                       src).hexdigest()
    return h[:16]


def ensure(scale_name: str, seed: int, out: Path) -> Path:
    """Generates the corpus into ``out`` unless the same one is there already."""
    scale = SCALES[scale_name]
    key = corpus_key(scale, seed)
    marker = out / "corpus.key"
    if marker.exists() and marker.read_text().strip() == key:
        print(f"corpus: reusing {out} ({scale_name}, seed {seed})", flush=True)
        return out
    print(f"corpus: generating {scale_name} (seed {seed}) into {out}", flush=True)
    marker.unlink(missing_ok=True)
    stats = generate(scale, seed, out)
    marker.write_text(key + "\n")
    print(f"corpus: {stats}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="full")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    ensure(a.scale, a.seed, a.out)


if __name__ == "__main__":
    main()
