"""Retention, the disk guard, erasure and the audit log, on a real SQLite file and real photo files.

The clock is a parameter (``purge(now=...)``), never a sleep; low disk space is a simulated small disk (its free
space is its capacity minus the photos on it), since the real disk cannot be filled in a test.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from firmware_app import audit, retention
from firmware_app.cli import main
from firmware_app.config import PrivacyConfig, load_settings
from firmware_app.erasure import erase
from firmware_app.events import Turn
from firmware_app.retention import purge, sweep_photos
from firmware_app.storage import MB
from firmware_app.store import open_database
from firmware_app.sync.outbox import Outbox
from firmware_app.sync.remote_config import RemoteConfig
from firmware_app.tickets.store import TicketStore
from kiosk_link import wire
from tests.test_sync_wire import ticket_request

ACKED = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
CONFIG = PrivacyConfig(transcript_retention_days=30, photo_retention_days=30, low_disk_mb=0)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "kiosk.db")
    yield database
    database.close()


@pytest.fixture
def tickets(db: Database) -> TicketStore:
    return TicketStore(db, "kiosk-privacy-01")


def file_ticket(tickets: TicketStore, data_dir: Path, photo_bytes: int = 1000) -> str:
    """A photo ticket with the customer's words in it, and its photo file on disk."""
    ticket_id = str(uuid.uuid4())
    name = f"photos/{ticket_id}.jpg"
    (data_dir / "photos").mkdir(exist_ok=True)
    (data_dir / name).write_bytes(b"\xff" * photo_bytes)
    transcript = (Turn(role="customer", text="my complaint is about the branch in Leeds", at="2026-09-30T10:00:00"),)
    tickets.create(
        ticket_request(
            ticket_id=ticket_id, summary="Complaint: branch in Leeds", attachments=(name,), transcript=transcript
        )
    )
    return ticket_id


def row(db: Database, ticket_id: str) -> dict[str, object]:
    cursor = db.execute("SELECT * FROM tickets WHERE id = ?", [ticket_id])
    values = cursor.fetchone()
    return dict(zip([c[0] for c in cursor.description], values, strict=True)) if values else {}


def actions(db: Database) -> list[str]:
    return [entry.action for entry in audit.entries(db)]


def test_nothing_goes_before_the_ack_and_everything_goes_n_days_after(
    db: Database, tickets: TicketStore, tmp_path: Path
) -> None:
    unsynced, synced = file_ticket(tickets, tmp_path), file_ticket(tickets, tmp_path)
    assert Outbox(db).acknowledge([synced], at=ACKED) == 1
    assert row(db, synced)["synced_at"] == "2026-10-01T12:00:00.000+00:00"
    Outbox(db).acknowledge([synced], at=ACKED + timedelta(days=5))  # a repeated ack keeps the first stamp
    assert row(db, synced)["synced_at"] == "2026-10-01T12:00:00.000+00:00"

    early = purge(db, tmp_path, CONFIG, ACKED + timedelta(days=29, hours=23))
    assert early.transcripts == early.photos == []
    assert (tmp_path / f"photos/{synced}.jpg").is_file() and "Leeds" in str(row(db, synced)["transcript"])

    report = purge(db, tmp_path, CONFIG, ACKED + timedelta(days=30))
    assert report.transcripts == report.photos == [synced] and report.files_removed == 1
    gone = row(db, synced)
    assert (gone["transcript"], gone["entities"], gone["summary"]) == ("[]", "[]", "")
    assert gone["transcript_purged_at"] and gone["photos_pruned_at"]
    assert not (tmp_path / f"photos/{synced}.jpg").exists()
    assert tickets.get(synced) is not None  # the reference still resolves

    # However old, a ticket the backend never acknowledged keeps its words, its photo and its outbox row.
    purge(db, tmp_path, CONFIG, ACKED + timedelta(days=3650))
    kept = tickets.get(unsynced)
    assert kept is not None and "Leeds" in kept.summary and kept.transcript
    assert (tmp_path / f"photos/{unsynced}.jpg").is_file()
    assert [r.ticket_id for r in Outbox(db).due(ACKED, ACKED, 10)] == [unsynced]
    (entry,) = [e for e in audit.entries(db) if e.action == "retention_purge"]
    assert entry.actor == "system" and entry.detail["transcripts"] == [synced]


