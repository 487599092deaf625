"""Ticket storage: redacted, idempotent, and written in the same transaction as its outbox row.

The ticket id is a UUID chosen by whoever asks for the ticket; asking twice with the same id returns the
first ticket instead of filing a second one, so a retried request (a double tap, a replayed event) is safe.
Personal data (card numbers, phone numbers, e-mail, ID numbers) is redacted before anything is stored; the
masked card ending and the short reference stay readable for staff.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from sqlite_utils import Database

from firmware_app.events import TicketCreated, TicketRequested, reference_for
from firmware_app.privacy import redact
from firmware_app.store import insert_row, transaction, utc_now

TicketStatus = Literal["new", "open", "pending", "closed"]
STATUSES: tuple[TicketStatus, ...] = ("new", "open", "pending", "closed")
WIRE_SCHEMA = "kiosk.ticket/1"


@dataclass(frozen=True)
class Ticket:
    id: str
    reference: str
    type: str
    priority: str
    status: str
    device_id: str
    session_id: str | None
    language: str
    intent: str | None
    summary: str
    entities: list[dict[str, Any]]
    sentiment: str | None
    transcript: list[dict[str, Any]]
    created_at: str
    updated_at: str
    attachments: list[str]
    inspection: dict[str, Any] | None = None  # ``events.Inspection`` as JSON, for a technician's photo

    def to_wire(self) -> dict[str, Any]:
        return {"schema": WIRE_SCHEMA, **asdict(self)}


class TicketStore:
    def __init__(self, db: Database, device_id: str, region: str = "GB") -> None:
        self.db = db
        self.device_id = device_id
        self.region = region

    @property
    def outbox_topic(self) -> str:
        return f"kiosk/v1/{self.device_id}/tickets"

    def create(self, request: TicketRequested) -> TicketCreated:
        """Store the ticket and its outbox row atomically; idempotent on ``request.ticket_id``."""
        ticket_id = str(uuid.UUID(request.ticket_id))  # any spelling of the UUID is the same ticket
        now = utc_now()
        ticket = Ticket(
            id=ticket_id,
            reference="",
            type=request.ticket_type,
            priority=request.priority,
            status="new",
            device_id=self.device_id,
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
        with transaction(self.db):
            existing = self.get(ticket_id)
            if existing is not None:
                return _created(existing)
            ticket = replace(ticket, reference=self._free_reference(ticket_id))
            row = asdict(ticket)
            row["entities"] = json.dumps(ticket.entities, ensure_ascii=False)
            row["transcript"] = json.dumps(ticket.transcript, ensure_ascii=False)
            row["attachments"] = json.dumps(ticket.attachments)
            row["inspection"] = json.dumps(ticket.inspection) if ticket.inspection is not None else None
            insert_row(self.db, "tickets", row)
            insert_row(
                self.db,
                "outbox",
                {
                    "topic": self.outbox_topic,
                    "ticket_id": ticket.id,
                    "created_at": now,
                    "payload": json.dumps(ticket.to_wire(), ensure_ascii=False),
                },
            )
        return _created(ticket)

    def _free_reference(self, ticket_id: str) -> str:
        """8 hex digits, longer in the rare case another ticket already has them."""
        for digits in (8, 12, 32):
            reference = reference_for(ticket_id, digits)
            if self.db.execute("SELECT 1 FROM tickets WHERE reference = ?", [reference]).fetchone() is None:
                return reference
        raise RuntimeError(f"ticket {ticket_id} already exists under another id")

    def get(self, id_or_reference: str) -> Ticket | None:
        row = self.db.execute(
            f"SELECT {_SELECT} FROM tickets WHERE id = ? OR reference = ?", [id_or_reference, id_or_reference.upper()]
        ).fetchone()
        return _ticket(row) if row else None

    def list(self, limit: int = 20, status: str | None = None) -> list[Ticket]:
        sql = (
            f"SELECT {_SELECT} FROM tickets"
            + (" WHERE status = ?" if status else "")
            + " ORDER BY created_at DESC LIMIT ?"
        )
        params: list[object] = [status, limit] if status else [limit]
        return [_ticket(r) for r in self.db.execute(sql, params).fetchall()]

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown ticket status {status!r}; expected one of {STATUSES}")
        cursor = self.db.execute(
            "UPDATE tickets SET status = ?, updated_at = ? WHERE id = ?", [status, utc_now(), ticket_id]
        )
        if cursor.rowcount == 0:
            raise KeyError(f"no ticket {ticket_id}")

    def outbox_depth(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def _redact(self, text: str) -> str:
        return redact(text, region=self.region)

    def _redact_entity(self, entity: dict[str, Any]) -> dict[str, Any]:
        """Phone and e-mail values are personal data: keep the kind, drop the value."""
        if entity["kind"] in ("phone", "email"):
            return {**entity, "text": f"[{entity['kind'].upper()}]", "value": f"[{entity['kind'].upper()}]"}
        return {**entity, "text": self._redact(entity["text"]), "value": self._redact(entity["value"])}


_TICKET_COLUMNS = list(Ticket.__dataclass_fields__)
_SELECT = ", ".join(_TICKET_COLUMNS)


def _ticket(row: tuple[Any, ...]) -> Ticket:
    values = dict(zip(_TICKET_COLUMNS, row, strict=True))
    values["entities"] = json.loads(values["entities"])
    values["transcript"] = json.loads(values["transcript"])
    values["attachments"] = json.loads(values["attachments"])
    values["inspection"] = json.loads(values["inspection"]) if values["inspection"] is not None else None
    return Ticket(**values)


def _created(ticket: Ticket) -> TicketCreated:
    return TicketCreated(
        ticket_id=ticket.id, ticket_type=ticket.type, priority=ticket.priority, reference=ticket.reference
    )
