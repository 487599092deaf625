"""Ticket storage: reference, outbox row in the same transaction, idempotency, redaction, crash and full disk."""

from __future__ import annotations

import datetime
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

import firmware_app.tickets.store as ticket_store_module
from firmware_app.events import DefectBox, Entity, Inspection, TicketCreated, TicketRequested, Turn
from firmware_app.nlu.entities import extract_entities
from firmware_app.store import MIGRATIONS, insert_row, open_database, stamp, transaction
from firmware_app.tickets.store import TicketStore, reference_for
from kiosk_link import wire

DEVICE_ID = "kiosk-test-01"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "kiosk.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = open_database(db_path)
    yield database
    database.close()


@pytest.fixture
def tickets(db: Database) -> TicketStore:
    return TicketStore(db, DEVICE_ID)


def request(**overrides: Any) -> TicketRequested:
    """A valid ticket request with a fresh UUID; keyword arguments replace fields."""
    fields: dict[str, Any] = {
        "ticket_id": str(uuid.uuid4()),
        "ticket_type": "handoff",
        "priority": "normal",
        "summary": "Customer needs a colleague: lost card.",
        "language": "en",
        "session_id": "session-1",
        "intent": "lost_or_stolen_card",
        "sentiment": "negative",
        "transcript": (Turn(role="customer", text="I lost my card", at="2025-01-02T10:00:00.000+00:00"),),
    }
    fields.update(overrides)
    return TicketRequested(**fields)


def outbox_rows(db: Database) -> list[dict[str, Any]]:
    cursor = db.execute("SELECT * FROM outbox ORDER BY id")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def counts(db: Database) -> tuple[int, int]:
    """(tickets, outbox rows)."""
    tickets = db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
    return tickets, db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]


# --- create, reference, outbox ----------------------------------------------------------------------------


def test_create_stores_ticket_and_one_outbox_row(tickets: TicketStore, db: Database) -> None:
    """create() files a 'new' ticket with a KB- reference and one outbox row carrying its wire form."""
    req = request(priority="high")
    created = tickets.create(req)

    assert isinstance(created, TicketCreated)
    assert re.fullmatch(r"KB-[0-9A-F]{8}", created.reference)
    assert created.reference == "KB-" + uuid.UUID(req.ticket_id).hex[:8].upper() == reference_for(req.ticket_id)
    assert (created.ticket_id, created.ticket_type, created.priority) == (req.ticket_id, "handoff", "high")

    ticket = tickets.get(req.ticket_id)
    assert ticket is not None
    assert ticket.status == "new"
    assert ticket.reference == created.reference
    assert ticket.device_id == DEVICE_ID
    assert (ticket.session_id, ticket.intent, ticket.sentiment, ticket.language) == (
        "session-1",
        "lost_or_stolen_card",
        "negative",
        "en",
    )
    assert ticket.summary == "Customer needs a colleague: lost card."
    assert ticket.transcript == [
        {"role": "customer", "text": "I lost my card", "at": "2025-01-02T10:00:00.000+00:00", "intent": None}
    ]
    assert ticket.created_at == ticket.updated_at
    assert ticket.created_at.utcoffset() == datetime.timedelta(0)

    rows = outbox_rows(db)
    assert len(rows) == 1
    (row,) = rows
    assert row["topic"] == f"kiosk/v1/{DEVICE_ID}/tickets" == tickets.outbox_topic
    assert row["ticket_id"] == ticket.id
    assert row["attempts"] == 0
    assert row["last_error"] is None
    payload = json.loads(row["payload"])
    assert wire.parse(row["payload"].encode(), wire.TicketV1) == ticket
    assert payload["schema"] == wire.TicketV1.SCHEMA
    assert payload["created_at"] == payload["updated_at"] == stamp(ticket.created_at)  # as the row keeps it
    assert tickets.outbox_depth() == 1


def test_create_is_idempotent_on_ticket_id(tickets: TicketStore, db: Database) -> None:
    """A replayed request (same ticket_id, even with different content) returns the first ticket and adds nothing."""
    req = request()
    first = tickets.create(req)
    before = (counts(db), outbox_rows(db), tickets.get(req.ticket_id))

    again = tickets.create(req)
    replay = tickets.create(request(ticket_id=req.ticket_id, summary="something else", priority="urgent"))

    assert again == first
    assert replay == first
    assert (counts(db), outbox_rows(db), tickets.get(req.ticket_id)) == before
    assert counts(db) == (1, 1)


