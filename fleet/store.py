"""The backend's SQLite database: one row per ticket id however often it arrives, the devices' last status,
their telemetry (one row per report), service analytics (the latest per device and day) and the remote
configuration the fleet manager set for each.

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

from firmware_app.sync.wire import AnalyticsV1, RemoteConfigV1, SettingValue, StatusV1, TelemetryV1, TicketV1

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
    (
        "ALTER TABLE devices ADD COLUMN pack TEXT",  # JSON: the pack in the last status
        "ALTER TABLE devices ADD COLUMN config_report TEXT",  # JSON: what the kiosk did with its remote config
        """CREATE TABLE telemetry (
            device_id TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            uptime_s REAL NOT NULL,
            queue_depth INTEGER NOT NULL,
            free_disk_bytes INTEGER,
            payload TEXT NOT NULL,
            PRIMARY KEY (device_id, sent_at)
        )""",
        """CREATE TABLE service_stats (
            device_id TEXT NOT NULL,
            day TEXT NOT NULL,
            conversations INTEGER NOT NULL,
            resolved INTEGER NOT NULL,
            handoffs INTEGER NOT NULL,
            payload TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (device_id, day)
        )""",
        """CREATE TABLE device_config (
            device_id TEXT PRIMARY KEY,
            revision INTEGER NOT NULL,
            settings TEXT NOT NULL,
            set_at TEXT NOT NULL
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
        """The device's latest status; a status without a pack or a config report (a last will) keeps the last."""
        now = _now()
        pack = status.pack.model_dump_json() if status.pack else None
        report = status.config.model_dump_json() if status.config else None
        self.db.execute(
            "INSERT INTO devices (device_id, state, versions, first_seen_at, status_at, pack, config_report)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(device_id) DO UPDATE SET state = excluded.state, versions = excluded.versions,"
            " status_at = excluded.status_at, pack = COALESCE(excluded.pack, devices.pack),"
            " config_report = COALESCE(excluded.config_report, devices.config_report)",
            [device_id, status.state, json.dumps(status.versions), now, now, pack, report],
        )

    def add_telemetry(self, device_id: str, report: TelemetryV1, payload: bytes | bytearray) -> bool:
        """Keep one telemetry report; False when the same report (device and ``sent_at``) arrived before."""
        now = _now()
        with self._transaction():
            cursor = self.db.execute(
                "INSERT INTO telemetry (device_id, sent_at, received_at, uptime_s, queue_depth, free_disk_bytes,"
                " payload) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    device_id,
                    report.sent_at.isoformat(),
                    now,
                    report.uptime_s,
                    report.queue_depth,
                    report.free_disk_bytes,
                    payload.decode(),
                ],
            )
            self._seen(device_id, now)
        return cursor.rowcount == 1

    def set_analytics(self, device_id: str, report: AnalyticsV1) -> None:
        """The device's latest aggregates for the report's day replace any earlier ones."""
        now = _now()
        with self._transaction():
            self.db.execute(
                "INSERT INTO service_stats (device_id, day, conversations, resolved, handoffs, payload, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_id, day) DO UPDATE SET"
                " conversations = excluded.conversations, resolved = excluded.resolved,"
                " handoffs = excluded.handoffs, payload = excluded.payload, received_at = excluded.received_at",
                [
                    device_id,
                    report.day.isoformat(),
                    report.conversations,
                    report.resolved,
                    report.handoffs,
                    report.model_dump_json(by_alias=True),
                    now,
                ],
            )
            self._seen(device_id, now)

    def _seen(self, device_id: str, at: str) -> None:
        self.db.execute(
            "INSERT INTO devices (device_id, first_seen_at) VALUES (?, ?) ON CONFLICT(device_id) DO NOTHING",
            [device_id, at],
        )

    def analytics(self, device_id: str | None = None, since: str | None = None) -> list[tuple[str, AnalyticsV1]]:
        """Stored daily aggregates, oldest first, with the device each came from (``AnalyticsV1`` has none)."""
        where, params = ["1 = 1"], list[str]()
        if device_id:
            where.append("device_id = ?")
            params.append(device_id)
        if since:
            where.append("day >= ?")
            params.append(since)
        rows = self.db.execute(
            f"SELECT device_id, payload FROM service_stats WHERE {' AND '.join(where)} ORDER BY day, device_id",
            params,
        ).fetchall()
        return [(device, AnalyticsV1.model_validate_json(payload)) for device, payload in rows]

    def next_config(self, device_id: str, changes: dict[str, SettingValue | None]) -> RemoteConfigV1:
        """The device's remote configuration with ``changes`` merged in (None removes a key), as a new revision."""
        with self._transaction():
            row = self.db.execute(
                "SELECT revision, settings FROM device_config WHERE device_id = ?", [device_id]
            ).fetchone()
            revision, settings = (row[0], json.loads(row[1])) if row else (0, {})
            settings.update(changes)
            settings = {key: value for key, value in settings.items() if value is not None}
            config = RemoteConfigV1(revision=revision + 1, settings=settings)
            self.db.execute(
                "INSERT INTO device_config (device_id, revision, settings, set_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(device_id) DO UPDATE SET revision = excluded.revision, settings = excluded.settings,"
                " set_at = excluded.set_at",
                [device_id, config.revision, json.dumps(config.settings), _now()],
            )
        return config

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
        """Each device's last status, its latest telemetry (queue depth, when), and its remote configuration."""
        rows = self.db.execute(
            "SELECT d.device_id, state, versions, first_seen_at, status_at,"
            " (SELECT COUNT(*) FROM tickets t WHERE t.device_id = d.device_id), pack, config_report,"
            " m.received_at, m.queue_depth, c.revision"
            " FROM devices d"
            " LEFT JOIN telemetry m ON m.rowid = (SELECT rowid FROM telemetry WHERE device_id = d.device_id"
            "  ORDER BY sent_at DESC LIMIT 1)"
            " LEFT JOIN device_config c ON c.device_id = d.device_id"
            " ORDER BY d.device_id"
        ).fetchall()
        return [
            {
                "device_id": device_id,
                "state": state or "unknown",
                "versions": json.loads(versions),
                "first_seen_at": first_seen_at,
                "status_at": status_at,
                "tickets": count,
                "pack": json.loads(pack) if pack else None,
                "last_seen_at": max(filter(None, (status_at, telemetry_at)), default=None),
                "queue_depth": queue_depth,
                "config": json.loads(report) if report else None,
                "config_revision_set": revision_set,
            }
            for (
                device_id,
                state,
                versions,
                first_seen_at,
                status_at,
                count,
                pack,
                report,
                telemetry_at,
                queue_depth,
                revision_set,
            ) in rows
        ]

    def close(self) -> None:
        self.db.close()
