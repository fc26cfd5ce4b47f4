"""``treestore health`` (the container image's HEALTHCHECK) against real peers (marker ``server``):
the real server serving, a closed port, a port that accepts connections but never answers, and
a gRPC server that answers NOT_SERVING."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from concurrent import futures

import grpc
import pytest

from .conftest import free_port, server_binary

pytestmark = pytest.mark.server


def health(*args: str, env: dict | None = None, timeout: float = 30.0):
    proc = subprocess.run([str(server_binary()), "health", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})
    return proc.returncode, proc.stdout, proc.stderr


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_serving_server_exits_0(server):
    rc, out, err = health("--addr", server.address)
    assert (rc, out, err) == (0, "", "")


def test_address_from_the_environment(server):
    rc, _, err = health(env={"TREESTORE_HEALTH_ADDR": server.address})
    assert rc == 0, err
    # The flag wins over the environment.
    rc, _, err = health("--addr", f"127.0.0.1:{free_port()}",
                        env={"TREESTORE_HEALTH_ADDR": server.address})
    assert rc == 1, err


def test_closed_port_exits_1_cannot_connect():
    port = free_port()  # bound and released: nothing listens there
    rc, out, err = health("--addr", f"127.0.0.1:{port}")
    assert rc == 1 and out == ""
    line = one_line(err)
    assert line.startswith(f"treestore: health 127.0.0.1:{port}: cannot connect:"), line
    assert "refused" in line.lower(), line


def test_stopped_server_exits_1(server_factory):
    srv = server_factory()
    assert health("--addr", srv.address)[0] == 0
    assert srv.stop() == 0
    rc, _, err = health("--addr", srv.address)
    assert rc == 1
    assert "cannot connect" in one_line(err)


def test_silent_peer_exits_1_timeout():
    # Accepts TCP connections (the kernel's backlog) but never speaks HTTP/2.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        addr = f"127.0.0.1:{s.getsockname()[1]}"
        t0 = time.monotonic()
        rc, _, err = health("--addr", addr, "--timeout-ms", "700")
        elapsed = time.monotonic() - t0
    assert rc == 1
    assert one_line(err) == f"treestore: health {addr}: timeout: no answer within 700 ms"
    assert 0.6 < elapsed < 10, elapsed


def _health_server(status: int) -> tuple[grpc.Server, str]:
    """A gRPC server whose grpc.health.v1 Check answers ``status`` (raw protobuf bytes:
    HealthCheckResponse{status}, field 1 varint)."""
    seen: list[bytes] = []

    def check(request: bytes, context) -> bytes:
        seen.append(request)
        return bytes([0x08, status])

    handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(check),
    })
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    srv.add_generic_rpc_handlers((handler,))
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    srv.seen = seen  # type: ignore[attr-defined]
    return srv, f"127.0.0.1:{port}"


def test_not_serving_exits_1():
    srv, addr = _health_server(2)  # NOT_SERVING
    try:
        rc, _, err = health("--addr", addr)
    finally:
        srv.stop(None)
    assert rc == 1
    assert one_line(err) == f"treestore: health {addr}: not serving: NOT_SERVING"
    # It asked about the whole server: service "" (an empty request message).
    assert srv.seen == [b""]


def test_serving_peer_exits_0():
    # The same peer answering SERVING: the exit status follows the answer, not the peer.
    srv, addr = _health_server(1)
    try:
        rc, _, err = health("--addr", addr)
    finally:
        srv.stop(None)
    assert (rc, err) == (0, "")
