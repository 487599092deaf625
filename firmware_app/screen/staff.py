"""The staff screens: the PIN that guards them, the kiosk's status, and a pipeline restart.

Every PIN try, every opening and closing and every restart is written to the audit log. The staff screen also
shows the updater's reports as they arrive, and an installed release is loaded at the first quiet moment.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Literal

from firmware_app import audit
from firmware_app.events import UpdateProgress
from firmware_app.health import Health
from firmware_app.inference.manifest import load_manifest
from firmware_app.logs import RecentErrors
from firmware_app.screen.core import ScreenCore
from firmware_app.screen.state import AdminState, DegradedView, FormState, UpdateView
from firmware_app.screen.strings import t
from firmware_app.staff_pin import LockoutPolicy, PinLock
from firmware_app.sync.install import installed_releases
from kiosk_link.pin_hash import PIN_MAX_DIGITS, is_legacy

log = logging.getLogger(__name__)

# What the right staff PIN opens: the staff screen, or teaching a new part (asked for on the camera screen).
PinFor = Literal["admin", "teach"]


def degraded_views(health: Health) -> tuple[DegradedView, ...]:
    return tuple(
        DegradedView(d.capability, d.fallback, d.reason, d.since.astimezone().strftime("%H:%M"))
        for d in health.snapshot()
    )


class StaffScreens(ScreenCore):
    """The PIN screen and the status screen, and the updater's reports they show."""

    recent_errors: RecentErrors
    _pin_lock: PinLock
    # The updater's latest report, set from the sync's thread without the lock (one assignment) and shown by
    # ``tick``; after an install the kiosk is reloaded once no visit is in progress.
    _update: UpdateView | None
    _reload_due: bool
    _pin_for: PinFor

    def _init_staff(self) -> None:
        """The staff screens' own state, once the kiosk is built: the PIN lock, the log lines they show, and a
        release rolled back at start (the kiosk died during its self-test)."""
        interrupted = self.kiosk.interrupted_update
        self._update = UpdateView(interrupted, "rolled_back", "interrupted") if interrupted else None
        self._reload_due = False
        self._pin_for = "admin"
        self.recent_errors = RecentErrors()
        logging.getLogger().addHandler(self.recent_errors)
        ui = self.kiosk.settings.ui
        self._pin_lock = PinLock(ui.admin_pin_hash, LockoutPolicy.of(ui), self.kiosk.db, self._clock())
        if is_legacy(ui.admin_pin_hash):
            log.warning("the staff PIN is stored as an unsalted sha256: set it again with kiosk-provision staff-pin")

    def open_admin(self) -> None:
        """The hidden staff corner: asks for the PIN."""
        with self._lock:
            self._touched()
            self._ask_pin("admin")

    def teach_part(self) -> None:
        """ "Teach a new part" on the camera screen: asks for the staff PIN (the same gate as the staff corner)."""
        with self._lock:
            self._touched()
            self._require_session()
            self._ask_pin("teach")

    def _ask_pin(self, pin_for: PinFor) -> None:
        prompt = t("staff_pin", self._state.language)
        self._back = self._state.screen
        self._pin_for = pin_for
        form = FormState("pin", prompt, "numpad", max_chars=PIN_MAX_DIGITS, secret=True)
        self._set(screen="admin_pin", form=form)

    def _check_pin(self, pin: str) -> None:
        """The right PIN ends any visit and opens the status screen (or, asked for by "Teach a new part", goes on
        to teaching within the technician's visit); a wrong one clears the field and says so."""
        form = self._state.form
        assert form is not None
        verdict = self._pin_lock.check(pin, self._clock(), self.kiosk.db)
        audit.record(self.kiosk.db, "staff", f"staff_pin_{verdict}")
        if verdict != "ok":
            log.warning("wrong staff PIN" if verdict == "wrong" else "staff PIN refused: locked after wrong tries")
            self._set(notice="wrong_pin" if verdict == "wrong" else "locked", form=replace(form, draft=""))
            return
        if self._pin_for == "teach":
            log.info("teaching a new part opened")
            self._start_teaching()
            return
        self._end_visit("reset")
        log.info("staff screen opened")
        self._set(screen="admin", form=None, admin=self._admin_state())

    def admin_restart(self) -> None:
        """Reload the pipeline (pack, models, database) as a fresh start would, without restarting the UI."""
        with self._lock:
            self._touched()
            log.info("pipeline restart requested from the staff screen")
            audit.record(self.kiosk.db, "staff", "pipeline_restart")
            self._reload_pipeline()
            self._set(admin=self._admin_state(), notice="restarted")

    def close_admin(self) -> None:
        """Close on the PIN pad or the staff screen: the attract screen, or back to the camera from the PIN pad
        that "Teach a new part" opened."""
        with self._lock:
            if self._state.screen == "admin_pin" and self._pin_for == "teach" and self._session is not None:
                self._touched()
                self._set(screen="camera", form=None)
                return
            if self._state.screen in ("admin", "parts"):
                audit.record(self.kiosk.db, "staff", "staff_screen_closed")
            self._reset_to_attract()

    def _admin_state(self) -> AdminState:
        kiosk = self.kiosk
        manifest = load_manifest(kiosk.settings.models_dir)
        kiosk.check_health()  # free space now, and the intent models again when a try is due
        return AdminState(
            device_id=kiosk.settings.device_id,
            pack=f"{kiosk.pack.manifest.id} {kiosk.pack.manifest.version}",
            models=tuple(f"{entry.name} {entry.version}" for entry in manifest.values()),
            releases=installed_releases(self._data_dir),
            update=self._update,
            sync=kiosk.sync.state if kiosk.sync is not None else "not_configured",
            queue_depth=kiosk.tickets.outbox_depth(),
            recent_errors=self.recent_errors.lines(),
            tickets_today=kiosk.tickets.count_since(self._today().isoformat()),
            degraded=degraded_views(kiosk.capabilities),
        )

    def _note_update(self, event: UpdateProgress) -> None:
        """The updater's report (from the sync's thread): kept for the staff screen; an install is loaded later."""
        percent = event.done * 100 // event.total if event.state == "downloading" and event.total else None
        self._update = UpdateView(event.release_id, event.state, event.reason, percent)
        self._reload_due = self._reload_due or event.state == "installed"

    def _follow_updates(self) -> None:
        """Show the updater's latest report on an open staff screen and, once a release is installed, load it at
        the first quiet moment: the attract screen with no visit, so no customer sees answers change mid-visit."""
        admin = self._state.admin
        if admin is not None and admin.update != self._update:
            self._set(admin=replace(admin, update=self._update, releases=installed_releases(self._data_dir)))
            admin = self._state.admin
        if admin is not None:  # a part that failed or came back while the screen is open
            degraded = degraded_views(self.kiosk.capabilities)
            if admin.degraded != degraded:
                self._set(admin=replace(admin, degraded=degraded))
        if self._reload_due and self._state.screen == "attract" and self._session is None:
            self._reload_due = False
            log.info("loading the installed update", extra={"release": self._update and self._update.release_id})
            self._reload_pipeline()

    @property
    def _data_dir(self) -> Path:
        return self.kiosk.settings.data_dir
