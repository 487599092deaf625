"""Ticket storage: redacted, idempotent, and written in the same transaction as its outbox row.

The ticket id is a UUID chosen by whoever asks for the ticket; asking twice with the same id returns the
first ticket instead of filing a second one, so a retried request (a double tap, a replayed event) is safe.
Personal data (card numbers, phone numbers, e-mail, ID numbers) is redacted before anything is stored; the
masked card ending and the short reference stay readable for staff.

A ticket has one shape, the wire's ``TicketV1``: the store builds one from each request (so the kiosk validates
what it queues by the rules the backend applies, before anything is written) and reads one back from each row.
``TicketStore`` is also the only code that reads or writes the ``tickets`` table: retention, erasure and the
outbox call its methods inside their own transactions, so the table's columns and their formats live here alone.
"""

from __future__ import annotations

import builtins  # ``list`` is a method of TicketStore: its return types name the builtin in full
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from sqlite_utils import Database

from firmware_app.events import TicketCreated, TicketRequested, reference_for
from firmware_app.privacy import redact
from firmware_app.store import insert_row, stamp, transaction, utc_now
from kiosk_link import wire

_COLUMNS = [name for name in wire.TicketV1.model_fields if name != "schema_id"]
_SELECT = ", ".join(_COLUMNS)
_JSON_COLUMNS = ("entities", "transcript", "attachments", "inspection")
# Each retention step stamps its own column once done, so a step is never repeated on a ticket.
RetentionStep = Literal["transcript_purged_at", "photos_pruned_at"]


