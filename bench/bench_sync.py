"""Fleet sync benchmark: real Mosquitto, real ``fleet serve`` and ``kiosk sync run`` processes on loopback.

- Ticket throughput end to end: kiosks start with full outboxes; a ticket counts once the backend has committed
  it, acknowledged it and the kiosk has deleted its outbox row. Rate = tickets / (last outbox emptied - first
  commit at the backend), so process start-up is not counted. With 1 and 2 ``fleet serve`` processes sharing the
  database (each pinned to its own core), median of ``RUNS`` runs.
- A signed update of two real models (intent-minilm-bank with its tokenizer, steel_surface; about 27.6 MB of
  artifacts) from the moment its release is published to the kiosk's "installed" (download, whole-file check,
  unpack, atomic switch, OpenVINO self-test of both models); and again with the broker stopped for ``CUT_S`` in the
  middle of the download, counting the chunks asked for more than once.
- Memory of ``kiosk sync run`` with ``QUEUED`` tickets in its outbox, published but unacknowledged (no backend),
  and after a backend has drained it.
- A simulated fleet: ``FLEET`` kiosk MQTT clients in one process (``bench.sync_fleet_sim``), against one broker and
  one backend, each publishing its status, a telemetry report and one ticket: connect time, every ticket
  acknowledged, what the backend stored.

    python -m bench.run --only sync
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.sync_fleet_sim import SimulatedKiosk, outbox_ticket, run_fleet
from bench.sync_processes import (
    FleetServe,
    KioskSyncProcess,
    cpu_seconds,
    filled_outbox,
    kiosk_data_dir,
    model_copy,
    outbox_depth,
    wait_until,
)
from fleet.releases import ReleaseStore, model_source
from fleet.signing import generate_keys, load_private_key
from kiosk_link import wire
from tests.mosquitto import Mosquitto

RUNS = 3
KIOSKS = 2  # senders in the throughput runs, so one kiosk's own loop is not what is measured
TICKETS_PER_KIOSK = 5000
QUEUED = 10_000
FLEET = 200
CUT_S = 1.0
UPDATE_MODELS = ("intent-minilm-bank", "steel_surface")
TARGETS = {"tickets_per_s_one_backend": 1000.0, "update_s": 15.0}


@contextmanager
def broker_in(folder: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(folder / "broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _fleet_db_rows(fleet_db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(fleet_db, timeout=30) as conn:
        return conn.execute(sql).fetchall()


# --- ticket throughput -----------------------------------------------------------------------------------------


def _throughput_run(folder: Path, templates: list[Path], backends: int) -> dict[str, Any]:
    fleet_db = folder / "fleet" / "fleet.db"
    fleet_db.parent.mkdir(parents=True)
    with broker_in(folder) as broker:
        serves = [FleetServe(broker, fleet_db, folder / f"fleet-{n}.log", core=n) for n in range(backends)]
        time.sleep(0.3)  # their SUBSCRIBEs through
        dirs = [kiosk_data_dir(folder / f"kiosk-{n}", template) for n, template in enumerate(templates)]
        kiosks = [KioskSyncProcess(broker, data_dir, f"bench-kiosk-{n}") for n, data_dir in enumerate(dirs)]
        try:
            wait_until(lambda: all(outbox_depth(d) == 0 for d in dirs), "the outboxes to drain", 600, 0.02)
            drained = datetime.now(UTC)
            backend_cpu = sum(cpu_seconds(serve.process) for serve in serves)
            kiosk_cpu = sum(cpu_seconds(kiosk.process) for kiosk in kiosks)
        finally:
            for kiosk in kiosks:
                kiosk.stop()
            for serve in serves:
                serve.stop()
    counts = "SELECT COUNT(*), COUNT(DISTINCT id), MIN(received_at) FROM tickets"
    ((rows, distinct, first),) = _fleet_db_rows(fleet_db, counts)
    seconds = (drained - datetime.fromisoformat(first)).total_seconds()
    return {
        "stored": rows,
        "distinct": distinct,
        "seconds": round(seconds, 3),
        "tickets_per_s": round(rows / seconds),
        # CPU of the whole process lifetimes (start-up included): who the bottleneck is on a small machine
        "backend_cpu_ms_per_1000": round(backend_cpu / rows * 1e6),
        "kiosk_cpu_ms_per_1000": round(kiosk_cpu / rows * 1e6),
    }


def _throughput(tmp: Path) -> dict[str, Any]:
    templates = [filled_outbox(tmp / "templates", f"bench-kiosk-{n}", TICKETS_PER_KIOSK) for n in range(KIOSKS)]
    results: dict[str, Any] = {"tickets": KIOSKS * TICKETS_PER_KIOSK, "kiosks": KIOSKS}
    for backends in (1, 2):
        runs = [_throughput_run(tmp / f"tp-{backends}-{n}", templates, backends) for n in range(RUNS)]
        assert all(r["stored"] == r["distinct"] == KIOSKS * TICKETS_PER_KIOSK for r in runs), runs
        results[f"backends_{backends}"] = {
            "runs": runs,
            "median_tickets_per_s": statistics.median(r["tickets_per_s"] for r in runs),
        }
    return results


# --- a 25 MB update ----------------------------------------------------------------------------------------------


class UpdateObserver:
    """Every update status and chunk request of one kiosk, through a persistent session (a cut loses none)."""

    def __init__(self, broker: Mosquitto, device_id: str) -> None:
        self.states: list[tuple[float, str]] = []
        self.requests: list[tuple[str, int]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-observer", protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(1, 2)  # its persistent session keeps what comes meanwhile
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self.client.connect(broker.host, broker.port, clean_start=False, properties=properties)
        self.client.loop_start()
        topics = [(wire.device_topic(device_id, kind), 1) for kind in ("update/status", "update/request")]
        self.client.subscribe(topics)
        if not subscribed.wait(10):
            raise TimeoutError("no SUBACK for the observer")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/update/status"):
            self.states.append((time.monotonic(), wire.parse(message.payload, wire.UpdateStatusV1).state))
        else:
            request = wire.parse(message.payload, wire.UpdateRequestV1)
            self.requests.append((request.artifact, request.index))

    def reached(self, state: str) -> float | None:
        return next((at for at, seen in self.states if seen == state), None)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _update_run(folder: Path, models: list[Path], cut: bool) -> dict[str, Any]:
    private_key, public_key = generate_keys(folder / "keys")
    fleet_db = folder / "fleet" / "fleet.db"
    fleet_db.parent.mkdir(parents=True)
    with broker_in(folder) as broker:
        serve = FleetServe(broker, fleet_db, folder / "fleet.log")
        kiosk = KioskSyncProcess(broker, folder / "kiosk", "bench-update", KIOSK_UPDATES__PUBLIC_KEY=str(public_key))
        observer = UpdateObserver(broker, "bench-update")
        try:
            wait_until(lambda: " as bench-update " in broker.log.read_text(), "the kiosk to connect")
            time.sleep(0.3)  # its SUBSCRIBE to the release topic through
            # Made now, not before the backend started: ``fleet serve`` publishes the newest release when it connects.
            release = ReleaseStore(fleet_db.parent / "releases").create(
                [model_source(path) for path in models], load_private_key(private_key), "stable", "0.1.0", timedelta(1)
            )
            chunks = sum(len(artifact.chunks) for artifact in release.manifest.artifacts)
            published = time.monotonic()
            observer.client.publish(wire.release_topic("stable"), release.signed.encode(), qos=1, retain=True)
            if cut:
                wait_until(lambda: len(observer.requests) >= chunks // 2, "half the chunks requested", 60, 0.001)
                broker.stop()
                time.sleep(CUT_S)
                broker.start()
            wait_until(lambda: observer.reached("installed") is not None, "the update to install", 120)
        finally:
            observer.close()
            kiosk.stop()
            serve.stop()
    verifying, installed = observer.reached("verifying"), observer.reached("installed")
    assert verifying is not None and installed is not None
    return {
        "bytes": sum(artifact.size for artifact in release.manifest.artifacts),
        "chunks": chunks,
        "requests": len(observer.requests),
        "re_requested": len(observer.requests) - len(set(observer.requests)),
        "download_s": round(verifying - published, 2),
        "install_s": round(installed - verifying, 2),
        "total_s": round(installed - published, 2),
    }


def _update(tmp: Path) -> dict[str, Any]:
    models = [model_copy(tmp / "models" / name, name, "2.0.0") for name in UPDATE_MODELS]
    return {
        "models": list(UPDATE_MODELS),
        "cut_s": CUT_S,
        "clean": _update_run(tmp / "update-clean", models, cut=False),
        "with_cut": _update_run(tmp / "update-cut", models, cut=True),
    }


# --- kiosk memory with a long queue --------------------------------------------------------------------------------


def _memory(tmp: Path) -> dict[str, Any]:
    data_dir = kiosk_data_dir(tmp / "memory" / "kiosk", filled_outbox(tmp / "templates", "bench-queue", QUEUED))
    unsent = "SELECT COUNT(*) FROM outbox WHERE last_sent_at IS NULL"
    with broker_in(tmp / "memory") as broker:
        # Published to a broker with no backend, the tickets are sent again only after the acknowledgement timeout.
        kiosk = KioskSyncProcess(broker, data_dir, "bench-queue", KIOSK_SYNC__ACK_TIMEOUT_S="3")
        try:
            with sqlite3.connect(data_dir / "kiosk.db", timeout=10) as conn:
                wait_until(lambda: conn.execute(unsent).fetchone()[0] == 0, "every ticket published once", 120, 0.1)
            time.sleep(1.0)
            queued = kiosk.rss_mb() | {"outbox": outbox_depth(data_dir)}
            serve = FleetServe(broker, tmp / "memory" / "fleet.db", tmp / "memory" / "fleet.log")
            wait_until(lambda: outbox_depth(data_dir) == 0, "the outbox to drain", 300, 0.1)
            time.sleep(1.0)
            drained = kiosk.rss_mb() | {"outbox": outbox_depth(data_dir)}
            serve.stop()
        finally:
            kiosk.stop()
    return {"queued": queued, "drained": drained}


# --- a simulated fleet -------------------------------------------------------------------------------------------


def _fleet(tmp: Path) -> dict[str, Any]:
    folder = tmp / "fleet-sim"
    devices = [f"sim-kiosk-{n:03d}" for n in range(FLEET)]
    kiosks = [SimulatedKiosk(device, outbox_ticket(filled_outbox(tmp / "templates", device, 1))) for device in devices]
    with broker_in(folder) as broker:
        serve = FleetServe(broker, folder / "fleet.db", folder / "fleet.log")
        time.sleep(0.3)  # its SUBSCRIBEs through
        try:
            started = run_fleet(kiosks, broker.host, broker.port)
            time.sleep(1.0)  # the last status and telemetry committed
        finally:
            serve.stop()
    ((tickets, devices_seen, telemetry),) = _fleet_db_rows(
        folder / "fleet.db",
        "SELECT (SELECT COUNT(*) FROM tickets), (SELECT COUNT(*) FROM devices WHERE state = 'online'),"
        " (SELECT COUNT(DISTINCT device_id) FROM telemetry)",
    )
    connected = max(kiosk.connected_at or 0.0 for kiosk in kiosks)
    first = min(kiosk.connected_at or 0.0 for kiosk in kiosks)
    acked = max(kiosk.acked_at or 0.0 for kiosk in kiosks)
    return {
        "kiosks": FLEET,
        "connect_s": round(connected - started, 2),
        "all_acked_s": round(acked - started, 2),
        "tickets_per_s": round(FLEET / (acked - first)),
        "acked": sum(kiosk.acked_at is not None for kiosk in kiosks),
        "tickets_stored": tickets,
        "devices_online": devices_seen,
        "telemetry_devices": telemetry,
    }


def run(_data_dir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as name:
        tmp = Path(name)
        return {
            "throughput": _throughput(tmp),
            "update": _update(tmp),
            "memory": _memory(tmp),
            "fleet": _fleet(tmp),
            "targets": TARGETS,
        }


def _rates(side: dict[str, Any]) -> str:
    return ", ".join(str(run["tickets_per_s"]) for run in side["runs"])


def _cpu(side: dict[str, Any], process: str) -> int:
    return round(statistics.median(run[f"{process}_cpu_ms_per_1000"] for run in side["runs"]))


def report_section(r: dict[str, Any]) -> list[str]:
    tp, update, memory, fleet = r["throughput"], r["update"], r["memory"], r["fleet"]
    one, two = tp["backends_1"], tp["backends_2"]
    clean, cut = update["clean"], update["with_cut"]
    target = r["targets"]["tickets_per_s_one_backend"]
    return [
        "## Fleet sync (MQTT, loopback)",
        "",
        f"Real Mosquitto, `fleet serve` and `kiosk sync run` processes. Throughput: {tp['kiosks']} kiosks with"
        f" {tp['tickets']:,} tickets in their outboxes in all; a ticket counts when the backend has committed it,"
        " acknowledged it and its kiosk deleted the outbox row; rate from the first commit to the last row deleted.",
        "",
        "| backends | tickets/s (median) | runs | backend CPU ms per 1,000 | kiosks CPU ms per 1,000 | target |",
        "|---|---|---|---|---|---|",
        f"| 1 | **{one['median_tickets_per_s']}** | {_rates(one)} | {_cpu(one, 'backend')} | {_cpu(one, 'kiosk')} |"
        f" >= {target:.0f} |",
        f"| 2 (shared subscription, one SQLite file) | **{two['median_tickets_per_s']}** | {_rates(two)} |"
        f" {_cpu(two, 'backend')} | {_cpu(two, 'kiosk')} | above 1 backend |",
        "",
        "CPU is per process lifetime (start-up included), medians of the runs. Every process (kiosks, backends,"
        " broker) shares the machine's cores, so a second backend adds little where they are all busy.",
        "",
        f"Update of {len(update['models'])} real models ({', '.join(update['models'])}),"
        f" {clean['bytes'] / 1e6:.1f} MB in {clean['chunks']} chunks, from the release's publication to 'installed'"
        f" (self-test of both models included); target <= {r['targets']['update_s']:.0f} s:",
        "",
        "| run | download s | verify + install + self-test s | total s | chunk requests | re-requested |",
        "|---|---|---|---|---|---|",
        f"| clean | {clean['download_s']} | {clean['install_s']} | **{clean['total_s']}** | {clean['requests']} |"
        f" {clean['re_requested']} |",
        f"| broker stopped {update['cut_s']:.0f} s mid-download | {cut['download_s']} | {cut['install_s']} |"
        f" **{cut['total_s']}** | {cut['requests']} | {cut['re_requested']} |",
        "",
        f"`kiosk sync run` memory with {memory['queued']['outbox']:,} tickets queued (all published, none"
        f" acknowledged): RSS **{memory['queued']['rss']} MB** (peak {memory['queued']['peak']} MB); after a backend"
        f" drained the outbox: RSS {memory['drained']['rss']} MB (peak {memory['drained']['peak']} MB).",
        "",
        f"Simulated fleet: {fleet['kiosks']} kiosk clients on one epoll loop in one process, one broker, one"
        f" backend, each sending its status, telemetry and a ticket: all connected {fleet['connect_s']} s after the"
        f" first connect, {fleet['acked']} of {fleet['kiosks']} tickets acknowledged after {fleet['all_acked_s']} s"
        f" ({fleet['tickets_per_s']} tickets/s from the first connection); the backend stored"
        f" {fleet['tickets_stored']} tickets and shows {fleet['devices_online']} devices online, telemetry from"
        f" {fleet['telemetry_devices']}.",
        "",
    ]
