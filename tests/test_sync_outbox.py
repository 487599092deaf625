"""The sync's view of the outbox (what is due, what an acknowledgement deletes), its migration, backoff, config."""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlite_utils import Database

from firmware_app import store
from firmware_app.config import SyncConfig, load_settings
from firmware_app.store import MIGRATIONS, open_database, schema_version
from firmware_app.sync.backoff import Backoff
from firmware_app.sync.outbox import Outbox
from firmware_app.tickets.store import TicketStore
from tests.mosquitto import free_port
from tests.test_sync_wire import ticket_request

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def file_ticket(tickets: TicketStore) -> str:
    return tickets.create(ticket_request()).ticket_id


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "kiosk.db")
    yield database
    database.close()


@pytest.fixture
def outbox(db: Database) -> Outbox:
    return Outbox(db)


@pytest.fixture
def tickets(db: Database) -> TicketStore:
    return TicketStore(db, "kiosk-outbox-01")


def test_a_database_from_before_the_sync_keeps_its_queued_tickets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kiosk upgraded with tickets still queued: the new columns appear, the rows are all still due."""
    path = tmp_path / "old.db"
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS[: MIGRATIONS.index(store._m006_outbox_delivery)])
    old = open_database(path)
    queued = [file_ticket(TicketStore(old, "kiosk-outbox-01")) for _ in range(3)]
    old.close()
    monkeypatch.undo()

    upgraded = open_database(path)
    try:
        assert schema_version(upgraded) == len(MIGRATIONS)
        assert [row.ticket_id for row in Outbox(upgraded).due(NOW, NOW, 10)] == queued
    finally:
        upgraded.close()
    with sqlite3.connect(path) as conn:
        assert "outbox_ticket_id" in {row[1] for row in conn.execute("PRAGMA index_list(outbox)")}


def test_a_row_is_due_until_sent_then_again_only_after_the_threshold(outbox: Outbox, tickets: TicketStore) -> None:
    first, second = file_ticket(tickets), file_ticket(tickets)
    rows = outbox.due(NOW, NOW, 10)
    assert [row.ticket_id for row in rows] == [first, second]
    assert rows[0].topic == "kiosk/v1/kiosk-outbox-01/tickets"

    outbox.mark_sent([rows[0].id], NOW)
    assert [row.ticket_id for row in outbox.due(NOW, NOW, 10)] == [second]
    assert [row.ticket_id for row in outbox.due(NOW + timedelta(seconds=1), NOW, 10)] == [first, second]
    # The clock was set back (an NTP correction): a stamp from the "future" does not block the row forever.
    assert [row.ticket_id for row in outbox.due(NOW - timedelta(hours=1), NOW - timedelta(hours=1), 10)] == [
        first,
        second,
    ]
    assert outbox.db.execute("SELECT attempts FROM outbox ORDER BY id").fetchall() == [(1,), (0,)]
    assert len(outbox.due(NOW, NOW, 1)) == 1


def test_only_an_acknowledgement_deletes_and_a_repeated_one_is_harmless(outbox: Outbox, tickets: TicketStore) -> None:
    kept, acked = file_ticket(tickets), file_ticket(tickets)
    assert outbox.acknowledge([acked]) == 1
    assert outbox.acknowledge([acked, str(uuid.uuid4())]) == 0
    assert outbox.depth() == 1
    assert [row.ticket_id for row in outbox.due(NOW, NOW, 10)] == [kept]
    assert tickets.get(acked) is not None, "the kiosk keeps its own copy of the ticket"


def test_a_held_row_is_kept_but_no_longer_sent(outbox: Outbox, tickets: TicketStore) -> None:
    file_ticket(tickets)
    row = outbox.due(NOW, NOW, 10)[0]
    outbox.hold(row.id, "oversized")
    assert outbox.due(NOW, NOW, 10) == []
    assert outbox.depth() == 1


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, step in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == len(delays), "jittered: no two waits alike"
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_sync_is_off_by_default_and_configurable_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIOSK_CONFIG", raising=False)
    assert load_settings().sync.enabled is False
    monkeypatch.setenv("KIOSK_SYNC__BROKER_PORT", "18830")
    monkeypatch.setenv("KIOSK_SYNC__ENABLED", "true")
    sync = load_settings().sync
    assert sync.enabled and sync.broker_port == 18830
    with pytest.raises(ValidationError, match="reconnect_min_s"):
        SyncConfig(reconnect_min_s=10, reconnect_max_s=1)


def test_kiosk_sync_run_says_where_it_sends_and_what_is_left_when_stopped(tmp_path: Path) -> None:
    """The foreground link names the device, the broker and the outbox at start, and what is left on SIGTERM
    (here nothing listens on the broker's port, so the two filed tickets stay)."""
    database = open_database(tmp_path / "kiosk.db")
    tickets = TicketStore(database, "kiosk-cli-01")
    file_ticket(tickets)
    file_ticket(tickets)
    database.close()
    env = {name: value for name, value in os.environ.items() if not name.startswith("KIOSK_")}
    env |= {"KIOSK_DEVICE_ID": "kiosk-cli-01", "KIOSK_SYNC__BROKER_PORT": str(free_port())}
    kiosk = Path(sys.executable).with_name("kiosk")
    process = subprocess.Popen(
        [str(kiosk), "--data-dir", str(tmp_path), "sync", "run"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert select.select([process.stdout], [], [], 30)[0], "no start line within 30 s"
        started = process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        stopped = process.stdout.read()
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert started.startswith("kiosk sync run: device kiosk-cli-01, broker 127.0.0.1:"), started
    assert "(plain MQTT), 2 tickets in the outbox" in started
    assert stopped.strip() == "kiosk sync run: stopped, 2 tickets still in the outbox (sent at the next run)"
