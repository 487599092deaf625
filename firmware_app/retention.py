"""Retention: customers' words and technicians' photos leave the kiosk N days after the backend stored them.

Everything counts from ``tickets.synced_at``, the moment the backend's acknowledgement arrived (stamped with
the outbox row's deletion, in one transaction). A ticket the backend has not acknowledged keeps its words and
photos however old it is: deleting them first would lose the only copy.

A pass (``purge``) runs at start-up and every ``[privacy] purge_interval_s`` (``Housekeeper``), and on demand
(``kiosk privacy purge``):

- the text of tickets acknowledged ``transcript_retention_days`` ago is emptied: transcript, entities and
  summary (a flow's summary carries the customer's own words, "Complaint: ..."); the row stays, so the
  reference still resolves and counts still add up. The redacted questions the kiosk could not answer
  (``visit_topics``) go after the same number of days from the visit: they are reported per day and never
  acknowledged, and the analytics catch-up reaches back only a week;
- the photos of tickets acknowledged ``photo_retention_days`` ago are pruned;
- the disk guard: while free space in the data dir is under ``low_disk_mb``, acknowledged tickets' photos are
  pruned early, oldest ticket first, never an unacknowledged one; if that is not enough the kiosk says so
  (a warning: the staff screen's recent problems and the telemetry's warning count) and carries on.

Photos are pruned in two steps so that a crash never leaves the database pointing at a deleted file: the
ticket is marked (``photos_pruned_at``) and the audit entry written in one transaction, then the files are
removed by ``sweep_photos``. A crash in between leaves only files the database already calls pruned, which the
next pass's sweep removes. The sweep also removes files no ticket names (an erased ticket's, or a photo saved
by a filing that crashed) once they are older than ``ORPHAN_GRACE``, which keeps it clear of a photo saved a
moment ago for a ticket about to be committed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from firmware_app import audit
from firmware_app.config import KioskSettings, PrivacyConfig
from firmware_app.storage import MB, FreeSpace, free_bytes
from firmware_app.store import open_database, stamp, transaction
from firmware_app.tickets.store import TicketStore

log = logging.getLogger(__name__)

PHOTOS = "photos"  # technicians' photos, named ``photos/{ticket id}[-annotated].jpg`` in a ticket's attachments
ORPHAN_GRACE_S = 3600.0
GUARD_INTERVAL_S = 60.0  # the housekeeper checks free space this often, between retention passes
_UUID_CHARS = 36


@dataclass
class PurgeReport:
    """What a pass did (or, dry, would do)."""

    transcripts: list[str]  # tickets whose words were removed
    photos: list[str]  # tickets whose photos were pruned at their retention date
    guarded: list[str]  # tickets whose photos the disk guard pruned early
    visit_questions: int  # unanswered visit questions removed
    files_removed: int
    free_bytes: int
    disk_low: bool  # still under ``low_disk_mb`` after the guard

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


def purge(
    db: Database,
    data_dir: Path,
    config: PrivacyConfig,
    now: datetime,
    *,
    dry_run: bool = False,
    actor: audit.Actor = "system",
    free_space: FreeSpace = free_bytes,
) -> PurgeReport:
    """One retention pass, then the disk guard. ``now`` is a parameter so tests move the clock, not sleep."""
    tickets = TicketStore(db)
    transcripts = tickets.due("transcript_purged_at", now - timedelta(days=config.transcript_retention_days))
    photos = tickets.due("photos_pruned_at", now - timedelta(days=config.photo_retention_days))
    visits_before = stamp(now - timedelta(days=config.transcript_retention_days))
    questions_sql = (
        "FROM visit_topics WHERE kind = 'out_of_scope'"
        " AND session_id IN (SELECT session_id FROM visits WHERE started_at < ?)"
    )
    questions = int(db.execute(f"SELECT COUNT(*) {questions_sql}", [visits_before]).fetchone()[0])
    if dry_run:
        free = free_space(data_dir)
        return PurgeReport(transcripts, photos, [], questions, 0, free, free < config.low_disk_mb * MB)
    if transcripts or photos or questions:
        with transaction(db):
            if transcripts:
                tickets.purge_words(transcripts, now)
            if photos:
                tickets.mark_photos_pruned(photos, now)
            db.execute(f"DELETE {questions_sql}", [visits_before])
            detail = {"transcripts": transcripts, "photos": photos, "visit_questions": questions}
            audit.append(db, actor, "retention_purge", detail)
        log.info("retention pass", extra={"transcripts": len(transcripts), "photos": len(photos)})
    files = sweep_photos(db, data_dir)
    guarded, guard_files, free = guard_disk(db, data_dir, config, now, actor=actor, free_space=free_space)
    return PurgeReport(
        transcripts, photos, guarded, questions, files + guard_files, free, free < config.low_disk_mb * MB
    )


def guard_disk(
    db: Database,
    data_dir: Path,
    config: PrivacyConfig,
    now: datetime,
    *,
    actor: audit.Actor = "system",
    free_space: FreeSpace = free_bytes,
) -> tuple[list[str], int, int]:
    """Under ``low_disk_mb`` free, prune acknowledged tickets' photos, oldest ticket first, until the files
    marked would bring free space back over it; returns (tickets pruned, files removed, free bytes after)."""
    low = config.low_disk_mb * MB
    free = free_space(data_dir)
    if free >= low:
        return [], 0, free
    tickets = TicketStore(db)
    chosen: list[str] = []
    gained = 0
    for ticket_id, attachments in tickets.prunable_photos():
        if free + gained >= low:
            break
        chosen.append(ticket_id)
        gained += sum(_size(data_dir / name) for name in attachments)
    files = 0
    if chosen:
        with transaction(db):
            tickets.mark_photos_pruned(chosen, now)
            audit.append(db, actor, "disk_guard_prune", {"tickets": chosen, "free_mb": free // MB})
        files = sweep_photos(db, data_dir)
        free = free_space(data_dir)
    if free < low:
        log.warning(
            "storage low: %d MB free in the data dir, under [privacy] low_disk_mb=%d; nothing acknowledged is left to"
            " prune (unsynced tickets keep their photos until the backend has them)",
            free // MB,
            config.low_disk_mb,
        )
    elif chosen:
        log.info("storage low: pruned acknowledged photos early", extra={"tickets": len(chosen), "free_mb": free // MB})
    return chosen, files, free


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def sweep_photos(db: Database, data_dir: Path, grace_s: float = ORPHAN_GRACE_S) -> int:
    """Remove the files in ``photos/`` no unpruned ticket names: at once where the ticket says it was pruned,
    after ``grace_s`` where no ticket names them at all; returns how many were removed."""
    folder = data_dir / PHOTOS
    if not folder.is_dir():
        return 0
    live: set[str] = set()
    pruned: set[str] = set()
    for ticket_id, attachments, was_pruned in TicketStore(db).attachment_owners():
        (pruned if was_pruned else live).add(ticket_id)
        if not was_pruned:
            live.update(attachments)
    removed = 0
    for path in folder.iterdir():
        if not path.is_file() or f"{PHOTOS}/{path.name}" in live:
            continue
        owner = path.name.lstrip(".")[:_UUID_CHARS]  # save_photo's temporary files start with "."
        if owner in pruned or time.time() - path.stat().st_mtime > grace_s:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class Housekeeper:
    """The retention pass at start-up and every ``purge_interval_s``, and the disk guard every
    ``GUARD_INTERVAL_S``, on a thread of its own with its own connection (like the sync), so a slow SD card
    never stalls the screen."""

    def __init__(self, settings: KioskSettings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        db = open_database(self.settings.database_path)
        data_dir, config = self.settings.data_dir, self.settings.privacy
        next_pass = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if time.monotonic() >= next_pass:
                        purge(db, data_dir, config, self._clock())
                        next_pass = time.monotonic() + config.purge_interval_s
                    else:
                        guard_disk(db, data_dir, config, self._clock())
                except Exception:
                    # A locked database or a vanished folder: the next round tries again.
                    log.exception("housekeeping failed")
                self._stop.wait(min(GUARD_INTERVAL_S, config.purge_interval_s))
        finally:
            db.close()
