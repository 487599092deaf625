"""The audit log of admin actions: who did what on this kiosk, and when.

Staff PIN tries (success, wrong, lockout), staff-screen actions, erasures, retention purges and remote
configuration changes each add one row to ``audit_log``. Where the action is itself a database write (an
erasure, a purge) the entry is written inside that action's transaction, so there is never an action without
its entry nor an entry for an action that rolled back; other actions (a PIN check, a pipeline restart, a
configuration file) get a transaction of their own right after.

The table is append-only from the app's point of view: triggers (migration 8) abort any UPDATE or DELETE,
so a bug or a compromised code path inside the app cannot rewrite history. Anyone with a shell can drop those
triggers, so the log is also a hash chain (migration 10): each entry keeps the previous entry's hash and its own,
taken over that and its content, and the settings row ``audit_log_head`` names the newest entry. ``verify``
(``kiosk audit --verify``, ``kiosk doctor``) finds a dropped or altered guard, an edited entry, a gap where
entries were deleted (the tail included) and an entry slipped in. There is no secret in the chain: someone who
rewrites every later hash and the head too goes unseen. This is accountability, not tamper-proofing. Entries
hold ids and counts, never a customer's words.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlite_utils import Database

from firmware_app.store import (
    AUDIT_CHAIN_SCHEMA,
    AUDIT_GUARDS,
    AUDIT_HEAD_KEY,
    audit_link,
    insert_row,
    open_database,
    schema_version,
    set_audit_head,
    transaction,
    utc_now,
)

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


ProblemKind = Literal["guard", "edited", "deleted", "inserted"]


@dataclass(frozen=True)
class Problem:
    """One sign that the audit log was changed other than by ``append``, in words for the operator."""

    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def append(db: Database, actor: Actor, action: str, detail: Mapping[str, Any] | None = None) -> None:
    """One entry inside the caller's open transaction: it commits or rolls back with the action.

    It links to the head record rather than to the last row, so entries deleted from the end stay a visible gap
    after the next append instead of being papered over."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit.append belongs inside the action's transaction; use audit.record")
    head_id, previous = _head(db) or (0, "")
    last_row = db.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    if head_id == 0 and last_row is not None:  # the head record is gone: carry on from the last entry
        head_id, previous = last_row
    entry_id = max(head_id, last_row[0] if last_row else 0) + 1
    row = {"id": entry_id, "at": utc_now(), "actor": actor, "action": action, "detail": json.dumps(dict(detail or {}))}
    entry_hash = audit_link(previous, list(row.values()))
    insert_row(db, "audit_log", {**row, "prev_hash": previous, "hash": entry_hash})
    set_audit_head(db, entry_id, entry_hash)


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


def verify(db: Database) -> list[Problem]:
    """Everything that shows the audit log was changed outside ``append``; empty when it is intact.

    A file not yet migrated to the chain has nothing to check (the kiosk chains it at its next start); one that
    was migrated and has lost the chain's columns is itself a problem."""
    if schema_version(db) < AUDIT_CHAIN_SCHEMA:
        return []
    columns = {column.name for column in db["audit_log"].columns}
    if not {"prev_hash", "hash"} <= columns:
        return [Problem("edited", "audit_log has lost its hash chain columns: the table was rebuilt")]
    rows = db.execute("SELECT id, at, actor, action, detail, prev_hash, hash FROM audit_log ORDER BY id").fetchall()
    return [*_guard_problems(db), *_chain_problems(rows), *_head_problems(db, rows[-1] if rows else None)]


def verify_file(database_path: Path) -> list[Problem]:
    """``verify`` on a database file opened read-only, migrating nothing: for ``kiosk doctor`` beside a running
    kiosk. Raises sqlite3.DatabaseError when the file cannot be read."""
    with closing(sqlite3.connect(f"{database_path.as_uri()}?mode=ro", uri=True)) as conn:
        return verify(Database(conn))


def _head(db: Database) -> tuple[int, str] | None:
    """The (id, hash) the head record names, None when there is none."""
    row = db.execute("SELECT value FROM settings WHERE key = ?", [AUDIT_HEAD_KEY]).fetchone()
    if row is None:
        return None
    head = json.loads(row[0])
    return int(head["id"]), str(head["hash"])


def _guard_problems(db: Database) -> Iterator[Problem]:
    """Each append-only trigger that is missing or no longer the one migration 8 made."""
    found = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
    for name, sql in AUDIT_GUARDS.items():
        if name not in found:
            yield Problem("guard", f"trigger {name} is missing: audit entries could be changed without a trace")
        elif found[name].split() != sql.split():
            yield Problem("guard", f"trigger {name} has been replaced: {' '.join(found[name].split())}")


def _chain_problems(rows: Sequence[tuple[Any, ...]]) -> Iterator[Problem]:
    """Entries whose hash does not match their content, and breaks in the chain between neighbours."""
    previous_id, previous_hash = 0, ""
    for entry_id, at, actor, action, detail, prev_hash, entry_hash in rows:
        if entry_hash != audit_link(prev_hash, [entry_id, at, actor, action, detail]):
            yield Problem("edited", f"entry {entry_id} ({action}) does not match its hash: changed after writing")
        if prev_hash != previous_hash:
            yield _break(previous_id, entry_id)
        previous_id, previous_hash = entry_id, entry_hash


def _break(previous_id: int, entry_id: int) -> Problem:
    """What a broken link between two neighbouring entries means: a gap is deleted entries, no gap an insertion."""
    if entry_id > previous_id + 1:
        return Problem("deleted", f"{_span(previous_id + 1, entry_id - 1)} missing")
    return Problem("inserted", f"entry {entry_id} does not follow entry {previous_id}: inserted or rewritten")


def _head_problems(db: Database, last: tuple[Any, ...] | None) -> Iterator[Problem]:
    """The newest entry against the head record: entries deleted from the end, or added after it by hand."""
    head = _head(db)
    last_id, last_hash = (last[0], last[-1]) if last else (0, "")
    if head is None:
        if last is not None:
            yield Problem("deleted", "the head record (settings.audit_log_head) is missing")
    elif head[0] > last_id:
        yield Problem("deleted", f"{_span(last_id + 1, head[0])} missing from the end")
    elif head[0] < last_id:
        yield Problem("inserted", f"{_span(head[0] + 1, last_id)} added after the last entry the app wrote")
    elif head[1] != last_hash:
        yield Problem("edited", f"entry {last_id} is not the entry the app wrote last")


def _span(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first} to {last} are"
