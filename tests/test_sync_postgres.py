"""The fleet backend on PostgreSQL (``--db postgresql://...``): the same store, the same guarantees.

A throwaway server (``tests/postgres.py``) runs for the module; each test gets a fresh database. The store's
queries run unchanged on both databases, so what is checked here is what differs: the schema (64-bit integers,
an identity column), the write lock, migrations by two processes at once, and ingest end to end against a real
Mosquitto: two ``fleet serve`` processes sharing the subscription, one SIGKILLed mid-stream, every ticket stored
once; and a ticket with photos acknowledged only with them.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from firmware_app.sync.service import KioskSync
from firmware_app.tickets.store import TicketStore
from fleet.cli import main
from fleet.console.live import ChangeFeed
from fleet.ingest import Ingestor
from fleet.store import FleetStore
from kiosk_link import wire
from tests import test_sync_broker as broker_tests
from tests.mosquitto import MOSQUITTO, Mosquitto
from tests.postgres import BIN_DIR, Postgres
from tests.test_sync_broker import DEVICE, FleetProcess, file_tickets, ready, wait_until
from tests.test_sync_files import photo_ticket

psycopg = pytest.importorskip("psycopg", reason="the fleet extra (psycopg) is not installed")
pytestmark = [
    pytest.mark.skipif(BIN_DIR is None, reason="PostgreSQL is not installed (scripts/setup.sh test installs it)"),
    pytest.mark.skipif(MOSQUITTO is None, reason="the mosquitto broker is not installed"),
]
mosquitto, broker, kiosk_db, tickets, link = (
    broker_tests.mosquitto,
    broker_tests.broker,
    broker_tests.kiosk_db,
    broker_tests.tickets,
    broker_tests.link,
)


@pytest.fixture(scope="module")
def server() -> Iterator[Postgres]:
    postgres = Postgres()
    postgres.start()
    yield postgres
    postgres.stop()


@pytest.fixture
def url(server: Postgres) -> str:
    return server.new_database()


def stored(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM tickets").fetchall()]


def wire_ticket(attachments: tuple[str, ...] = ()) -> tuple[wire.TicketV1, bytes]:
    now = datetime.now(UTC)
    ticket = wire.TicketV1(
        id=str(uuid.uuid4()),
        reference="KB-00000000",
        type="handoff",
        priority="normal",
        status="new",
        device_id=DEVICE,
        session_id=None,
        language="en",
        intent=None,
        summary="needs a colleague",
        entities=[],
        sentiment=None,
        transcript=[],
        created_at=now,
        updated_at=now,
        attachments=list(attachments),
    )
    return ticket, ticket.encode()


def test_two_processes_migrate_one_database_at_once(url: str) -> None:
    with ThreadPoolExecutor(2) as pool:
        stores = list(pool.map(FleetStore, [url, url]))
    versions = {store.db.schema_version() for store in stores}
    for store in stores:
        store.close()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM fleet_schema").fetchone() == (1,)
    assert len(versions) == 1


def test_the_store_keeps_each_thing_once_on_postgresql(url: str) -> None:
    store = FleetStore(url)
    try:
        first, payload = wire_ticket()
        assert store.add_tickets([(first, payload), (first, payload)]) == ["stored", "duplicate"]
        assert store.add_ticket(first, payload) is False
        sent_at = datetime.now(UTC)
        report = wire.TelemetryV1(sent_at=sent_at, uptime_s=12.5, queue_depth=3, free_disk_bytes=40 * 2**30)
        assert store.add_telemetry(DEVICE, report, report.encode()) is True
        assert store.add_telemetry(DEVICE, report, report.encode()) is False
        store.set_status(DEVICE, wire.StatusV1(state="online", versions={"kiosk": "0.1.0"}))
        assert store.next_config(DEVICE, {"ui.thanks_s": 4}).revision == 1
        assert store.next_config(DEVICE, {"ui.thanks_s": None}).revision == 2
        (device,) = store.devices()
        assert (device["state"], device["tickets"], device["queue_depth"]) == ("online", 1, 3)
        assert device["config_revision_set"] == 2
        assert [row["id"] for row in store.tickets()] == [first.id]
        stolen = first.model_copy(update={"device_id": "kiosk-other"})  # another kiosk re-sending first's id
        assert store.add_tickets([(stolen, stolen.encode())]) == ["refused"]
        assert store.ticket_device(first.id) == DEVICE
    finally:
        store.close()
    listed = CliRunner().invoke(main, ["--db", url, "tickets", "--json"])  # every fleet command takes the URL
    assert listed.exit_code == 0, listed.output
    assert [json.loads(line)["id"] for line in listed.output.splitlines()] == [first.id]


def test_two_backends_on_postgresql_share_the_load_and_one_killed_mid_stream_loses_nothing(
    broker: Mosquitto, link: KioskSync, tickets: TicketStore, url: str, tmp_path: Path
) -> None:
    backends = [FleetProcess(broker, url, tmp_path / f"fleet-{n}.log") for n in (1, 2)]
    try:
        filed: list[str] = []
        filer = threading.Thread(target=lambda: filed.extend(file_tickets(tickets, 150, every_s=0.01)))
        filer.start()
        wait_until(lambda: all(backend.stored_here() >= 5 for backend in backends), "both backends to store some")
        backends[0].kill()  # SIGKILL: what it had not acknowledged is re-sent and taken by the other
        filer.join()
        wait_until(lambda: tickets.outbox_depth() == 0, "the outbox to empty", timeout=30)
        rows = stored(url)
        print(f"filed {len(filed)}, stored rows {len(rows)}, by backend {[b.stored_here() for b in backends]}")
        assert sorted(rows) == sorted(filed)
    finally:
        for backend in backends:
            backend.stop()


def test_a_ticket_with_photos_is_acknowledged_only_with_them_on_postgresql(
    broker: Mosquitto,
    link: KioskSync,
    tickets: TicketStore,
    kiosk_db: Path,
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLEET_FILES", str(tmp_path / "files"))
    store = FleetStore(url)
    ingestor = Ingestor(store, broker.host, broker.port, client_id="fleet-pg")
    ingestor.start()
    try:
        ready(ingestor, broker)
        ticket_id, photos = photo_ticket(tickets, kiosk_db)
        wait_until(lambda: tickets.outbox_depth() == 0, "the ticket and its photos to be acknowledged")
        assert stored(url) == [ticket_id]
        for name, data in photos.items():
            assert (tmp_path / "files" / DEVICE / ticket_id / name).read_bytes() == data
        assert store.delivered(DEVICE, [ticket_id]) == [ticket_id]
        assert store.delivered("kiosk-other", [ticket_id]) == []  # another kiosk cannot complete it
    finally:
        ingestor.stop()
        store.close()


def test_a_ticket_is_acknowledged_only_after_its_commit_on_postgresql(
    broker: Mosquitto, link: KioskSync, tickets: TicketStore, url: str
) -> None:
    """Another session locks the tickets table against writes: the backend's insert waits, and so does the
    acknowledgement (the kiosk keeps the ticket) until the commit goes through."""
    store = FleetStore(url)
    ingestor = Ingestor(store, broker.host, broker.port, client_id="fleet-pg")
    ingestor.start()
    try:
        ready(ingestor, broker)
        with psycopg.connect(url) as blocker:
            blocker.execute("LOCK TABLE tickets IN EXCLUSIVE MODE")
            (filed,) = file_tickets(tickets, 1)
            time.sleep(2.0)  # published (and re-sent after the 1 s acknowledgement timeout), not committable
            assert tickets.outbox_depth() == 1 and stored(url) == []
        wait_until(lambda: tickets.outbox_depth() == 0, "the acknowledgement once the commit went through")
        assert stored(url) == [filed]
    finally:
        ingestor.stop()
        store.close()


def test_a_file_turning_up_after_it_was_reported_missing_replaces_that_record(url: str) -> None:
    store = FleetStore(url)
    try:
        ticket, payload = wire_ticket(("photos/a.jpg",))
        store.add_tickets([(ticket, payload)])
        assert store.delivered(DEVICE, [ticket.id]) == []  # its photo has not arrived
        store.add_attachment(DEVICE, ticket.id, "photos/a.jpg", None, 0)  # missing on the kiosk
        assert store.delivered(DEVICE, [ticket.id]) == [ticket.id]
        store.add_attachment(DEVICE, ticket.id, "photos/a.jpg", "0" * 64, 10)  # it turned up after all
        assert store.attachment_stored(ticket.id, "photos/a.jpg")
        store.add_attachment(DEVICE, ticket.id, "photos/a.jpg", None, 0)  # a late "missing" changes nothing
        assert store.tickets()[0]["files"] == {"photos/a.jpg": "stored"}
    finally:
        store.close()


def test_every_console_sees_every_change_whichever_process_made_it(url: str) -> None:
    """Two `fleet web` processes' change feeds, two `fleet serve` processes writing tickets and statuses at once:
    each feed sees every ticket, none skipped (the rows commit in id order under the write lock)."""
    feeds = [ChangeFeed(lambda: FleetStore(url)) for _ in range(2)]
    filed: list[str] = []

    def serve(count: int) -> None:
        store = FleetStore(url)
        for n in range(count):
            ticket, payload = wire_ticket()
            store.add_ticket(ticket, payload)
            filed.append(ticket.id)
            if n % 5 == 0:
                store.set_status(DEVICE, wire.StatusV1(state="online"))
        store.close()

    async def listen() -> list[set[str]]:
        queues = [feed.listen(lambda device: True) for feed in feeds]
        for feed in feeds:
            feed.start()
        await asyncio.sleep(0.5)
        with ThreadPoolExecutor(2) as pool:
            await asyncio.gather(*(asyncio.get_running_loop().run_in_executor(pool, serve, 40) for _ in range(2)))
        seen: list[set[str]] = [set(), set()]
        deadline = time.monotonic() + 20
        for changes, got in zip(queues, seen, strict=True):
            while len(got) < 80 and time.monotonic() < deadline:
                change = await asyncio.wait_for(changes.get(), 20)
                if change is not None and change.kind == "ticket":
                    got.add(change.ref)
        return seen

    try:
        seen = asyncio.run(listen())
    finally:
        for feed in feeds:
            feed.stop()
    assert len(filed) == 80
    assert seen == [set(filed), set(filed)]
