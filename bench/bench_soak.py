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
  root to mount, and is left out otherwise;
- ``clock_jump``: the kiosk's wall clock jumps 1 minute to 6 hours forward or back, and is set right when the fault
  heals, as NTP would (``bench/clock_shift``: Python's wall clock in the kiosk's process; the monotonic clock,
  SQLite's and OpenSSL's are left alone).

An update is in flight all along: every ``RELEASE_EVERY`` cycles the fleet publishes a new signed release of the
steel-surface defect model (its ONNX file and ``.tflite``, 7.5 MB), which the kiosk downloads in chunks through the
faults, checks, installs and self-tests (the cycle right after a publication faults the download); the report says
how many releases were published, the one the kiosk runs at the end, and the time from each publication to the
kiosk running it.

A process that exits on its own (a full disk can end one) is restarted when the fault heals and counted. At the end
the faults stop, the outbox drains, and the report says how many tickets were filed, stored, stored twice and left
stuck, with the time from the end of each fault to the next ticket stored. Not in CI: it runs for as long as its
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
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt import publish

from bench.stats import percentile
from bench.sync_processes import FleetServe, KioskSyncProcess, model_copy, wait_until
from bench.worker import harness_command
from firmware_app.config import installed_link
from firmware_app.events import TicketRequested
from firmware_app.store import open_database
from firmware_app.tickets.store import TicketStore
from fleet.releases import ReleaseStore, model_source
from fleet.signing import generate_keys, load_private_key
from kiosk_link import wire
from tests.mosquitto import Mosquitto, free_port

DEVICE = "kiosk-soak-01"
FAULTS = (
    "kiosk_kill",
    "backend_kill",
    "broker_kill",
    "network_cut",
    "kiosk_disk_full",
    "backend_disk_full",
    "clock_jump",
)
CLOCK_JUMP_S = (60.0, 6 * 3600.0)
CLOCK_SHIFT = Path(__file__).resolve().parent / "clock_shift"  # its sitecustomize shifts the kiosk's wall clock
RELEASE_EVERY = 50  # cycles between two releases of the model in flight
RELEASED_MODEL = "steel_surface"  # 7.5 MB with its .tflite: a download that faults interrupt
MIN_KIOSK_VERSION = "0.1.0"  # every kiosk of this tree runs it
RELEASE_TIMEOUT_S = 300.0
FILE_EVERY_S = 0.2  # five tickets a second
PHOTO_EVERY = 5  # every fifth ticket carries a photo
DISK_MB = 256  # room for 20 releases of the model in flight on the backend
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


