"""Kiosk outbox -> real Mosquitto -> fleet backend: tickets are never lost and never stored twice.

Each test starts its own broker on a free loopback port. The kiosk link runs in-process with short timers
(re-send after 1 s without an acknowledgement); backends run in-process where the test reads their counters
and as real ``fleet serve`` processes where the test kills them. Faults: broker down while tickets are filed,
a backend that dies before acknowledging, a backend killed with SIGKILL mid-stream, the broker restarted
mid-stream, duplicate deliveries, bad payloads, a kiosk process killed with SIGKILL (last will), and two
backends sharing the subscription.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_app.app import Kiosk
from firmware_app.config import SyncConfig, load_settings
from firmware_app.store import insert_row, open_database
from firmware_app.sync.service import KioskSync
from firmware_app.tickets.store import TicketStore
from fleet.ingest import Ingestor
from fleet.store import FleetStore
from kiosk_link import wire
from tests.mosquitto import MOSQUITTO, Mosquitto
from tests.test_sync_wire import ticket_request

pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker is not installed (scripts/setup.sh test installs it)"
)

DEVICE = "kiosk-sync-01"
KIOSK = Path(sys.executable).with_name("kiosk")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def fast_sync(broker: Mosquitto) -> SyncConfig:
    return SyncConfig(
        enabled=True,
        broker_port=broker.port,
        keepalive_s=2,
        reconnect_min_s=0.05,
        reconnect_max_s=0.5,
        ack_timeout_s=1.0,
        poll_s=0.05,
    )


def file_tickets(tickets: TicketStore, count: int, every_s: float = 0.0) -> list[str]:
    filed = []
    for n in range(count):
        filed.append(tickets.create(ticket_request(summary=f"visit {n}")).ticket_id)
        time.sleep(every_s)
    return filed


def stored(fleet_db: Path) -> list[str]:
    """Every ticket id the backend stored, one entry per row (a ticket stored twice would appear twice)."""
    if not fleet_db.exists():
        return []
    with sqlite3.connect(fleet_db) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM tickets")]


def assert_each_stored_once(fleet_db: Path, filed: list[str]) -> None:
    rows = stored(fleet_db)
    print(f"filed {len(filed)}, stored rows {len(rows)}, distinct {len(set(rows))}")
    assert sorted(rows) == sorted(filed)


class FleetProcess:
    """``fleet serve`` as a real process, so that a test can SIGKILL it."""

    def __init__(self, broker: Mosquitto, db: Path | str, log: Path) -> None:
        self.log = log
        self.log.touch()
        with open(log, "ab") as stderr:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fleet",
                    "--db",
                    str(db),
                    "--log-level",
                    "DEBUG",
                    "serve",
                    "--port",
                    str(broker.port),
                ],
                stderr=stderr,
            )
        wait_until(self._connected, f"fleet serve to connect (log {log})")

    def _connected(self) -> bool:
        assert self.process.poll() is None, f"fleet serve exited:\n{self.log.read_text()}"
        return "subscribing" in self.log.read_text()

    def stored_here(self) -> int:
        return self.log.read_text().count("stored ticket")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def client(broker: Mosquitto, name: str) -> mqtt.Client:
    """A plain MQTT 5 client on its own network thread, connected."""
    raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    connected = threading.Event()
    raw.on_connect = lambda *args: connected.set()
    raw.connect(broker.host, broker.port)
    raw.loop_start()
    assert connected.wait(5), f"{name} could not connect"
    return raw


def subscribe(raw: mqtt.Client, topic: str, messages: list[bytes]) -> None:
    done = threading.Event()
    raw.on_subscribe = lambda *args: done.set()
    raw.on_message = lambda c, u, message: messages.append(bytes(message.payload))
    raw.subscribe(topic, qos=1)
    assert done.wait(5), f"no SUBACK for {topic}"


def ticket_payload(tickets: TicketStore) -> bytes:
    """A valid ticket as the kiosk would publish it."""
    (ticket_id,) = file_tickets(tickets, 1)
    return tickets.db.execute("SELECT payload FROM outbox WHERE ticket_id = ?", [ticket_id]).fetchone()[0].encode()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker on a free port, not started yet (``broker`` starts it)."""
    broker = Mosquitto(tmp_path / "broker")
    yield broker
    broker.stop()


