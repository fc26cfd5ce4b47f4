"""A throw-away PostgreSQL cluster for tests and benchmarks: initdb in a temporary directory,
a server on a free loopback port, trust authentication, removed on stop.

Run as root it runs initdb and the server as the ``postgres`` user (PostgreSQL refuses to
run as root). The binaries are found in ``$PG_BIN``, else the newest
``/usr/lib/postgresql/<major>/bin`` (Debian's postgresql-15 package); ltree comes with
postgresql-contrib.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional


def find_pg_bin() -> Path:
    """The directory holding initdb and pg_ctl (raises FileNotFoundError with the fix)."""
    env = os.environ.get("PG_BIN")
    candidates = [env] if env else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0, reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    raise FileNotFoundError("PostgreSQL server binaries not found (initdb, pg_ctl): install "
                            "them with `apt-get install postgresql-15 postgresql-contrib-15` "
                            "(scripts/setup.sh does), or set PG_BIN")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TempPostgres:
    """``with TempPostgres() as pg: psycopg.connect(pg.dsn)``."""

    def __init__(self, *, port: Optional[int] = None, base: Optional[str] = None,
                 settings: Optional[dict[str, str]] = None) -> None:
        self.bin = find_pg_bin()
        self.port = port or free_port()
        self.base = Path(tempfile.mkdtemp(prefix="treestore-pg-", dir=base))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        # durability is not what these clusters are for
        self.settings = {"fsync": "off", "synchronous_commit": "off",
                         "full_page_writes": "off", "listen_addresses": "127.0.0.1",
                         "unix_socket_directories": str(self.base), "max_connections": "50",
                         "TimeZone": "UTC", **(settings or {})}
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        self.started = False

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                              timeout=timeout, cwd=self.base, **self._user)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}):\n{proc.stdout}\n"
                               f"{proc.stderr}\n{self.log_tail()}")

    def start(self) -> "TempPostgres":
        self._run(self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        opts = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                  "-o", f"-p {self.port} {opts}", "start")
        self.started = True
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # pg_ctl -w waited; the TCP port is up too
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not listen on {self.port}\n{self.log_tail()}")

    def stop(self) -> None:
        if self.started:
            try:
                self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
            finally:
                self.started = False
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> "TempPostgres":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