def test_photos_and_words_have_their_own_retention_and_a_dry_run_changes_nothing(
    db: Database, tickets: TicketStore, tmp_path: Path
) -> None:
    ticket = file_ticket(tickets, tmp_path)
    Outbox(db).acknowledge([ticket], at=ACKED)
    config = PrivacyConfig(transcript_retention_days=90, photo_retention_days=7, low_disk_mb=0)
    dry = purge(db, tmp_path, config, ACKED + timedelta(days=8), dry_run=True)
    assert dry.photos == [ticket] and dry.transcripts == []
    assert row(db, ticket)["photos_pruned_at"] is None and (tmp_path / f"photos/{ticket}.jpg").is_file()
    assert actions(db) == []

    purge(db, tmp_path, config, ACKED + timedelta(days=8))
    assert row(db, ticket)["photos_pruned_at"] and "Leeds" in str(row(db, ticket)["transcript"])


def test_unanswered_visit_questions_go_after_the_transcript_retention(db: Database, tmp_path: Path) -> None:
    for session, started in (("old", ACKED - timedelta(days=31)), ("new", ACKED - timedelta(days=1))):
        db.execute(
            "INSERT INTO visits (session_id, started_at, language) VALUES (?, ?, 'en')", [session, started.isoformat()]
        )
        db.execute(
            "INSERT INTO visit_topics (session_id, kind, value)"
            " VALUES (?, 'out_of_scope', 'can i pay my #'), (?, 'intent', 'card_arrival')",
            [session, session],
        )
    assert purge(db, tmp_path, CONFIG, ACKED).visit_questions == 1
    left = db.execute("SELECT session_id, kind FROM visit_topics ORDER BY session_id, kind").fetchall()
    assert left == [("new", "intent"), ("new", "out_of_scope"), ("old", "intent")]