@pytest.fixture
def broker(mosquitto: Mosquitto) -> Mosquitto:
    mosquitto.start()
    return mosquitto


@pytest.fixture
def kiosk_db(tmp_path: Path) -> Path:
    return tmp_path / "kiosk" / "kiosk.db"


@pytest.fixture
def tickets(kiosk_db: Path) -> Iterator[TicketStore]:
    """The kiosk's ticket store, on its own connection as the dialogue thread would have."""
    db = open_database(kiosk_db)
    yield TicketStore(db, DEVICE)
    db.close()


@pytest.fixture
def link(mosquitto: Mosquitto, kiosk_db: Path, tickets: TicketStore) -> Iterator[KioskSync]:
    sync = KioskSync(kiosk_db, DEVICE, fast_sync(mosquitto), {"kiosk": "test"})
    sync.start()
    yield sync
    sync.stop()


@pytest.fixture
def fleet_db(tmp_path: Path) -> Path:
    return tmp_path / "fleet" / "fleet.db"


@pytest.fixture
def start_ingestor(fleet_db: Path) -> Iterator[Callable[[Mosquitto], Ingestor]]:
    """In-process backends (their counters are readable); stopped at the end."""
    running: list[tuple[Ingestor, FleetStore]] = []

    def start(broker: Mosquitto) -> Ingestor:
        store = FleetStore(fleet_db)
        ingestor = Ingestor(store, broker.host, broker.port, client_id=f"fleet-test-{len(running)}")
        ingestor.start()
        running.append((ingestor, store))
        return ingestor

    yield start
    for ingestor, store in running:
        ingestor.stop()
        store.close()


@pytest.fixture
def fleet_processes(tmp_path: Path) -> Iterator[list[FleetProcess]]:
    processes: list[FleetProcess] = []
    yield processes
    for process in processes:
        process.stop()


def ready(ingestor: Ingestor, broker: Mosquitto) -> None:
    """Wait until the backend's subscriptions are active: it has received a retained status (sent to it on subscribing,
    which also subscribed it to tickets)."""
    probe = client(broker, "probe")
    before = ingestor.stats.statuses
    status = wire.StatusV1(state="online").encode()
    probe.publish(wire.device_topic("kiosk-probe", "status"), status, qos=1, retain=True).wait_for_publish(5)
    try:
        wait_until(lambda: ingestor.stats.statuses > before, "the backend to subscribe")
    finally:
        probe.disconnect()
        probe.loop_stop()


def test_tickets_filed_while_the_broker_is_down_are_delivered_once_it_is_up(
    mosquitto: Mosquitto,
    link: KioskSync,
    tickets: TicketStore,
    fleet_db: Path,
    start_ingestor: Callable[[Mosquitto], Ingestor],
) -> None:
    filed = file_tickets(tickets, 20)
    time.sleep(0.5)
    assert not link.connected and tickets.outbox_depth() == 20

    mosquitto.start()
    start_ingestor(mosquitto)
    wait_until(lambda: tickets.outbox_depth() == 0, "the outbox to empty")
    assert_each_stored_once(fleet_db, filed)


