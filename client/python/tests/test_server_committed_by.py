"""Who changed what, through the Python client against the real server: versions carry
``committed_by`` (the principal of the token that committed them) in write results, list and
iteration, as-of lookups, diffs, watch events and the CLI; a transaction records the principal
that commits it. Without authentication the name is "anonymous"."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from .conftest import ServerProcess, server_binary
from treestore import CaughtUp, NodeInput, RetryPolicy, TreeStoreClient, VersionEvent
from treestore import cli

ONCE = RetryPolicy(max_attempts=1)


def _entry(name: str, token: str) -> str:
    return (f'[[principal]]\nname = "{name}"\nscopes = ["read", "write"]\n'
            f'token_sha256 = ["{hashlib.sha256(token.encode()).hexdigest()}"]\n\n')


@pytest.fixture(scope="module")
def tokens():
    return {"alice": "tst_" + secrets.token_hex(32), "bob": "tst_" + secrets.token_hex(32)}


@pytest.fixture(scope="module")
def auth_server(tokens, tmp_path_factory):
    """Plaintext with an auth file of two principals that may both read and write."""
    base = tmp_path_factory.mktemp("committed-by")
    auth = base / "principals.toml"
    auth.write_text("".join(_entry(n, t) for n, t in tokens.items()))
    srv = ServerProcess(server_binary(), base / "data", base / "server.log",
                        extra_args=["--auth-file", str(auth)],
                        client_kwargs={"token": tokens["alice"]}).start()
    yield srv
    srv.stop()


def test_versions_carry_the_principal_that_committed_them(auth_server, tokens, uid, capsys):
    doc = f"{uid}-policy"
    with TreeStoreClient(auth_server.address, token=tokens["alice"], retry=ONCE) as alice, \
            TreeStoreClient(auth_server.address, token=tokens["bob"], retry=ONCE) as bob:
        r1 = alice.put_document(doc, [NodeInput(node_id="a", title="A")], message="first")
        assert (r1.version.version, r1.version.committed_by) == (1, "alice")
        r2 = bob.update_node(doc, "a", title="A, revised")
        assert (r2.version.version, r2.version.committed_by) == (2, "bob")
        tx = alice.transaction(doc).begin()         # begun and written by alice ...
        tx.insert_node("", {"node_id": "b", "title": "B"})
        v3 = bob.commit_transaction(tx.transaction_id)   # ... committed by bob
        assert (v3.version, v3.committed_by) == (3, "bob")

        history = [(v.version, v.committed_by) for v in bob.iter_versions(doc)]
        assert history == [(1, "alice"), (2, "bob"), (3, "bob")]
        page = alice.list_versions(doc)
        assert [v.committed_by for v in page.items] == ["alice", "bob", "bob"]
        as_of = alice.get_version_as_of(doc, page.items[0].commit_time)
        assert (as_of.version, as_of.committed_by) == (1, "alice")
        assert alice.diff_versions(doc, 1, 3).committed_by == ["bob"]
        assert alice.diff_versions(doc, 3, 1).committed_by == ["bob"]
        assert alice.diff_versions(doc, 2, 2).committed_by == []

        seen = []
        with alice.watch([doc], from_versions={doc: 0}) as events:
            for e in events:
                if isinstance(e, CaughtUp):
                    break
                assert isinstance(e, VersionEvent)
                seen.append((e.version.version, e.version.committed_by))
        assert seen == history

    # The CLI prints who committed each version.
    assert cli.main(["--addr", auth_server.address, "--token", tokens["bob"],
                     "versions", doc]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] + " " + line.split("\t")[2] for line in lines] == [
        "v1 alice", "v2 bob", "v3 bob"]
    assert lines[0].endswith("\tfirst")


def test_without_authentication_versions_are_anonymous(client, uid):
    doc = f"{uid}-anon"
    res = client.put_document(doc, [NodeInput(node_id="a", title="A")])
    assert res.version.committed_by == "anonymous"
    assert [v.committed_by for v in client.iter_versions(doc)] == ["anonymous"]
