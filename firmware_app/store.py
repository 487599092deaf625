"""The kiosk's one SQLite database, used through sqlite-utils, with numbered schema migrations.

WAL journal and ``synchronous=FULL``: a ticket that was reported as saved survives a power cut. ``secure_delete``
overwrites what a retention purge or an erasure removes, so a customer's words do not linger in free pages of the
file after the kiosk has reported them gone. Migrations
are plain functions numbered by their position in ``MIGRATIONS``; each runs in its own transaction and is
recorded in ``schema_migrations``, so opening an old database brings it up to date and a failed migration
leaves the previous version intact.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database


def stamp(at: datetime) -> str:
    """Timestamps are stored as ISO-8601 UTC strings with milliseconds, so they compare and sort as text."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def utc_now() -> str:
    """Now, as the store's timestamps are written (``stamp``)."""
    return stamp(datetime.now(UTC))


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """One explicit write transaction (the connection is in autocommit mode otherwise).

    Use raw statements inside it (``db.execute``, ``insert_row``): sqlite-utils' own write helpers commit
    on their own and would end the transaction early.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:  # SQLite has already rolled back after errors such as a full disk
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def insert_row(db: Database, table: str, row: Mapping[str, object]) -> int:
    """Insert one row with bound parameters; returns its rowid. ``table`` and keys are our own names."""
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    cursor = db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values()))
    return int(cursor.lastrowid or 0)


def _m001_core(db: Database) -> None:
    db.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,"
        " action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '{}')"
    )


def _m002_knowledge(db: Database) -> None:
    db.execute(
        "CREATE TABLE packs (pack_id TEXT PRIMARY KEY, version TEXT NOT NULL, content_sha256 TEXT NOT NULL,"
        " installed_at TEXT NOT NULL)"
    )
    db.execute(
        """CREATE TABLE faq (
            rowid INTEGER PRIMARY KEY,
            entry_id TEXT NOT NULL,
            lang TEXT NOT NULL CHECK (lang IN ('en', 'zh')),
            pack_id TEXT NOT NULL REFERENCES packs(pack_id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('intent', 'faq')),
            topic TEXT NOT NULL,
            question TEXT NOT NULL,
            alternatives TEXT NOT NULL,
            answer TEXT NOT NULL,
            steps TEXT NOT NULL DEFAULT '[]',
            follow_up TEXT,
            vector BLOB,
            UNIQUE (entry_id, lang)
        )"""
    )
    # Two full-text indexes over the same rows: word-based (English) and trigram (Chinese has no spaces).
    db.execute(
        "CREATE VIRTUAL TABLE faq_fts USING fts5(question, alternatives, answer, content='faq',"
        " content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2')"
    )
    db.execute(
        "CREATE VIRTUAL TABLE faq_trigram USING fts5(question, alternatives, answer, content='faq',"
        " content_rowid='rowid', tokenize='trigram')"
    )


def _m003_tickets(db: Database) -> None:
    db.execute(
        """CREATE TABLE tickets (
            id TEXT PRIMARY KEY,
            reference TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
            status TEXT NOT NULL CHECK (status IN ('new', 'open', 'pending', 'closed')),
            device_id TEXT NOT NULL,
            session_id TEXT,
            language TEXT NOT NULL,
            intent TEXT,
            summary TEXT NOT NULL,
            entities TEXT NOT NULL DEFAULT '[]',
            sentiment TEXT,
            transcript TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX tickets_created_at ON tickets(created_at)")
    db.execute(
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            topic TEXT NOT NULL,
            payload TEXT NOT NULL,
            ticket_id TEXT REFERENCES tickets(id),
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        )"""
    )


def _m004_ratings_and_attachments(db: Database) -> None:
    db.execute("ALTER TABLE tickets ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]'")
    db.execute(
        "CREATE TABLE ratings (session_id TEXT PRIMARY KEY, stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),"
        " language TEXT NOT NULL, at TEXT NOT NULL)"
    )


def _m005_ticket_inspection(db: Database) -> None:
    """What the defect model said about a technician's photo (JSON; NULL on every other ticket)."""
    db.execute("ALTER TABLE tickets ADD COLUMN inspection TEXT")


def _m006_outbox_delivery(db: Database) -> None:
    """When the sync last published a row (it re-sends rows the backend has not acknowledged in time), and an
    index for deleting rows by the ticket ids an acknowledgement names."""
    db.execute("ALTER TABLE outbox ADD COLUMN last_sent_at TEXT")
    db.execute("CREATE INDEX outbox_ticket_id ON outbox(ticket_id)")


def _m007_visits(db: Database) -> None:
    """Service analytics: one row per visit (its outcome, no words) and what it was about: the intents it was
    answered with and, redacted, the questions the kiosk had no answer for."""
    db.execute(
        """CREATE TABLE visits (
            session_id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            language TEXT NOT NULL,
            turns INTEGER NOT NULL DEFAULT 0,
            answers INTEGER NOT NULL DEFAULT 0,
            handed_off INTEGER NOT NULL DEFAULT 0,
            ended_at TEXT,
            end_reason TEXT
        )"""
    )
    db.execute("CREATE INDEX visits_started_at ON visits(started_at)")
    db.execute(
        "CREATE TABLE visit_topics (id INTEGER PRIMARY KEY, session_id TEXT NOT NULL REFERENCES visits(session_id),"
        " kind TEXT NOT NULL CHECK (kind IN ('intent', 'out_of_scope')), value TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX visit_topics_session ON visit_topics(session_id)")


# The triggers that keep ``audit_log`` append-only, by name; ``audit.verify`` compares the file's with these.
AUDIT_GUARDS = {
    f"audit_log_no_{verb.lower()}": f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    for verb in ("UPDATE", "DELETE")
}
# The settings key holding the last audit entry's id and hash: a deleted tail leaves the chain intact but not this.
AUDIT_HEAD_KEY = "audit_log_head"


def audit_link(previous_hash: str, entry: Sequence[object]) -> str:
    """sha256 over the previous entry's hash and this entry's (id, at, actor, action, detail) as compact JSON.

    It lives beside the migration that chains existing entries, which cannot import ``audit`` (audit imports
    this module); ``audit.append`` chains every new entry with it too."""
    content = json.dumps(list(entry), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{previous_hash}\n{content}".encode()).hexdigest()


def set_audit_head(db: Database, entry_id: int, entry_hash: str) -> None:
    """Record the newest audit entry, inside the transaction that wrote it."""
    db.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [AUDIT_HEAD_KEY, json.dumps({"id": entry_id, "hash": entry_hash})],
    )


def _m008_privacy(db: Database) -> None:
    """Retention and erasure: when the backend acknowledged each ticket (retention counts from there, never from
    filing), when its words and its photos were removed, and an audit log the app can only append to."""
    db.execute("ALTER TABLE tickets ADD COLUMN synced_at TEXT")
    db.execute("ALTER TABLE tickets ADD COLUMN transcript_purged_at TEXT")
    db.execute("ALTER TABLE tickets ADD COLUMN photos_pruned_at TEXT")
    db.execute("CREATE INDEX tickets_synced_at ON tickets(synced_at)")
    db.execute("CREATE INDEX audit_log_at ON audit_log(at)")
    for guard in AUDIT_GUARDS.values():
        db.execute(guard)


def _m009_pack_embedder(db: Database) -> None:
    """Which models embedded the installed pack's entries: a new intent model means new vectors."""
    db.execute("ALTER TABLE packs ADD COLUMN embedder TEXT NOT NULL DEFAULT ''")


def _m010_audit_chain(db: Database) -> None:
    """Chain the audit log: each entry keeps the previous entry's hash and its own (``audit_link``), so an entry
    edited, deleted or slipped in, even with the guard triggers dropped first, shows in ``audit.verify``. The
    entries already there are chained now, the UPDATE guard lifted for this transaction only; whatever was done
    to them before today cannot be told any more."""
    db.execute("ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE audit_log ADD COLUMN hash TEXT NOT NULL DEFAULT ''")
    db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")  # a file whose guard was already dropped still migrates
    previous = ""
    entries = db.execute("SELECT id, at, actor, action, detail FROM audit_log ORDER BY id").fetchall()
    for entry in entries:
        entry_hash = audit_link(previous, entry)
        db.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", [previous, entry_hash, entry[0]])
        previous = entry_hash
    db.execute(AUDIT_GUARDS["audit_log_no_update"])
    if entries:
        set_audit_head(db, entries[-1][0], previous)


def _m011_staff_pin_lockout(db: Database) -> None:
    """The staff PIN's wrong tries and lock-outs (one row), so that a restart neither forgets a lock-out nor
    starts the escalation again (``firmware_app.staff_pin``)."""
    db.execute(
        "CREATE TABLE staff_pin_lockout (id INTEGER PRIMARY KEY CHECK (id = 1), failures INTEGER NOT NULL,"
        " lockouts INTEGER NOT NULL, locked_until TEXT)"
    )


MIGRATIONS: list[Callable[[Database], None]] = [
    _m001_core,
    _m002_knowledge,
    _m003_tickets,
    _m004_ratings_and_attachments,
    _m005_ticket_inspection,
    _m006_outbox_delivery,
    _m007_visits,
    _m008_privacy,
    _m009_pack_embedder,
    _m010_audit_chain,
    _m011_staff_pin_lockout,
]
# The schema version from which every audit entry is chained: an older file is chained at its next open.
AUDIT_CHAIN_SCHEMA = MIGRATIONS.index(_m010_audit_chain) + 1


def schema_version(db: Database) -> int:
    if "schema_migrations" not in db.table_names():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(db: Database) -> int:
    """Apply the migrations this database has not seen yet; returns the resulting version."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    current = schema_version(db)
    for version, migration in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        with transaction(db):
            migration(db)
            db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", [version, utc_now()])
    return schema_version(db)


def open_database(path: Path | str) -> Database:
    """Open (creating if needed) and migrate the kiosk database. ``":memory:"`` is accepted for tests."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA secure_delete=ON")
    db = Database(conn)
    try:
        migrate(db)
    except BaseException:
        conn.close()
        raise
    return db
