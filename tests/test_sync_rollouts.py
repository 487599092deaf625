"""Rollouts end to end: `fleet rollout` -> the engine in the backend -> real Mosquitto -> real kiosk links.

Ten kiosk links run in this process, each with its own data folder, configuration and updater, against one
broker and an in-process backend (ingest + rollout engine) that the tests stop and start again. The release
is the shipped "amelia" model under a new version (a broken one fails its self-test), as in
``test_sync_updates``. A watcher subscribed to every device's offer topic records which device was offered
what and when, and every update report, straight from the broker.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_app.config import UpdatesConfig, load_settings
from firmware_app.inference.manifest import load_manifest
from firmware_app.sync.service import KioskSync
from fleet.cli import main
from fleet.ingest import Ingestor
from fleet.releases import ReleaseStore
from fleet.rollout_engine import RolloutEngine
from fleet.rollouts import canary_devices, record_update, start_rollout
from fleet.signing import generate_keys, load_private_key
from fleet.store import FleetStore
from kiosk_link import wire
from tests.mosquitto import MOSQUITTO, Mosquitto
from tests.test_sync_broker import client, fast_sync, subscribe, wait_until
from tests.test_sync_updates import MODEL, model_dir, release

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="the mosquitto broker is not installed")

DEVICES = [f"kiosk-r{n:02d}" for n in range(10)]
FINAL = ("installed", "rolled_back", "failed", "refused")


@dataclass
class Watcher:
    """What the broker delivers on ``kiosk/v1/+/release`` and ``kiosk/v1/+/update/status``."""

    offers: dict[str, tuple[str | None, float]] = field(
        default_factory=dict
    )  # device -> (release, when); None: cleared
    offered: dict[str, float] = field(default_factory=dict)  # device -> when it was first offered anything
    outcomes: dict[tuple[str, str | None], tuple[str, float]] = field(default_factory=dict)  # final reports
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        device, kind = wire.parse_device_topic(message.topic)
        now = time.monotonic()
        with self.lock:
            if kind == "release":
                release_id = (
                    wire.parse(message.payload, wire.SignedReleaseV1).manifest["release_id"]
                    if message.payload
                    else None
                )
                self.offers[device] = (release_id, now)
                if release_id is not None:
                    self.offered.setdefault(device, now)
            else:
                report = wire.parse(message.payload, wire.UpdateStatusV1)
                if report.state in FINAL:
                    self.outcomes.setdefault((device, report.release_id), (report.state, now))

    def outcome(self, device: str, release_id: str) -> str | None:
        with self.lock:
            found = self.outcomes.get((device, release_id))
        return found[0] if found else None

    def all_final(self, devices: list[str], release_id: str) -> bool:
        return all(self.outcome(device, release_id) is not None for device in devices)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker")
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
def watcher(broker: Mosquitto) -> Iterator[Watcher]:
    seen = Watcher()
    raw = client(broker, "watcher")
    raw.on_message = seen.on_message
    raw.subscribe([(wire.device_filter("release"), 1), (wire.device_filter("update/status"), 1)])
    yield seen
    raw.disconnect()
    raw.loop_stop()


@pytest.fixture
def key_pair(tmp_path: Path) -> tuple[Ed25519PrivateKey, Path]:
    private_path, public_path = generate_keys(tmp_path / "keys")
    return load_private_key(private_path), public_path


@pytest.fixture
def releases(tmp_path: Path) -> ReleaseStore:
    return ReleaseStore(tmp_path / "releases")  # beside fleet.db: where `fleet rollout start` looks


class Backend:
    """``fleet serve`` in-process: ingest and the rollout engine, stopped and started again at will."""

    def __init__(self, broker: Mosquitto, db: Path, releases: ReleaseStore) -> None:
        self.broker, self.db, self.releases = broker, db, releases
        self.running: tuple[Ingestor, RolloutEngine, FleetStore] | None = None
        self.starts = 0

    def start(self, interval_s: float = 0.2) -> RolloutEngine:
        store = FleetStore(self.db)
        engine = RolloutEngine(
            self.db, self.releases, self.broker.host, self.broker.port, interval_s, f"r{self.starts}"
        )
        host, port = self.broker.host, self.broker.port
        ingestor = Ingestor(
            store, host, port, client_id=f"fleet-{self.starts}", releases=self.releases, rollouts=engine
        )
        engine.start()
        ingestor.start()
        self.running, self.starts = (ingestor, engine, store), self.starts + 1
        assert ingestor.ready.wait(30), "the backend did not connect"
        return engine

    def stop(self) -> None:
        if self.running is not None:
            ingestor, engine, store = self.running
            ingestor.stop()
            engine.stop()
            store.close()
            self.running = None

    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(main, ["--db", str(self.db), *args])
        assert result.exit_code == 0, result.output
        return result.stdout  # without the in-process backend's log lines on stderr

    def refused(self, *args: str) -> str:
        result = CliRunner().invoke(main, ["--db", str(self.db), *args])
        assert result.exit_code == 1, result.output
        return result.stderr  # the refusal, as a user sees it

    def rollout(self, rollout_id: int) -> dict[str, object]:
        (row,) = [json.loads(line) for line in self.cli("rollout", "status", str(rollout_id), "--json").splitlines()]
        return dict(row)

    def channels_known(self, devices: list[str]) -> bool:
        rows = [json.loads(line) for line in self.cli("group", "list", "--json").splitlines()]
        return {row["device_id"] for row in rows if row["channel"] == "stable"} >= set(devices)


@pytest.fixture
def backend(broker: Mosquitto, tmp_path: Path, releases: ReleaseStore) -> Iterator[Backend]:
    running = Backend(broker, tmp_path / "fleet.db", releases)
    yield running
    running.stop()


@pytest.fixture
def start_kiosks(
    tmp_path: Path, broker: Mosquitto, key_pair: tuple[Ed25519PrivateKey, Path]
) -> Iterator[Callable[[list[str]], None]]:
    links: list[KioskSync] = []

    def start(devices: list[str]) -> None:
        for device in devices:
            updates = UpdatesConfig(public_key=key_pair[1], chunk_timeout_s=1.0)
            settings = load_settings(
                data_dir=tmp_path / device, device_id=device, sync=fast_sync(broker), updates=updates
            )
            link = KioskSync.from_settings(settings)
            link.start()
            links.append(link)

    yield start
    for link in links:
        link.stop()


def serving(tmp_path: Path, device: str) -> str:
    """The amelia version the kiosk would load now."""
    return load_manifest(load_settings(data_dir=tmp_path / device, device_id=device).models_dir)[MODEL].version


def test_a_canary_rollout_goes_to_two_devices_first_then_to_all_and_survives_a_backend_restart(
    tmp_path: Path,
    key_pair: tuple[Ed25519PrivateKey, Path],
    releases: ReleaseStore,
    watcher: Watcher,
    backend: Backend,
    start_kiosks: Callable[[list[str]], None],
) -> None:
    backend.start()
    start_kiosks(DEVICES)
    wait_until(lambda: backend.channels_known(DEVICES), "every kiosk's channel")
    good = release(releases, key_pair[0], model_dir(tmp_path, "2.0.0"), chunk_size=64 * 1024).manifest.release_id
    canaries = canary_devices(good, DEVICES, 20)

    started = backend.cli(
        "rollout", "start", good, "--channel", "stable", "--canary", "20%", "--max-failure-rate", "20%"
    )
    assert started.startswith(f"rollout 1  {good} -> stable  running (canary phase)"), started
    wait_until(lambda: len(watcher.offered) == 2, "the canary offers")
    backend.stop()  # down in the middle of the canaries' downloads (it serves the chunks)
    time.sleep(0.5)
    assert set(watcher.offered) == canaries
    status = backend.rollout(1)
    assert (status["state"], status["phase"]) == ("running", "canary")
    assert isinstance(status["counts"], dict) and status["counts"]["pending"] == 8

    backend.start()  # a new process: the rollout goes on from the database, the downloads from their chunks
    wait_until(lambda: watcher.all_final(DEVICES, good), "every device's outcome", timeout=30)
    assert {device: watcher.outcome(device, good) for device in DEVICES} == dict.fromkeys(DEVICES, "installed")
    last_canary = max(watcher.outcomes[device, good][1] for device in canaries)
    assert all(watcher.offered[device] > last_canary for device in DEVICES if device not in canaries)
    wait_until(lambda: backend.rollout(1)["state"] == "finished", "the rollout to finish")
    assert all(serving(tmp_path, device) == "2.0.0" for device in DEVICES)

    status = backend.rollout(1)
    assert status["phase"] == "all" and status["counts"] == {"installed": 10} and status["reason"] is None
    devices = status["devices"]
    assert isinstance(devices, list) and {d["device_id"] for d in devices if d["canary"]} == canaries
    assert {(d["state"], d["progress"]) for d in devices} == {("installed", None)}  # progress: while downloading
    text = backend.cli("rollout", "status", "1").splitlines()
    assert text[0].startswith(f"rollout 1  {good} -> stable  finished (all phase)  canary 20%  halts above 20%")
    assert text[0].endswith("10 installed")
    assert [line.split()[:3] for line in text[1:3]] == [[device, "canary", "installed"] for device in sorted(canaries)]
    assert len(text) == 11 and all(line.split()[1] == "installed" for line in text[3:])
    print(f"canaries {sorted(canaries)} installed first; the other 8 offered after them")

    # Outcomes are retained: a backend that was down (here, a brand-new one) still learns every one.
    backend.stop()
    fresh = Backend(backend.broker, tmp_path / "fresh" / "fleet.db", releases)
    fresh.start()
    try:
        query = "SELECT device_id FROM update_status WHERE release_id = ? AND state = 'installed'"
        learnt = FleetStore(fresh.db)
        wait_until(lambda: len(learnt.db.execute(query, [good]).fetchall()) == 10, "the retained outcomes")
        learnt.close()
    finally:
        fresh.stop()


def test_a_release_failing_its_self_test_on_the_canaries_halts_the_rollout_and_the_rest_never_get_it(
    tmp_path: Path,
    broker: Mosquitto,
    key_pair: tuple[Ed25519PrivateKey, Path],
    releases: ReleaseStore,
    watcher: Watcher,
    backend: Backend,
    start_kiosks: Callable[[list[str]], None],
) -> None:
    backend.start()
    start_kiosks(DEVICES)
    wait_until(lambda: backend.channels_known(DEVICES), "every kiosk's channel")
    broken = model_dir(tmp_path, "3.0.0", data=b"\0not a model" * 300)
    bad = release(releases, key_pair[0], broken, chunk_size=64 * 1024).manifest.release_id
    canaries = canary_devices(bad, DEVICES, 20)

    backend.cli("rollout", "start", bad, "--canary", "20%", "--max-failure-rate", "20%")
    wait_until(lambda: backend.rollout(1)["state"] == "halted", "the rollout to halt")
    wait_until(lambda: watcher.all_final(sorted(canaries), bad), "both canaries' outcomes")
    time.sleep(1.0)  # several engine steps: nothing more is offered
    assert set(watcher.offered) == canaries
    assert {watcher.outcome(device, bad) for device in canaries} == {"rolled_back"}
    assert all(watcher.outcome(device, bad) is None for device in DEVICES if device not in canaries)
    assert all(watcher.offers[device][0] is None for device in canaries)  # the offers were withdrawn
    assert all(serving(tmp_path, device) != "3.0.0" for device in DEVICES)

    status = backend.rollout(1)
    reason = str(status["reason"])
    assert "rolled_back (self_test_failed)" in reason and "above 20%" in reason, reason
    assert status["counts"] == {"rolled_back": 2, "pending": 8}
    text = backend.cli("rollout", "status", "1").splitlines()
    assert "halted (canary phase)" in text[0] and text[1] == f"  reason: {reason}"
    assert backend.refused("rollout", "resume", "1").endswith("rollout 1 is halted; only a paused one can resume\n")

    # A later connection of a canary finds no offer retained; the channel topic carries no release either.
    late: list[bytes] = []
    raw = client(broker, "late")
    raw.on_message = lambda c, u, message: late.append(bytes(message.payload))
    raw.subscribe([(wire.device_filter("release"), 1), (wire.release_topic("stable"), 1)])
    time.sleep(0.3)
    raw.disconnect()
    raw.loop_stop()
    assert late == []


def test_a_new_kiosk_installs_a_channels_release_only_once_a_rollout_offers_it(
    tmp_path: Path,
    broker: Mosquitto,
    key_pair: tuple[Ed25519PrivateKey, Path],
    releases: ReleaseStore,
    watcher: Watcher,
    backend: Backend,
    start_kiosks: Callable[[list[str]], None],
) -> None:
    """A release stored, even one an older backend left retained on the channel's topic, reaches no kiosk by
    itself: `fleet serve` clears the channel's topic, and `fleet rollout start` is what offers it."""
    newcomers = DEVICES[:2]
    good = release(releases, key_pair[0], model_dir(tmp_path, "2.0.0"), chunk_size=64 * 1024).manifest.release_id
    channel: list[bytes] = []
    older_backend = client(broker, "older-backend")
    subscribe(older_backend, wire.release_topic("stable"), channel)
    older_backend.publish(wire.release_topic("stable"), releases.signed_bytes(good), qos=1, retain=True)
    backend.start()
    wait_until(lambda: channel[-1:] == [b""], "the backend to clear the channel's topic")
    older_backend.disconnect()
    older_backend.loop_stop()

    start_kiosks(newcomers)
    wait_until(lambda: backend.channels_known(newcomers), "the new kiosks' channel")
    time.sleep(0.5)  # a retained release would have reached them on subscribing, well before this
    assert not any((tmp_path / device / "updates" / "state.json").exists() for device in newcomers)  # none seen
    assert watcher.offered == {} and all(serving(tmp_path, device) != "2.0.0" for device in newcomers)

    backend.cli("rollout", "start", good, "--canary", "0%")
    wait_until(lambda: watcher.all_final(newcomers, good), "both kiosks' outcomes", timeout=30)
    assert {watcher.outcome(device, good) for device in newcomers} == {"installed"}
    assert all(serving(tmp_path, device) == "2.0.0" for device in newcomers)


