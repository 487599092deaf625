"""The staff screen's audit entries, and a technician's photo on a full disk, on the real kiosk and controller."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from firmware_app import audit
from firmware_app.screen.controller import KioskController
from firmware_app.screen.strings import t
from firmware_app.vision.capture import load_image
from kiosk_link import durable
from tests.conftest import FIXTURES
from tests.fakes import FakeClock

SCRATCHES = FIXTURES / "defects" / "neu_scratches_163.jpg"
NOTE = "scratch along the edge, coil 7"


def new_actions(controller: KioskController, after: int) -> list[str]:
    return [entry.action for entry in audit.entries(controller.kiosk.db) if entry.id > after]


def last_id(controller: KioskController) -> int:
    return max((entry.id for entry in audit.entries(controller.kiosk.db)), default=0)


def test_staff_pin_tries_lockout_and_the_staff_screen_are_audited(controller: KioskController) -> None:
    start = last_id(controller)
    controller.open_admin()
    for _ in range(3):
        controller.type_text("1111")
        controller.submit()
    assert controller.state.notice == "locked"
    assert new_actions(controller, start) == ["staff_pin_wrong", "staff_pin_wrong", "staff_pin_locked"]

    clock = FakeClock()
    fresh = KioskController(lambda: controller.kiosk, clock=clock)  # a restart: the lock-out is kept
    try:
        fresh.open_admin()
        fresh.type_text("2468")
        fresh.submit()
        clock.now += controller.kiosk.settings.ui.admin_lockout_s
        fresh.type_text("2468")
        fresh.submit()
        assert fresh.state.screen == "admin"
        fresh.close_admin()
    finally:
        fresh.detach()
    assert new_actions(controller, start)[3:] == ["staff_pin_locked", "staff_pin_ok", "staff_screen_closed"]
    assert {e.actor for e in audit.entries(controller.kiosk.db) if e.id > start} == {"staff"}


def photos(controller: KioskController) -> dict[str, bytes]:
    folder = controller.kiosk.settings.data_dir / "photos"
    return {path.name: path.read_bytes() for path in folder.iterdir()} if folder.is_dir() else {}


def note_typed(controller: KioskController) -> None:
    """A technician's photo recognised and its note typed, ready to file."""
    controller.touch_start()
    controller.capture(load_image(SCRATCHES))
    controller.file_photo()
    controller.type_text(NOTE)


def count_tickets(controller: KioskController) -> int:
    return int(controller.kiosk.db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0])


def assert_refused_cleanly(controller: KioskController, before: dict[str, bytes], tickets: int) -> None:
    """Nothing filed, nothing half written, nothing older touched; the technician keeps the photo and the note."""
    state = controller.state
    assert state.notice == "storage_full" and state.screen == "photo_result"
    assert state.form is not None and state.form.draft == NOTE and state.photo is not None
    assert photos(controller) == before and count_tickets(controller) == tickets
    assert "photo was not saved" in t("storage_full", "en")


def test_enospc_while_saving_the_photo_is_a_clear_storage_full_and_loses_nothing(
    controller: KioskController, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = photos(controller)  # other tests' tickets may share the data folder
    note_typed(controller)
    controller.submit()  # one photo ticket filed while there is room
    assert controller.state.screen == "ticket"
    before, tickets = photos(controller), count_tickets(controller)
    assert len(before) - len(earlier) == 2  # the photo and its annotated copy

    note_typed(controller)
    real_fsync, calls = os.fsync, []

    def disk_fills(handle: int) -> None:
        """The first photo fits; the disk is full when the annotated copy is flushed (as ext4 reports it)."""
        if stat.S_ISREG(os.fstat(handle).st_mode):  # the folder's fsync after a rename is not counted
            calls.append(handle)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(handle)

    monkeypatch.setattr(durable.os, "fsync", disk_fills)
    controller.submit()
    assert len(calls) == 2
    assert_refused_cleanly(controller, before, tickets)


def test_under_the_floor_a_photo_is_refused_before_anything_is_written(
    controller: KioskController, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, tickets = photos(controller), count_tickets(controller)
    note_typed(controller)
    monkeypatch.setattr(controller.kiosk.settings.privacy, "photo_floor_mb", 2**40)  # more than any disk
    controller.submit()
    assert_refused_cleanly(controller, before, tickets)


def test_other_write_errors_are_not_called_storage_full(
    controller: KioskController, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    note_typed(controller)

    def broken(handle: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(durable.os, "fsync", broken)
    with pytest.raises(OSError, match="Input/output"):
        controller.submit()
