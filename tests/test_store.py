"""The SQLite store: numbered migrations, pragmas, upgrade of old files, failed migrations and transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from firmware_app import store
from firmware_app.store import MIGRATIONS, open_database, schema_version, transaction

ALL_TABLES = {
    "schema_migrations",
    "settings",
    "audit_log",
    "packs",
    "faq",
    "faq_fts",
    "faq_trigram",
    "tickets",
    "outbox",
    "ratings",
    "visits",
    "visit_topics",
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database path in a directory that does not exist yet."""
    return tmp_path / "data" / "kiosk.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    """A freshly opened (and migrated) database, closed afterwards."""
    database = open_database(db_path)
    yield database
    database.close()


def migration_rows(path: Path) -> list[tuple[int, str]]:
    """(version, applied_at) rows read with a plain sqlite3 connection."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_new_file_gets_every_migration(db: Database, db_path: Path) -> None:
    """Opening a new file creates its directory and applies all migrations, recording each version once."""
    assert db_path.is_file()
    assert schema_version(db) == len(MIGRATIONS) == 11
    assert [version for version, _ in migration_rows(db_path)] == list(range(1, len(MIGRATIONS) + 1))
    assert set(db.table_names()) >= ALL_TABLES


def test_pragmas_wal_full_sync_foreign_keys(db: Database, db_path: Path) -> None:
    """WAL journal, synchronous=FULL and enforced foreign keys on the connection open_database returns."""
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert db.conn.isolation_level is None  # autocommit outside transaction()
    # Enforced, not just set: an outbox row may not point at a ticket that does not exist.
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        db.execute(
            "INSERT INTO outbox (topic, payload, ticket_id, created_at) VALUES ('t', '{}', 'no-such-ticket', 'now')"
        )
    # WAL is a property of the file: a second, plain connection sees it too.
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_memory_database_is_accepted() -> None:
    """':memory:' (for quick tests) is migrated like a file."""
    database = open_database(":memory:")
    try:
        assert schema_version(database) == len(MIGRATIONS)
        assert {"tickets", "outbox"} <= set(database.table_names())
    finally:
        database.close()


def test_reopening_applies_nothing_twice(db_path: Path) -> None:
    """A second open finds the file up to date: same migration rows, same timestamps, data kept."""
    first = open_database(db_path)
    first.execute("INSERT INTO settings (key, value) VALUES ('greeting', 'hello')")
    first.close()
    before = migration_rows(db_path)

    second = open_database(db_path)
    try:
        assert schema_version(second) == len(MIGRATIONS)
        assert second.execute("SELECT value FROM settings WHERE key = 'greeting'").fetchone() == ("hello",)
    finally:
        second.close()
    assert migration_rows(db_path) == before
    assert len(before) == len(MIGRATIONS)


def test_old_database_is_brought_up_to_date(db_path: Path) -> None:
    """A file at version 1 (made with the same bookkeeping as migrate()) gets only migrations 2..N, data intact."""
    db_path.parent.mkdir(parents=True)
    old = Database(sqlite3.connect(db_path, isolation_level=None))
    old.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    with transaction(old):
        MIGRATIONS[0](old)
        old.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (1, '2024-01-01T00:00:00.000+00:00')")
        old.execute("INSERT INTO settings (key, value) VALUES ('device_name', 'lobby')")
    assert schema_version(old) == 1
    assert "tickets" not in old.table_names()
    old.close()

    upgraded = open_database(db_path)
    try:
        assert schema_version(upgraded) == len(MIGRATIONS)
        assert set(upgraded.table_names()) >= ALL_TABLES
        assert upgraded.execute("SELECT value FROM settings WHERE key = 'device_name'").fetchone() == ("lobby",)
    finally:
        upgraded.close()
    rows = migration_rows(db_path)
    assert [version for version, _ in rows] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert rows[0][1] == "2024-01-01T00:00:00.000+00:00", "version 1 must not be re-applied"