def test_pause_resume_and_abort_with_a_group_and_an_offline_canary(
    tmp_path: Path,
    key_pair: tuple[Ed25519PrivateKey, Path],
    releases: ReleaseStore,
    watcher: Watcher,
    backend: Backend,
    start_kiosks: Callable[[list[str]], None],
) -> None:
    lobby, outsider = DEVICES[:4], DEVICES[4]
    engine = backend.start(interval_s=3600)  # steps only when woken: no step lands between two commands
    good = release(releases, key_pair[0], model_dir(tmp_path, "2.0.0"), chunk_size=64 * 1024).manifest.release_id
    canaries = canary_devices(good, lobby, 50)
    offline = min(canaries)  # known to the backend, switched off for now
    online_canary = max(canaries)
    start_kiosks([device for device in [*lobby, outsider] if device != offline])
    known = FleetStore(backend.db)  # as if it had reported its channel before it went offline
    known.set_status(offline, wire.StatusV1(state="offline", channel="stable"))
    known.close()
    wait_until(lambda: backend.channels_known([*lobby, outsider]), "every kiosk's channel")
    backend.cli("group", "add", "lobby", *lobby)
    assert f"{outsider:<20} channel stable       groups -" in backend.cli("group", "list")

    started = json.loads(backend.cli("rollout", "start", good, "--group", "lobby", "--canary", "50%", "--json"))
    assert started["group_name"] == "lobby" and started["counts"] == {"pending": 4}
    assert backend.cli("rollout", "pause", "1") == "rollout 1 paused: nothing new is offered; offers made stand\n"
    engine.wake()
    time.sleep(0.5)
    assert watcher.offered == {}
    backend.cli("rollout", "resume", "1")
    engine.wake()
    wait_until(lambda: watcher.outcome(online_canary, good) == "installed", "the online canary to install")
    assert set(watcher.offered) == canaries

    def status_lines() -> dict[str, list[str]]:
        return {line.split()[0]: line.split()[1:] for line in backend.cli("rollout", "status", "1").splitlines()[1:]}

    # The backend stores the kiosk's report a moment after the kiosk sends it (its own writer thread).
    wait_until(lambda: status_lines()[online_canary][:2] == ["canary", "installed"], "the backend to record it")
    lines = status_lines()
    assert lines[online_canary][:2] == ["canary", "installed"] and lines[offline][:2] == ["canary", "offered"]
    assert [lines[device] for device in lobby if device not in canaries] == [["pending", "-"]] * 2
    assert outsider not in lines

    assert "withdrawn; devices that installed the release keep it" in backend.cli("rollout", "abort", "1")
    engine.wake()
    wait_until(lambda: watcher.offers[offline][0] is None, "the offline canary's offer to be withdrawn")
    start_kiosks([offline])  # it comes back: nothing is offered any more
    time.sleep(1.0)
    assert watcher.outcome(offline, good) is None and serving(tmp_path, offline) != "2.0.0"
    assert serving(tmp_path, online_canary) == "2.0.0"  # installed before the abort: kept
    assert set(watcher.offered) == canaries  # the others and the outsider never
    status = backend.rollout(1)
    assert (status["state"], status["reason"]) == ("aborted", "aborted by the fleet manager")
    assert backend.refused("rollout", "pause", "1").endswith("only a running one can pause\n")


