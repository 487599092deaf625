"""Poison messages (issue 18): one hostile payload on a subscribed topic must never stop ticket delivery.

A JSON integer longer than Python's 4,300-digit conversion limit used to raise a plain ``ValueError`` out of
``wire.parse``, out of the kiosk's paho callback and out of its network loop, before paho acknowledged the
message: the broker redelivered it after every reconnect and no new ticket was ever acknowledged again. Here a
real Mosquitto (one for the module), a real backend and real kiosk links check that such a message is refused
with a reason, acknowledged (dropped, never redelivered) and counted, and that tickets keep flowing; a
property-based test then drives every topic either end subscribes to with hostile payloads.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from firmware_app.config import KioskSettings, SyncConfig, UpdatesConfig, load_settings
from firmware_app.store import open_database
from firmware_app.sync.service import KioskSync
from firmware_app.tickets.store import TicketStore
from fleet.ingest import Ingestor
from fleet.releases import ReleaseStore
from fleet.signing import generate_keys
from fleet.store import FleetStore
from kiosk_link import wire
from kiosk_link.logs import RateLimit
from kiosk_link.routing import HANDLER_ERROR, guarded
from tests.mosquitto import MOSQUITTO, Mosquitto, free_port
from tests.test_sync_broker import client, fast_sync, ready, subscribe, wait_until
from tests.test_sync_fuzz import Published, message
from tests.test_sync_wire import json_values, ticket_request

# One digit past ``sys.int_info.str_digits_check_threshold``'s default limit (4,300): ``int()`` refuses it.
HUGE_INT = b"9" * 4301


def poison(model: type[wire.WireModel], field: str) -> bytes:
    """A payload of ``model``'s schema whose ``field`` is an integer too long for Python to convert."""
    return b'{"schema": "%s", "%s": %s}' % (model.SCHEMA.encode(), field.encode(), HUGE_INT)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    if MOSQUITTO is None:
        pytest.skip("the mosquitto broker is not installed (scripts/setup.sh test installs it)")
    mosquitto = Mosquitto(tmp_path_factory.mktemp("broker"))
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture(scope="module")
def publisher(broker: Mosquitto) -> Iterator[mqtt.Client]:
    sender = client(broker, "poisoner")
    yield sender
    sender.disconnect()
    sender.loop_stop()


@pytest.fixture(scope="module")
def release_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_keys(tmp_path_factory.mktemp("keys"))[1]


@pytest.fixture(scope="module")
def backend(broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingestor]:
    """A backend on every topic it can subscribe to (a release store adds the update topics)."""
    folder = tmp_path_factory.mktemp("fleet")
    store = FleetStore(folder / "fleet.db")
    ingestor = Ingestor(store, broker.host, broker.port, client_id="fleet-poison", releases=ReleaseStore(folder))
    ingestor.start()
    ready(ingestor, broker)
    yield ingestor
    ingestor.stop()
    store.close()


def kiosk_settings(folder: Path, device_id: str, broker: Mosquitto, release_key: Path) -> KioskSettings:
    """A kiosk with fast timers that takes remote configuration and updates (so it subscribes to every topic)."""
    return load_settings(
        data_dir=folder, device_id=device_id, sync=fast_sync(broker), updates=UpdatesConfig(public_key=release_key)
    )


@contextmanager
def running(settings: KioskSettings) -> Iterator[KioskSync]:
    link = KioskSync.from_settings(settings)
    link.start()
    try:
        yield link
    finally:
        link.stop()


@contextmanager
def ticket_store(settings: KioskSettings) -> Iterator[TicketStore]:
    db = open_database(settings.database_path)
    try:
        yield TicketStore(db, settings.device_id)
    finally:
        db.close()


def deliver_a_ticket(tickets: TicketStore, backend: Ingestor) -> None:
    """File a new ticket and wait until the backend stored it and the kiosk saw it acknowledged."""
    ticket_id = tickets.create(ticket_request()).ticket_id
    wait_until(
        lambda: tickets.outbox_depth() == 0 and backend.store.ticket(ticket_id) is not None,
        f"ticket {ticket_id} delivered and acknowledged",
    )


def publish(publisher: mqtt.Client, topic: str, payload: bytes, retain: bool = False) -> None:
    publisher.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)


def test_a_huge_integer_on_acks_is_dropped_once_and_tickets_keep_flowing(
    broker: Mosquitto, publisher: mqtt.Client, backend: Ingestor, release_key: Path, tmp_path: Path
) -> None:
    settings = kiosk_settings(tmp_path, "kiosk-poison-acks", broker, release_key)
    with ticket_store(settings) as tickets:
        with running(settings) as link:
            deliver_a_ticket(tickets, backend)  # the link is subscribed
            publish(publisher, wire.device_topic(settings.device_id, "acks"), poison(wire.AckV1, "ticket_ids"))
            deliver_a_ticket(tickets, backend)
            assert link.rejected == Counter({"malformed": 1})
        with running(settings) as link:  # the same MQTT session: the refused message was acknowledged, not queued
            deliver_a_ticket(tickets, backend)
            assert link.rejected.total() == 0


