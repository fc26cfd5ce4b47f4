"""The client's TLS and token options against the real server (TLS with tokens; mutual TLS).

Certificates are made at test time with the ``openssl`` command; nothing is committed.
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
from pathlib import Path

import pytest

from .conftest import ServerProcess, server_binary
from treestore import (
    AsyncTreeStoreClient,
    NodeInput,
    NotFound,
    PermissionDenied,
    RetryPolicy,
    TreeStoreClient,
    TreeStoreError,
    Unauthenticated,
)
from treestore import cli
from treestore._base import security_settings, token_from_env

ONCE = RetryPolicy(max_attempts=1)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(d: Path, name: str) -> tuple[Path, Path]:
    key, crt = d / f"{name}.key", d / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(crt))
    return crt, key


def issue(d: Path, ca: tuple[Path, Path], name: str, san: str) -> tuple[Path, Path]:
    key, csr, crt, ext = (d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt",
                          d / f"{name}.ext")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr))
    ext.write_text(f"subjectAltName={san}\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt))
    return crt, key


def new_token() -> str:
    return "tst_" + secrets.token_hex(32)


def entry(name: str, scopes: list[str], token: str | None = None,
          cert_names: list[str] | None = None) -> str:
    lines = [f'[[principal]]\nname = "{name}"\nscopes = {scopes!r}'.replace("'", '"')]
    if token:
        lines.append(f'token_sha256 = ["{hashlib.sha256(token.encode()).hexdigest()}"]')
    if cert_names:
        lines.append(f"cert_names = {cert_names!r}".replace("'", '"'))
    return "\n".join(lines) + "\n\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d, "server-ca")
    client_ca = make_ca(d, "client-ca")
    server = issue(d, ca, "server", "DNS:localhost,IP:127.0.0.1")
    agent = issue(d, client_ca, "agent", "DNS:agent.example")
    return {"dir": d, "ca": ca[0], "client_ca": client_ca[0], "server": server, "agent": agent}


@pytest.fixture(scope="module")
def tokens():
    return {"writer": new_token(), "reader": new_token()}


@pytest.fixture(scope="module")
def tls_server(pki, tokens, tmp_path_factory):
    """TLS with tokens: a writer and a reader."""
    base = tmp_path_factory.mktemp("tls-server")
    auth = base / "principals.toml"
    auth.write_text(entry("writer", ["read", "write"], tokens["writer"])
                    + entry("reader", ["read"], tokens["reader"]))
    srv = ServerProcess(
        server_binary(), base / "data", base / "server.log",
        extra_args=["--tls-cert", str(pki["server"][0]), "--tls-key", str(pki["server"][1]),
                    "--auth-file", str(auth)],
        client_kwargs={"ca_cert": str(pki["ca"]), "token": tokens["reader"]}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def mtls_server(pki, tmp_path_factory):
    """Mutual TLS: the agent's certificate names a principal that may read and write."""
    base = tmp_path_factory.mktemp("mtls-server")
    auth = base / "principals.toml"
    auth.write_text(entry("agent", ["read", "write"], cert_names=["agent.example"]))
    kwargs = {"ca_cert": str(pki["ca"]), "client_cert": str(pki["agent"][0]),
              "client_key": str(pki["agent"][1])}
    srv = ServerProcess(
        server_binary(), base / "data", base / "server.log",
        extra_args=["--tls-cert", str(pki["server"][0]), "--tls-key", str(pki["server"][1]),
                    "--tls-client-ca", str(pki["client_ca"]), "--auth-file", str(auth)],
        client_kwargs=kwargs).start()
    yield srv, kwargs
    srv.stop()


