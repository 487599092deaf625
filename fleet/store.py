"""The backend's SQLite database: one row per ticket id however often it arrives, and the devices' last status.

WAL, ``synchronous=FULL``: a ticket is acknowledged to its kiosk only after ``add_ticket`` has returned, and by
then it is on disk, so the kiosk may delete its copy. Several ``fleet serve`` processes may share the file; the
ticket id's primary key makes a second delivery (a re-send, or the same ticket at two processes) a no-op.
The schema is numbered by ``PRAGMA user_version``: the backend shares no code with the kiosk's store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from firmware_app.sync.wire import StatusV1, TicketV1

_SCHEMA: list[tuple[str, ...]] = [
    (
        """CREATE TABLE tickets (
            id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            reference TEXT NOT NULL,
            type TEXT NOT NULL,
            priority TEXT NOT NULL,
            status TEXT NOT NULL,
            language TEXT NOT NULL,
            summary TEXT NOT NULL,
            created_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            payload TEXT NOT NULL
        )""",
        "CREATE INDEX tickets_device ON tickets(device_id, created_at)",
        """CREATE TABLE devices (
            device_id TEXT PRIMARY KEY,
            state TEXT,
            versions TEXT NOT NULL DEFAULT '{}',
            first_seen_at TEXT NOT NULL,
            status_at TEXT
        )""",
    ),
]


_TICKET_COLUMNS = (
    "id",
    "device_id",
    "reference",
    "type",
    "priority",
    "status",
    "language",
    "summary",
    "created_at",
    "received_at",
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class FleetStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")  # another `fleet serve` may be writing
        self.db = Database(conn)
        self._migrate()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: of two processes writing at once, one waits (busy_timeout) instead of failing."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction():  # two processes starting together: one migrates, the other then finds it done
            current = int(self.db.execute("PRAGMA user_version").fetchone()[0])
            for version, statements in enumerate(_SCHEMA[current:], start=current + 1):
                for statement in statements:
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {version}")

    def add_ticket(self, ticket: TicketV1, payload: bytes | bytearray) -> bool:
        """Store and commit one ticket; False when its id was already stored (a repeated delivery)."""
        now = _now()
        with self._transaction():
            cursor = self.db.execute(
                "INSERT INTO tickets (id, device_id, reference, type, priority, status, language, summary,"
                " created_at, received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO NOTHING",
                [
                    ticket.id,
                    ticket.device_id,
                    ticket.reference,
                    ticket.type,
                    ticket.priority,
                    ticket.status,
                    ticket.language,
                    ticket.summary,
                    ticket.created_at.isoformat(),
                    now,
                    payload.decode(),
                ],
            )
            self.db.execute(
                "INSERT INTO devices (device_id, first_seen_at) VALUES (?, ?) ON CONFLICT(device_id) DO NOTHING",
                [ticket.device_id, now],
            )
        return cursor.rowcount == 1

    def set_status(self, device_id: str, status: StatusV1) -> None:
        now = _now()
        self.db.execute(
            "INSERT INTO devices (device_id, state, versions, first_seen_at, status_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(device_id) DO UPDATE SET state = excluded.state, versions = excluded.versions,"
            " status_at = excluded.status_at",
            [device_id, status.state, json.dumps(status.versions), now, now],
        )

    def tickets(self, device_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, as stored: the columns plus the ticket's whole wire payload under ``ticket``."""
        where = " WHERE device_id = ?" if device_id else ""
        params: list[object] = [device_id, limit] if device_id else [limit]
        rows = self.db.execute(
            f"SELECT {', '.join(_TICKET_COLUMNS)}, payload FROM tickets{where} ORDER BY created_at DESC, id LIMIT ?",
            params,
        ).fetchall()
        return [{**dict(zip(_TICKET_COLUMNS, row, strict=False)), "ticket": json.loads(row[-1])} for row in rows]

    def devices(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT device_id, state, versions, first_seen_at, status_at,"
            " (SELECT COUNT(*) FROM tickets t WHERE t.device_id = d.device_id) FROM devices d ORDER BY device_id"
        ).fetchall()
        return [
            {
                "device_id": device_id,
                "state": state or "unknown",
                "versions": json.loads(versions),
                "first_seen_at": first_seen_at,
                "status_at": status_at,
                "tickets": count,
            }
            for device_id, state, versions, first_seen_at, status_at, count in rows
        ]

    def close(self) -> None:
        self.db.close()
