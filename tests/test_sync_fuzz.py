"""Property-based fuzzing of every topic either end subscribes to, through the function its paho callback calls.

``tests/test_sync_wire.py`` and ``tests/test_sync_telemetry.py`` fuzz ``wire.parse`` alone; here the payloads go
through the receivers themselves: the kiosk link's ``_on_message`` (acknowledgements, remote configuration,
releases, update chunks) and the backend's message handler (tickets, status, telemetry, analytics, update
requests and reports). Arbitrary bytes, arbitrary JSON, payloads built from the schemas' own field names under
right and wrong schema versions, oversized ones and JSON nested thousands deep: nothing may escape the handler,
the backend's store may never fail on a payload the wire accepted, every refusal is counted under the reason
``wire.parse`` gives, and a good message afterwards still does its job. One test per side repeats the worst
payloads through a real Mosquitto, so that the paho callbacks themselves are exercised too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from firmware_app.config import REPO_ROOT, KioskSettings, SyncConfig, UpdatesConfig, load_settings
from firmware_app.store import open_database
from firmware_app.sync.service import KioskSync
from firmware_app.tickets.store import TicketStore
from fleet.ingest import Ingestor
from fleet.releases import ReleaseStore, pack_source
from fleet.signing import generate_keys, load_private_key
from fleet.store import FleetStore
from kiosk_link import wire
from kiosk_link.trust import UpdateRefused, load_public_key, verified_manifest
from tests.mosquitto import MOSQUITTO, Mosquitto, free_port
from tests.test_sync_broker import client, ready, wait_until
from tests.test_sync_wire import json_values, ticket_request

DEVICE = "kiosk-fuzz-01"
MODELS: list[type[wire.WireModel]] = [
    wire.TicketV1,
    wire.AckV1,
    wire.StatusV1,
    wire.TelemetryV1,
    wire.TelemetryV2,
    wire.RemoteConfigV1,
    wire.AnalyticsV1,
    wire.SignedReleaseV1,
    wire.UpdateRequestV1,
    wire.UpdateChunkV1,
    wire.UpdateStatusV1,
]
# Payloads no random search would reach: past the size limit, nested past the recursion limit, non-finite numbers,
# integers past SQLite's 64 bits.
EXTREMES = [
    b" " * (wire.MAX_PAYLOAD_BYTES + 1),
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"",
    b"null",
    b'{"schema": "kiosk.telemetry/1", "sent_at": "2026-11-21T10:00:00Z", "uptime_s": NaN, "queue_depth": 0}',
    b'{"schema": "kiosk.telemetry/1", "sent_at": "2026-11-21T10:00:00Z", "uptime_s": 1, "queue_depth": 1e999}',
    b'{"schema": "kiosk.telemetry/1", "sent_at": "2026-11-21T10:00:00Z", "uptime_s": 1, "queue_depth": %d}' % 2**70,
    b'{"schema": "kiosk.analytics/1", "day": "2026-11-21", "conversations": %d, "resolved": 0, "handoffs": 0}' % 2**64,
    b'{"schema": "fleet.release/1", "manifest": {"sequence": 99}, "signature": "%s=="}' % (b"A" * 86),
    b'{"schema": "fleet.release/1", "manifest": {"x": NaN}, "signature": "%s=="}' % (b"A" * 86),
]
_FIELDS = sorted({name for model in MODELS for name in model.model_fields if name != "schema_id"})
_SCHEMAS = [model.SCHEMA for model in MODELS] + [m.SCHEMA.replace("/1", "/2") for m in MODELS] + ["x/1", 1, None]
payloads = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.builds(
        lambda schema, body: json.dumps({**body, "schema": schema}).encode(),
        st.sampled_from(_SCHEMAS),
        st.dictionaries(st.sampled_from(_FIELDS), json_values, max_size=6),
    ),
    st.sampled_from(EXTREMES),
)


def payloads_for(model: type[wire.WireModel]) -> st.SearchStrategy[bytes]:
    """Anything, and as often objects of ``model``'s own fields under its schema or the next version of it."""
    fields = sorted(name for name in model.model_fields if name != "schema_id")
    own = st.builds(
        lambda schema, body: json.dumps({**body, "schema": schema}).encode(),
        st.sampled_from([model.SCHEMA, model.SCHEMA.replace("/1", "/2")]),
        st.dictionaries(st.sampled_from(fields), json_values, max_size=len(fields)),
    )
    return payloads | own


