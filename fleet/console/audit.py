"""The audit log: who changed what through the console, and when. Managers read it; nothing deletes from it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fleet.database import Database


class AuditLog:
    """The ``audit_log`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, actor: str, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        self.db.execute(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            [
                datetime.now(UTC).isoformat(timespec="milliseconds"),
                actor,
                action,
                target,
                json.dumps(detail or {}, ensure_ascii=False),
            ],
        )

    def entries(self, limit: int = 200, actor: str | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        where, params = ("WHERE actor = ?", [actor, limit]) if actor else ("", [limit])
        rows = self.db.execute(
            f"SELECT id, at, actor, action, target, detail FROM audit_log {where} ORDER BY id DESC LIMIT ?", params
        ).fetchall()
        return [
            {
                "id": row[0],
                "at": row[1],
                "actor": row[2],
                "action": row[3],
                "target": row[4],
                "detail": json.loads(row[5]),
            }
            for row in rows
        ]