@pytest.mark.parametrize("where", ["config", "release"])
def test_a_huge_integer_retained_for_the_kiosk_is_refused_and_tickets_keep_flowing(
    where: str, broker: Mosquitto, publisher: mqtt.Client, backend: Ingestor, release_key: Path, tmp_path: Path
) -> None:
    """The retained remote configuration, and the release of the kiosk's channel, which reaches every kiosk on
    it: refused with a reason (in the status, or in an update report), and tickets still delivered."""
    settings = kiosk_settings(tmp_path, f"kiosk-poison-{where}", broker, release_key)
    if where == "config":
        topic, payload = wire.device_topic(settings.device_id, "config"), poison(wire.RemoteConfigV1, "revision")
    else:
        topic, payload = wire.release_topic("stable"), poison(wire.SignedReleaseV1, "signature")
    reports: list[bytes] = []
    watcher = client(broker, f"watcher-{where}")
    subscribe(watcher, wire.device_topic(settings.device_id, "update/status"), reports)
    publish(publisher, topic, payload, retain=True)
    try:
        with ticket_store(settings) as tickets, running(settings) as link:
            deliver_a_ticket(tickets, backend)
            if where == "config":
                assert link.rejected == Counter({"malformed": 1})
                assert link.remote_config is not None and link.remote_config.report is not None
                assert link.remote_config.report.state == "refused"
            else:
                wait_until(lambda: bool(reports), "the refusal reported")
                (report,) = (wire.parse(raw, wire.UpdateStatusV1) for raw in reports)
                assert (report.state, report.reason) == ("refused", "malformed")
            deliver_a_ticket(tickets, backend)
    finally:
        publish(publisher, topic, b"", retain=True)  # clear it: the broker is shared by the module's tests
        watcher.disconnect()
        watcher.loop_stop()


# Property-based: hostile payloads on every topic either end subscribes to, through the broker, then real tickets.


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def text(raw: bytes) -> bytes:
    return b'"' + raw + b'"'


