"""The staff PIN's lock: each try checked against the stored hash, and a lock-out that escalates and is kept.

``attempts`` wrong PINs in a row lock the staff screen for ``first_s``; each further lock-out before a right PIN
lasts twice as long as the one before, up to ``max_s``, so guessing even a short PIN at the counter takes months
rather than an afternoon. Only a right PIN starts the count again. The count and the lock-out are written to
the kiosk's database on every try, so pulling the plug (or a crash) neither ends a lock-out nor resets the
escalation.

Time inside a running kiosk is the screen's own clock (monotonic on a device, so a clock set back cannot end a
lock-out early, and a test's fake clock drives it); the database keeps the end of a lock-out as a UTC time, read
back at the next start. A board without a clock battery may start with its wall clock far behind, so what is
read back never lasts longer than that lock-out's own length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlite_utils import Database

from firmware_app.config import UiConfig
from firmware_app.store import stamp
from kiosk_link.pin_hash import verify_pin

PinVerdict = Literal["ok", "wrong", "locked"]
NOT_LOCKED = float("-inf")
_MAX_DOUBLINGS = 60  # beyond any max_s, and 2.0 ** n stays a finite float


@dataclass(frozen=True)
class LockoutPolicy:
    attempts: int  # wrong PINs in a row that start a lock-out
    first_s: float
    max_s: float

    @classmethod
    def of(cls, ui: UiConfig) -> LockoutPolicy:
        return cls(ui.admin_attempts_before_lockout, ui.admin_lockout_s, ui.admin_lockout_max_s)

    def duration(self, lockouts: int) -> float:
        """How long the ``lockouts``-th lock-out since the last right PIN lasts: doubling from the first."""
        return min(self.first_s * 2.0 ** min(max(lockouts - 1, 0), _MAX_DOUBLINGS), self.max_s)


@dataclass(frozen=True)
class Tries:
    """Wrong PINs since the last lock-out, lock-outs since the last right PIN, and when the current one ends."""

    failures: int = 0
    lockouts: int = 0
    locked_until: float = NOT_LOCKED  # on the screen's clock


class PinLock:
    """The staff PIN and its lock-out, one per kiosk screen, kept in the database it is given."""

    def __init__(
        self, pin_hash: str, policy: LockoutPolicy, db: Database, now: float, wall: Callable[[], float] = time.time
    ) -> None:
        self.pin_hash = pin_hash
        self.policy = policy
        self._wall = wall
        self.tries = self._load(db, now)

    def check(self, pin: str, now: float, db: Database) -> PinVerdict:
        """``locked`` while a lock-out runs (even for the right PIN, which is then not even hashed), and for the
        wrong try that starts one; the outcome is in ``db`` before this returns."""
        tries = self.tries
        if now < tries.locked_until:
            return "locked"
        verdict: PinVerdict
        if verify_pin(pin, self.pin_hash):
            tries, verdict = Tries(), "ok"
        elif tries.failures + 1 < self.policy.attempts:
            tries, verdict = Tries(tries.failures + 1, tries.lockouts, tries.locked_until), "wrong"
        else:
            lockouts = tries.lockouts + 1
            tries, verdict = Tries(0, lockouts, now + self.policy.duration(lockouts)), "locked"
        self.tries = tries
        self._save(db, now)
        return verdict

    def _load(self, db: Database, now: float) -> Tries:
        row = db.execute("SELECT failures, lockouts, locked_until FROM staff_pin_lockout WHERE id = 1").fetchone()
        if row is None:
            return Tries()
        failures, lockouts, until = row
        if until is None:
            return Tries(failures, lockouts)
        remaining = min(datetime.fromisoformat(until).timestamp() - self._wall(), self.policy.duration(lockouts))
        return Tries(failures, lockouts, now + remaining if remaining > 0 else NOT_LOCKED)

    def _save(self, db: Database, now: float) -> None:
        tries = self.tries
        until = None
        if tries.locked_until > now:
            until = stamp(datetime.fromtimestamp(self._wall() + tries.locked_until - now, UTC))
        db.execute(
            "INSERT INTO staff_pin_lockout (id, failures, lockouts, locked_until) VALUES (1, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET failures = excluded.failures, lockouts = excluded.lockouts,"
            " locked_until = excluded.locked_until",
            [tries.failures, tries.lockouts, until],
        )
