"""A PostgreSQL server of a test's own (initdb in a temporary folder, its own socket and port), which the test may
stop and start again: an outage of the log's database, without touching the server the other tests share."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

BIN = Path("/usr/lib/postgresql/15/bin")


class PrivateServer:
    def __init__(self) -> None:
        if not (BIN / "initdb").exists() or shutil.which("runuser") is None or os.geteuid() != 0:
            message = "a private PostgreSQL server needs PostgreSQL 15's binaries and root (to run them as postgres)"
            if os.environ.get("RECOVERY_REQUIRE_POSTGRES"):
                pytest.fail(f"{message}; CI requires it")
            pytest.skip(message)
        self.root = Path(tempfile.mkdtemp(prefix="recovery-pg-", dir="/tmp"))
        self.data, self.sockets = self.root / "data", self.root / "sockets"
        self.sockets.mkdir()
        shutil.chown(self.root, "postgres")
        shutil.chown(self.sockets, "postgres")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._as_postgres(BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self._as_postgres(BIN / "createdb", "-h", self.sockets, "-p", self.port, "-U", "postgres", "recovery")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@/recovery?host={self.sockets}&port={self.port}"

    def start(self) -> None:
        self._as_postgres(BIN / "pg_ctl", "-D", self.data, "-w", "-l", self.root / "server.log", "-o",
                          f"-k {self.sockets} -p {self.port} -c listen_addresses='' -c fsync=off", "start")

    def stop(self) -> None:
        self._as_postgres(BIN / "pg_ctl", "-D", self.data, "-w", "-m", "fast", "stop")

    def remove(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _as_postgres(self, *command: object) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True, capture_output=True,
                       timeout=120)
