"""A month of faults in an hour: seeded fault cycles against the real kiosk link, broker and fleet backend.

A ``kiosk sync run`` process and a ``fleet serve`` process talk through a real Mosquitto, the kiosk through a TCP
proxy standing for its network. Tickets (every fifth with a photo) are filed into the kiosk's database all along,
as its dialogue does, and telemetry flows as usual. Each cycle draws one fault from a seeded generator, holds it
for 0.3-2 s, heals it and times how long until the backend stores a ticket again:

- ``kiosk_kill``: ``kill -9`` of the kiosk's link (restarted, as systemd would);
- ``backend_kill``: ``kill -9`` of ``fleet serve`` (restarted);
- ``broker_kill``: ``kill -9`` of Mosquitto (started again on the same port and persistence);
- ``network_cut``: the proxy drops every connection and refuses new ones;
- ``kiosk_disk_full`` / ``backend_disk_full``: the data folder's disk (a tmpfs) filled to the last byte; needs
  root to mount, and is left out otherwise.

A process that exits on its own (a full disk can end one) is restarted when the fault heals and counted. At the end
the faults stop, the outbox drains, and the report says how many tickets were filed, stored, stored twice and left
stuck, with the time from the end of each fault to the next ticket stored. Clock jumps are not simulated (setting
the clock needs the machine's own time, which other work here relies on). Not in CI: it runs for as long as its
cycles take (``--cycles``, 1,000 by default: about 25 minutes here).

    python -m bench.run --only soak                  # 1,000 cycles, seed 7, into bench/REPORT.md
    python -m bench.bench_soak --cycles 50 --seed 3  # a short run, printed
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.stats import percentile
from bench.sync_processes import FleetServe, KioskSyncProcess, wait_until
from bench.worker import harness_command
from firmware_app.events import TicketRequested
from firmware_app.store import open_database
from firmware_app.tickets.store import TicketStore
from tests.mosquitto import Mosquitto, free_port

DEVICE = "kiosk-soak-01"
FAULTS = ("kiosk_kill", "backend_kill", "broker_kill", "network_cut", "kiosk_disk_full", "backend_disk_full")
FILE_EVERY_S = 0.2  # five tickets a second
PHOTO_EVERY = 5  # every fifth ticket carries a photo
DISK_MB = 64
RESUME_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 300.0
PHOTO = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")  # a minimal JPEG (SOI, JFIF, EOI)


class NetworkCut:
    """A TCP proxy between the kiosk and the broker that can cut the network: while cut it closes every
    connection and refuses new ones, as a pulled cable or a dead router would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._cut = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def heal(self) -> None:
        self._cut.clear()

    def _accept(self) -> None:
        while True:
            client, _ = self._server.accept()
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with self._lock:
                    self._sockets.discard(sock)
                sock.close()