def test_a_row_too_big_for_the_wire_is_held_for_staff_and_the_rest_still_go(
    broker: Mosquitto,
    link: KioskSync,
    tickets: TicketStore,
    fleet_db: Path,
    start_ingestor: Callable[[Mosquitto], Ingestor],
) -> None:
    start_ingestor(broker)
    oversized = {"topic": tickets.outbox_topic, "payload": "x" * (wire.MAX_PAYLOAD_BYTES + 1), "created_at": "now"}
    insert_row(tickets.db, "outbox", oversized)
    filed = file_tickets(tickets, 2)
    wait_until(lambda: tickets.outbox_depth() == 1, "the deliverable tickets to be acknowledged")
    assert_each_stored_once(fleet_db, filed)
    (held,) = tickets.db.execute("SELECT last_error, attempts FROM outbox").fetchall()
    assert "bytes" in held[0] and held[1] == 0


def test_a_ticket_leaves_the_outbox_only_after_the_backends_acknowledgement(
    broker: Mosquitto,
    link: KioskSync,
    tickets: TicketStore,
    fleet_db: Path,
    tmp_path: Path,
    fleet_processes: list[FleetProcess],
) -> None:
    # A backend that takes tickets off the shared subscription and dies before acknowledging any of them.
    received: list[bytes] = []
    mute = client(broker, "fleet-mute")
    subscribe(mute, wire.shared_filter("fleet", wire.device_filter("tickets")), received)
    filed = file_tickets(tickets, 3)
    wait_until(lambda: len(received) >= 6, "each ticket to be sent, then sent again for want of an acknowledgement")
    assert tickets.outbox_depth() == 3
    mute.loop_stop()
    mute_socket = mute.socket()
    assert mute_socket is not None
    mute_socket.close()  # dies: no DISCONNECT

    fleet_processes.append(FleetProcess(broker, fleet_db, tmp_path / "fleet.log"))
    wait_until(lambda: tickets.outbox_depth() == 0, "the outbox to empty")
    assert_each_stored_once(fleet_db, filed)


def test_a_backend_killed_mid_stream_loses_nothing_and_stores_nothing_twice(
    broker: Mosquitto,
    link: KioskSync,
    tickets: TicketStore,
    fleet_db: Path,
    tmp_path: Path,
    fleet_processes: list[FleetProcess],
) -> None:
    fleet_processes.append(FleetProcess(broker, fleet_db, tmp_path / "fleet-1.log"))
    filed: list[str] = []
    filer = threading.Thread(target=lambda: filed.extend(file_tickets(tickets, 80, every_s=0.01)))
    filer.start()
    wait_until(lambda: len(stored(fleet_db)) >= 20, "the first tickets to be stored")
    fleet_processes[0].kill()  # SIGKILL: whatever it had committed but not acknowledged is re-sent later
    fleet_processes.append(FleetProcess(broker, fleet_db, tmp_path / "fleet-2.log"))
    filer.join()
    wait_until(lambda: tickets.outbox_depth() == 0, "the outbox to empty")
    assert_each_stored_once(fleet_db, filed)


def test_a_broker_restart_mid_stream_loses_nothing_and_stores_nothing_twice(
    broker: Mosquitto,
    link: KioskSync,
    tickets: TicketStore,
    fleet_db: Path,
    start_ingestor: Callable[[Mosquitto], Ingestor],
) -> None:
    ingestor = start_ingestor(broker)
    filed: list[str] = []
    filer = threading.Thread(target=lambda: filed.extend(file_tickets(tickets, 80, every_s=0.01)))
    filer.start()
    wait_until(lambda: ingestor.stats.stored >= 20, "the first tickets to be stored")
    broker.stop()
    time.sleep(0.3)
    broker.start()
    filer.join()
    wait_until(lambda: tickets.outbox_depth() == 0, "the outbox to empty")
    assert_each_stored_once(fleet_db, filed)
    assert ingestor.stats.stored == 80