class SmallDisk:
    """A disk of ``capacity`` bytes holding only the photos: free space falls and rises with them."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity

    def __call__(self, data_dir: Path) -> int:
        used = sum(path.stat().st_size for path in (data_dir / "photos").iterdir())
        return self.capacity - used


def test_the_disk_guard_prunes_only_acknowledged_photos_oldest_first(
    db: Database, tickets: TicketStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    oldest, middle, newest, unsynced = (file_ticket(tickets, tmp_path, photo_bytes=MB) for _ in range(4))
    Outbox(db).acknowledge([newest, middle, oldest], at=ACKED)  # acknowledged together, filed in order
    config = PrivacyConfig(low_disk_mb=3)
    now = ACKED + timedelta(days=1)  # long before the retention date

    report = purge(db, tmp_path, config, now, free_space=SmallDisk(6 * MB))  # 2 MB free: 1 MB short
    assert report.guarded == [oldest] and not report.disk_low and report.free_bytes == 3 * MB
    assert not (tmp_path / f"photos/{oldest}.jpg").exists()
    assert all((tmp_path / f"photos/{t}.jpg").is_file() for t in (middle, newest, unsynced))

    report = purge(db, tmp_path, config, now, free_space=SmallDisk(7 * MB // 2))  # short even with all ack'd gone
    assert report.guarded == [middle, newest] and report.disk_low
    assert (tmp_path / f"photos/{unsynced}.jpg").is_file() and row(db, unsynced)["photos_pruned_at"] is None
    assert "storage low" in caplog.text and "nothing acknowledged is left to prune" in caplog.text
    assert [e.detail["tickets"] for e in audit.entries(db) if e.action == "disk_guard_prune"] == [
        [oldest],
        [middle, newest],
    ]


def test_a_crash_between_commit_and_file_removal_is_repaired_by_the_next_pass(
    db: Database, tickets: TicketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket = file_ticket(tickets, tmp_path)
    Outbox(db).acknowledge([ticket], at=ACKED)

    def power_cut(self: Path, missing_ok: bool = False) -> None:
        raise SystemExit("power cut")  # the process dies after the commit, before any file went

    with monkeypatch.context() as patch:
        patch.setattr(Path, "unlink", power_cut)
        with pytest.raises(SystemExit):
            purge(db, tmp_path, CONFIG, ACKED + timedelta(days=31))
    assert row(db, ticket)["photos_pruned_at"] and (tmp_path / f"photos/{ticket}.jpg").is_file()

    assert purge(db, tmp_path, CONFIG, ACKED + timedelta(days=32)).files_removed == 1
    assert not (tmp_path / f"photos/{ticket}.jpg").exists()


def test_files_no_ticket_names_go_only_after_the_grace_period(db: Database, tmp_path: Path) -> None:
    """A photo saved a moment ago belongs to a ticket about to be committed; an old one to a filing that died."""
    (tmp_path / "photos").mkdir()
    fresh, stale = tmp_path / f"photos/{uuid.uuid4()}.jpg", tmp_path / f"photos/.{uuid.uuid4()}.jpg.tmp1"
    fresh.write_bytes(b"x")
    stale.write_bytes(b"x")
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    assert sweep_photos(db, tmp_path) == 1
    assert fresh.is_file() and not stale.exists()


def test_erasure_by_reference_takes_an_unsynced_ticket_out_of_the_outbox(
    db: Database, tickets: TicketStore, tmp_path: Path
) -> None:
    ticket = file_ticket(tickets, tmp_path)
    kept = file_ticket(tickets, tmp_path)
    reference = tickets.get(ticket).reference  # type: ignore[union-attr]

    erased = erase(db, tmp_path, reference.lower(), "cli")
    assert erased is not None and (erased.ticket_id, erased.synced, erased.outbox_rows) == (ticket, False, 1)
    assert erased.files_removed == 1 and not (tmp_path / f"photos/{ticket}.jpg").exists()
    assert tickets.get(ticket) is None
    assert [r.ticket_id for r in Outbox(db).due(ACKED, ACKED, 10)] == [kept]  # it never leaves
    (entry,) = audit.entries(db)
    assert (entry.actor, entry.action) == ("cli", "erase")
    assert entry.detail == {"ticket_id": ticket, "reference": reference, "synced": False, "outbox_rows": 1}
    assert "Leeds" not in json.dumps(entry.detail)


def test_erasure_by_id_of_a_synced_ticket_and_of_an_unknown_one(
    db: Database, tickets: TicketStore, tmp_path: Path
) -> None:
    ticket = file_ticket(tickets, tmp_path)
    Outbox(db).acknowledge([ticket], at=ACKED)
    erased = erase(db, tmp_path, ticket.upper(), "staff")
    assert erased is not None and erased.synced and erased.outbox_rows == 0
    assert db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 0
    assert erase(db, tmp_path, "KB-00000000", "cli") is None
    assert actions(db) == ["erase"]


def test_the_audit_log_is_append_only(db: Database) -> None:
    audit.record(db, "cli", "erase", {"ticket_id": "x"})
    for statement in ("UPDATE audit_log SET action = 'nothing'", "DELETE FROM audit_log"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(statement)
    assert actions(db) == ["erase"]


def test_remote_configuration_changes_are_audited_once(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    remote = RemoteConfig(settings)
    remote.apply(wire.RemoteConfigV1(revision=1, settings={"dialogue.idle_timeout_s": 60.0}))
    remote.apply(wire.RemoteConfigV1(revision=1, settings={"dialogue.idle_timeout_s": 60.0}))  # retained, again
    refused = wire.RemoteConfigV1(revision=2, settings={"nlu.model_name": "other"})
    remote.apply(refused)
    remote.apply(refused)  # every reconnect brings the retained message back
    db = open_database(settings.database_path)
    try:
        found = [(e.actor, e.action, e.detail["revision"]) for e in audit.entries(db)]
    finally:
        db.close()
    assert found == [("fleet", "remote_config_applied", 1), ("fleet", "remote_config_refused", 2)]


def test_the_commands_purge_erase_and_list_the_audit(tmp_path: Path) -> None:
    db = open_database(tmp_path / "kiosk.db")
    ticket = file_ticket(TicketStore(db, "kiosk-privacy-01"), tmp_path)
    Outbox(db).acknowledge([ticket], at=datetime.now(UTC) - timedelta(days=40))
    db.close()
    runner = CliRunner()

    def kiosk(*args: str) -> str:
        result = runner.invoke(main, ["--data-dir", str(tmp_path), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert json.loads(kiosk("privacy", "purge", "--dry-run"))["transcripts"] == [ticket]
    assert json.loads(kiosk("privacy", "purge"))["photos"] == [ticket]
    assert json.loads(kiosk("privacy", "erase", ticket))["synced"] is True
    lines = [json.loads(line) for line in kiosk("audit", "--json", "--since", "1d").splitlines()]
    assert [(line["actor"], line["action"]) for line in lines] == [("cli", "retention_purge"), ("cli", "erase")]
    assert kiosk("audit", "--since", "2999-01-01") == ""
    missing = runner.invoke(main, ["--data-dir", str(tmp_path), "privacy", "erase", "KB-FFFFFFFF"])
    assert missing.exit_code == 1 and "no ticket KB-FFFFFFFF" in missing.output


def test_the_housekeeper_runs_a_pass_at_start(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    db = open_database(settings.database_path)
    ticket = file_ticket(TicketStore(db, "kiosk-privacy-01"), tmp_path)
    Outbox(db).acknowledge([ticket], at=ACKED)
    keeper = retention.Housekeeper(settings, clock=lambda: ACKED + timedelta(days=31))
    keeper.start()
    deadline = time.monotonic() + 10
    while row(db, ticket)["photos_pruned_at"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    keeper.stop()
    assert row(db, ticket)["transcript_purged_at"] and not (tmp_path / f"photos/{ticket}.jpg").exists()
    db.close()
