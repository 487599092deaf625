"""Signed updates end to end: fleet release store -> real Mosquitto -> kiosk updater -> installed, or refused.

Real keys and signatures, real chunk transfer, real files and links; the artifact is a copy of the shipped
"amelia" wake-word model (175 KB) under a new version, sent in small chunks so that a transfer has many. A
model that fails its self-test is the same entry with bytes that are not a model. Faults: a wrong key, a
manifest altered after signing, a wrong whole-artifact hash, corrupted chunks, a replayed older release, an
expired one, one too big or for a newer kiosk or another channel, a kiosk killed with SIGKILL mid-download and
mid-install (while unpacking, and during the self-test), and one that died between the switch and the end of its
self-test.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_app.config import REPO_ROOT, KioskSettings, UpdatesConfig, installed_link, load_settings
from firmware_app.inference.manifest import load_manifest, sha256_file
from firmware_app.inference.probe import probe_model
from firmware_app.packs import load_pack
from firmware_app.sync.install import PENDING, Installer
from firmware_app.sync.service import KioskSync
from fleet.ingest import Ingestor
from fleet.releases import RELEASE_FILE, Release, ReleaseStore, model_source, pack_source
from fleet.signing import generate_keys, load_private_key, sign_release
from fleet.store import FleetStore
from kiosk_link import wire
from tests.mosquitto import MOSQUITTO, Mosquitto
from tests.test_sync_broker import KIOSK, client, fast_sync, subscribe, wait_until

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="the mosquitto broker is not installed")

DEVICE = "kiosk-upd-01"
SHIPPED_MODELS = REPO_ROOT / "models" / "int8"
MODEL = "amelia"


def model_dir(tmp_path: Path, version: str, data: bytes | None = None, name: str = MODEL) -> Path:
    """A models folder holding a shipped model as ``version``: its bytes (and assets), or ``data`` (not a model)."""
    folder = tmp_path / f"{name}-{version}"
    folder.mkdir()
    entry = load_manifest(SHIPPED_MODELS)[name].model_dump()
    for asset in (entry.get("assets") or {}).values():
        shutil.copyfile(SHIPPED_MODELS / asset, folder / asset)
    if data is None:
        shutil.copyfile(SHIPPED_MODELS / entry["file"], folder / entry["file"])
    else:
        (folder / entry["file"]).write_bytes(data)
    entry |= {"version": version, "sha256": sha256_file(folder / entry["file"])}
    (folder / "manifest.json").write_text(json.dumps({"models": [entry]}), encoding="utf-8")
    return folder / entry["file"]


class Statuses:
    """Every update status the kiosk publishes, and every chunk it requests, seen from the broker."""

    def __init__(self, broker: Mosquitto) -> None:
        self.reports: list[wire.UpdateStatusV1] = []
        self.requests: list[wire.UpdateRequestV1] = []
        self._client = client(broker, "observer")
        raw: list[bytes] = []
        subscribe(self._client, wire.device_topic(DEVICE, "update/status"), raw)
        self._client.on_message = self._on_message
        self._client.subscribe(wire.device_topic(DEVICE, "update/request"), qos=1)
        time.sleep(0.1)

    def _on_message(self, c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/status"):
            self.reports.append(wire.parse(message.payload, wire.UpdateStatusV1))
        else:
            self.requests.append(wire.parse(message.payload, wire.UpdateRequestV1))

    def outcome(self, release_id: str | None, timeout: float = 15.0) -> wire.UpdateStatusV1:
        """The final report about ``release_id``."""
        final = ("installed", "rolled_back", "failed", "refused")

        def found() -> list[wire.UpdateStatusV1]:
            return [r for r in self.reports if r.release_id == release_id and r.state in final]

        wait_until(lambda: bool(found()), f"the outcome of {release_id}", timeout)
        return found()[-1]

    def reply_to(self, action: Callable[[], None]) -> wire.UpdateStatusV1:
        """The first report after ``action``."""
        seen = len(self.reports)
        action()
        wait_until(lambda: len(self.reports) > seen, "a report")
        return self.reports[seen]

    def states(self, release_id: str) -> list[str]:
        return [r.state for r in self.reports if r.release_id == release_id]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker")
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Ed25519PrivateKey, Path]:
    private_path, public_path = generate_keys(tmp_path / "keys")
    return load_private_key(private_path), public_path


@pytest.fixture
def store(tmp_path: Path) -> ReleaseStore:
    return ReleaseStore(tmp_path / "releases")


@pytest.fixture
def observer(broker: Mosquitto) -> Iterator[Statuses]:
    statuses = Statuses(broker)
    yield statuses
    statuses.close()


@pytest.fixture
def start_backend(broker: Mosquitto, tmp_path: Path, store: ReleaseStore) -> Iterator[Callable[[], Ingestor]]:
    """``fleet serve``'s ingest in-process: it serves the chunks of the releases in ``store`` (``offer`` offers one,
    as a rollout would)."""
    running: list[tuple[Ingestor, FleetStore]] = []

    def start() -> Ingestor:
        fleet_store = FleetStore(tmp_path / "fleet.db")
        ingestor = Ingestor(fleet_store, broker.host, broker.port, client_id=f"fleet-{len(running)}", releases=store)
        ingestor.start()
        running.append((ingestor, fleet_store))
        return ingestor

    yield start
    for ingestor, fleet_store in running:
        ingestor.stop()
        fleet_store.close()


def kiosk_settings(tmp_path: Path, broker: Mosquitto, public_key: Path, **updates: object) -> KioskSettings:
    config = UpdatesConfig(public_key=public_key, chunk_timeout_s=1.0, **updates)  # type: ignore[arg-type]
    return load_settings(data_dir=tmp_path / "kiosk", device_id=DEVICE, sync=fast_sync(broker), updates=config)


@pytest.fixture
def start_kiosk() -> Iterator[Callable[[KioskSettings], KioskSync]]:
    links: list[KioskSync] = []

    def start(settings: KioskSettings) -> KioskSync:
        link = KioskSync.from_settings(settings)
        link.start()
        links.append(link)
        return link

    yield start
    for link in links:
        link.stop()


def release(
    store: ReleaseStore, key: Ed25519PrivateKey, *models: Path, pack: Path | None = None, **options: object
) -> Release:
    sources = [model_source(path) for path in models] + ([pack_source(pack)] if pack else [])
    return store.create(
        sources,
        key,
        channel=str(options.get("channel", "stable")),
        min_kiosk_version=str(options.get("min_kiosk_version", "0.1.0")),
        valid_for=timedelta(days=1),
        chunk_size=int(options.get("chunk_size", 16 * 1024)),  # type: ignore[call-overload]
    )


def retain(broker: Mosquitto, topic: str, payload: bytes) -> None:
    sender = client(broker, "injector")
    sender.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    sender.disconnect()
    sender.loop_stop()


def publish_retained(broker: Mosquitto, channel: str, payload: bytes) -> None:
    """What a broker replaying (or an attacker injecting) a release on its channel's topic would do."""
    retain(broker, wire.release_topic(channel), payload)


