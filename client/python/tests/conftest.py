"""Fixtures for the server-backed tests (tests/test_server_*.py, marker ``server``).

The ``server`` fixture starts the real TreeStore binary once per session:

    $TREESTORE_BIN serve --listen 127.0.0.1:<port> --data-dir <tmp> \
        --metrics-listen 127.0.0.1:<port> --insecure-plaintext

(TREESTORE_BIN defaults to /var/cache/treestore/target/debug/treestore) and waits until
Health answers (60 s). A missing binary FAILS the tests (it does not skip them); deselect
the server tests with ``pytest -m "not server"``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import pytest

from treestore import RetryPolicy, TreeStoreClient, TreeStoreError

DEFAULT_BIN = "/var/cache/treestore/target/debug/treestore"
STARTUP_TIMEOUT = 60.0


def pytest_collection_modifyitems(config, items):
    # every test in a test_server_*.py module carries the ``server`` marker
    for item in items:
        if Path(str(item.fspath)).name.startswith("test_server_"):
            item.add_marker(pytest.mark.server)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_binary() -> Path:
    path = Path(os.environ.get("TREESTORE_BIN", DEFAULT_BIN))
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"TreeStore server binary not found or not executable: {path} "
                    "(build it, or set TREESTORE_BIN; deselect these tests with "
                    "-m 'not server')", pytrace=False)
    return path


@dataclass
class ServerProcess:
    """A running ``treestore serve`` process."""

    binary: Path
    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    #: extra ``serve`` flags
    args: tuple[str, ...] = ()
    proc: Optional[subprocess.Popen] = None
    #: Extra ``serve`` flags; without ``--tls-cert`` the server runs ``--insecure-plaintext``.
    extra_args: list = field(default_factory=list)
    #: Security arguments of the readiness client (``ca_cert=``, ``token=``, ...).
    client_kwargs: dict = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = STARTUP_TIMEOUT) -> "ServerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--listen", self.address, "--data-dir",
             str(self.data_dir), "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
             *([] if "--tls-cert" in [*self.extra_args, *self.args]
               else ["--insecure-plaintext"]),
             *self.extra_args, *self.args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        with TreeStoreClient(self.address, timeout=2.0, retry=RetryPolicy(max_attempts=1),
                             **self.client_kwargs) as c:
            while True:
                if self.proc.poll() is not None:
                    pytest.fail(f"treestore serve exited with {self.proc.returncode} during "
                                f"startup; log:\n{self.log_tail()}", pytrace=False)
                try:
                    c.health()
                    return self
                except TreeStoreError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"treestore serve did not answer Health within {timeout}s; "
                                f"log:\n{self.log_tail()}", pytrace=False)
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    """The shared server of the test session."""
    base = tmp_path_factory.mktemp("treestore-server")
    srv = ServerProcess(server_binary(), base / "data", base / "server.log").start()
    yield srv
    srv.stop()


@pytest.fixture()
def server_factory(tmp_path) -> Iterator:
    """Start extra servers (e.g. to restart on the same data dir); all stopped at the end."""
    started: list[ServerProcess] = []

    def make(data_dir: Optional[Path] = None, args: tuple[str, ...] = ()) -> ServerProcess:
        srv = ServerProcess(server_binary(), data_dir or tmp_path / f"data{len(started)}",
                            tmp_path / f"server{len(started)}.log", args=args)
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture()
def client(server) -> Iterator[TreeStoreClient]:
    with TreeStoreClient(server.address, timeout=30.0) as c:
        yield c


@pytest.fixture()
def uid() -> str:
    """A unique prefix for ids created by one test (the server is shared)."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def fixture_files() -> list[Path]:
    from ._fake import FIXTURES

    files = sorted(FIXTURES.glob("*.json"))
    assert len(files) == 4, FIXTURES
    return files