def test_a_duplicate_delivery_is_stored_once_and_acknowledged_each_time(
    broker: Mosquitto, tickets: TicketStore, fleet_db: Path, start_ingestor: Callable[[Mosquitto], Ingestor]
) -> None:
    ingestor = start_ingestor(broker)
    ready(ingestor, broker)
    acks: list[bytes] = []
    kiosk = client(broker, DEVICE)
    subscribe(kiosk, wire.device_topic(DEVICE, "acks"), acks)
    payload = ticket_payload(tickets)
    for _ in range(3):
        kiosk.publish(wire.device_topic(DEVICE, "tickets"), payload, qos=1)
    wait_until(lambda: ingestor.stats.stored + ingestor.stats.duplicates == 3, "three deliveries")
    wait_until(lambda: len(acks) >= 1, "the acknowledgements (deliveries committed together share one)")
    ticket_id = wire.parse(payload, wire.TicketV1).id
    assert {tuple(wire.parse(ack, wire.AckV1).ticket_ids) for ack in acks} == {(ticket_id,)}
    assert stored(fleet_db) == [ticket_id]
    assert (ingestor.stats.stored, ingestor.stats.duplicates) == (1, 2)
    kiosk.loop_stop()


def test_bad_payloads_are_rejected_and_counted_and_the_backend_carries_on(
    broker: Mosquitto, tickets: TicketStore, fleet_db: Path, start_ingestor: Callable[[Mosquitto], Ingestor]
) -> None:
    ingestor = start_ingestor(broker)
    ready(ingestor, broker)
    good = ticket_payload(tickets)
    ticket_topic = wire.device_topic(DEVICE, "tickets")
    status_topic = wire.device_topic(DEVICE, "status")
    bad = [
        (ticket_topic, b"{truncated", "malformed"),
        (ticket_topic, b'"a string"', "malformed"),
        (ticket_topic, good.replace(b"kiosk.ticket/1", b"kiosk.ticket/2"), "unsupported_version"),
        (ticket_topic, wire.StatusV1(state="online").encode(), "wrong_schema"),
        (ticket_topic, good.replace(b'"priority": "normal"', b'"priority": "whenever"'), "invalid"),
        (ticket_topic, b" " * (wire.MAX_PAYLOAD_BYTES + 1), "oversized"),
        (wire.device_topic("kiosk-other", "tickets"), good, "device_mismatch"),
        (status_topic, b'{"schema": "kiosk.status/1", "state": "asleep"}', "invalid"),
        (status_topic, b"\x00\xff", "malformed"),
    ]
    sender = client(broker, "fuzzer")
    for topic, payload, _ in bad:
        sender.publish(topic, payload, qos=1)
    sender.publish(ticket_topic, good, qos=1)
    wait_until(lambda: ingestor.stats.stored == 1, "the good ticket after the bad ones")
    wait_until(lambda: ingestor.stats.rejected.total() == len(bad), "every bad payload to be counted")
    assert ingestor.stats.rejected == Counter(reason for _, _, reason in bad)
    assert stored(fleet_db) == [wire.parse(good, wire.TicketV1).id]
    sender.loop_stop()


def test_the_last_will_marks_a_killed_kiosk_offline(
    broker: Mosquitto, tmp_path: Path, fleet_db: Path, start_ingestor: Callable[[Mosquitto], Ingestor]
) -> None:
    ingestor = start_ingestor(broker)
    ready(ingestor, broker)
    env = {name: value for name, value in os.environ.items() if not name.startswith("KIOSK_")}
    env |= {"KIOSK_DEVICE_ID": DEVICE, "KIOSK_SYNC__BROKER_PORT": str(broker.port), "KIOSK_SYNC__KEEPALIVE_S": "2"}

    def state() -> str | None:
        return next((d["state"] for d in ingestor.store.devices() if d["device_id"] == DEVICE), None)

    def run_kiosk() -> subprocess.Popen[bytes]:
        kiosk = subprocess.Popen([str(KIOSK), "--data-dir", str(tmp_path / "kiosk"), "sync", "run"], env=env)
        wait_until(lambda: state() == "online", "the kiosk to say it is online")
        return kiosk

    kiosk = run_kiosk()
    kiosk.send_signal(signal.SIGKILL)
    kiosk.wait()
    wait_until(lambda: state() == "offline", "the broker to publish the kiosk's last will")
    retained: list[bytes] = []
    subscribe(client(broker, "late-subscriber"), wire.device_topic(DEVICE, "status"), retained)
    wait_until(lambda: len(retained) == 1, "the retained status")
    assert wire.parse(retained[0], wire.StatusV1).state == "offline"

    kiosk = run_kiosk()  # and a clean stop says "offline" itself, then disconnects (so there is no will)
    kiosk.send_signal(signal.SIGTERM)
    assert kiosk.wait(timeout=10) == 0
    wait_until(lambda: state() == "offline", "the kiosk's goodbye")
    assert f"Client {DEVICE} disconnected." in broker.log.read_text()


