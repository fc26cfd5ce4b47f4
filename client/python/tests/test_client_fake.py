"""Client plumbing against an in-process fake gRPC server (no TreeStore binary needed):
request building, error mapping, deadlines, retries, transactions, async client."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest

import treestore
from treestore import (AlreadyExists, AsyncTreeStoreClient, Conflict, DataLoss, DeadlineExceeded,
                       FailedPrecondition, Internal, InvalidArgument, NotFound, ResourceExhausted,
                       RetryPolicy, TreeStoreClient, TreeStoreError, Unavailable)
from treestore._proto import treestore_pb2 as pb
from treestore._proto import treestore_pb2_grpc as pb_grpc


class FakeServicer(pb_grpc.TreeStoreServicer):
    def __init__(self):
        self.requests: list[tuple[str, object]] = []
        self.fail: dict[str, list[grpc.StatusCode]] = {}  # method -> codes to fail with, in order
        self.sleep: dict[str, float] = {}
        self.lock = threading.Lock()

    def _handle(self, name, request, context, response):
        with self.lock:
            self.requests.append((name, request))
            codes = self.fail.get(name)
            code = codes.pop(0) if codes else None
        if name in self.sleep:
            time.sleep(self.sleep[name])
        if code is not None:
            context.abort(code, f"{name}: injected {code.name}")
        return response

    def GetNode(self, request, context):
        return self._handle("GetNode", request, context, pb.GetNodeResponse(
            node=pb.Node(node_id=request.node_id, title="T", start_page=3, end_page=4,
                         extra_json='{"k":1}'), version=5))

    def InsertNode(self, request, context):
        return self._handle("InsertNode", request, context, pb.InsertNodeResponse(
            node=pb.Node(node_id=request.node.node_id, parent_id=request.parent_id),
            nodes_inserted=1 + len(request.node.children),
            version=pb.Version(version=0 if request.transaction_id else 2)))

    def UpdateNode(self, request, context):
        return self._handle("UpdateNode", request, context, pb.UpdateNodeResponse(
            node=pb.Node(node_id=request.node_id), version=pb.Version(version=3)))

    def Health(self, request, context):
        return self._handle("Health", request, context, pb.HealthResponse(
            status=pb.HEALTH_STATUS_SERVING,
            shards=[pb.ShardHealth(shard_id=0, state=pb.SHARD_STATE_SERVING, wal_durable_lsn=7,
                                   wal_last_lsn=8)]))

    def BeginTransaction(self, request, context):
        return self._handle("BeginTransaction", request, context, pb.BeginTransactionResponse(
            transaction_id="tx-1", snapshot_version=4))

    def CommitTransaction(self, request, context):
        return self._handle("CommitTransaction", request, context, pb.CommitTransactionResponse(
            version=pb.Version(version=5, message=request.message)))

    def RollbackTransaction(self, request, context):
        return self._handle("RollbackTransaction", request, context,
                            pb.RollbackTransactionResponse())

    def GetToolResult(self, request, context):
        return self._handle("GetToolResult", request, context, pb.GetToolResultResponse(
            hit=False, miss_reason=pb.MISS_REASON_STALE))

    def ListDocuments(self, request, context):
        docs = [f"d{i}" for i in range(5)]
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = docs[start:start + size]
        nxt = str(start + size) if start + size < len(docs) else ""
        return self._handle("ListDocuments", request, context, pb.ListDocumentsResponse(
            documents=[pb.Document(doc_id=d) for d in page], next_page_token=nxt))


@pytest.fixture()
def fake():
    servicer = FakeServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_TreeStoreServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    servicer.address = f"127.0.0.1:{port}"
    yield servicer
    server.stop(None)


@pytest.fixture()
def client(fake):
    with TreeStoreClient(fake.address, timeout=5,
                         retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.02)) as c:
        yield c


def names(fake):
    return [n for n, _ in fake.requests]


def test_get_node_result_and_defaults(client, fake):
    node = client.get_node("doc", "0007")
    assert node == treestore.Node(node_id="0007", title="T", start_page=3, end_page=4,
                                  extra_json='{"k":1}')
    assert node.extra == {"k": 1} and node.line_num is None
    _, req = fake.requests[-1]
    assert req.include_text is True and req.HasField("include_text")
    assert not req.HasField("read_at")


def test_read_at_conversions(client, fake):
    client.get_node("doc", "n", version=3)
    assert fake.requests[-1][1].read_at.version == 3
    client.get_node("doc", "n", as_of="2024-03-01", axis="effective")
    ra = fake.requests[-1][1].read_at
    assert ra.as_of.time == 1709251200000000 and ra.as_of.axis == pb.TIME_AXIS_EFFECTIVE
    with pytest.raises(InvalidArgument):
        client.get_node("doc", "n", version=1, as_of=5)
    with pytest.raises(InvalidArgument):
        client.get_node("doc", "n", as_of="yesterday")
    with pytest.raises(InvalidArgument):
        client.get_node("doc", "n", version=1, transaction_id="t")
    with pytest.raises(InvalidArgument):
        client.get_node("", "n")


@pytest.mark.parametrize("code,exc", [
    (grpc.StatusCode.NOT_FOUND, NotFound),
    (grpc.StatusCode.ALREADY_EXISTS, AlreadyExists),
    (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument),
    (grpc.StatusCode.FAILED_PRECONDITION, FailedPrecondition),
    (grpc.StatusCode.ABORTED, Conflict),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhausted),
    (grpc.StatusCode.UNAVAILABLE, Unavailable),
    (grpc.StatusCode.DATA_LOSS, DataLoss),
    (grpc.StatusCode.INTERNAL, Internal),
    (grpc.StatusCode.UNKNOWN, Internal),
    (grpc.StatusCode.PERMISSION_DENIED, TreeStoreError),
])
def test_error_mapping(client, fake, code, exc):
    fake.fail["InsertNode"] = [code]
    with pytest.raises(exc) as info:
        client.insert_node("doc", "", {"node_id": "x"})
    assert isinstance(info.value, TreeStoreError)
    assert info.value.code == code and info.value.method == "InsertNode"
    assert "injected" in info.value.details and "InsertNode" in str(info.value)


def test_retry_idempotent_on_unavailable(client, fake):
    fake.fail["GetNode"] = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    assert client.get_node("doc", "n").node_id == "n"
    assert names(fake).count("GetNode") == 3


def test_retry_gives_up(client, fake):
    fake.fail["Health"] = [grpc.StatusCode.UNAVAILABLE] * 10
    with pytest.raises(Unavailable):
        client.health()
    assert names(fake).count("Health") == 4  # RetryPolicy.max_attempts


def test_no_retry_on_other_codes(client, fake):
    fake.fail["GetNode"] = [grpc.StatusCode.NOT_FOUND]
    with pytest.raises(NotFound):
        client.get_node("doc", "n")
    assert names(fake).count("GetNode") == 1


def test_writes_are_not_retried(client, fake):
    fake.fail["InsertNode"] = [grpc.StatusCode.UNAVAILABLE]
    with pytest.raises(Unavailable):
        client.insert_node("doc", "", {"node_id": "x"})
    assert names(fake).count("InsertNode") == 1


def test_deadline(client, fake):
    fake.sleep["GetNode"] = 1.0
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        client.get_node("doc", "n", timeout=0.2)
    assert time.monotonic() - t0 < 0.9
    assert isinstance(DeadlineExceeded("x"), TimeoutError)
    with pytest.raises(DeadlineExceeded):
        client.health(timeout=0)


def test_default_timeout_applies(fake):
    fake.sleep["Health"] = 1.0
    with TreeStoreClient(fake.address, timeout=0.2) as c:
        with pytest.raises(DeadlineExceeded):
            c.health()


def test_unreachable_server_is_unavailable():
    with TreeStoreClient("127.0.0.1:1", timeout=0.5,
                         retry=RetryPolicy(initial_backoff=0.01)) as c:
        with pytest.raises(Unavailable):
            c.health()


def test_update_node_field_mask(client, fake):
    client.update_node("doc", "n", title="New", start_page=None, extra={"a": 1})
    _, req = fake.requests[-1]
    assert list(req.update_mask.paths) == ["title", "start_page", "extra_json"]
    assert req.node.title == "New" and not req.node.HasField("start_page")
    assert req.node.extra_json == '{"a":1}'
    with pytest.raises(InvalidArgument):
        client.update_node("doc", "n")
    with pytest.raises(InvalidArgument):
        client.update_node("doc", "n", extra_json="[1]")


def test_insert_node_request(client, fake):
    res = client.insert_node("doc", "p", {"node_id": "a", "title": "A", "start_page": 1,
                                          "children": [{"node_id": "b"}]},
                             position=0, effective_time="2024-01-01", message="m")
    assert res.count == 2 and res.version.version == 2 and res.node.parent_id == "p"
    _, req = fake.requests[-1]
    assert req.position == 0 and req.HasField("position")
    assert req.effective_time == 1704067200000000 and req.message == "m"
    assert req.node.children[0].node_id == "b"
    with pytest.raises(InvalidArgument):
        client.insert_node("doc", "p", {"title": "no id"})
    with pytest.raises(InvalidArgument):
        client.insert_node("doc", "p", {"node_id": "x", "bogus": 1})


def test_transaction_commits(client, fake):
    with client.transaction("doc", message="batch") as tx:
        assert tx.transaction_id == "tx-1" and tx.snapshot_version == 4
        r = tx.insert_node("", {"node_id": "a"})
        assert not r.version.committed
    assert tx.version.version == 5 and tx.version.message == "batch"
    assert names(fake) == ["BeginTransaction", "InsertNode", "CommitTransaction"]
    assert fake.requests[1][1].transaction_id == "tx-1"


def test_transaction_rolls_back_on_exception(client, fake):
    with pytest.raises(RuntimeError):
        with client.transaction("doc") as tx:
            tx.insert_node("", {"node_id": "a"})
            raise RuntimeError("boom")
    assert names(fake) == ["BeginTransaction", "InsertNode", "RollbackTransaction"]
    assert tx.version is None


def test_transaction_rollback_error_does_not_mask(client, fake):
    fake.fail["RollbackTransaction"] = [grpc.StatusCode.UNAVAILABLE]
    with pytest.raises(RuntimeError):
        with client.transaction("doc"):
            raise RuntimeError("original")


def test_transaction_conflict_raises(client, fake):
    fake.fail["CommitTransaction"] = [grpc.StatusCode.ABORTED]
    with pytest.raises(Conflict):
        with client.transaction("doc") as tx:
            tx.update_node("a", title="x")


def test_pagination_iterators(client, fake):
    page = client.list_documents(page_size=2)
    assert [d.doc_id for d in page] == ["d0", "d1"] and page.next_page_token == "2"
    assert [d.doc_id for d in client.iter_documents(page_size=2)] == [f"d{i}" for i in range(5)]


def test_tool_result_miss(client, fake):
    res = client.get_tool_result("t", {"b": 1, "a": 2})
    assert res.hit is False and res.miss_reason == "stale" and res.result is None
    assert fake.requests[-1][1].args_json == '{"a":2,"b":1}'


def test_health_types(client):
    h = client.health()
    assert h.serving and h.shards[0].state == "serving" and h.shards[0].wal_last_lsn == 8


def test_health_reports_a_corrupt_log():
    m = pb.HealthResponse(status=pb.HEALTH_STATUS_DEGRADED, shards=[
        pb.ShardHealth(shard_id=0, state=pb.SHARD_STATE_POISONED, detail="recovery failed",
                       corruption=pb.LogCorruption(file="/data/wal/shard-0/1.wal", offset=4096,
                                                   reason="bad record crc")),
        pb.ShardHealth(shard_id=1, state=pb.SHARD_STATE_SERVING)])
    h = treestore.Health.from_proto(m)
    assert h.status == "degraded"
    assert h.shards[0].corruption == treestore.LogCorruption(
        file="/data/wal/shard-0/1.wal", offset=4096, reason="bad record crc")
    assert h.shards[1].corruption is None


def test_wait_until_ready(client):
    assert client.wait_until_ready(timeout=2).serving


async def test_async_client(fake):
    async with AsyncTreeStoreClient(fake.address, timeout=5,
                                    retry=RetryPolicy(initial_backoff=0.01)) as c:
        fake.fail["GetNode"] = [grpc.StatusCode.UNAVAILABLE]
        node = await c.get_node("doc", "x")
        assert node.node_id == "x"
        assert names(fake).count("GetNode") == 2
        fake.fail["InsertNode"] = [grpc.StatusCode.ALREADY_EXISTS]
        with pytest.raises(AlreadyExists):
            await c.insert_node("doc", "", {"node_id": "x"})
        async with c.transaction("doc", message="m") as tx:
            await tx.update_node("x", title="y")
        assert tx.version.version == 5
        with pytest.raises(ValueError):
            async with c.transaction("doc") as tx2:
                raise ValueError("boom")
        assert names(fake)[-1] == "RollbackTransaction"
        assert [d.doc_id async for d in c.iter_documents(page_size=3)] == \
            [f"d{i}" for i in range(5)]
        fake.sleep["Health"] = 1.0
        with pytest.raises(DeadlineExceeded):
            await c.health(timeout=0.2)


def test_stats_keep_a_partial_answer_and_why_a_shard_is_missing():
    m = pb.StatsResponse(
        documents=3, versions=4, partial=True,
        shards=[pb.ShardStats(shard_id=0, state=pb.SHARD_STATE_POISONED,
                              unavailable="shard 0 is out of service: log corrupt at offset 4096"),
                pb.ShardStats(shard_id=1, documents=3, versions=4,
                              state=pb.SHARD_STATE_SERVING)])
    s = treestore.Stats.from_proto(m)
    assert s.partial
    assert (s.documents, s.versions) == (3, 4)
    assert s.shards[0].state == "poisoned"
    assert "offset 4096" in s.shards[0].unavailable
    assert s.shards[1].unavailable == ""
    whole = treestore.Stats.from_proto(pb.StatsResponse(shards=[pb.ShardStats(shard_id=0)]))
    assert not whole.partial and whole.shards[0].unavailable == ""