def test_create_is_idempotent_for_non_canonical_uuid(tickets: TicketStore, db: Database) -> None:
    """The same UUID spelt in upper case (as some clients send it) should hit the idempotency check too."""
    req = request(ticket_id=str(uuid.uuid4()).upper())
    first = tickets.create(req)
    assert tickets.create(req) == first
    assert counts(db) == (1, 1)


def test_invalid_ticket_id_is_rejected_before_writing(tickets: TicketStore, db: Database) -> None:
    """A ticket id that is not a UUID raises ValueError and stores nothing."""
    with pytest.raises(ValueError):
        tickets.create(request(ticket_id="not-a-uuid"))
    assert counts(db) == (0, 0)


# --- redaction ----------------------------------------------------------------------------------------------

CARD = "4111 1111 1111 1111"
PHONE = "07911 123456"
EMAIL = "jo.bloggs@example.com"
NI_NUMBER = "QQ 12 34 56 C"
FORBIDDEN = [
    CARD,
    CARD.replace(" ", ""),
    "4111-1111",
    PHONE,
    PHONE.replace(" ", ""),
    "+447911123456",
    "7911123456",
    EMAIL,
    "bloggs",
    NI_NUMBER,
    NI_NUMBER.replace(" ", ""),
]


def pii_request() -> TicketRequested:
    """A ticket whose summary, transcript and entities are full of personal data (and a harmless card ending)."""
    utterance = f"My card {CARD} was stolen, the one ending 4821. Call {PHONE} or mail {EMAIL}."
    entities = (
        *extract_entities(utterance, today=datetime.date(2025, 1, 2)),
        Entity(kind="card_number", text=CARD, value=CARD.replace(" ", ""), start=8, end=27),
        Entity(kind="ni_number", text=NI_NUMBER, value=NI_NUMBER.replace(" ", ""), start=0, end=13),
    )
    assert {e.kind for e in entities} >= {"card_last4", "phone", "email"}, "the extractor should find these"
    return request(
        summary=f"Stolen card {CARD}, card ending 4821; call {PHONE}, e-mail {EMAIL}, NI {NI_NUMBER}.",
        entities=entities,
        transcript=(
            Turn(role="customer", text=utterance, at="2025-01-02T10:00:00.000+00:00"),
            Turn(role="assistant", text="Thanks. What is your NI number?", at="2025-01-02T10:00:02.000+00:00"),
            Turn(role="customer", text=f"It is {NI_NUMBER}", at="2025-01-02T10:00:09.000+00:00"),
        ),
    )


def all_text_in_database(db: Database) -> str:
    """Every text value of every row of every table, joined."""
    pieces: list[str] = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for row in db.execute(f"SELECT * FROM [{table}]").fetchall():
            pieces += [value for value in row if isinstance(value, str)]
    return "\n".join(pieces)


def test_personal_data_never_reaches_the_database(db_path: Path) -> None:
    """Card, phone, e-mail and NI numbers are redacted everywhere (rows and raw file bytes); 'ending 4821' stays."""
    db = open_database(db_path)
    tickets = TicketStore(db, DEVICE_ID)
    req = pii_request()
    tickets.create(req)

    ticket = tickets.get(req.ticket_id)
    assert ticket is not None
    assert "card ending 4821" in ticket.summary
    assert "[CARD ****1111]" in ticket.summary
    assert "[PHONE]" in ticket.summary
    assert "[EMAIL]" in ticket.summary
    assert "[ID]" in ticket.summary
    assert ticket.transcript[2]["text"] == "It is [ID]"
    entity_values = {e["kind"]: e["value"] for e in ticket.entities}
    assert entity_values["card_last4"] == "4821"
    assert entity_values["phone"] == "[PHONE]"
    assert entity_values["email"] == "[EMAIL]"
    assert entity_values["card_number"] == "[CARD ****1111]"
    assert entity_values["ni_number"] == "[ID]"

    text = all_text_in_database(db)
    assert "ending 4821" in text
    for secret in FORBIDDEN:
        assert secret not in text, f"{secret!r} stored in a text column"
    db.close()

    raw = b"".join(path.read_bytes() for path in db_path.parent.glob("kiosk.db*"))
    assert b"ending 4821" in raw
    for secret in FORBIDDEN:
        assert secret.encode() not in raw, f"{secret!r} found in the raw database file"