class ReleaseChannel:
    """The fleet's side of the update in flight: signed releases of one model, each a newer version, published
    retained on the kiosk's channel as ``fleet release`` does; ``fleet serve`` serves their chunks from ``folder``."""

    def __init__(self, broker: Mosquitto, folder: Path, private_key: Ed25519PrivateKey, models: Path) -> None:
        self.broker = broker
        self.store = ReleaseStore(folder)
        self.private_key = private_key
        self.models = models
        self.published: list[tuple[str, float]] = []  # (model version, monotonic time of publication)

    def publish(self) -> None:
        number = len(self.published) + 1
        version = f"1.0.{number}"
        path = model_copy(self.models / version, RELEASED_MODEL, version)
        release = self.store.create([model_source(path)], self.private_key, "stable", MIN_KIOSK_VERSION, timedelta(1))
        publish.single(
            wire.release_topic("stable"),
            release.signed.encode(),
            qos=1,
            retain=True,
            hostname=self.broker.host,
            port=self.broker.port,
            protocol=mqtt.MQTTv5,
        )
        self.published.append((version, time.monotonic()))


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
        # The kiosk ships only the model in flight: each release is staged as a full copy of the models folder, and
        # the shipped intent models alone would not fit the data disk.
        self.shipped_models = model_copy(folder / "shipped-models", RELEASED_MODEL, "1.0.0").parent
        self.clock_offset = folder / "clock_offset_s"
        self.clock_offset.write_text("0")
        private_key, self.public_key = generate_keys(folder / "keys")
        self.releases = ReleaseChannel(
            self.broker, self.fleet_db.parent / "releases", load_private_key(private_key), folder / "release-models"
        )
        self.kiosk = self._start_kiosk()
        self._filer = threading.Thread(target=self._file_tickets, daemon=True)
        self._filer.start()

    @property
    def faults(self) -> tuple[str, ...]:
        disks = self.kiosk_disk.mounted and self.backend_disk.mounted
        return FAULTS if disks else tuple(f for f in FAULTS if not f.endswith("disk_full"))

    def _start_kiosk(self) -> KioskSyncProcess:
        env = {
            "KIOSK_SYNC__BROKER_PORT": str(self.network.port),
            "KIOSK_SYNC__ACK_TIMEOUT_S": "2",
            "KIOSK_UPDATES__PUBLIC_KEY": str(self.public_key),
            "KIOSK_MODELS_DIR": str(self.shipped_models),
            "PYTHONPATH": str(CLOCK_SHIFT),
            "SOAK_CLOCK_OFFSET_FILE": str(self.clock_offset),
        }
        return KioskSyncProcess(self.broker, self.data_dir, DEVICE, self.folder / "kiosk.log", **env)

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
        if fault == "clock_jump":
            jump_s = self.rng.choice((-1, 1)) * self.rng.uniform(*CLOCK_JUMP_S)
            self.clock_offset.write_text(f"{jump_s:.0f}")
            return lambda: self.clock_offset.write_text("0")
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

    def note_installed(self, installed_at: dict[str, float]) -> str | None:
        """Record when the kiosk is first seen running each version; the version it runs now."""
        version = self.installed_version()
        if version is not None:
            installed_at.setdefault(version, time.monotonic())
        return version

    def installed_version(self) -> str | None:
        """The version of the released model the kiosk runs now (None before its first update)."""
        manifest = installed_link(self.data_dir, "models") / "manifest.json"
        try:
            entries = json.loads(manifest.read_text())["models"]
        except (OSError, ValueError, KeyError):
            return None
        return next((e["version"] for e in entries if e["name"] == RELEASED_MODEL), None)

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
        installed_at: dict[str, float] = {}  # model version -> when the kiosk was first seen running it
        try:
            for number in range(cycles):
                if number % RELEASE_EVERY == 0:
                    run.releases.publish()
                results.append(run.cycle())
                run.note_installed(installed_at)
            drain_s = run.drain()
            last = run.releases.published[-1][0]
            with contextlib.suppress(TimeoutError):  # reported as not installed
                wait_until(lambda: run.note_installed(installed_at) == last, "the last release", RELEASE_TIMEOUT_S, 0.5)
            stored = run.stored()
            stuck = run.outbox_depth()
            photos_stored = run.photos_stored()
            running_at_end = run.installed_version()
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
            "update": update_report(run.releases.published, installed_at, running_at_end),
            "resume_s_p50": round(statistics.median(resume), 2),
            "resume_s_p95": round(percentile(resume, 0.95), 2),
            "resume_s_max": round(max(resume), 2),
            "by_fault": by_fault,
        }


def update_report(published: list[tuple[str, float]], installed_at: dict[str, float], at_end: str | None) -> dict:
    """Releases published, the one the kiosk runs at the end, and publication-to-running times of those it ran (a
    release published while an older one was still downloading can be overtaken: the kiosk goes to the newest)."""
    times = [installed_at[version] - at for version, at in published if version in installed_at]
    return {
        "releases_published": len(published),
        "last_published": published[-1][0],
        "running_at_end": at_end,
        "releases_run": len(times),
        "publish_to_running_s_p50": round(statistics.median(times), 1) if times else None,
        "publish_to_running_s_max": round(max(times), 1) if times else None,
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
    update = r.get("update")
    if update:
        lines += [
            "",
            f"Update in flight: {update['releases_published']} signed releases of the steel-surface model (7.5 MB)"
            " published"
            f" (one every {RELEASE_EVERY} cycles); the kiosk ran {update['releases_run']} of them (a newer one can"
            f" overtake one still downloading), publication to running p50 {update['publish_to_running_s_p50']} s,"
            f" max {update['publish_to_running_s_max']} s; at the end it runs {update['running_at_end']}"
            f" (last published: {update['last_published']}).",
        ]
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
