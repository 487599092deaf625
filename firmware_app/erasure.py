"""Erasure on request: one customer's data removed from the kiosk, by ticket id or reference.

The ticket row goes whole (its summary, transcript, entities), with its outbox row and the redacted questions
its visit left in the analytics (``visit_topics``); the visit's counts and rating hold no words and stay.
An unacknowledged ticket is taken out of the outbox in the same transaction, so it never leaves the kiosk;
a publish already under way at that moment may still reach the backend (its acknowledgement then finds
nothing here). A ticket the backend already stored must be erased there too: this removes the kiosk's copy.

The audit entry (id and reference, whether it had synced) is written in the same transaction; the photo files
are removed after the commit, and a crash in between leaves files no ticket names, which the retention
sweep removes (``retention.sweep_photos``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from firmware_app import audit
from firmware_app.store import transaction
from firmware_app.tickets.store import TicketStore


@dataclass(frozen=True)
class Erasure:
    ticket_id: str
    reference: str
    synced: bool  # the backend had acknowledged it (and keeps its own copy)
    outbox_rows: int  # queued copies removed: an unsynced ticket never leaves
    files_removed: int


def _ticket_key(id_or_reference: str) -> str:
    """A UUID in any spelling, or a reference in any case, as the tickets table stores it."""
    try:
        return str(uuid.UUID(id_or_reference))
    except ValueError:
        return id_or_reference.strip().upper()


def erase(db: Database, data_dir: Path, id_or_reference: str, actor: audit.Actor) -> Erasure | None:
    """Erase one ticket's data; None (and nothing written) when no ticket has that id or reference."""
    tickets = TicketStore(db)
    with transaction(db):
        ticket = tickets.get(_ticket_key(id_or_reference))
        if ticket is None:
            return None
        synced = tickets.is_synced(ticket.id)
        outbox_rows = tickets.delete(ticket.id)
        if ticket.session_id:
            db.execute("DELETE FROM visit_topics WHERE session_id = ? AND kind = 'out_of_scope'", [ticket.session_id])
        detail = {"ticket_id": ticket.id, "reference": ticket.reference, "synced": synced}
        audit.append(db, actor, "erase", detail | {"outbox_rows": outbox_rows})
    removed = 0
    for name in ticket.attachments:
        path = data_dir / name
        if path.is_file():
            path.unlink()
            removed += 1
    return Erasure(ticket.id, ticket.reference, synced, outbox_rows, removed)