# --- atomicity ----------------------------------------------------------------------------------------------


def test_outbox_failure_leaves_no_ticket(tickets: TicketStore, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the outbox insert fails, the ticket insert of the same create() is rolled back; a retry then works."""

    def insert_row_failing_on_outbox(database: Database, table: str, row: Mapping[str, object]) -> int:
        if table == "outbox":
            raise sqlite3.OperationalError("simulated outbox failure")
        return insert_row(database, table, row)

    req = request()
    monkeypatch.setattr(ticket_store_module, "insert_row", insert_row_failing_on_outbox)
    with pytest.raises(sqlite3.OperationalError, match="simulated outbox failure"):
        tickets.create(req)
    assert counts(db) == (0, 0)
    assert tickets.get(req.ticket_id) is None
    assert not db.conn.in_transaction

    monkeypatch.undo()
    created = tickets.create(req)
    assert counts(db) == (1, 1)
    assert outbox_rows(db)[0]["ticket_id"] == created.ticket_id


# --- list, get, set_status ------------------------------------------------------------------------------------


def file_three(tickets: TicketStore) -> list[str]:
    """Create three tickets a few milliseconds apart; returns their ids, oldest first."""
    ids = []
    for n in range(3):
        ids.append(tickets.create(request(summary=f"ticket {n}")).ticket_id)
        time.sleep(0.003)  # created_at has millisecond resolution
    return ids


def test_list_is_newest_first_with_limit_and_status_filter(tickets: TicketStore) -> None:
    """list() orders by creation time, newest first, honours limit, and filters by status."""
    oldest, middle, newest = file_three(tickets)

    assert [t.id for t in tickets.list()] == [newest, middle, oldest]
    assert [t.id for t in tickets.list(limit=2)] == [newest, middle]
    tickets.set_status(middle, "closed")
    assert [t.id for t in tickets.list(status="closed")] == [middle]
    assert [t.id for t in tickets.list(status="new")] == [newest, oldest]
    assert tickets.list(status="pending") == []


@pytest.mark.parametrize("status", ["new", "open", "pending", "closed"])
def test_set_status_changes_status_and_updated_at(tickets: TicketStore, status: str) -> None:
    """Each valid status is stored, and updated_at moves forward while created_at stays."""
    created = tickets.create(request())
    before = tickets.get(created.ticket_id)
    assert before is not None
    time.sleep(0.003)
    tickets.set_status(created.ticket_id, status)  # type: ignore[arg-type]
    after = tickets.get(created.ticket_id)
    assert after is not None
    assert after.status == status
    assert after.created_at == before.created_at
    assert after.updated_at > before.updated_at


@pytest.mark.parametrize("status", ["done", "NEW", "", "resolved"])
def test_set_status_rejects_unknown_status(tickets: TicketStore, status: str) -> None:
    """An unknown status raises ValueError and leaves the ticket untouched."""
    created = tickets.create(request())
    before = tickets.get(created.ticket_id)
    with pytest.raises(ValueError, match="unknown ticket status"):
        tickets.set_status(created.ticket_id, status)  # type: ignore[arg-type]
    assert tickets.get(created.ticket_id) == before


def test_get_by_id_and_by_reference(tickets: TicketStore) -> None:
    """get() finds a ticket by id, by reference, and by reference in any case; unknown keys give None."""
    created = tickets.create(request())
    by_id = tickets.get(created.ticket_id)
    assert by_id is not None
    assert by_id.id == created.ticket_id
    assert tickets.get(created.reference) == by_id
    assert tickets.get(created.reference.lower()) == by_id
    assert tickets.get("kb-" + created.reference[3:].lower()) == by_id
    assert tickets.get("KB-00000000") is None
    assert tickets.get(str(uuid.uuid4())) is None


# --- power cut ------------------------------------------------------------------------------------------------

CHILD = """
import sys, uuid
from firmware_app.events import TicketRequested, Turn
from firmware_app.store import open_database
from firmware_app.tickets.store import TicketStore

store = TicketStore(open_database(sys.argv[1]), "kiosk-power")
filler = "My card 4111 1111 1111 1111 was swallowed by the machine. " * 60
turns = tuple(Turn(role="customer", text=filler, at="2025-01-02T10:00:00.000+00:00") for _ in range(3))
while True:
    created = store.create(TicketRequested(ticket_id=str(uuid.uuid4()), ticket_type="handoff", priority="high",
                                           summary=filler, language="en", transcript=turns))
    print(created.reference, flush=True)
"""


def test_killed_writer_loses_no_reported_ticket(db_path: Path) -> None:
    """SIGKILL mid-write: the file opens, passes integrity_check, and every ticket reported saved is there,
    each with exactly one outbox row (and no orphan outbox rows)."""
    wanted_lines, deadline = 15, time.monotonic() + 60
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stderr is not None
    output = b""
    try:
        while output.count(b"\n") < wanted_lines:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "child did not report enough tickets within 60 s"
            ready, _, _ = select.select([child.stdout], [], [], min(remaining, 1.0))
            if ready:
                chunk = os.read(child.stdout.fileno(), 65536)
                if not chunk:
                    pytest.fail(f"child exited early: {child.stderr.read().decode(errors='replace')}")
                output += chunk
    finally:
        child.send_signal(signal.SIGKILL)
        rest, errors = child.communicate(timeout=30)
    output += rest
    assert child.returncode == -signal.SIGKILL, errors.decode(errors="replace")

    # Only complete lines were reported; a line cut by the kill does not count.
    reported = [line.decode() for line in output.split(b"\n")[:-1]]
    assert len(reported) >= wanted_lines
    assert all(re.fullmatch(r"KB-[0-9A-F]{8}", ref) for ref in reported)

    db = open_database(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {row[0] for row in db.execute("SELECT reference FROM tickets").fetchall()}
        assert set(reported) <= stored
        # At most one ticket was committed after the last reference that made it to stdout.
        assert len(stored) - len(set(reported)) in (0, 1)
        assert db.execute(
            "SELECT COUNT(*) FROM tickets t WHERE (SELECT COUNT(*) FROM outbox o WHERE o.ticket_id = t.id) != 1"
        ).fetchone() == (0,)
        assert db.execute(
            "SELECT COUNT(*) FROM outbox WHERE ticket_id IS NULL OR ticket_id NOT IN (SELECT id FROM tickets)"
        ).fetchone() == (0,)
        assert counts(db) == (len(stored), len(stored))
        # Still usable for new work.
        TicketStore(db, "kiosk-power").create(request())
        assert counts(db) == (len(stored) + 1, len(stored) + 1)
    finally:
        db.close()


# --- full disk ------------------------------------------------------------------------------------------------

BIG_SUMMARY = "The customer described the problem at great length. " * 800  # ~42 kB: many overflow pages


@pytest.mark.parametrize("failing_table", ["tickets", "outbox"])
def test_full_disk_leaves_no_half_ticket(
    tickets: TicketStore, db: Database, monkeypatch: pytest.MonkeyPatch, failing_table: str
) -> None:
    """When the file cannot grow (max_page_count standing in for a full disk) while writing the ticket row or
    its outbox row, create() raises OperationalError and keeps neither; with room again it works."""
    tickets.create(request(summary="small ticket filed before the disk filled"))
    inserted: list[str] = []

    def recording_insert_row(database: Database, table: str, row: Mapping[str, object]) -> int:
        rowid = insert_row(database, table, row)
        inserted.append(table)
        return rowid

    monkeypatch.setattr(ticket_store_module, "insert_row", recording_insert_row)
    page_count = db.execute("PRAGMA page_count").fetchone()[0]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    # No room at all: the ticket row fails. Room for about one copy of the summary: the ticket row fits, the
    # outbox row (the same text again in its payload) does not.
    headroom = 0 if failing_table == "tickets" else len(BIG_SUMMARY) // page_size + 3
    db.execute(f"PRAGMA max_page_count = {page_count + headroom}")

    big = request(summary=BIG_SUMMARY)
    with pytest.raises(sqlite3.OperationalError) as excinfo:
        tickets.create(big)
    chain = [str(excinfo.value), str(excinfo.value.__context__)]
    assert any("database or disk is full" in message for message in chain), chain
    assert inserted == ([] if failing_table == "tickets" else ["tickets"]), "the test did not hit the intended row"
    assert counts(db) == (1, 1)
    assert tickets.get(big.ticket_id) is None
    assert not db.conn.in_transaction
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    db.execute("PRAGMA max_page_count = 1073741823")
    created = tickets.create(big)
    assert counts(db) == (2, 2)
    stored = tickets.get(created.ticket_id)
    assert stored is not None
    assert stored.summary == BIG_SUMMARY


def test_full_disk_error_names_the_cause(tickets: TicketStore, db: Database) -> None:
    """The exception a caller sees for a full disk should say the disk is full."""
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(sqlite3.OperationalError) as excinfo:
        tickets.create(request(summary=BIG_SUMMARY))
    assert "database or disk is full" in str(excinfo.value)


def test_set_status_on_an_unknown_ticket_is_an_error(tickets: TicketStore) -> None:
    with pytest.raises(KeyError, match="no ticket"):
        tickets.set_status(str(uuid.uuid4()), "closed")


def test_two_ids_with_the_same_short_reference_both_get_filed(tickets: TicketStore) -> None:
    """References use 8 hex digits; a clash (about 1% at 10,000 tickets) lengthens the second one."""
    first = tickets.create(request(ticket_id="12345678-0000-4000-8000-000000000000"))
    second = tickets.create(request(ticket_id="12345678-1111-4000-8000-000000000000"))
    assert first.reference == "KB-12345678"
    assert second.reference == "KB-123456781111"
    assert tickets.get(second.reference) is not None


# --- technician photos -------------------------------------------------------------------------------------


INSPECTION = Inspection(
    profile="steel_surface",
    model="steel_surface",
    model_version="1.0.0",
    label="scratches",
    confidence=0.97,
    defective=True,
    defect_score=1.0,
    boxes=(DefectBox(box=(43, 32, 91, 170), label="scratches", score=0.97),),
)


def test_an_inspection_is_kept_with_its_ticket_and_sent_on_the_wire(tickets: TicketStore, db: Database) -> None:
    req = request(ticket_type="technician_photo", inspection=INSPECTION, attachments=("photos/a.jpg", "photos/b.jpg"))
    tickets.create(req)
    ticket = tickets.get(req.ticket_id)
    assert ticket is not None
    assert ticket.inspection == {
        "profile": "steel_surface",
        "model": "steel_surface",
        "model_version": "1.0.0",
        "label": "scratches",
        "confidence": 0.97,
        "defective": True,
        "defect_score": 1.0,
        "boxes": [{"box": [43, 32, 91, 170], "label": "scratches", "score": 0.97}],
    }
    assert (
        json.loads(outbox_rows(db)[0]["payload"])["inspection"]
        == ticket.inspection
        == ticket.model_dump(mode="json")["inspection"]
    )
    other = request()
    tickets.create(other)
    assert tickets.get(other.ticket_id).inspection is None  # type: ignore[union-attr]


def test_tickets_filed_before_inspections_existed_still_open(db_path: Path) -> None:
    """A database written before the inspection column (schema 4) opens, keeps its tickets and takes new ones."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    old = Database(sqlite3.connect(db_path, isolation_level=None))
    old.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for version, migration in enumerate(MIGRATIONS[:4], 1):
        with transaction(old):
            migration(old)
            old.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'then')", [version])
    old_id = str(uuid.uuid4())
    row = {
        "id": old_id,
        "reference": reference_for(old_id),
        "type": "handoff",
        "priority": "normal",
        "status": "new",
        "device_id": DEVICE_ID,
        "language": "en",
        "summary": "Customer needs a colleague.",
        "created_at": "2026-01-01T00:00:00.000+00:00",
        "updated_at": "2026-01-01T00:00:00.000+00:00",
    }
    insert_row(old, "tickets", row)
    old.close()

    upgraded = open_database(db_path)
    try:
        store = TicketStore(upgraded, DEVICE_ID)
        kept = store.get(old_id)
        assert kept is not None and kept.inspection is None and kept.summary == "Customer needs a colleague."
        new = request(inspection=INSPECTION)
        store.create(new)
        assert store.get(new.ticket_id).inspection["label"] == "scratches"  # type: ignore[union-attr]
    finally:
        upgraded.close()