def test_failed_migration_leaves_previous_version(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration that raises half-way is rolled back whole: previous version, no partial table, data kept."""
    good = open_database(db_path)
    good.execute("INSERT INTO settings (key, value) VALUES ('keep', 'me')")
    good.close()

    def next_broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO half_done (id) VALUES (1)")
        db.execute("ALTER TABLE settings ADD COLUMN note TEXT")
        raise RuntimeError("the next migration failed")

    monkeypatch.setattr(store, "MIGRATIONS", [*MIGRATIONS, next_broken])
    with pytest.raises(RuntimeError, match="the next migration failed"):
        open_database(db_path)

    assert [version for version, _ in migration_rows(db_path)] == list(range(1, len(MIGRATIONS) + 1))
    assert "half_done" not in table_names(db_path)
    with sqlite3.connect(db_path) as conn:
        assert "note" not in [row[1] for row in conn.execute("PRAGMA table_info(settings)")]
        assert conn.execute("SELECT value FROM settings WHERE key = 'keep'").fetchone() == ("me",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    # Once the migration is fixed, the next open applies it.
    def next_fixed(db: Database) -> None:
        db.execute("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")

    monkeypatch.setattr(store, "MIGRATIONS", [*MIGRATIONS, next_fixed])
    fixed = open_database(db_path)
    try:
        assert schema_version(fixed) == len(MIGRATIONS) + 1
        assert "half_done" in fixed.table_names()
    finally:
        fixed.close()


def test_failed_migration_on_new_file_keeps_earlier_migrations(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a new file, migrations before the failing one stay applied (each runs in its own transaction)."""

    def m002_broken(db: Database) -> None:
        db.execute("CREATE TABLE partial (x)")
        raise ValueError("bad migration")

    monkeypatch.setattr(store, "MIGRATIONS", [MIGRATIONS[0], m002_broken, MIGRATIONS[2]])
    with pytest.raises(ValueError, match="bad migration"):
        open_database(db_path)
    assert [version for version, _ in migration_rows(db_path)] == [1]
    assert table_names(db_path) == {"schema_migrations", "settings", "audit_log"}


def test_transaction_commits_on_success(db: Database, db_path: Path) -> None:
    """Statements in a transaction() block are committed when it exits normally (visible to another connection)."""
    with transaction(db):
        db.execute("INSERT INTO settings (key, value) VALUES ('a', '1')")
        db.execute("INSERT INTO settings (key, value) VALUES ('b', '2')")
    assert not db.conn.in_transaction
    with sqlite3.connect(db_path) as other:
        assert other.execute("SELECT key, value FROM settings ORDER BY key").fetchall() == [("a", "1"), ("b", "2")]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()], ids=["exception", "keyboard-interrupt"])
def test_transaction_rolls_back_on_exception(db: Database, error: BaseException) -> None:
    """Any exception (even KeyboardInterrupt) inside transaction() undoes every statement and is re-raised."""
    db.execute("INSERT INTO settings (key, value) VALUES ('before', 'x')")
    with pytest.raises(type(error)), transaction(db):
        db.execute("INSERT INTO settings (key, value) VALUES ('inside', 'y')")
        db.execute("UPDATE settings SET value = 'changed' WHERE key = 'before'")
        raise error
    assert not db.conn.in_transaction
    assert db.execute("SELECT key, value FROM settings ORDER BY key").fetchall() == [("before", "x")]


def test_transaction_rolls_back_on_sql_error(db: Database) -> None:
    """A failing statement (constraint violation) rolls back the earlier statements of the same transaction."""
    with pytest.raises(sqlite3.IntegrityError), transaction(db):
        db.execute("INSERT INTO settings (key, value) VALUES ('k', 'v')")
        db.execute("INSERT INTO settings (key, value) VALUES ('k', 'duplicate')")
    assert db.execute("SELECT COUNT(*) FROM settings").fetchone() == (0,)