def test_tls_with_tokens_writes_reads_and_refuses(tls_server, pki, tokens, uid):
    addr = tls_server.address
    with TreeStoreClient(addr, ca_cert=pki["ca"], token=tokens["writer"], retry=ONCE) as w:
        w.put_document(f"{uid}-doc", [NodeInput(node_id="a", title="A")])
    # The CA as bytes works the same; the reader reads, and cannot write.
    with TreeStoreClient(addr, ca_cert=pki["ca"].read_bytes(), token=tokens["reader"],
                         retry=ONCE) as r:
        assert r.get_document(f"{uid}-doc")[0].doc_id == f"{uid}-doc"
        with pytest.raises(PermissionDenied):
            r.put_document(f"{uid}-other", [NodeInput(node_id="a", title="A")])
    for token in (None, new_token(), tokens["reader"] + "0"):
        with TreeStoreClient(addr, ca_cert=pki["ca"], token=token, retry=ONCE) as c:
            with pytest.raises(Unauthenticated) as e:
                c.get_document(f"{uid}-doc")
            assert "missing or invalid credentials" in str(e.value)


def test_plaintext_and_untrusted_clients_get_nothing(tls_server, pki, tokens, tmp_path):
    with TreeStoreClient(tls_server.address, token=tokens["reader"], retry=ONCE,
                         timeout=5.0) as plain:
        with pytest.raises(TreeStoreError) as e:
            plain.health()
        assert not isinstance(e.value, (Unauthenticated, PermissionDenied))
    other_ca = make_ca(tmp_path, "other-ca")
    with TreeStoreClient(tls_server.address, ca_cert=other_ca[0], token=tokens["reader"],
                         retry=ONCE, timeout=5.0) as untrusting:
        with pytest.raises(TreeStoreError):
            untrusting.health()


def test_async_client_with_tls_and_token(tls_server, pki, tokens):
    import asyncio

    async def run():
        async with AsyncTreeStoreClient(tls_server.address, ca_cert=pki["ca"],
                                        token=tokens["reader"], retry=ONCE) as c:
            await c.health()
        async with AsyncTreeStoreClient(tls_server.address, ca_cert=pki["ca"],
                                        retry=ONCE) as c:
            with pytest.raises(Unauthenticated):
                await c.health()

    asyncio.run(run())


def test_mutual_tls_client_certificate(mtls_server, pki, uid):
    srv, kwargs = mtls_server
    with TreeStoreClient(srv.address, retry=ONCE, **kwargs) as c:
        c.put_document(f"{uid}-m", [NodeInput(node_id="a", title="A")])
        assert c.get_document(f"{uid}-m")[0].doc_id == f"{uid}-m"
    with TreeStoreClient(srv.address, ca_cert=pki["ca"], retry=ONCE, timeout=5.0) as no_cert:
        with pytest.raises(TreeStoreError):
            no_cert.health()


def test_cli_takes_tls_and_token(tls_server, pki, tokens, capsys, monkeypatch):
    base = ["--addr", tls_server.address, "--ca-cert", str(pki["ca"])]
    assert cli.main([*base, "--token", tokens["reader"], "health"]) == 0
    monkeypatch.setenv("TREESTORE_TOKEN", tokens["reader"])
    assert cli.main([*base, "list"]) == 0
    monkeypatch.delenv("TREESTORE_TOKEN")
    capsys.readouterr()
    assert cli.main([*base, "list"]) == 1
    assert "missing or invalid credentials" in capsys.readouterr().err


def test_security_settings_validate_and_build_metadata(tmp_path, monkeypatch):
    creds, md, opts = security_settings(
        credentials=None, tls=None, ca_cert=None, client_cert=None, client_key=None,
        server_name="db.example", token="tst_abc", metadata=[("x-a", "1")], options=None)
    assert creds is None
    assert md == (("x-a", "1"), ("authorization", "Bearer tst_abc"))
    assert ("grpc.ssl_target_name_override", "db.example") in opts
    creds, md, _ = security_settings(
        credentials=None, tls=True, ca_cert=None, client_cert=None, client_key=None,
        server_name=None, token=None, metadata=None, options=None)
    assert creds is not None and md is None
    bad = [dict(client_cert=b"x", client_key=None), dict(tls=False, ca_cert=b"x"),
           dict(token="a\nb"), dict(token="")]
    for kw in bad:
        args = dict(credentials=None, tls=None, ca_cert=None, client_cert=None,
                    client_key=None, server_name=None, token=None, metadata=None, options=None)
        args.update(kw)
        with pytest.raises(ValueError):
            security_settings(**args)
    monkeypatch.delenv("TREESTORE_TOKEN", raising=False)
    f = tmp_path / "token"
    f.write_text("tst_from_file\n")
    monkeypatch.setenv("TREESTORE_TOKEN_FILE", str(f))
    assert token_from_env() == "tst_from_file"
    monkeypatch.setenv("TREESTORE_TOKEN", "tst_env")
    assert token_from_env() == "tst_env"