def test_update_reports_keep_their_outcome_and_rollout_commands_explain_refusals(
    tmp_path: Path, key_pair: tuple[Ed25519PrivateKey, Path], releases: ReleaseStore, backend: Backend
) -> None:
    """No broker: what the store keeps of the reports, how status shows progress, what the commands refuse."""
    store = FleetStore(backend.db)
    for device in DEVICES[:3]:
        store.set_status(device, wire.StatusV1(state="online", channel="stable"))
    store.set_status("kiosk-beta", wire.StatusV1(state="online", channel="beta"))
    good = release(releases, key_pair[0], model_dir(tmp_path, "2.0.0"), chunk_size=16 * 1024).manifest
    assert "no release 'nope'" in backend.refused("rollout", "start", "nope")
    assert "signed for channel 'stable', not 'beta'" in backend.refused(
        "rollout", "start", good.release_id, "--channel", "beta"
    )
    assert "no device in group 'lobby' has reported channel 'stable'" in backend.refused(
        "rollout", "start", good.release_id, "--group", "lobby"
    )
    assert (
        "not a percentage"
        in CliRunner().invoke(main, ["--db", str(backend.db), "rollout", "start", "x", "--canary", "ten"]).output
    )
    rollout_id = start_rollout(store, good, None, 0, 50)  # no canary: straight to every device
    assert rollout_id == 1
    assert "rollout 1 is still active on 'stable'" in backend.refused("rollout", "start", good.release_id)

    def report(device: str, state: wire.UpdateState, done: int = 0, reason: wire.UpdateReason | None = None) -> None:
        record_update(
            store,
            device,
            wire.UpdateStatusV1(release_id=good.release_id, state=state, done=done, total=4, reason=reason),
        )

    report(DEVICES[0], "downloading", 1)
    report(DEVICES[1], "downloading", 3)
    report(DEVICES[1], "installed", 4)
    report(DEVICES[1], "downloading", 2)  # late progress does not undo an outcome
    report(DEVICES[2], "refused", reason="kiosk_too_old")
    lines = {line.split()[0]: line for line in backend.cli("rollout", "status", "1").splitlines()[1:]}
    assert "downloading 25%" in lines[DEVICES[0]]
    assert " installed " in lines[DEVICES[1]]
    assert lines[DEVICES[2]].split()[1] == "refused" and lines[DEVICES[2]].endswith("kiosk_too_old")
    assert "kiosk-beta" not in lines
    store.close()