class Disk:
    """A small tmpfs for a data folder, which a fault fills to the last byte (None without root)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        mount = ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(folder)]
        self.mounted = os.geteuid() == 0 and subprocess.run(mount, capture_output=True, check=False).returncode == 0
        self.filler = folder / "filler.bin"

    def fill(self) -> None:
        """Write zeros until the disk refuses even one more 512-byte block."""
        handle = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for block in (2**20, 2**12, 512):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(handle, b"\0" * block)
        finally:
            os.close(handle)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], check=False)


class Soak:
    def __init__(self, folder: Path, seed: int) -> None:
        self.folder = folder
        self.rng = random.Random(seed)
        self.kiosk_disk = Disk(folder / "kiosk")
        self.backend_disk = Disk(folder / "backend")
        self.data_dir = self.kiosk_disk.folder / "data"
        self.data_dir.mkdir()
        self.fleet_db = self.backend_disk.folder / "fleet.db"
        self.broker = Mosquitto(folder / "broker")
        self.broker.start()
        self.network = NetworkCut(self.broker.port)
        self.restarts: Counter[str] = Counter()
        self.crashes: Counter[str] = Counter()  # processes that ended by themselves (a full disk, a bug)
        self.crash_lines: list[str] = []  # the last lines each one logged
        self.filed: list[str] = []
        self.photos_filed = 0
        self.refused_at_filing = 0
        self._stop_filing = threading.Event()
        self.backend = FleetServe(self.broker, self.fleet_db, folder / "fleet.log")
        self.kiosk = self._start_kiosk()
        self._filer = threading.Thread(target=self._file_tickets, daemon=True)
        self._filer.start()

    @property
    def faults(self) -> tuple[str, ...]:
        disks = self.kiosk_disk.mounted and self.backend_disk.mounted
        return FAULTS if disks else tuple(f for f in FAULTS if not f.endswith("disk_full"))

    def _start_kiosk(self) -> KioskSyncProcess:
        port = {"KIOSK_SYNC__BROKER_PORT": str(self.network.port), "KIOSK_SYNC__ACK_TIMEOUT_S": "2"}
        return KioskSyncProcess(self.broker, self.data_dir, DEVICE, self.folder / "kiosk.log", **port)

    # --- the kiosk's dialogue, filing tickets ----------------------------------------------------------------

    def _file_tickets(self) -> None:
        db = open_database(self.data_dir / "kiosk.db")
        store = TicketStore(db, DEVICE)
        photos = self.data_dir / "photos"
        photos.mkdir(exist_ok=True)
        count = 0
        while not self._stop_filing.wait(FILE_EVERY_S):
            ticket_id = str(uuid.uuid4())
            count += 1
            attachments: tuple[str, ...] = ()
            try:
                if count % PHOTO_EVERY == 0:
                    (photos / f"{ticket_id}.jpg").write_bytes(PHOTO)
                    attachments = (f"photos/{ticket_id}.jpg",)
                store.create(
                    TicketRequested(
                        ticket_id=ticket_id,
                        ticket_type="handoff",
                        priority="normal",
                        summary=f"Soak ticket {count}",
                        language="en",
                        attachments=attachments,
                    )
                )
            except (OSError, sqlite3.Error):
                self.refused_at_filing += 1  # the kiosk says it could not file it: not accepted, so not lost
                continue
            self.filed.append(ticket_id)
            self.photos_filed += len(attachments)
        db.close()

    # --- the backend's side ----------------------------------------------------------------------------------

    def stored(self) -> list[str]:
        """Every ticket id the backend stored, a row each (a ticket stored twice would appear twice)."""
        try:
            with sqlite3.connect(f"file:{self.fleet_db}?mode=ro", uri=True, timeout=10) as conn:
                return [row[0] for row in conn.execute("SELECT id FROM tickets")]
        except sqlite3.Error:
            return []

    def stored_count(self) -> int:
        return len(self.stored())

    def photos_stored(self) -> int:
        """Photos the backend has whole (``attachments`` rows in the state ``stored``)."""
        with sqlite3.connect(f"file:{self.fleet_db}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM attachments WHERE state = 'stored'").fetchone()[0])

    # --- faults -------------------------------------------------------------------------------------------

    def cycle(self) -> dict[str, Any]:
        fault = self.rng.choice(self.faults)
        hold_s = self.rng.uniform(0.3, 2.0)
        heal = self._inject(fault)
        time.sleep(hold_s)
        heal()
        self._supervise(fault)
        healed = time.monotonic()
        before = self.stored_count()
        resumed = wait_until(lambda: self.stored_count() > before, f"delivery after {fault}", RESUME_TIMEOUT_S, 0.05)
        return {"fault": fault, "hold_s": round(hold_s, 2), "resume_s": round(resumed - healed, 3)}

    def _inject(self, fault: str) -> Callable[[], None]:
        if fault == "kiosk_kill":
            self.kiosk.process.kill()
            return lambda: None  # the supervisor starts it again
        if fault == "backend_kill":
            self.backend.process.kill()
            return lambda: None
        if fault == "broker_kill":
            self.broker.kill()
            return self.broker.start
        if fault == "network_cut":
            self.network.cut()
            return self.network.heal
        disk = self.kiosk_disk if fault == "kiosk_disk_full" else self.backend_disk
        disk.fill()
        return disk.free

    def _supervise(self, fault: str = "") -> None:
        """Start again what is not running, as systemd's ``Restart=always`` would; a process that ended without
        being killed by the ``fault`` counts as a crash."""
        killed = fault.removesuffix("_kill")
        if self.kiosk.process.poll() is not None:
            self.restarts["kiosk"] += 1
            if killed != "kiosk":
                self._crashed("kiosk", self.kiosk.log, fault)
            self.kiosk = self._start_kiosk()
        if self.backend.process.poll() is not None:
            self.restarts["backend"] += 1
            if killed != "backend":
                self._crashed("backend", self.backend.log, fault)
            self.backend = FleetServe(self.broker, self.fleet_db, self.folder / "fleet.log")

    def _crashed(self, name: str, log: Path, fault: str) -> None:
        self.crashes[name] += 1
        last_lines = log.read_text(errors="replace").strip().splitlines()[-3:]
        self.crash_lines.append(f"{name} after {fault}: {' | '.join(line[:200] for line in last_lines)}")

    def drain(self) -> float:
        """Stop filing and wait until the kiosk's outbox is empty; seconds it took."""
        self._stop_filing.set()
        self._filer.join()
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):  # what is left is reported as stuck
            wait_until(self._outbox_empty, "the outbox to drain", DRAIN_TIMEOUT_S, 0.2)
        return round(time.monotonic() - started, 1)

    def _outbox_empty(self) -> bool:
        self._supervise()
        return self.outbox_depth() == 0

    def outbox_depth(self) -> int:
        with sqlite3.connect(self.data_dir / "kiosk.db", timeout=10) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        self._stop_filing.set()
        self.kiosk.stop()
        self.backend.stop()
        self.broker.stop()
        self.kiosk_disk.unmount()
        self.backend_disk.unmount()