def offer(broker: Mosquitto, found: Release) -> None:
    """What a rollout does for each device it offers ``found`` to (``fleet.rollouts``): the only way a release
    reaches a kiosk from ``fleet serve``."""
    retain(broker, wire.device_topic(DEVICE, "release"), found.signed.encode())


def kiosk_env(broker: Mosquitto, public_key: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``kiosk sync run`` process that takes updates, with short timers."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("KIOSK_")}
    return env | {
        "KIOSK_DEVICE_ID": DEVICE,
        "KIOSK_SYNC__ENABLED": "true",
        "KIOSK_SYNC__BROKER_PORT": str(broker.port),
        "KIOSK_SYNC__RECONNECT_MIN_S": "0.05",
        "KIOSK_SYNC__POLL_S": "0.05",
        "KIOSK_UPDATES__PUBLIC_KEY": str(public_key),
        **extra,
    }


def serving_version(data_dir: Path) -> str:
    """The amelia version a kiosk starting now would load, after loading and running it."""
    settings = load_settings(data_dir=data_dir, device_id=DEVICE)
    probe_model(settings.models_dir, MODEL)
    return load_manifest(settings.models_dir)[MODEL].version


def test_a_signed_release_downloads_installs_and_serves(
    tmp_path: Path,
    broker: Mosquitto,
    keys: tuple[Ed25519PrivateKey, Path],
    store: ReleaseStore,
    observer: Statuses,
    start_backend: Callable[[], Ingestor],
    start_kiosk: Callable[[KioskSettings], KioskSync],
) -> None:
    key, public_key = keys
    good = release(store, key, model_dir(tmp_path, "2.0.0"), pack=REPO_ROOT / "packs" / "bank")
    start_backend()
    start_kiosk(kiosk_settings(tmp_path, broker, public_key))
    offer(broker, good)

    outcome = observer.outcome(good.manifest.release_id)
    assert outcome.state == "installed", outcome
    states = observer.states(good.manifest.release_id)
    assert states[-3:] == ["verifying", "installing", "installed"] and set(states[:-3]) == {"downloading"}
    progress = [r.done for r in observer.reports if r.state == "downloading"]
    assert progress == sorted(progress) and len(progress) > 2  # reported as the chunks arrive
    chunks = sum(len(artifact.chunks) for artifact in good.manifest.artifacts)
    asked = [(request.artifact, request.index) for request in observer.requests]
    # Each chunk asked for once at most (one of zeros, a tar's end padding, is already right in the sparse file).
    assert len(set(asked)) == len(asked) and chunks - 1 <= len(asked) <= chunks

    data_dir = tmp_path / "kiosk"
    settings = load_settings(data_dir=data_dir, device_id=DEVICE)
    assert settings.models_dir == installed_link(data_dir, "models")
    assert serving_version(data_dir) == "2.0.0"
    probe_model(settings.models_dir, "steel_surface")  # the models the release did not touch still work
    assert load_pack(settings.pack_dir).manifest.id == "bank"
    assert not (data_dir / "updates" / PENDING).exists()
    assert not any((data_dir / "updates" / "staging").iterdir())


def test_tampered_replayed_expired_oversized_and_foreign_releases_are_all_refused(
    tmp_path: Path,
    broker: Mosquitto,
    keys: tuple[Ed25519PrivateKey, Path],
    store: ReleaseStore,
    observer: Statuses,
    start_kiosk: Callable[[KioskSettings], KioskSync],
) -> None:
    key, public_key = keys
    template = release(store, key, model_dir(tmp_path, "2.0.0")).manifest
    amelia_size = template.artifacts[0].size

    def signed(sequence: int, signer: Ed25519PrivateKey = key, **changes: object) -> wire.SignedReleaseV1:
        manifest = template.model_copy(update={"release_id": f"r{sequence}", "sequence": sequence, **changes})
        return sign_release(manifest, signer)

    tampered = signed(11).model_dump(by_alias=True)
    tampered["manifest"]["min_kiosk_version"] = "0.0.1"
    now = datetime.now(UTC)
    cases: list[tuple[str | None, bytes, wire.UpdateReason]] = [
        (None, b'{"schema": "fleet.release/1", "manifest": {}}', "malformed"),
        ("r10", signed(10, Ed25519PrivateKey.generate()).encode(), "bad_signature"),
        ("r11", json.dumps(tampered).encode(), "bad_signature"),
        ("r1", signed(1, expires_at=now - timedelta(seconds=1)).encode(), "expired"),
        ("r2", signed(2, min_kiosk_version="99.0").encode(), "kiosk_too_old"),
        ("r3", signed(3, channel="beta").encode(), "wrong_channel"),
        ("r4", signed(4).encode(), "oversize"),
        ("r3", signed(3).encode(), "replay"),
    ]
    start_kiosk(kiosk_settings(tmp_path, broker, public_key, max_artifact_bytes=amelia_size - 1))
    for release_id, payload, reason in cases:
        if release_id in ("r10", "r11"):  # unverified: the kiosk cannot trust even the id, so it reports none
            release_id = None
        report = observer.reply_to(partial(publish_retained, broker, "stable", payload))
        assert (report.release_id, report.state, report.reason) == (release_id, "refused", reason), report
    print(f"refused {len(cases)} of {len(cases)} bad releases")
    assert observer.requests == []  # not one chunk fetched
    assert not installed_link(tmp_path / "kiosk", "models").exists()


def test_corrupted_chunks_are_fetched_again_and_a_wrong_artifact_is_refused(
    tmp_path: Path,
    broker: Mosquitto,
    keys: tuple[Ed25519PrivateKey, Path],
    store: ReleaseStore,
    observer: Statuses,
    start_kiosk: Callable[[KioskSettings], KioskSync],
) -> None:
    """A backend whose answers are corrupted on the way (``corrupt`` decides which), built on the real store."""
    key, public_key = keys
    corrupted: set[int] = set()

    def corrupt_once(index: int) -> bool:
        if index in (1, 4) and index not in corrupted:
            corrupted.add(index)
            return True
        return False

    corrupt: list[Callable[[int], bool]] = [corrupt_once]
    backend = client(broker, "fleet-flaky")

    def answer(c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        device_id, _ = wire.parse_device_topic(message.topic)
        chunk = store.chunk(wire.parse(message.payload, wire.UpdateRequestV1))
        if chunk.data is not None and corrupt[0](chunk.index):
            flipped = bytearray(base64.b64decode(chunk.data))
            flipped[0] ^= 0xFF
            chunk = chunk.model_copy(update={"data": base64.b64encode(flipped).decode()})
        c.publish(wire.device_topic(device_id, "update/chunk"), chunk.encode(), qos=1)

    backend.on_message = answer
    backend.subscribe(wire.device_filter("update/request"), qos=1)
    link = start_kiosk(kiosk_settings(tmp_path, broker, public_key))

    good = release(store, key, model_dir(tmp_path, "2.0.0"))
    publish_retained(broker, "stable", good.signed.encode())
    assert observer.outcome(good.manifest.release_id).state == "installed"
    asked = [request.index for request in observer.requests]
    assert sorted(asked) == sorted([*range(len(good.manifest.artifacts[0].chunks)), 1, 4])  # 1 and 4 twice

    # Junk on the chunk topic is counted by reason and changes nothing.
    junk = {
        b"{": "malformed",
        b'{"schema": "kiosk.update_chunk/2"}': "unsupported_version",
        b'{"schema": "kiosk.update_chunk/1", "release_id": "r", "artifact": "a", "index": 0}': "invalid",
        b"x" * (wire.MAX_PAYLOAD_BYTES + 1): "oversized",
    }
    for payload in junk:
        backend.publish(wire.device_topic(DEVICE, "update/chunk"), payload, qos=1)
    assert link.updater is not None
    wait_until(lambda: link.updater is not None and link.updater.rejected.total() == len(junk), "junk counted")
    assert link.updater.rejected == Counter(junk.values())

    # Signed, but the artifact's sha256 is not that of its chunks: everything arrives, nothing is installed.
    manifest = good.manifest.model_copy(
        update={
            "release_id": "wrong-hash",
            "sequence": 2,
            "artifacts": [good.manifest.artifacts[0].model_copy(update={"sha256": "0" * 64})],
        }
    )
    shutil.copytree(store.root / good.manifest.release_id, store.root / "wrong-hash")
    wrong = sign_release(manifest, key)
    (store.root / "wrong-hash" / RELEASE_FILE).write_bytes(wrong.encode())
    publish_retained(broker, "stable", wrong.encode())
    report = observer.outcome("wrong-hash")
    assert (report.state, report.reason) == ("failed", "hash_mismatch"), report

    # The backend's copy is damaged for good: after a few tries the kiosk gives up and says why.
    corrupt[0] = lambda index: index == 0
    damaged = release(store, key, model_dir(tmp_path, "4.0.0"))
    publish_retained(broker, "stable", damaged.signed.encode())
    report = observer.outcome(damaged.manifest.release_id)
    assert (report.state, report.reason) == ("failed", "hash_mismatch"), report
    assert serving_version(tmp_path / "kiosk") == "2.0.0"
    backend.loop_stop()


def test_a_download_killed_with_sigkill_resumes_from_the_missing_chunks(
    tmp_path: Path,
    broker: Mosquitto,
    keys: tuple[Ed25519PrivateKey, Path],
    store: ReleaseStore,
    observer: Statuses,
    start_backend: Callable[[], Ingestor],
) -> None:
    key, public_key = keys
    good = release(store, key, model_dir(tmp_path, "2.0.0"), chunk_size=512)
    total = len(good.manifest.artifacts[0].chunks)
    start_backend()
    offer(broker, good)  # retained: the kiosk finds it when it connects, and again after the kill
    env = kiosk_env(broker, public_key, KIOSK_UPDATES__WINDOW="1")  # one chunk at a time: the kill lands mid-transfer
    command = [str(KIOSK), "--data-dir", str(tmp_path / "kiosk"), "sync", "run"]

    kiosk = subprocess.Popen(command, env=env)
    wait_until(lambda: len(observer.requests) >= 20, "the download to be under way")
    kiosk.send_signal(signal.SIGKILL)
    kiosk.wait()
    time.sleep(0.2)  # the last answers in flight reach the observer
    before = {request.index for request in observer.requests}
    assert len(before) < total, "the download finished before the kill"
    count_before = len(observer.requests)

    kiosk = subprocess.Popen(command, env=env)
    try:
        assert observer.outcome(good.manifest.release_id, timeout=30).state == "installed"
    finally:
        kiosk.send_signal(signal.SIGTERM)
        kiosk.wait(timeout=10)
    after = [request.index for request in observer.requests[count_before:]]
    print(f"chunks {total}: requested {count_before} before the kill, {len(after)} after it")
    assert min(after) >= max(before) - 1  # at most the chunk in flight at the kill is asked for again
    assert count_before + len(after) <= total + 2
    assert serving_version(tmp_path / "kiosk") == "2.0.0"


def test_a_release_failing_its_self_test_rolls_back_and_the_previous_version_serves_within_5_s(
    tmp_path: Path,
    broker: Mosquitto,
    keys: tuple[Ed25519PrivateKey, Path],
    store: ReleaseStore,
    observer: Statuses,
    start_backend: Callable[[], Ingestor],
    start_kiosk: Callable[[KioskSettings], KioskSync],
) -> None:
    key, public_key = keys
    good = release(store, key, model_dir(tmp_path, "2.0.0"))
    start_backend()
    start_kiosk(kiosk_settings(tmp_path, broker, public_key))
    offer(broker, good)
    assert observer.outcome(good.manifest.release_id).state == "installed"

    broken = release(store, key, model_dir(tmp_path, "3.0.0", data=os.urandom(4096)))  # signed, not a model
    published_at = time.monotonic()  # an upper bound on the time since the switch, which comes later
    offer(broker, broken)
    report = observer.outcome(broken.manifest.release_id)
    assert (report.state, report.reason) == ("rolled_back", "self_test_failed"), report
    assert observer.states(broken.manifest.release_id)[-2:] == ["installing", "rolled_back"]
    assert serving_version(tmp_path / "kiosk") == "2.0.0"
    elapsed = time.monotonic() - published_at
    print(f"previous version serving {elapsed:.2f} s after the broken release was published")
    assert elapsed < 5.0
    versions = tmp_path / "kiosk" / "updates" / "models" / "versions"
    assert sorted(path.name for path in versions.iterdir()) == [good.manifest.release_id]


def test_a_kiosk_that_died_during_the_self_test_rolls_back_at_the_next_start(
    tmp_path: Path,
    broker: Mosquitto,
    keys: tuple[Ed25519PrivateKey, Path],
    store: ReleaseStore,
    observer: Statuses,
    start_kiosk: Callable[[KioskSettings], KioskSync],
) -> None:
    key, public_key = keys
    settings = kiosk_settings(tmp_path, broker, public_key)
    pending = release(store, key, model_dir(tmp_path, "2.0.0"))
    # What a kiosk killed after the switch leaves on disk: the new version live, and the pending marker.
    installer = Installer(settings.data_dir, settings.models_dir, settings.pack_dir)
    tar = store.root / pending.manifest.release_id / f"{MODEL}.tar"
    installer.switch(installer.stage(pending.manifest, {MODEL: tar}))
    assert serving_version(settings.data_dir) == "2.0.0"
    assert (settings.data_dir / "updates" / PENDING).exists()

    start_kiosk(settings)  # the next start
    report = observer.outcome(pending.manifest.release_id)
    assert (report.state, report.reason) == ("rolled_back", "interrupted"), report
    shipped = load_manifest(SHIPPED_MODELS)[MODEL].version
    assert serving_version(settings.data_dir) == shipped
    assert not (settings.data_dir / "updates" / PENDING).exists()

    # The retained release is the one rolled back: it is not installed again at every start.
    publish_retained(broker, "stable", pending.signed.encode())
    time.sleep(0.5)
    assert observer.states(pending.manifest.release_id) == ["rolled_back"] and observer.requests == []


@pytest.mark.parametrize(
    ("moment", "outcome"),
    [
        # Killed while unpacking (nothing switched yet): the next start finds every chunk in staging and installs.
        ("unpacking", ("installed", None)),
        # Killed between the switch and the end of the self-test: the next start rolls back before loading a model.
        ("self_test", ("rolled_back", "interrupted")),
    ],
)
def test_a_kiosk_killed_with_sigkill_during_install_ends_with_one_version_serving(
    moment: str,
    outcome: tuple[str, str | None],
    tmp_path: Path,
    broker: Mosquitto,
    keys: tuple[Ed25519PrivateKey, Path],
    store: ReleaseStore,
    observer: Statuses,
    start_backend: Callable[[], Ingestor],
) -> None:
    """The intent model (23 MB, compiled by its self-test) makes both moments last long enough to land a kill in."""
    key, public_key = keys
    name = "intent-minilm-bank"
    good = release(store, key, model_dir(tmp_path, "2.0.0", name=name), chunk_size=wire.MAX_CHUNK_BYTES)
    release_id = good.manifest.release_id
    start_backend()
    offer(broker, good)
    data_dir = tmp_path / "kiosk"
    updates = data_dir / "updates"
    command = [str(KIOSK), "--data-dir", str(data_dir), "sync", "run"]

    def at_the_moment() -> bool:
        if moment == "self_test":
            return (updates / PENDING).exists()
        return (updates / "models" / "versions" / release_id).exists() and not (updates / PENDING).exists()

    kiosk = subprocess.Popen(command, env=kiosk_env(broker, public_key))
    try:
        wait_until(at_the_moment, f"the install to reach its {moment}", timeout=30)
        kiosk.send_signal(signal.SIGKILL)
        kiosk.wait()
        assert observer.states(release_id)[-1:] == ["verifying"], "the install finished before the kill"
        kiosk = subprocess.Popen(command, env=kiosk_env(broker, public_key))
        report = observer.outcome(release_id, timeout=30)
    finally:
        kiosk.send_signal(signal.SIGTERM)
        kiosk.wait(timeout=10)
    assert (report.state, report.reason) == outcome, report
    expected = "2.0.0" if outcome[0] == "installed" else load_manifest(SHIPPED_MODELS)[name].version
    settings = load_settings(data_dir=data_dir, device_id=DEVICE)
    probe_model(settings.models_dir, name)
    assert load_manifest(settings.models_dir)[name].version == expected
    assert not (updates / PENDING).exists()