# JSON values (as raw text, so that what ``json.dumps`` cannot write can be sent) no kiosk or backend would write.
hostile_values = st.one_of(
    st.integers(4301, 6000).map(lambda n: b"9" * n),  # past Python's integer conversion limit
    st.integers(20, 4300).map(lambda n: b"-" + b"9" * n),  # within it, far past any column
    st.sampled_from([b"%d" % 2**63, b"%d" % 2**64, b"-1", b"0"]),
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1e-400", b"-0.0", b"5e-324"]),
    st.integers(500, 50_000).map(nested),  # past the recursion limit, from half of it
    st.sampled_from([b"\\ud800", b"x\\udfff", b"\\u0000", b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\xaf"]).map(text),
    json_values.map(lambda value: json.dumps(value).encode()),
)
whole_payloads = st.sampled_from(
    [
        b"",
        b"\xef\xbb\xbf{}",  # a byte-order mark
        json.dumps({"schema": "kiosk.ack/1"}).encode("utf-16"),
        b" " * (wire.MAX_PAYLOAD_BYTES + 1),
    ]
)


def document(schema: str, body: dict[str, bytes]) -> bytes:
    members = [
        b'"schema": "%s"' % schema.encode(),
        *(b'"%s": %s' % (key.encode(), value) for key, value in body.items()),
    ]
    return b"{" + b", ".join(members) + b"}"


def hostile_payloads(model: type[wire.WireModel]) -> st.SearchStrategy[bytes]:
    """Mostly objects of ``model``'s own schema and fields holding hostile values, so that they get past the schema
    check to the model; and hostile values, bytes and whole payloads of their own."""
    fields = sorted(name for name in model.model_fields if name != "schema_id")
    own = st.builds(
        document,
        st.sampled_from([model.SCHEMA, model.SCHEMA.replace("/1", "/2")]),
        st.dictionaries(st.sampled_from(fields), hostile_values, max_size=len(fields)),
    )
    return own | hostile_values | st.binary(max_size=64) | whole_payloads


def refusals(sent: list[tuple[str, bytes]], models: dict[str, type[wire.WireModel]]) -> Counter[str]:
    """The reasons ``wire.parse`` refuses what was sent with, on the topics that count refusals by reason."""
    counted: Counter[str] = Counter()
    for topic, payload in sent:
        if topic in models:
            try:
                wire.parse(payload, models[topic])
            except wire.WireError as refused:
                counted[refused.reason] += 1
    return counted


HOSTILE = hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def fuzzed(
    broker: Mosquitto, backend: Ingestor, release_key: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[KioskSync, TicketStore, list[str]]]:
    """One kiosk link for the module's fuzzing, its ticket store, and the ticket ids of the hand-off updates it
    passed on (what ``mark`` waits for)."""
    settings = kiosk_settings(tmp_path_factory.mktemp("kiosk"), "kiosk-poison-fuzz", broker, release_key)
    handoffs: list[str] = []
    with ticket_store(settings) as tickets, running(settings) as link:
        link.on_handoff = lambda update: handoffs.append(update.ticket_id)
        deliver_a_ticket(tickets, backend)  # subscribed
        yield link, tickets, handoffs


def mark(publisher: mqtt.Client, link: KioskSync, handoffs: list[str]) -> None:
    """Wait until the link handled everything published to it so far: it reads its messages in order, so a hand-off
    update published last is the last it handles."""
    update = handoff_update()
    publish(publisher, wire.device_topic(link.device_id, "handoff"), update.encode())
    wait_until(lambda: update.ticket_id in handoffs, "the link to handle what was sent before the marker")


def kiosk_topics(link: KioskSync) -> dict[str, type[wire.WireModel] | None]:
    """Every topic the link subscribes to, with the model whose refusals it counts (None: a release, whose refusals
    go to the fleet in an update report)."""
    device = link.device_id
    return {
        wire.device_topic(device, "acks"): wire.AckV1,
        wire.device_topic(device, "config"): wire.RemoteConfigV1,
        wire.device_topic(device, "handoff"): wire.HandoffUpdateV1,
        wire.device_topic(device, "update/chunk"): wire.UpdateChunkV1,
        wire.device_topic(device, "release"): None,
        wire.release_topic("stable"): None,
    }


def topic_and_payload(topics: dict[str, type[wire.WireModel] | None]) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.sampled_from(sorted(topics)).flatmap(
        lambda topic: st.tuples(st.just(topic), hostile_payloads(topics[topic] or wire.SignedReleaseV1))
    )


def test_hostile_payloads_on_every_kiosk_topic_are_refused_and_tickets_keep_flowing(
    fuzzed: tuple[KioskSync, TicketStore, list[str]], publisher: mqtt.Client, backend: Ingestor
) -> None:
    link, tickets, handoffs = fuzzed
    topics = kiosk_topics(link)
    assert set(topics) == set(link._routes)  # every topic it subscribes to
    counted = {topic: model for topic, model in topics.items() if model is not None}
    connected_at = link._connected_at

    @HOSTILE
    @given(sent=st.lists(topic_and_payload(topics), min_size=1, max_size=6))
    def fuzz(sent: list[tuple[str, bytes]]) -> None:
        before = link._refused()
        for topic, payload in sent:
            publish(publisher, topic, payload)
        mark(publisher, link, handoffs)
        assert link._refused() - before == refusals(sent, counted)
        assert link._connected_at == connected_at, "the link reconnected: something escaped its paho callback"

    fuzz()
    assert link.rejected[HANDLER_ERROR] == 0
    deliver_a_ticket(tickets, backend)


BACKEND_MODELS: dict[wire.DeviceTopic, type[wire.WireModel]] = {
    "tickets": wire.TicketV1,
    "attachments": wire.AttachmentV1,
    "status": wire.StatusV1,
    "telemetry": wire.TelemetryV1,
    "analytics": wire.AnalyticsV1,
    "update/request": wire.UpdateRequestV1,
    "update/status": wire.UpdateStatusV1,
}


def test_hostile_payloads_on_every_backend_topic_are_refused_and_tickets_keep_flowing(
    fuzzed: tuple[KioskSync, TicketStore, list[str]], publisher: mqtt.Client, backend: Ingestor
) -> None:
    _, tickets, _ = fuzzed
    models = {wire.device_topic("kiosk-poison-host", kind): model for kind, model in BACKEND_MODELS.items()}
    topics: dict[str, type[wire.WireModel] | None] = dict(models)
    marker = wire.device_topic("kiosk-poison-marker", "status")

    @HOSTILE
    @given(sent=st.lists(topic_and_payload(topics), min_size=1, max_size=6))
    def fuzz(sent: list[tuple[str, bytes]]) -> None:
        rejected, failed, statuses = backend.stats.rejected.copy(), backend.stats.failed, backend.stats.statuses
        for topic, payload in sent:
            publish(publisher, topic, payload)
        publish(publisher, marker, wire.StatusV1(state="online").encode())
        expected = refusals(sent, models)
        wait_until(
            lambda: backend.stats.statuses > statuses and backend.stats.rejected - rejected == expected,
            f"the backend to refuse {dict(expected)}",
        )
        assert backend.stats.failed == failed, "the backend failed to store a payload the wire accepted"

    fuzz()
    deliver_a_ticket(tickets, backend)


# Units: the rate limit, the guard, and the refusals in the kiosk's telemetry.


def test_a_rate_limit_lets_one_line_a_minute_through_per_key_and_counts_the_rest() -> None:
    now = [0.0]
    limit = RateLimit(60.0, clock=lambda: now[0])
    assert [limit.admit("malformed") for _ in range(3)] == [0, None, None]
    assert limit.admit("invalid") == 0  # each key on its own
    now[0] = 60.0
    assert limit.admit("malformed") == 2  # the two held back
    assert limit.admit("malformed") is None


def test_a_rate_limited_log_names_how_many_lines_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limit, log = RateLimit(60.0, clock=lambda: now[0]), logging.getLogger("tests.poison")
    with caplog.at_level(logging.WARNING, logger="tests.poison"):
        for _ in range(5):
            limit.log(log, logging.WARNING, "malformed", "refused", extra={"reason": "malformed"})
        now[0] = 61.0
        limit.log(log, logging.WARNING, "malformed", "refused", extra={"reason": "malformed"})
    assert [(record.getMessage(), record.__dict__["suppressed"]) for record in caplog.records] == [
        ("refused", 0),
        ("refused", 4),
    ]


def test_nothing_a_handler_raises_escapes_its_guard(caplog: pytest.LogCaptureFixture) -> None:
    counter: Counter[str] = Counter()

    def broken(payload: bytes | bytearray) -> None:
        raise RecursionError("a handler bug")

    receive = guarded(broken, counter, logging.getLogger("tests.poison"), "kiosk/v1/k1/acks")
    with caplog.at_level(logging.ERROR, logger="tests.poison"):
        for _ in range(3):
            receive(b"{}")
    assert counter == Counter({HANDLER_ERROR: 3})
    (record,) = caplog.records  # one line a minute, with the traceback
    assert record.exc_info is not None and record.__dict__["topic"] == "kiosk/v1/k1/acks"


def handoff_update() -> wire.HandoffUpdateV1:
    return wire.HandoffUpdateV1(
        ticket_id=str(uuid.uuid4()), reference="R-1", state="coming", colleague="Ana", at=datetime.now(UTC)
    )


@pytest.fixture
def offline(tmp_path: Path, release_key: Path) -> Iterator[tuple[KioskSync, Published]]:
    """A link that never connects, whose paho callback the test calls, and what it published."""
    settings = load_settings(
        data_dir=tmp_path,
        device_id="kiosk-poison-offline",
        sync=SyncConfig(enabled=True, broker_port=free_port()),
        updates=UpdatesConfig(public_key=release_key),
    )
    link = KioskSync.from_settings(settings)
    published = Published()
    link._client.publish = published  # type: ignore[method-assign]
    yield link, published
    link.outbox.db.close()


def receive(link: KioskSync, kind: wire.DeviceTopic, payload: bytes) -> None:
    link._on_message(link._client, None, message(wire.device_topic(link.device_id, kind), payload))


def test_the_kiosks_telemetry_counts_every_message_it_dropped(offline: tuple[KioskSync, Published]) -> None:
    """Acknowledgements and update chunks refused (the updater counts those), and a handler that failed."""
    link, published = offline

    def screen_failed(update: wire.HandoffUpdateV1) -> None:
        raise RuntimeError("the screen's bus is gone")

    link.on_handoff = screen_failed
    sent: list[tuple[wire.DeviceTopic, bytes]] = [
        ("acks", poison(wire.AckV1, "ticket_ids")),
        ("update/chunk", b"\xff"),
        ("handoff", handoff_update().encode()),
    ]
    for kind, payload in sent:
        receive(link, kind, payload)
    link._connected_at = datetime.now(UTC)
    link._report_if_due()
    (report,) = published.on(wire.device_topic(link.device_id, "telemetry"))
    errors = wire.parse(report, wire.TelemetryV1).errors
    assert {key: n for key, n in errors.items() if key.startswith("rejected.")} == {
        "rejected.malformed": 2,
        f"rejected.{HANDLER_ERROR}": 1,
    }


def test_a_config_revision_past_64_bits_is_refused_by_the_wire(offline: tuple[KioskSync, Published]) -> None:
    """Such a revision no report could carry (the kiosk's status and telemetry bound every count to 64 bits): the
    wire refuses it, so it is never saved, applied or reported, and the kiosk's next start is unaffected."""
    link, _ = offline
    receive(link, "config", b'{"schema": "kiosk.config/1", "revision": %d}' % 2**63)
    assert link.rejected == Counter({"invalid": 1})
