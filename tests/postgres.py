"""A throwaway PostgreSQL server for tests: ``initdb`` in a temporary folder, ``pg_ctl`` on a free loopback port.

PostgreSQL refuses to run as root, so under root (a CI container) the server runs as ``nobody`` in a folder it
owns. Debian keeps the server binaries out of PATH, in ``/usr/lib/postgresql/{version}/bin``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.mosquitto import free_port


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


BIN_DIR = _bin_dir()
USER = "fleet"


class Postgres:
    host = "127.0.0.1"

    def __init__(self) -> None:
        if BIN_DIR is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="fleet-pg-"))
        self.data = self.folder / "data"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "nobody")
            self._as_owner = ["runuser", "-u", "nobody", "--"]

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_owner, *command], check=True, capture_output=True, cwd=self.folder)

    def start(self) -> None:
        assert BIN_DIR is not None
        self._run(str(BIN_DIR / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses={self.host}"
        log = str(self.folder / "log")
        self._run(str(BIN_DIR / "pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def new_database(self) -> str:
        """A fresh, empty database on this server; its URL."""
        import psycopg

        name = f"fleet_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@{self.host}:{self.port}/{database}"

    def stop(self) -> None:
        assert BIN_DIR is not None
        if self.data.is_dir():
            self._run(str(BIN_DIR / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
