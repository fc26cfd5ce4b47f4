"""AsyncTreeStoreClient against the real server (marker ``server``)."""

from __future__ import annotations

import asyncio
import json

import pytest

from treestore import AsyncTreeStoreClient, Conflict, NotFound
from treestore.pageindex import aexport_document, aingest

pytestmark = pytest.mark.server


async def test_async_roundtrip_and_reads(server, uid, fixture_files):
    async with AsyncTreeStoreClient(server.address, timeout=30) as c:
        assert (await c.health()).serving
        path = fixture_files[0]
        doc = f"{uid}-async"
        res = await aingest(c, path, doc_id=doc)
        assert res.version.version == 1
        assert await aexport_document(c, doc) == json.loads(path.read_text(encoding="utf-8"))
        roots = await c.get_subtree(doc, max_depth=1)
        ids = [r.node_id for r in roots]
        nodes = await asyncio.gather(*(c.get_node(doc, i) for i in ids * 5))
        assert [n.node_id for n in nodes] == ids * 5
        with pytest.raises(NotFound):
            await c.get_node(doc, "nope")
        assert [d.doc_id async for d in c.iter_documents(id_prefix=doc)] == [doc]
        assert [v.version async for v in c.iter_versions(doc)] == [1]
        st = await c.stats()
        assert st.documents >= 1


async def test_async_writes_and_transactions(server, uid):
    async with AsyncTreeStoreClient(server.address, timeout=30) as c:
        doc = f"{uid}-atx"
        await c.put_document(doc, [{"node_id": "r", "title": "root"}])
        async with c.transaction(doc, message="async batch") as tx:
            await tx.insert_node("r", {"node_id": "c1"})
            await tx.insert_node("r", {"node_id": "c2"})
            assert [n.node_id for n in await tx.get_children("r")] == ["c1", "c2"]
        assert tx.version.version == 2
        with pytest.raises(RuntimeError):
            async with c.transaction(doc) as tx2:
                await tx2.delete_node("c1")
                raise RuntimeError("abort")
        assert (await c.get_node(doc, "c1")).node_id == "c1"

        # concurrent transactions: exactly one of them commits
        async def bump(title: str):
            async with c.transaction(doc) as t:
                await t.update_node("r", title=title)
                await asyncio.sleep(0.2)
            return title

        results = await asyncio.gather(bump("x"), bump("y"), return_exceptions=True)
        assert sum(isinstance(r, Conflict) for r in results) == 1
        winner = next(r for r in results if isinstance(r, str))
        assert (await c.get_node(doc, "r")).title == winner

        d = await c.diff_versions(doc, 1)
        assert d.added == ["c1", "c2"]
        await c.delete_document(doc)
