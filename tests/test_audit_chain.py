"""The audit log's hash chain: what ``audit.verify`` (``kiosk audit --verify``, ``kiosk doctor``) finds after someone
with a shell drops the guard triggers and edits, deletes or adds entries with the sqlite3 tool."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from firmware_app import audit, store
from firmware_app.cli import main
from firmware_app.store import AUDIT_CHAIN_SCHEMA, MIGRATIONS, open_database, transaction


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A kiosk database with four audit entries, closed so a test can tamper with it as root would."""
    database_path = tmp_path / "kiosk.db"
    db = open_database(database_path)
    for number in range(1, 5):
        audit.record(db, "cli", f"action_{number}", {"n": number})
    db.close()
    return database_path


@pytest.fixture
def db(path: Path) -> Iterator[Database]:
    database = open_database(path)
    yield database
    database.close()


def tamper(path: Path, *statements: str) -> None:
    """Run statements the way someone with the sqlite3 shell would: triggers dropped first when they are in the way."""
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)


DROP_GUARDS = ("DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")


def kinds(problems: list[audit.Problem]) -> list[str]:
    return [problem.kind for problem in problems]


def test_an_untouched_log_verifies_and_each_entry_links_to_the_one_before(db: Database) -> None:
    assert audit.verify(db) == []
    rows = db.execute("SELECT prev_hash, hash FROM audit_log ORDER BY id").fetchall()
    assert rows[0][0] == "" and all(len(h) == 64 for _, h in rows)
    assert [prev for prev, _ in rows[1:]] == [h for _, h in rows[:-1]]


def test_a_dropped_trigger_is_reported_even_with_every_entry_intact(path: Path) -> None:
    tamper(path, "DROP TRIGGER audit_log_no_delete")
    problems = audit.verify_file(path)
    assert kinds(problems) == ["guard"] and "audit_log_no_delete is missing" in problems[0].message


def test_a_trigger_replaced_by_one_that_does_nothing_is_reported(path: Path) -> None:
    tamper(
        path,
        "DROP TRIGGER audit_log_no_update",
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT 1; END",
    )
    assert [str(p) for p in audit.verify_file(path)] == [
        "guard: trigger audit_log_no_update has been replaced: "
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT 1; END"
    ]


def test_an_edited_entry_is_reported(path: Path) -> None:
    tamper(path, *DROP_GUARDS, "UPDATE audit_log SET detail = '{\"n\": 99}' WHERE id = 2")
    problems = audit.verify_file(path)
    assert kinds(problems) == ["guard", "guard", "edited"]
    assert problems[2].message.startswith("entry 2 (action_2) does not match its hash")


def test_an_edited_entry_with_its_hash_recomputed_breaks_the_next_link(path: Path) -> None:
    tamper(path, *DROP_GUARDS)
    with sqlite3.connect(path) as conn:
        prev_hash, at = conn.execute("SELECT prev_hash, at FROM audit_log WHERE id = 2").fetchone()
        forged = store.audit_link(prev_hash, [2, at, "cli", "nothing", "{}"])
        conn.execute("UPDATE audit_log SET action = 'nothing', detail = '{}', hash = ? WHERE id = 2", [forged])
    assert [str(p) for p in audit.verify_file(path)][2:] == [
        "inserted: entry 3 does not follow entry 2: inserted or rewritten"
    ]


def test_a_deleted_entry_is_reported_as_a_gap(path: Path) -> None:
    tamper(path, *DROP_GUARDS, "DELETE FROM audit_log WHERE id IN (2, 3)")
    assert [str(p) for p in audit.verify_file(path)][2:] == ["deleted: entries 2 to 3 are missing"]


def test_deleting_the_newest_entry_is_reported_and_stays_visible_after_the_next_entry(path: Path) -> None:
    tamper(path, *DROP_GUARDS, "DELETE FROM audit_log WHERE id = 4")
    assert [str(p) for p in audit.verify_file(path)][2:] == ["deleted: entry 4 is missing from the end"]
    db = open_database(path)
    try:
        audit.record(db, "cli", "after_the_deletion")
        assert [str(p) for p in audit.verify(db)][2:] == ["deleted: entry 4 is missing"]
    finally:
        db.close()


def test_deleting_every_entry_is_reported(path: Path) -> None:
    tamper(path, *DROP_GUARDS, "DELETE FROM audit_log")
    assert [str(p) for p in audit.verify_file(path)][2:] == ["deleted: entries 1 to 4 are missing from the end"]


def test_an_entry_added_by_hand_is_reported(path: Path) -> None:
    tamper(path, "INSERT INTO audit_log (at, actor, action) VALUES ('2026-01-01', 'staff', 'made_up')")
    assert kinds(audit.verify_file(path)) == ["edited", "inserted", "inserted"]


def test_a_deleted_head_record_is_reported(path: Path) -> None:
    tamper(path, "DELETE FROM settings WHERE key = 'audit_log_head'")
    assert [str(p) for p in audit.verify_file(path)] == [
        "deleted: the head record (settings.audit_log_head) is missing"
    ]


def test_entries_written_before_the_chain_are_chained_by_the_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_path = tmp_path / "old.db"
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS[: AUDIT_CHAIN_SCHEMA - 1])
    old = open_database(database_path)
    with transaction(old):
        for action in ("erase", "retention_purge"):
            old.execute("INSERT INTO audit_log (at, actor, action) VALUES ('2026-01-01', 'cli', ?)", [action])
    assert audit.verify(old) == []  # nothing to check before the chain exists
    old.close()
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS)

    db = open_database(database_path)
    try:
        assert audit.verify(db) == []
        audit.record(db, "cli", "erase")
        assert audit.verify(db) == [] and [e.action for e in audit.entries(db)] == [
            "erase",
            "retention_purge",
            "erase",
        ]
    finally:
        db.close()
    tamper(database_path, *DROP_GUARDS, "DELETE FROM audit_log WHERE id = 1")
    assert kinds(audit.verify_file(database_path)) == ["guard", "guard", "deleted"]


def test_an_empty_log_verifies(tmp_path: Path) -> None:
    db = open_database(tmp_path / "kiosk.db")
    db.close()
    assert audit.verify_file(tmp_path / "kiosk.db") == []


def test_kiosk_audit_verify_prints_the_problems_and_exits_1(path: Path) -> None:
    runner = CliRunner()
    command = ["--data-dir", str(path.parent), "audit", "--verify"]
    intact = runner.invoke(main, command, catch_exceptions=False)
    assert (intact.exit_code, intact.stdout) == (0, "audit log intact: 4 entries chained, guard triggers in place\n")

    tamper(path, *DROP_GUARDS, "DELETE FROM audit_log WHERE id = 2")
    broken = runner.invoke(main, command, catch_exceptions=False)
    assert broken.exit_code == 1
    assert broken.stdout.splitlines()[2:] == ["deleted: entry 2 is missing"]
    as_json = runner.invoke(main, [*command, "--json"], catch_exceptions=False)
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout.splitlines()[-1]) == {"kind": "deleted", "message": "entry 2 is missing"}


def test_deleted_data_is_overwritten_in_the_file(db: Database) -> None:
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