@pytest.fixture(scope="module")
def tenant_server(tmp_path_factory):
    """Plaintext with tokens: two tenants, and a principal of both."""
    base = tmp_path_factory.mktemp("tenant-server")
    toks = {"acme": new_token(), "beta": new_token(), "both": new_token()}
    grants = {"acme": '["acme"]', "beta": '["beta"]', "both": '["acme", "beta"]'}
    auth = base / "principals.toml"
    auth.write_text("".join(entry(n, ["read", "write"], t) + f"namespaces = {grants[n]}\n\n"
                            for n, t in toks.items()))
    srv = ServerProcess(server_binary(), base / "data", base / "server.log",
                        extra_args=["--auth-file", str(auth)],
                        client_kwargs={"token": toks["both"], "namespace": "acme"}).start()
    yield srv, toks
    srv.stop()


def test_namespaces_keep_tenants_apart(tenant_server, uid):
    srv, toks = tenant_server
    doc = f"{uid}-report"
    with TreeStoreClient(srv.address, token=toks["acme"], namespace="acme", retry=ONCE) as a, \
            TreeStoreClient(srv.address, token=toks["beta"], namespace="beta", retry=ONCE) as b:
        assert a.namespace == "acme" and b.namespace == "beta"
        a.put_document(doc, [NodeInput(node_id="n", title="acme's")])
        b.put_document(doc, [NodeInput(node_id="n", title="beta's")])
        assert a.get_node(doc, "n").title == "acme's"
        assert b.get_node(doc, "n").title == "beta's"
        a.put_document(f"{uid}-acme-only", [NodeInput(node_id="n", title="x")])
        with pytest.raises(NotFound):
            b.get_document(f"{uid}-acme-only")
        assert f"{uid}-acme-only" not in [d.doc_id for d in b.iter_documents(id_prefix=uid)]
    # Naming a namespace the token's principal may not use is refused.
    with TreeStoreClient(srv.address, token=toks["acme"], namespace="beta", retry=ONCE) as c:
        with pytest.raises(PermissionDenied):
            c.get_document(doc)
    # A principal of both links across them; the reference says where each end lives.
    with TreeStoreClient(srv.address, token=toks["both"], namespace="acme", retry=ONCE) as both:
        ref = both.add_cross_reference(doc, "n", doc, "n", kind="cites", to_namespace="beta")
        assert (ref.from_namespace, ref.to_namespace) == ("acme", "beta")
    with TreeStoreClient(srv.address, token=toks["acme"], namespace="acme", retry=ONCE) as a:
        with pytest.raises(PermissionDenied):
            a.add_cross_reference(doc, "n", doc, "n", kind="other", to_namespace="beta")


def test_namespace_option_is_checked_and_sent(monkeypatch):
    base = dict(credentials=None, tls=None, ca_cert=None, client_cert=None, client_key=None,
                server_name=None, token=None, metadata=None, options=None)
    _, md, _ = security_settings(**base, namespace="acme")
    assert md == (("treestore-namespace", "acme"),)
    for bad in (dict(namespace=""), dict(namespace="a\nb"),
                dict(namespace="acme", metadata=[("treestore-namespace", "beta")])):
        with pytest.raises(ValueError):
            security_settings(**{**base, **bad})
