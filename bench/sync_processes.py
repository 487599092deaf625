"""The real processes the sync benchmark measures: ``fleet serve`` and ``kiosk sync run``, each as a child process
started the way an installation starts it, plus kiosk databases with a ready outbox.

Filling an outbox through ``TicketStore`` costs one fsync per ticket (the kiosk's ``synchronous=FULL``), so each
device's outbox is filled once with fsync off and copied for every run: the copy is byte for byte what a kiosk
holding that many unsent tickets has on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from firmware_app.config import REPO_ROOT
from firmware_app.events import TicketRequested
from firmware_app.inference.manifest import load_manifest
from firmware_app.store import open_database
from firmware_app.tickets.store import TicketStore
from tests.mosquitto import Mosquitto

KIOSK = Path(sys.executable).with_name("kiosk")
# Short timers, as a kiosk on a good link would want them: reconnect fast, poll the outbox often.
FAST_SYNC = {
    "KIOSK_SYNC__ENABLED": "true",
    "KIOSK_SYNC__RECONNECT_MIN_S": "0.05",
    "KIOSK_SYNC__RECONNECT_MAX_S": "0.5",
    "KIOSK_SYNC__POLL_S": "0.05",
}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0, every_s: float = 0.01) -> float:
    """Poll ``condition``; the ``time.monotonic()`` at which it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every_s)
    return time.monotonic()


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User + system CPU time the (still running) process has used: ``utime`` and ``stime`` of /proc/PID/stat."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pinned(core: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` pinning the child to one core (None: let the scheduler place it)."""
    if core is None:
        return None
    cores = sorted(os.sched_getaffinity(0))
    return lambda: os.sched_setaffinity(0, {cores[core % len(cores)]})


class FleetServe:
    """``fleet serve`` on ``db``; ready once the broker has its subscriptions."""

    def __init__(self, broker: Mosquitto, db: Path, log: Path, core: int | None = None) -> None:
        self.log = log
        command = [sys.executable, "-m", "fleet", "--db", str(db), "serve", "--port", str(broker.port)]
        with open(log, "ab") as stderr:
            self.process = subprocess.Popen(command, stderr=stderr, preexec_fn=pinned(core))
        wait_until(self._subscribed, f"fleet serve to subscribe (log {log})")

    def _subscribed(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"fleet serve exited:\n{self.log.read_text()[-2000:]}")
        return "subscribing" in self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


class KioskSyncProcess:
    """``kiosk sync run`` on its own data folder."""

    def __init__(self, broker: Mosquitto, data_dir: Path, device_id: str, log: Path | None = None, **env: str) -> None:
        base = {name: value for name, value in os.environ.items() if not name.startswith("KIOSK_")}
        base |= FAST_SYNC | {"KIOSK_DEVICE_ID": device_id, "KIOSK_SYNC__BROKER_PORT": str(broker.port)} | env
        self.log = log or data_dir.parent / f"{data_dir.name}.log"
        with open(self.log, "ab") as log:
            command = [str(KIOSK), "--data-dir", str(data_dir), "sync", "run"]
            self.process = subprocess.Popen(command, env=base, stdout=log, stderr=log)

    def rss_mb(self) -> dict[str, float]:
        """Resident memory now and at its peak (``VmRSS``, ``VmHWM``), in MB."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        return {
            key: round(int(fields[name].split()[0]) / 1024, 1) for key, name in (("rss", "VmRSS"), ("peak", "VmHWM"))
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def filled_outbox(template_dir: Path, device_id: str, tickets: int) -> Path:
    """A kiosk database holding ``tickets`` unsent tickets of ``device_id``, made once per size and device."""
    path = template_dir / f"{device_id}-{tickets}.db"
    if not path.exists():
        db = open_database(path)
        db.execute("PRAGMA synchronous=OFF")  # a template: durability does not matter, speed of making it does
        store = TicketStore(db, device_id)
        for n in range(tickets):
            request = TicketRequested(
                ticket_id=str(uuid.uuid4()),
                ticket_type="handoff",
                priority="normal",
                summary=f"Customer {n} needs a colleague about a card payment.",
                language="en",
            )
            store.create(request)
        db.close()
    return path


def kiosk_data_dir(folder: Path, template: Path) -> Path:
    """A fresh kiosk data folder whose database is a copy of ``template``."""
    folder.mkdir(parents=True)
    shutil.copyfile(template, folder / "kiosk.db")
    return folder


def outbox_depth(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "kiosk.db", timeout=10) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def model_copy(folder: Path, name: str, version: str, models: Path = REPO_ROOT / "models" / "int8") -> Path:
    """The shipped model ``name`` and its assets as ``version``, in a folder of its own with its manifest entry
    (what a release of a new version of it carries)."""
    folder.mkdir(parents=True)
    entry = load_manifest(models)[name].model_dump(mode="json") | {"version": version}
    for file_name in [entry["file"], *(entry.get("assets") or {}).values()]:
        shutil.copyfile(models / file_name, folder / file_name)
    (folder / "manifest.json").write_text(json.dumps({"models": [entry]}), encoding="utf-8")
    return folder / entry["file"]