FUZZ = hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def refusal(payload: bytes, model: type[wire.WireModel]) -> str | None:
    """The reason ``wire.parse`` refuses ``payload`` with, or None when it is a valid ``model``."""
    try:
        wire.parse(payload, model)
    except wire.WireError as refused:
        return refused.reason
    return None


def message(topic: str, payload: bytes) -> mqtt.MQTTMessage:
    received = mqtt.MQTTMessage(topic=topic.encode())
    received.payload = payload
    return received


class Published:
    """Stands in for a client's ``publish`` (the handlers run without a broker here): what they sent, by topic."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def __call__(
        self, topic: str, payload: Any = None, qos: int = 0, retain: bool = False, properties: Any = None
    ) -> mqtt.MQTTMessageInfo:
        self.messages.append((topic, bytes(payload)))
        return mqtt.MQTTMessageInfo(0)

    def on(self, topic: str) -> list[bytes]:
        return [payload for to, payload in self.messages if to == topic]


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Ed25519PrivateKey, Path]:
    private_path, public_path = generate_keys(tmp_path / "keys")
    return load_private_key(private_path), public_path


@pytest.fixture
def releases(tmp_path: Path, keys: tuple[Ed25519PrivateKey, Path]) -> ReleaseStore:
    """One signed release: the shipped bank pack in small chunks (a pack installs without compiling a model)."""
    store = ReleaseStore(tmp_path / "releases")
    store.create([pack_source(REPO_ROOT / "packs" / "bank")], keys[0], "stable", "0.1.0", timedelta(days=1), None, 4096)
    return store


@pytest.fixture
def tickets(tmp_path: Path) -> Iterator[TicketStore]:
    db = open_database(tmp_path / "kiosk" / "kiosk.db")
    yield TicketStore(db, DEVICE)
    db.close()


# The backend: the handler its writer thread runs on each message paho hands over.

BACKEND_MODELS: dict[wire.DeviceTopic, type[wire.WireModel]] = {
    "tickets": wire.TicketV1,
    "status": wire.StatusV1,
    "telemetry": wire.TelemetryV2,  # which reads version 1 too
    "analytics": wire.AnalyticsV1,
    "update/request": wire.UpdateRequestV1,
    "update/status": wire.UpdateStatusV1,
}


@pytest.fixture
def backend(tmp_path: Path, releases: ReleaseStore) -> Iterator[tuple[Ingestor, Published]]:
    store = FleetStore(tmp_path / "fleet" / "fleet.db")
    ingestor = Ingestor(store, "127.0.0.1", free_port(), releases=releases)
    published = Published()
    ingestor._client.publish = published  # type: ignore[method-assign]
    yield ingestor, published
    store.close()


def feed(ingestor: Ingestor, topic: str, payload: bytes) -> None:
    """What the writer thread does with one message (``Ingestor._on_message`` only queues it for the writer)."""
    batch: list[tuple[wire.TicketV1, bytes]] = []
    ingestor._handle(message(topic, payload), batch)
    ingestor._commit(batch)


def good_backend_message(kind: wire.DeviceTopic, tickets: TicketStore, releases: ReleaseStore) -> bytes:
    now = datetime.now(UTC)
    if kind == "tickets":
        ticket_id = tickets.create(ticket_request()).ticket_id
        return str(
            tickets.db.execute("SELECT payload FROM outbox WHERE ticket_id = ?", [ticket_id]).fetchone()[0]
        ).encode()
    (release,) = releases.releases()
    good: dict[str, wire.WireModel] = {
        "status": wire.StatusV1(state="online"),
        "telemetry": wire.TelemetryV1(sent_at=now, uptime_s=1.0, queue_depth=0),
        "analytics": wire.AnalyticsV1(day=now.date(), conversations=2, resolved=1, handoffs=1),
        "update/request": wire.UpdateRequestV1(
            release_id=release.manifest.release_id, artifact=release.manifest.artifacts[0].name, index=0
        ),
        "update/status": wire.UpdateStatusV1(release_id=release.manifest.release_id, state="installed"),
    }
    return good[kind].encode()


@pytest.mark.parametrize("kind", BACKEND_MODELS)
def test_any_payload_on_a_backend_topic_is_stored_or_refused_with_its_reason(
    kind: wire.DeviceTopic,
    backend: tuple[Ingestor, Published],
    tickets: TicketStore,
    releases: ReleaseStore,
) -> None:
    ingestor, published = backend
    topic = wire.device_topic(DEVICE, kind)

    @FUZZ
    @given(payload=payloads_for(BACKEND_MODELS[kind]))
    def fuzz(payload: bytes) -> None:
        rejected, failed = ingestor.stats.rejected.copy(), ingestor.stats.failed
        feed(ingestor, topic, payload)
        assert ingestor.stats.failed == failed, "the store failed on a payload the wire accepted"
        reason = refusal(payload, BACKEND_MODELS[kind])
        if reason is not None:
            assert ingestor.stats.rejected - rejected == Counter({reason: 1})

    fuzz()
    print(f"{kind}: refused {dict(ingestor.stats.rejected)}")
    before = ingestor.stats.rejected.copy()
    feed(ingestor, topic, good_backend_message(kind, tickets, releases))
    assert ingestor.stats.rejected == before and ingestor.stats.failed == 0
    if kind == "tickets":
        assert ingestor.stats.stored >= 1 and published.on(wire.device_topic(DEVICE, "acks"))
    elif kind == "update/request":
        (answer,) = published.on(wire.device_topic(DEVICE, "update/chunk"))
        assert wire.parse(answer, wire.UpdateChunkV1).data is not None
    elif kind != "update/status":
        assert getattr(ingestor.stats, {"status": "statuses"}.get(kind, kind)) >= 1


# The kiosk: its link's paho callback, on a link that never connects.


@pytest.fixture
def kiosk(tmp_path: Path, keys: tuple[Ed25519PrivateKey, Path]) -> Iterator[tuple[KioskSync, Published]]:
    settings = load_settings(
        data_dir=tmp_path / "kiosk",
        device_id=DEVICE,
        sync=SyncConfig(enabled=True, broker_port=free_port()),
        updates=UpdatesConfig(public_key=keys[1]),
    )
    link = KioskSync.from_settings(settings)
    published = Published()
    link._client.publish = published  # type: ignore[method-assign]
    yield link, published
    link.outbox.db.close()


def deliver(link: KioskSync, topic: str, payload: bytes) -> None:
    link._on_message(link._client, None, message(topic, payload))


def release_refusal(payload: bytes, public_key: Path) -> str:
    try:
        verified_manifest(payload, load_public_key(public_key))
    except UpdateRefused as refused:
        return refused.reason
    raise AssertionError("a fuzzed release verified")


def install_through_the_handler(link: KioskSync, releases: ReleaseStore) -> wire.UpdateStatusV1:
    """Deliver the store's release, answer every chunk request from the store: the final update report."""
    assert link.updater is not None
    release_topic, chunk_topic = link.updater.topics[0], link.updater.topics[-1]
    (release,) = releases.releases()
    deliver(link, release_topic, release.signed.encode())
    for _ in range(1000):
        for topic, payload in link.updater.poll():
            if topic.endswith("/update/status"):
                report = wire.parse(payload, wire.UpdateStatusV1)
                if report.state in ("installed", "rolled_back", "failed", "refused"):
                    return report
            else:
                deliver(link, chunk_topic, releases.chunk(wire.parse(payload, wire.UpdateRequestV1)).encode())
    raise AssertionError("the release never finished")


