"""The audit log of admin actions: who did what on this kiosk, and when.

Staff PIN tries (success, wrong, lockout), staff-screen actions, erasures, retention purges and remote
configuration changes each add one row to ``audit_log``. Where the action is itself a database write (an
erasure, a purge) the entry is written inside that action's transaction, so there is never an action without
its entry nor an entry for an action that rolled back; other actions (a PIN check, a pipeline restart, a
configuration file) get a transaction of their own right after.

The table is append-only from the app's point of view: triggers (migration 8) abort any UPDATE or DELETE,
so a bug or a compromised code path inside the app cannot rewrite history. Root on the device can still
edit the file; this is accountability, not tamper-proofing. Entries hold ids and counts, never a customer's
words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlite_utils import Database

from firmware_app.store import insert_row, open_database, transaction, utc_now

# Who acted: a PIN holder on the touchscreen (staff share one PIN, so no name), an operator's command on the
# device, the fleet (remote configuration), or the kiosk itself (scheduled retention and the disk guard).
Actor = Literal["staff", "cli", "fleet", "system"]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    detail: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(
            {"id": self.id, "at": self.at, "actor": self.actor, "action": self.action, "detail": self.detail},
            ensure_ascii=False,
        )


def append(db: Database, actor: Actor, action: str, detail: Mapping[str, Any] | None = None) -> None:
    """One entry inside the caller's open transaction: it commits or rolls back with the action."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit.append belongs inside the action's transaction; use audit.record")
    row = {"at": utc_now(), "actor": actor, "action": action, "detail": json.dumps(dict(detail or {}))}
    insert_row(db, "audit_log", row)


def record(db: Database, actor: Actor, action: str, detail: Mapping[str, Any] | None = None) -> None:
    """One entry in a transaction of its own, for an action that is not itself a database write."""
    with transaction(db):
        append(db, actor, action, detail)


def record_to(database_path: Path, actor: Actor, action: str, detail: Mapping[str, Any] | None = None) -> None:
    """``record`` for code that holds no connection (remote configuration lives in a file, not the database)."""
    db = open_database(database_path)
    try:
        record(db, actor, action, detail)
    finally:
        db.close()


def entries(db: Database, since: str | None = None) -> list[AuditEntry]:
    """Entries oldest first, from ``since`` (an ISO-8601 UTC timestamp or date, compared as text) when given."""
    sql = "SELECT id, at, actor, action, detail FROM audit_log"
    params: list[object] = []
    if since is not None:
        sql += " WHERE at >= ?"
        params.append(since)
    rows = db.execute(sql + " ORDER BY id", params).fetchall()
    return [AuditEntry(id, at, actor, action, json.loads(detail)) for id, at, actor, action, detail in rows]