def test_two_backends_share_the_subscription_and_store_each_ticket_once(
    broker: Mosquitto,
    link: KioskSync,
    tickets: TicketStore,
    fleet_db: Path,
    tmp_path: Path,
    fleet_processes: list[FleetProcess],
) -> None:
    fleet_processes += [FleetProcess(broker, fleet_db, tmp_path / f"fleet-{n}.log") for n in (1, 2)]
    time.sleep(0.2)  # both SUBSCRIBEs through
    filed = file_tickets(tickets, 60)
    wait_until(lambda: tickets.outbox_depth() == 0, "the outbox to empty")
    assert_each_stored_once(fleet_db, filed)
    shares = [process.stored_here() for process in fleet_processes]
    print(f"stored by each backend: {shares}")
    assert sum(shares) == 60 and min(shares) > 0


def test_the_kiosk_app_sends_its_tickets_when_sync_is_enabled(
    broker: Mosquitto, tmp_path: Path, fleet_db: Path, start_ingestor: Callable[[Mosquitto], Ingestor]
) -> None:
    ingestor = start_ingestor(broker)
    settings = load_settings(data_dir=tmp_path / "app", device_id=DEVICE, log_format="text", sync=fast_sync(broker))
    kiosk = Kiosk(settings)
    try:
        (filed,) = file_tickets(kiosk.tickets, 1)
        wait_until(lambda: kiosk.tickets.outbox_depth() == 0, "the app's outbox to empty")
        assert stored(fleet_db) == [filed]
    finally:
        kiosk.close()
    wait_until(lambda: ingestor.store.devices()[0]["state"] == "offline", "the app's goodbye on close")
    assert f"Client {DEVICE} disconnected." in broker.log.read_text()


def test_bad_acknowledgements_are_counted_by_the_kiosk_and_delete_nothing(
    broker: Mosquitto, link: KioskSync, tickets: TicketStore
) -> None:
    filed = file_tickets(tickets, 2)
    wait_until(lambda: link.connected, "the kiosk to connect")
    acks = wire.device_topic(DEVICE, "acks")
    bad = [
        (b"not json", "malformed"),
        (b'{"schema": "kiosk.ack/7", "ticket_ids": []}', "unsupported_version"),
        (b'{"schema": "kiosk.ack/1", "ticket_ids": ["' + filed[0].encode() + b'", "x"]}', "invalid"),
        (b"[" * (wire.MAX_PAYLOAD_BYTES + 1), "oversized"),
    ]
    backend = client(broker, "fleet-confused")
    for payload, _ in bad:
        backend.publish(acks, payload, qos=1)
    wait_until(lambda: link.rejected.total() == len(bad), "every bad acknowledgement to be counted")
    assert link.rejected == Counter(reason for _, reason in bad)
    assert tickets.outbox_depth() == 2
    backend.publish(acks, wire.AckV1(ticket_ids=[filed[0]]).encode(), qos=1)
    wait_until(lambda: tickets.outbox_depth() == 1, "a good acknowledgement to be applied after the bad ones")
    backend.loop_stop()