class TicketStore:
    def __init__(self, db: Database, device_id: str | None = None, region: str = "GB") -> None:
        """``device_id`` None: a store that looks after tickets already filed (retention, erasure, the outbox)
        and files none."""
        self.db = db
        self.device_id = device_id
        self.region = region

    @property
    def outbox_topic(self) -> str:
        return wire.device_topic(self._filing_device(), "tickets")

    def _filing_device(self) -> str:
        if self.device_id is None:
            raise ValueError("this TicketStore was opened without a device id: it files no tickets")
        return self.device_id

    def create(self, request: TicketRequested) -> TicketCreated:
        """Store the ticket and its outbox row atomically; idempotent on ``request.ticket_id``.

        ValueError, before anything is written, for a request the wire refuses: queued, it would only be refused
        by the backend on every try. (An oversized ticket is still filed: the link holds its row for staff.)"""
        now = datetime.fromisoformat(utc_now())  # to the millisecond, as rows keep it
        ticket = self._ticket(request, self._filing_device(), now)
        with transaction(self.db):
            existing = self.get(ticket.id)
            if existing is not None:
                return _created(existing)
            ticket = ticket.model_copy(update={"reference": self._free_reference(ticket.id)})
            insert_row(self.db, "tickets", _row(ticket))
            insert_row(
                self.db,
                "outbox",
                {
                    "topic": self.outbox_topic,
                    "ticket_id": ticket.id,
                    "created_at": stamp(ticket.created_at),
                    "payload": wire_json(ticket),
                },
            )
        return _created(ticket)

    def _ticket(self, request: TicketRequested, device_id: str, now: datetime) -> wire.TicketV1:
        """The request as a new, redacted ticket, under the reference it gets unless another ticket has it."""
        ticket_id = str(uuid.UUID(request.ticket_id))  # any spelling of the UUID is the same ticket
        return wire.TicketV1(
            id=ticket_id,
            reference=reference_for(ticket_id),
            type=request.ticket_type,
            priority=request.priority,
            status="new",
            device_id=device_id,
            session_id=request.session_id,
            language=request.language,
            intent=request.intent,
            summary=self._redact(request.summary),
            entities=[self._redact_entity(asdict(e)) for e in request.entities],
            sentiment=request.sentiment,
            transcript=[{**asdict(turn), "text": self._redact(turn.text)} for turn in request.transcript],
            created_at=now,
            updated_at=now,
            attachments=list(request.attachments),
            inspection=asdict(request.inspection) if request.inspection is not None else None,
        )

    def _free_reference(self, ticket_id: str) -> str:
        """8 hex digits, longer in the rare case another ticket already has them."""
        for digits in (8, 12, 32):
            reference = reference_for(ticket_id, digits)
            if self.db.execute("SELECT 1 FROM tickets WHERE reference = ?", [reference]).fetchone() is None:
                return reference
        raise RuntimeError(f"ticket {ticket_id} already exists under another id")

    def get(self, id_or_reference: str) -> wire.TicketV1 | None:
        row = self.db.execute(
            f"SELECT {_SELECT} FROM tickets WHERE id = ? OR reference = ?", [id_or_reference, id_or_reference.upper()]
        ).fetchone()
        return _from_row(row) if row else None

    def list(self, limit: int = 20, status: str | None = None) -> list[wire.TicketV1]:
        sql = (
            f"SELECT {_SELECT} FROM tickets"
            + (" WHERE status = ?" if status else "")
            + " ORDER BY created_at DESC LIMIT ?"
        )
        params: list[object] = [status, limit] if status else [limit]
        return [_from_row(r) for r in self.db.execute(sql, params).fetchall()]

    def set_status(self, ticket_id: str, status: wire.TicketStatus) -> None:
        if status not in wire.TICKET_STATUSES:
            raise ValueError(f"unknown ticket status {status!r}; expected one of {wire.TICKET_STATUSES}")
        cursor = self.db.execute(
            "UPDATE tickets SET status = ?, updated_at = ? WHERE id = ?", [status, utc_now(), ticket_id]
        )
        if cursor.rowcount == 0:
            raise KeyError(f"no ticket {ticket_id}")

    def outbox_depth(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def count_since(self, since: str) -> int:
        """Tickets created at or after ``since``, an ISO date or timestamp (the staff screen's "tickets today";
        ``created_at`` is ISO-8601 UTC, so comparing the text compares the times)."""
        return int(self.db.execute("SELECT COUNT(*) FROM tickets WHERE created_at >= ?", [since]).fetchone()[0])

    def mark_synced(self, ticket_ids: Sequence[str], at: datetime) -> None:
        """Stamp ``synced_at`` on tickets the backend acknowledged (once: a repeated ack keeps the first stamp);
        retention counts from it. The outbox calls this in the transaction that deletes their rows."""
        self._mark("UPDATE tickets SET synced_at = COALESCE(synced_at, ?)", ticket_ids, at)

    def is_synced(self, ticket_id: str) -> bool:
        """Whether the backend acknowledged the ticket (and so keeps a copy of its own)."""
        row = self.db.execute("SELECT synced_at FROM tickets WHERE id = ?", [ticket_id]).fetchone()
        return row is not None and row[0] is not None

    def delete(self, ticket_id: str) -> int:
        """Remove the ticket and its queued outbox row, which it was written with (erasure on request, inside the
        caller's transaction, so an unsynced ticket never leaves); returns how many outbox rows went."""
        outbox_rows = int(self.db.execute("DELETE FROM outbox WHERE ticket_id = ?", [ticket_id]).rowcount)
        self.db.execute("DELETE FROM tickets WHERE id = ?", [ticket_id])
        return outbox_rows

    def due(self, step: RetentionStep, acknowledged_by: datetime) -> builtins.list[str]:
        """Tickets acknowledged on or before ``acknowledged_by`` and not yet through ``step`` (photos: only those
        that have any), oldest first."""
        photos = " AND attachments != '[]'" if step == "photos_pruned_at" else ""
        rows = self.db.execute(
            f"SELECT id FROM tickets WHERE synced_at IS NOT NULL AND synced_at <= ? AND {step} IS NULL{photos}"
            " ORDER BY created_at, rowid",
            [stamp(acknowledged_by)],
        ).fetchall()
        return [row[0] for row in rows]

    def prunable_photos(self) -> builtins.list[tuple[str, builtins.list[str]]]:
        """``(ticket id, attachments)`` of every acknowledged ticket whose photos are still kept, oldest first:
        what the disk guard may prune early."""
        rows = self.db.execute(
            "SELECT id, attachments FROM tickets WHERE synced_at IS NOT NULL AND photos_pruned_at IS NULL"
            " AND attachments != '[]' ORDER BY created_at, rowid"
        ).fetchall()
        return [(ticket_id, json.loads(attachments)) for ticket_id, attachments in rows]

    def attachment_owners(self) -> builtins.list[tuple[str, builtins.list[str], bool]]:
        """``(ticket id, attachments, photos pruned)`` of every ticket that names files: which files are live."""
        rows = self.db.execute(
            "SELECT id, attachments, photos_pruned_at FROM tickets WHERE attachments != '[]'"
        ).fetchall()
        return [(ticket_id, json.loads(attachments), pruned is not None) for ticket_id, attachments, pruned in rows]

    def purge_words(self, ticket_ids: Sequence[str], at: datetime) -> None:
        """Empty the customer's words (transcript, entities, and the summary, which may quote them) and stamp
        ``transcript_purged_at``; the row stays, so the reference still resolves and counts still add up."""
        self._mark(
            "UPDATE tickets SET transcript = '[]', entities = '[]', summary = '', transcript_purged_at = ?",
            ticket_ids,
            at,
        )

    def mark_photos_pruned(self, ticket_ids: Sequence[str], at: datetime) -> None:
        """Stamp ``photos_pruned_at``: from then on the tickets' files are for the sweep to remove."""
        self._mark("UPDATE tickets SET photos_pruned_at = ?", ticket_ids, at)

    def _mark(self, update: str, ticket_ids: Sequence[str], at: datetime) -> None:
        marks = ", ".join("?" for _ in ticket_ids)
        self.db.execute(f"{update} WHERE id IN ({marks})", [stamp(at), *ticket_ids])

    def _redact(self, text: str) -> str:
        return redact(text, region=self.region)

    def _redact_entity(self, entity: dict[str, Any]) -> dict[str, Any]:
        """Phone and e-mail values are personal data: keep the kind, drop the value."""
        if entity["kind"] in ("phone", "email"):
            return {**entity, "text": f"[{entity['kind'].upper()}]", "value": f"[{entity['kind'].upper()}]"}
        return {**entity, "text": self._redact(entity["text"]), "value": self._redact(entity["value"])}


def wire_json(ticket: wire.TicketV1, indent: int | None = None) -> str:
    """The ticket's JSON as the kiosk queues it (and ``kiosk tickets show`` prints it): times as the store writes
    them, so a payload reads the same as the row it came from and as the kiosk has always sent it."""
    return json.dumps(ticket.model_dump(by_alias=True), indent=indent, ensure_ascii=False, default=stamp)


def _row(ticket: wire.TicketV1) -> dict[str, Any]:
    """The ticket as its row: lists and objects as JSON text, times in the store's format."""
    row = ticket.model_dump(exclude={"schema_id"})
    for column in _JSON_COLUMNS:
        if row[column] is not None:
            row[column] = json.dumps(row[column], ensure_ascii=False)
    row["created_at"], row["updated_at"] = stamp(ticket.created_at), stamp(ticket.updated_at)
    return row


def _from_row(row: tuple[Any, ...]) -> wire.TicketV1:
    values = dict(zip(_COLUMNS, row, strict=True))
    for column in _JSON_COLUMNS:
        if values[column] is not None:
            values[column] = json.loads(values[column])
    return wire.TicketV1.model_validate(values)


def _created(ticket: wire.TicketV1) -> TicketCreated:
    return TicketCreated(
        ticket_id=ticket.id, ticket_type=ticket.type, priority=ticket.priority, reference=ticket.reference
    )