def soak(cycles: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        run = Soak(Path(tmp), seed)
        started = time.monotonic()
        results: list[dict[str, Any]] = []
        try:
            for _ in range(cycles):
                results.append(run.cycle())
            drain_s = run.drain()
            stored = run.stored()
            stuck = run.outbox_depth()
            photos_stored = run.photos_stored()
        finally:
            run.close()
        filed = set(run.filed)
        stored_ids = Counter(stored)
        resume = [r["resume_s"] for r in results]
        by_fault = {
            fault: {
                "cycles": len(times),
                "resume_s_p50": round(statistics.median(times), 2),
                "resume_s_p95": round(percentile(times, 0.95), 2),
                "resume_s_max": round(max(times), 2),
            }
            for fault in FAULTS
            if (times := [r["resume_s"] for r in results if r["fault"] == fault])
        }
        return {
            "cycles": cycles,
            "seed": seed,
            "minutes": round((time.monotonic() - started) / 60, 1),
            "faults_used": sorted(by_fault),
            "disk_faults": run.kiosk_disk.mounted and run.backend_disk.mounted,
            "tickets_filed": len(filed),
            "refused_at_filing": run.refused_at_filing,
            "stored": len(set(stored_ids) & filed),
            "lost": len(filed - set(stored_ids)),
            "stored_twice": sum(1 for count in stored_ids.values() if count > 1),
            "stuck_in_outbox": stuck,
            "photos_filed": run.photos_filed,
            "photos_stored": photos_stored,
            "drain_s": drain_s,
            "restarts": dict(run.restarts),
            "crashes": dict(+run.crashes),
            "crash_lines": run.crash_lines[:20],
            "resume_s_p50": round(statistics.median(resume), 2),
            "resume_s_p95": round(percentile(resume, 0.95), 2),
            "resume_s_max": round(max(resume), 2),
            "by_fault": by_fault,
        }


def run(_data_dir: Path | None = None, cycles: int = 1000, seed: int = 7) -> dict[str, Any]:
    return {"command": harness_command(), **soak(cycles, seed)}


def report_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Soak: faults against the kiosk link, broker and backend",
        "",
        f"`{r['command']}`: {r['cycles']} seeded fault cycles (seed {r['seed']}) in {r['minutes']} minutes, faults"
        f" {', '.join(r['faults_used'])}; tickets filed five a second (every fifth with a photo) all along.",
        "",
        "| filed | refused at filing (disk full) | stored | lost | stored twice | stuck in the outbox |"
        " photos filed / stored | restarts (of which crashes) | resume after a fault p50 / p95 / max s |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {r['tickets_filed']} | {r['refused_at_filing']} | {r['stored']} | {r['lost']} | {r['stored_twice']} |"
        f" {r['stuck_in_outbox']} | {r['photos_filed']} / {r['photos_stored']} | {r['restarts'] or 'none'}"
        f" ({r['crashes'] or 'none'}) |"
        f" {r['resume_s_p50']} / {r['resume_s_p95']} / {r['resume_s_max']} |",
        "",
        "| fault | cycles | resume p50 s | p95 s | max s |",
        "|---|---|---|---|---|",
    ]
    for fault, f in r["by_fault"].items():
        lines.append(f"| {fault} | {f['cycles']} | {f['resume_s_p50']} | {f['resume_s_p95']} | {f['resume_s_max']} |")
    if not r["disk_faults"]:
        lines += ["", "Disk-full faults were left out: mounting the tmpfs needs root."]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(cycles=args.cycles, seed=args.seed), indent=1))


if __name__ == "__main__":
    main()
