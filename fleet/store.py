"""The backend's database (SQLite, or PostgreSQL via a URL: ``fleet.database``): one row per ticket id however
often it arrives, the devices' last status, their telemetry (one row per report), service analytics (the latest
per device and day) and the remote configuration the fleet manager set for each.

WAL, ``synchronous=FULL``: a ticket is acknowledged to its kiosk only after ``add_tickets`` has returned, and by
then it is on disk, so the kiosk may delete its copy. Several ``fleet serve`` processes may share the file; the
ticket id's primary key makes a second delivery (a re-send, or the same ticket at two processes) a no-op.
The schema is numbered (``PRAGMA user_version`` in SQLite): the backend shares no code with the kiosk's store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fleet.database import Database, connect
from kiosk_link.wire import (
    AnalyticsV1,
    RemoteConfigV1,
    SettingValue,
    StatusV1,
    TelemetryV2,
    TicketV1,
    carried_attachments,
    parse,
)

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
    (
        # A ticket's files: "stored" (under the files folder, sha256 checked) or "missing" on the kiosk.
        """CREATE TABLE attachments (
            ticket_id TEXT NOT NULL,
            name TEXT NOT NULL,
            device_id TEXT NOT NULL,
            state TEXT NOT NULL,
            size BIGINT NOT NULL,
            sha256 TEXT,
            received_at TEXT NOT NULL,
            PRIMARY KEY (ticket_id, name)
        )""",
    ),
    (
        # Rollouts (fleet/rollouts.py): the channel each kiosk reports, the fleet manager's groups, every
        # device's latest report per release, and each rollout with its targets.
        "ALTER TABLE devices ADD COLUMN channel TEXT",
        """CREATE TABLE device_groups (
            device_id TEXT NOT NULL,
            group_name TEXT NOT NULL,
            PRIMARY KEY (device_id, group_name)
        )""",
        """CREATE TABLE update_status (
            device_id TEXT NOT NULL,
            release_id TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            detail TEXT,
            done INTEGER NOT NULL,
            total INTEGER NOT NULL,
            first_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (device_id, release_id)
        )""",
        """CREATE TABLE rollouts (
            id INTEGER PRIMARY KEY,
            release_id TEXT NOT NULL UNIQUE,
            channel TEXT NOT NULL,
            group_name TEXT,
            canary_percent REAL NOT NULL,
            max_failure_percent REAL NOT NULL,
            state TEXT NOT NULL,
            phase TEXT NOT NULL,
            reason TEXT,
            withdrawn INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE rollout_devices (
            rollout_id INTEGER NOT NULL REFERENCES rollouts(id),
            device_id TEXT NOT NULL,
            canary INTEGER NOT NULL,
            offered_at TEXT,
            PRIMARY KEY (rollout_id, device_id)
        )""",
    ),
    (
        # The staff console (fleet/console/): who works a ticket, its notes, the console's users, their login
        # sessions, the audit of every change made through it, and the change feed its live pages follow.
        "ALTER TABLE tickets ADD COLUMN assignee TEXT",  # the user who claimed it
        "ALTER TABLE tickets ADD COLUMN claimed_at TEXT",
        "ALTER TABLE tickets ADD COLUMN closed_at TEXT",
        "CREATE INDEX tickets_status ON tickets(status, created_at)",
        "CREATE INDEX tickets_created ON tickets(created_at)",
        "CREATE INDEX tickets_reference ON tickets(reference)",  # the console opens tickets by reference
        """CREATE TABLE ticket_notes (
            id INTEGER PRIMARY KEY,
            ticket_id TEXT NOT NULL,
            author TEXT NOT NULL,
            status TEXT NOT NULL,
            note TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX ticket_notes_ticket ON ticket_notes(ticket_id, id)",
        """CREATE TABLE users (
            username TEXT PRIMARY KEY,
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL,
            branches TEXT NOT NULL,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE web_sessions (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        """CREATE TABLE changes (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL,
            scope TEXT
        )""",
    ),
]


ChangeKind = Literal["ticket", "device", "rollout"]
TicketOutcome = Literal["stored", "duplicate", "refused"]  # what ``add_tickets`` did with each

# A ticket's columns as the backend's reports and the console read them (the wire payload is in ``payload``).
TICKET_COLUMNS = (
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
    "assignee",
    "claimed_at",
    "closed_at",
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class FleetStore:
    def __init__(self, target: str | Path, migrate: bool = True) -> None:
        """``target``: a SQLite file (created if need be) or a ``postgresql://`` URL (``fleet.database``).
        ``migrate=False`` for another connection of a process that already migrated: it skips the write
        transaction the check takes."""
        self.db: Database = connect(target)
        if migrate:
            self._migrate()

    @property
    def files_dir(self) -> Path:
        """Where tickets' files are kept: ``FLEET_FILES``, else ``files`` beside the database (``fleet.files``)."""
        return Path(os.environ.get("FLEET_FILES") or self.db.home / "files")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One writer at a time: of two processes writing at once, one waits instead of failing."""
        with self.db.transaction():
            yield

    def _migrate(self) -> None:
        with self._transaction():  # two processes starting together: one migrates, the other then finds it done
            current = self.db.schema_version()
            for version, statements in enumerate(_SCHEMA[current:], start=current + 1):
                for statement in statements:
                    self.db.execute(statement)
                self.db.set_schema_version(version)

    def add_tickets(self, batch: Sequence[tuple[TicketV1, bytes | bytearray]]) -> list[TicketOutcome]:
        """Store and commit tickets in one transaction, so one fsync covers the lot (``synchronous=FULL`` costs
        milliseconds per commit, which per ticket would cap a backend far below its fleet's rate). For each
        ticket: "stored"; "duplicate" when its id was already stored for the same device (a repeated delivery,
        or the same ticket twice in ``batch``); "refused" when the id is stored for another device, whose row
        stays as it was: a duplicate may be acknowledged again, a refused ticket never (its sender would delete
        a ticket the backend does not hold, and an attacker knowing an id would stop its real kiosk's re-sends)."""
        now = _now()
        with self._transaction():
            outcomes = [self._insert_ticket(ticket, payload, now) for ticket, payload in batch]
            for device_id in {ticket.device_id for ticket, _ in batch}:
                self._seen(device_id, now)
        return outcomes

    def _insert_ticket(self, ticket: TicketV1, payload: bytes | bytearray, now: str) -> TicketOutcome:
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
        if cursor.rowcount == 1:
            self.note_change("ticket", ticket.id, ticket.device_id)
            return "stored"
        return "duplicate" if self.ticket_device(ticket.id) == ticket.device_id else "refused"

    def add_ticket(self, ticket: TicketV1, payload: bytes | bytearray) -> bool:
        """Store and commit one ticket; False when its id was already stored (a repeated delivery, or another
        device's ticket: ``add_tickets`` tells the two apart)."""
        return self.add_tickets([(ticket, payload)])[0] == "stored"

    def ticket_device(self, ticket_id: str) -> str | None:
        """The device that filed ``ticket_id`` (None: not stored): the only one that may send its files or be told
        it is stored."""
        row = self.db.execute("SELECT device_id FROM tickets WHERE id = ?", [ticket_id]).fetchone()
        return None if row is None else str(row[0])

    def set_status(self, device_id: str, status: StatusV1) -> None:
        """The device's latest status; a status without a pack, config report or channel keeps the last."""
        with self._transaction():
            self._set_status(device_id, status, _now())
            self.note_change("device", device_id, device_id)

    def _set_status(self, device_id: str, status: StatusV1, now: str) -> None:
        pack = status.pack.model_dump_json() if status.pack else None
        report = status.config.model_dump_json() if status.config else None
        self.db.execute(
            "INSERT INTO devices (device_id, state, versions, first_seen_at, status_at, pack, config_report, channel)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(device_id) DO UPDATE SET state = excluded.state, versions = excluded.versions,"
            " status_at = excluded.status_at, pack = COALESCE(excluded.pack, devices.pack),"
            " config_report = COALESCE(excluded.config_report, devices.config_report),"
            " channel = COALESCE(excluded.channel, devices.channel)",
            [device_id, status.state, json.dumps(status.versions), now, now, pack, report, status.channel],
        )

    def add_telemetry(self, device_id: str, report: TelemetryV2, payload: bytes | bytearray) -> bool:
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

    def note_change(self, kind: ChangeKind, ref: str, device_id: str | None = None) -> None:
        """Add to the change feed that every console's live pages follow (``fleet.console.live``), whichever
        ``fleet serve`` or ``fleet web`` process made the change: a ticket, a device or a rollout, with the
        device it concerns so that a branch's staff are told only of their own kiosks.

        Call it inside a write transaction (``transaction``): rows then commit in id order, whichever process
        writes them, so a reader that takes every id after the last it saw never skips one that commits late."""
        self.db.execute(
            "INSERT INTO changes (at, kind, ref, scope) VALUES (?, ?, ?, ?)", [_now(), kind, ref, device_id]
        )

    def changes_after(self, change_id: int, limit: int = 500) -> list[tuple[int, str, str, str | None]]:
        """``(id, kind, ref, device)`` of the changes after ``change_id``, oldest first."""
        rows = self.db.execute(
            "SELECT id, kind, ref, scope FROM changes WHERE id > ? ORDER BY id LIMIT ?", [change_id, limit]
        ).fetchall()
        return [(int(row[0]), row[1], row[2], row[3]) for row in rows]

    def prune_changes(self, before: str) -> int:
        """Forget the change feed's rows written before ``before`` (an ISO time); how many went. Consoles only
        read the last moments of the feed, so a day is plenty to keep."""
        with self._transaction():
            return self.db.execute("DELETE FROM changes WHERE at < ?", [before]).rowcount

    def last_change(self) -> int:
        row = self.db.execute("SELECT MAX(id) FROM changes").fetchone()
        return int(row[0] or 0)

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

    def analytics_records(
        self, since: str, device_ids: Sequence[str] | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """The daily aggregates from ``since`` as stored (JSON, validated when they arrived), of ``device_ids``
        (None: every device): what the console's dashboard sums on every page view."""
        rows = self.db.execute("SELECT device_id, payload FROM service_stats WHERE day >= ?", [since]).fetchall()
        wanted = None if device_ids is None else set(device_ids)
        return [(device, json.loads(payload)) for device, payload in rows if wanted is None or device in wanted]

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

    def tickets(
        self,
        device_id: str | None = None,
        limit: int = 50,
        *,
        ticket_type: str | None = None,
        status: str | None = None,
        since: str | None = None,
        ref: str | None = None,
        scope: tuple[str, Sequence[object]] | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first, as stored: the columns, the ticket's whole wire payload under ``ticket``, and what became
        of each file it names under ``files`` ("stored", "missing" on the kiosk, or "pending"). Each filter given
        narrows the list: ``since`` is the first day (2026-11-01) of creation, ``ref`` a reference or a ticket id,
        ``scope`` a condition on ``device_id`` with its parameters (the console's branch scope)."""
        filters: list[tuple[str, list[object]]] = [
            ("device_id = ?", [device_id]),
            ("type = ?", [ticket_type]),
            ("status = ?", [status]),
            ("created_at >= ?", [since]),
            ("(reference = ? OR id = ?)", [ref, ref]),
        ]
        used = [(condition, values) for condition, values in filters if values[0] is not None]
        if scope is not None:
            used.append((scope[0], list(scope[1])))
        where = " AND ".join(condition for condition, _ in used) or "1 = 1"
        params = [value for _, values in used for value in values]
        rows = self.db.execute(
            f"SELECT {', '.join(TICKET_COLUMNS)}, payload FROM tickets WHERE {where}"
            " ORDER BY created_at DESC, id LIMIT ?",
            [*params, limit],
        ).fetchall()
        ids = [row[0] for row in rows]
        states = dict[tuple[str, str], str]()
        if ids:
            marks = ", ".join("?" for _ in ids)
            found = self.db.execute(f"SELECT ticket_id, name, state FROM attachments WHERE ticket_id IN ({marks})", ids)
            states = {(ticket_id, name): state for ticket_id, name, state in found.fetchall()}
        return [
            {
                **dict(zip(TICKET_COLUMNS, row, strict=False)),
                "ticket": (ticket := json.loads(row[-1])),
                "files": {name: states.get((row[0], name), "pending") for name in ticket["attachments"]},
            }
            for row in rows
        ]

    def ticket(self, ref: str) -> dict[str, Any] | None:
        """One ticket, as ``tickets`` gives it, by its reference (what the customer was told) or its id; the newest
        should two kiosks have given the same reference; None if there is none."""
        found = self.tickets(ref=ref, limit=1)
        return found[0] if found else None

    def devices(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """Each device's last status, its latest telemetry (queue depth, when), and its remote configuration; or
        only ``device_id``'s."""
        rows = self.db.execute(
            "SELECT d.device_id, state, versions, first_seen_at, status_at,"
            " (SELECT COUNT(*) FROM tickets t WHERE t.device_id = d.device_id), pack, config_report,"
            " m.received_at, m.queue_depth, c.revision, m.payload"
            " FROM devices d"
            " LEFT JOIN telemetry m ON m.device_id = d.device_id"
            "  AND m.sent_at = (SELECT MAX(sent_at) FROM telemetry WHERE device_id = d.device_id)"
            " LEFT JOIN device_config c ON c.device_id = d.device_id"
            f"{' WHERE d.device_id = ?' if device_id else ''} ORDER BY d.device_id",
            [device_id] if device_id else [],
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
                # What the latest telemetry listed as running on its fallback (none before ``kiosk.telemetry/2``).
                "degraded": _degraded(telemetry_payload),
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
                telemetry_payload,
            ) in rows
        ]

    def recent_telemetry(self, device_id: str, limit: int = 48) -> list[tuple[str, int, TelemetryV2]]:
        """The device's last ``limit`` telemetry reports, oldest first: ``(sent_at, queue depth, report)``."""
        rows = self.db.execute(
            "SELECT sent_at, queue_depth, payload FROM telemetry WHERE device_id = ? ORDER BY sent_at DESC LIMIT ?",
            [device_id, limit],
        ).fetchall()
        return [(sent_at, depth, parse(payload.encode(), TelemetryV2)) for sent_at, depth, payload in reversed(rows)]

    def add_attachment(self, device_id: str, ticket_id: str, name: str, sha256: str | None, size: int) -> None:
        """Record a ticket's file as stored (with its ``sha256``) or as missing on the kiosk (None); a file that
        arrives after it was reported missing replaces that record, never the other way round."""
        with self._transaction():
            self.db.execute(
                "INSERT INTO attachments (ticket_id, name, device_id, state, size, sha256, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(ticket_id, name) DO UPDATE SET state = excluded.state,"
                " size = excluded.size, sha256 = excluded.sha256, received_at = excluded.received_at"
                " WHERE attachments.state = 'missing' AND excluded.state = 'stored'",
                [ticket_id, name, device_id, "stored" if sha256 else "missing", size, sha256, _now()],
            )
            self.note_change("ticket", ticket_id, device_id)  # the photo can now be shown

    def attachment_stored(self, ticket_id: str, name: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM attachments WHERE ticket_id = ? AND name = ? AND state = 'stored'", [ticket_id, name]
        ).fetchone()
        return row is not None

    def delivered(self, device_id: str, ticket_ids: Sequence[str]) -> list[str]:
        """Of ``ticket_ids``, those stored for ``device_id`` with every file they name recorded (stored or missing
        on the kiosk): the ones its kiosk may now forget."""
        marks = ", ".join("?" for _ in ticket_ids)
        tickets = self.db.execute(
            f"SELECT id, payload FROM tickets WHERE device_id = ? AND id IN ({marks})", [device_id, *ticket_ids]
        ).fetchall()
        recorded = self.db.execute(
            f"SELECT ticket_id, name FROM attachments WHERE device_id = ? AND ticket_id IN ({marks})",
            [device_id, *ticket_ids],
        ).fetchall()
        have = {(ticket_id, name) for ticket_id, name in recorded}
        return [
            ticket_id
            for ticket_id, payload in tickets
            if all((ticket_id, name) in have for name in carried_attachments(json.loads(payload)["attachments"]))
        ]

    def close(self) -> None:
        self.db.close()


def _degraded(payload: str | None) -> list[dict[str, Any]]:
    """The capabilities a stored telemetry report lists as degraded (version 1 lists none)."""
    if payload is None:
        return []
    report = parse(payload.encode(), TelemetryV2)
    return [d.model_dump(mode="json") for d in report.degraded]
