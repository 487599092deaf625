"""The kiosk's outbox as the sync sees it: which rows to (re)publish, and deleting rows once acknowledged.

Rows are written by their owners (``TicketStore`` writes a ticket and its row in one transaction); the sync
only reads them, stamps each publish (``attempts``, ``last_sent_at``) and deletes a row when the backend's
acknowledgement names its ticket. Nothing else deletes a row (but a customer's erasure on request,
``firmware_app.erasure``), so a ticket survives crashes, reboots and lost messages until the backend has
committed it. A row the wire could never carry is held (``last_error``) for staff to see instead of being
re-sent forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlite_utils import Database

from firmware_app.store import stamp, transaction
from firmware_app.tickets.store import TicketStore


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    payload: str
    ticket_id: str | None


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def due(self, sent_before: datetime, now: datetime, limit: int) -> list[OutboxRow]:
        """Rows never published, published before ``sent_before`` (an earlier connection, or too long without an
        acknowledgement), or stamped in the future (the clock was set back); oldest first, held rows excluded."""
        rows = self.db.execute(
            "SELECT id, topic, payload, ticket_id FROM outbox WHERE last_error IS NULL"
            " AND (last_sent_at IS NULL OR last_sent_at < ? OR last_sent_at > ?) ORDER BY id LIMIT ?",
            [stamp(sent_before), stamp(now), limit],
        ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def mark_sent(self, row_ids: Sequence[int], at: datetime) -> None:
        if not row_ids:
            return
        marks = ", ".join("?" for _ in row_ids)
        with transaction(self.db):
            self.db.execute(
                f"UPDATE outbox SET attempts = attempts + 1, last_sent_at = ? WHERE id IN ({marks})",
                [stamp(at), *row_ids],
            )

    def hold(self, row_id: int, reason: str) -> None:
        """Stop sending a row that can never be delivered; it stays for staff (``last_error`` says why)."""
        self.db.execute("UPDATE outbox SET last_error = ? WHERE id = ?", [reason, row_id])

    def acknowledge(self, ticket_ids: Sequence[str], at: datetime | None = None) -> int:
        """Delete the rows of tickets the backend has committed and stamp the tickets ``synced_at`` (once: a
        repeated ack keeps the first), in one transaction, since retention counts from that stamp; returns how
        many rows went (0 for a repeated ack)."""
        marks = ", ".join("?" for _ in ticket_ids)
        with transaction(self.db):
            cursor = self.db.execute(f"DELETE FROM outbox WHERE ticket_id IN ({marks})", list(ticket_ids))
            deleted = cursor.rowcount
            TicketStore(self.db).mark_synced(ticket_ids, at or datetime.now(UTC))
        return deleted

    def depth(self) -> int:
        """Rows waiting for an acknowledgement, held ones included."""
        return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def held(self) -> int:
        """Rows held because the wire could never carry them (staff must look at them)."""
        return int(self.db.execute("SELECT COUNT(*) FROM outbox WHERE last_error IS NOT NULL").fetchone()[0])