@pytest.mark.parametrize("kind", ["acks", "config", "release", "update/chunk"])
def test_any_payload_on_a_kiosk_topic_is_applied_or_refused_with_its_reason(
    kind: str,
    kiosk: tuple[KioskSync, Published],
    keys: tuple[Ed25519PrivateKey, Path],
    releases: ReleaseStore,
    tickets: TicketStore,
) -> None:
    link, published = kiosk
    updater, remote_config = link.updater, link.remote_config
    assert updater is not None and remote_config is not None
    topics = {"acks": wire.device_topic(DEVICE, "acks"), "config": wire.device_topic(DEVICE, "config")}
    topics |= {"release": updater.topics[0], "update/chunk": updater.topics[-1]}
    models: dict[str, type[wire.WireModel]] = {"acks": wire.AckV1, "config": wire.RemoteConfigV1}
    models |= {"update/chunk": wire.UpdateChunkV1, "release": wire.SignedReleaseV1}
    releases_refused: Counter[str] = Counter()

    @FUZZ
    @given(payload=payloads_for(models[kind]))
    def fuzz(payload: bytes) -> None:
        link_rejected, chunks_rejected = link.rejected.copy(), updater.rejected.copy()
        deliver(link, topics[kind], payload)
        if kind == "release":  # refusals are reported to the fleet, with the reason
            reports = [wire.parse(p, wire.UpdateStatusV1) for _, p in updater.poll()]
            if not payload:  # a retained release cleared: nothing to refuse
                assert reports == []
                return
            assert [(r.state, r.reason) for r in reports] == [("refused", release_refusal(payload, keys[1]))]
            releases_refused[str(reports[0].reason)] += 1
            return
        reason = refusal(payload, models[kind])
        counted = updater.rejected - chunks_rejected if kind == "update/chunk" else link.rejected - link_rejected
        assert counted == (Counter({reason: 1}) if reason else Counter())
        if kind == "config" and reason is not None:
            assert remote_config.report is not None and remote_config.report.state == "refused"

    fuzz()
    print(f"{kind}: refused {dict(link.rejected + updater.rejected + releases_refused)}")
    if kind == "acks":
        ticket_id = tickets.create(ticket_request()).ticket_id
        deliver(link, topics[kind], wire.AckV1(ticket_ids=[ticket_id]).encode())
        assert tickets.outbox_depth() == 0
    elif kind == "config":
        deliver(link, topics[kind], wire.RemoteConfigV1(revision=10**6, settings={}).encode())
        assert remote_config.report == wire.ConfigReportV1(revision=10**6, state="applied")
        assert published.on(wire.device_topic(DEVICE, "status"))  # the outcome, in the retained status
    else:
        assert install_through_the_handler(link, releases).state == "installed"


