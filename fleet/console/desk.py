"""The hand-off desk: tickets as staff work them, new -> open (claimed by a named colleague) -> pending ->
closed, with notes; every query scoped to what the user may see.

Staff see the tickets of the kiosks in their branches (the fleet's device groups); managers and admins see
every ticket. A ticket outside a user's scope is answered exactly like one that does not exist, so a staff
member cannot even learn which references another branch has.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import median
from typing import Any, Literal

from fleet.console.accounts import User
from fleet.store import TICKET_COLUMNS, FleetStore
from kiosk_link import wire

Action = Literal["claim", "pending", "close"]
# What each action does to a ticket: the status it may come from, the one it goes to, what the kiosk is told.
TRANSITIONS: dict[Action, tuple[tuple[wire.TicketStatus, ...], wire.TicketStatus, wire.HandoffState]] = {
    "claim": (("new", "open", "pending"), "open", "coming"),
    "pending": (("open",), "pending", "pending"),
    "close": (("new", "open", "pending"), "closed", "closed"),
}
WAITING: tuple[wire.TicketStatus, ...] = ("new", "open", "pending")
MAX_NOTE_CHARS = 2000


class DeskError(ValueError):
    """A change the ticket's status does not allow (closing a closed ticket, say); the message says why."""


@dataclass(frozen=True)
class Changed:
    """A ticket after a change, and the message that tells its kiosk (None where the kiosk is not told)."""

    ticket: dict[str, Any]
    message: wire.HandoffUpdateV1 | None


def _now() -> datetime:
    return datetime.now(UTC)


def scope_sql(user: User, column: str = "device_id") -> tuple[str, list[object]]:
    """A WHERE condition (and its parameters) limiting ``column`` to the devices ``user`` may see."""
    if user.is_manager:
        return "1 = 1", []
    marks = ", ".join("?" for _ in user.branches)
    return (
        f"{column} IN (SELECT device_id FROM device_groups WHERE group_name IN ({marks}))",
        list(user.branches),
    )


class HandoffDesk:
    """The console's reads and writes of tickets and their notes."""

    def __init__(self, store: FleetStore) -> None:
        self.store = store
        self.db = store.db

    def queue(self, user: User, statuses: tuple[str, ...] = WAITING, limit: int = 200) -> list[dict[str, Any]]:
        """Tickets still waiting for someone (or ``statuses``), the longest-waiting first."""
        scope, params = scope_sql(user)
        marks = ", ".join("?" for _ in statuses)
        rows = self.db.execute(
            f"SELECT {', '.join(TICKET_COLUMNS)} FROM tickets WHERE status IN ({marks}) AND {scope}"
            " ORDER BY created_at LIMIT ?",
            [*statuses, *params, limit],
        ).fetchall()
        return [dict(zip(TICKET_COLUMNS, row, strict=True)) for row in rows]

    def search(
        self,
        user: User,
        status: str | None = None,
        ticket_type: str | None = None,
        since: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Tickets newest first, filtered by status, type and creation day."""
        scope, params = scope_sql(user)
        where = [scope]
        for condition, value in (("status = ?", status), ("type = ?", ticket_type), ("created_at >= ?", since)):
            if value:
                where.append(condition)
                params.append(value)
        rows = self.db.execute(
            f"SELECT {', '.join(TICKET_COLUMNS)} FROM tickets WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC LIMIT ?",
            [*params, limit],
        ).fetchall()
        return [dict(zip(TICKET_COLUMNS, row, strict=True)) for row in rows]

    def ticket(self, user: User, ref: str) -> dict[str, Any] | None:
        """One ticket by reference or id, with its whole wire payload, notes and files; None if not visible."""
        found = self.store.tickets(ref=ref, limit=1, scope=scope_sql(user))
        if not found:
            return None
        return found[0] | {"notes": self.notes(found[0]["id"])}

    def notes(self, ticket_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT author, status, note, at FROM ticket_notes WHERE ticket_id = ? ORDER BY id", [ticket_id]
        ).fetchall()
        return [{"author": a, "status": s, "note": n, "at": at} for a, s, n, at in rows]

    def act(self, user: User, ref: str, action: Action, note: str = "") -> Changed:
        """Claim, set pending or close a ticket (with an optional note), as ``user``; ``DeskError`` if its
        status does not allow it, ``LookupError`` if the user cannot see it."""
        if len(note) > MAX_NOTE_CHARS:
            raise DeskError(f"a note is at most {MAX_NOTE_CHARS} characters")
        sources, target, kiosk_state = TRANSITIONS[action]
        with self.store.db.transaction():  # read and write under the write lock: two colleagues, one claim
            ticket = self.ticket(user, ref)
            if ticket is None:
                raise LookupError(ref)
            if ticket["status"] not in sources:
                raise DeskError(f"ticket {ticket['reference']} is {ticket['status']}; it cannot be {target} now")
            now = _now().isoformat(timespec="milliseconds")
            assignee = user.username if action == "claim" else ticket["assignee"] or user.username
            self.db.execute(
                "UPDATE tickets SET status = ?, assignee = ?, claimed_at = COALESCE(claimed_at, ?),"
                " closed_at = ? WHERE id = ?",
                [
                    target,
                    assignee,
                    now if action == "claim" else None,
                    now if target == "closed" else None,
                    ticket["id"],
                ],
            )
            self.db.execute(
                "INSERT INTO ticket_notes (ticket_id, author, status, note, at) VALUES (?, ?, ?, ?, ?)",
                [ticket["id"], user.username, target, note.strip(), now],
            )
            self.store.note_change("ticket", ticket["id"], ticket["device_id"])
        changed = self.ticket(user, ref)
        assert changed is not None
        message = None
        if ticket["type"] == "handoff":
            message = wire.HandoffUpdateV1(
                ticket_id=ticket["id"],
                reference=ticket["reference"],
                state=kiosk_state,
                colleague=user.display_name,
                at=_now(),
            )
        return Changed(changed, message)

    def response_times(self, user: User, since: str | None = None) -> dict[str, float | int | None]:
        """Median minutes from a ticket's arrival to its claim and to its close, over tickets since ``since``."""
        scope, params = scope_sql(user)
        where = f"{scope} AND created_at >= ?" if since else scope
        rows = self.db.execute(
            f"SELECT received_at, claimed_at, closed_at FROM tickets WHERE {where} AND claimed_at IS NOT NULL",
            [*params, since] if since else params,
        ).fetchall()

        def minutes(start: str, end: str | None) -> float | None:
            if end is None:
                return None
            return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 60

        to_claim = [m for r in rows if (m := minutes(r[0], r[1])) is not None]
        to_close = [m for r in rows if (m := minutes(r[0], r[2])) is not None]
        return {
            "claimed": len(to_claim),
            "median_minutes_to_claim": round(median(to_claim), 1) if to_claim else None,
            "closed": len(to_close),
            "median_minutes_to_close": round(median(to_close), 1) if to_close else None,
        }