# Through a real broker: the paho callbacks themselves, and their loops, survive the worst payloads.

WORST = [*EXTREMES[:3], b"\xff\xfe\x00", b'{"schema": "x/1"}']


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if MOSQUITTO is None:
        pytest.skip("the mosquitto broker is not installed")
    mosquitto = Mosquitto(tmp_path / "broker")
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


def publish_all(broker: Mosquitto, topics: list[str], payloads: list[bytes]) -> None:
    sender = client(broker, "fuzzer")
    for topic in topics:
        for payload in payloads:
            sender.publish(topic, payload, qos=1).wait_for_publish(5)
    sender.disconnect()
    sender.loop_stop()


def test_the_worst_payloads_through_a_real_broker_leave_the_backend_serving(
    broker: Mosquitto, tmp_path: Path, tickets: TicketStore, releases: ReleaseStore
) -> None:
    store = FleetStore(tmp_path / "fleet" / "fleet.db")
    ingestor = Ingestor(store, broker.host, broker.port, client_id="fleet-fuzzed", releases=releases)
    ingestor.start()
    try:
        ready(ingestor, broker)
        topics = [wire.device_topic(DEVICE, kind) for kind in BACKEND_MODELS]
        publish_all(broker, topics, WORST)
        expected = len(topics) * len(WORST)
        wait_until(lambda: ingestor.stats.rejected.total() == expected, f"{expected} refusals")
        publish_all(broker, topics[:1], [good_backend_message("tickets", tickets, releases)])
        wait_until(lambda: ingestor.stats.stored == 1, "a good ticket after the worst payloads")
        assert ingestor.stats.failed == 0
    finally:
        ingestor.stop()
        store.close()


def test_the_worst_payloads_through_a_real_broker_leave_the_kiosk_link_serving(
    broker: Mosquitto, tmp_path: Path, keys: tuple[Ed25519PrivateKey, Path], tickets: TicketStore
) -> None:
    settings: KioskSettings = load_settings(
        data_dir=tmp_path / "kiosk",
        device_id=DEVICE,
        sync=SyncConfig(enabled=True, broker_port=broker.port, reconnect_min_s=0.05, poll_s=0.05),
        updates=UpdatesConfig(public_key=keys[1]),
    )
    link = KioskSync.from_settings(settings)
    link.start()
    try:
        updater = link.updater
        assert updater is not None

        def counted() -> int:
            return link.rejected.total() + updater.rejected.total()

        acks = wire.device_topic(DEVICE, "acks")

        def probed() -> bool:
            publish_all(broker, [acks], [b"probe"])
            return counted() > 0

        wait_until(probed, "the link's subscriptions")
        topics = [acks, wire.device_topic(DEVICE, "config"), updater.topics[-1]]
        before = counted()
        publish_all(broker, topics, WORST)
        expected = before + len(topics) * len(WORST)
        wait_until(lambda: counted() == expected, f"{expected} refusals")
        ticket_id = tickets.create(ticket_request()).ticket_id
        wait_until(lambda: tickets.outbox_depth() == 1 and link.connected, "the link still up")
        publish_all(broker, topics[:1], [wire.AckV1(ticket_ids=[ticket_id]).encode()])
        wait_until(lambda: tickets.outbox_depth() == 0, "a good acknowledgement after the worst payloads")
    finally:
        link.stop()
