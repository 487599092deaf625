"""The staff PIN: its stored form (salted, slow, upgradeable) and its lock-out (escalating, kept in the database).

The lock runs on a fake screen clock and a fake wall clock, so a lock-out of an hour takes no time; a restart is a
new ``PinLock`` on a newly opened connection to the same database file, and a new controller on the kiosk's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlite_utils import Database

from firmware_app.config import load_settings
from firmware_app.screen.controller import KioskController
from firmware_app.staff_pin import LockoutPolicy, PinLock
from firmware_app.store import open_database
from kiosk_link.pin_hash import (
    DEMO_PIN,
    DEMO_PIN_HASH,
    SALT_BYTES,
    check_new_pin,
    check_stored,
    generate_pin,
    hash_pin,
    is_legacy,
    is_weaker,
    parse,
    verify_pin,
)
from tests.conftest import fixed_today
from tests.fakes import FakeClock

PIN = "40731985"
PIN_HASH = hash_pin(PIN)
POLICY = LockoutPolicy(attempts=3, first_s=60, max_s=3600)


class WallClock(FakeClock):
    """The UTC clock a lock-out's end is stored in, moved by hand like the screen's clock."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    return open_database(tmp_path / "kiosk.db")


def restarted(path: Path, now: float, wall: WallClock, policy: LockoutPolicy = POLICY) -> PinLock:
    """The lock a kiosk builds at its next start: a new connection to the same file, a new screen clock."""
    return PinLock(PIN_HASH, policy, open_database(path), now, wall)


def wrong_tries(lock: PinLock, db: Database, now: float, count: int) -> list[str]:
    return [lock.check("11111111", now, db) for _ in range(count)]


# --- the stored form ---------------------------------------------------------------------------------------


def test_the_same_pin_is_stored_differently_on_every_device_with_a_slow_scrypt() -> None:
    first, second = hash_pin(PIN), hash_pin(PIN)
    assert first != second  # a salt of its own: one lookup table cannot serve two kiosks
    for stored in (first, second):
        parsed = parse(stored)
        assert (parsed.n, parsed.r, parsed.p) == (2**15, 8, 1)  # 32 MiB per guess
        assert len(parsed.salt) == SALT_BYTES == 16 and len(parsed.digest) == 32
        assert hashlib.sha256(PIN.encode()).hexdigest() not in stored
        assert verify_pin(PIN, stored) and not verify_pin("40731986", stored) and not verify_pin(DEMO_PIN, stored)


def test_the_cost_travels_with_the_hash_so_older_ones_still_open_and_are_flagged() -> None:
    salt = bytes(range(16))
    cheap = f"scrypt$1024$8$1${salt.hex()}${hashlib.scrypt(PIN.encode(), salt=salt, n=1024, r=8, p=1).hex()}"
    assert verify_pin(PIN, cheap) and is_weaker(cheap)
    assert not is_weaker(PIN_HASH)


def test_the_old_unsalted_sha256_still_opens_but_is_recognised() -> None:
    legacy = hashlib.sha256(PIN.encode()).hexdigest()
    assert is_legacy(legacy) and check_stored(legacy) == legacy
    assert verify_pin(PIN, legacy) and not verify_pin(DEMO_PIN, legacy)
    assert not is_legacy(PIN_HASH)


SALT_AND_DIGEST = f"{'ab' * 16}${'cd' * 32}"


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "2468",
        "md5$x",
        f"scrypt$1000$8$1${SALT_AND_DIGEST}",  # n not a power of two
        f"scrypt$1073741824$8$1${SALT_AND_DIGEST}",  # 128 GiB a guess: refused, not run
        f"scrypt$32768$0$1${SALT_AND_DIGEST}",
        f"scrypt$32768$8$1$${'cd' * 32}",  # no salt
        f"scrypt$32768$8$1${'ab' * 16}$cd",  # a one-byte digest
        f"scrypt$32768$8$1${'xy' * 16}${'cd' * 32}",
    ],
)
def test_anything_else_is_refused_when_the_settings_load(stored: str) -> None:
    with pytest.raises(ValueError):
        load_settings(ui={"admin_pin_hash": stored})


def test_the_default_is_the_demo_pin_and_the_old_setting_name_is_still_read() -> None:
    assert load_settings().ui.admin_pin_hash == DEMO_PIN_HASH and verify_pin(DEMO_PIN, DEMO_PIN_HASH)
    legacy = hashlib.sha256(PIN.encode()).hexdigest()
    assert load_settings(ui={"admin_pin_sha256": legacy}).ui.admin_pin_hash == legacy


@pytest.mark.parametrize("pin", ["2468", "12345", "123456789", "123456", "876543", "000000", "12 456", "１２３４５６"])
def test_a_new_pin_is_six_to_eight_digits_and_not_a_row_or_a_repeat(pin: str) -> None:
    with pytest.raises(ValueError):
        check_new_pin(pin)


def test_a_generated_pin_has_eight_digits_and_passes_its_own_rules() -> None:
    pins = {generate_pin() for _ in range(50)}
    assert len(pins) == 50 and all(len(pin) == 8 and check_new_pin(pin) == pin for pin in pins)


# --- the lock-out ------------------------------------------------------------------------------------------


def test_right_pin_opens_and_starts_the_count_again(db: Database) -> None:
    lock = PinLock(PIN_HASH, POLICY, db, 0, WallClock())
    assert wrong_tries(lock, db, 0, 2) == ["wrong", "wrong"]
    assert lock.check(PIN, 1, db) == "ok"
    assert wrong_tries(lock, db, 2, 2) == ["wrong", "wrong"]  # two more, not a lock-out


def test_a_prefix_or_longer_pin_is_wrong(db: Database) -> None:
    lock = PinLock(PIN_HASH, LockoutPolicy(5, 60, 3600), db, 0, WallClock())
    assert lock.check(PIN[:-1], 0, db) == "wrong"
    assert lock.check(PIN + "0", 0, db) == "wrong"


def test_wrong_pins_after_a_lock_out_lock_for_longer_until_a_right_pin(db: Database) -> None:
    lock, now, lengths = PinLock(PIN_HASH, POLICY, db, 0, WallClock()), 0.0, []
    for _ in range(8):
        assert wrong_tries(lock, db, now, 3)[-1] == "locked"
        lengths.append(lock.tries.locked_until - now)
        now = lock.tries.locked_until
    assert lengths == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert lock.check(PIN, now, db) == "ok"
    assert wrong_tries(lock, db, now, 3)[-1] == "locked" and lock.tries.locked_until - now == 60


def test_a_restart_keeps_the_lock_out_and_its_escalation(tmp_path: Path, db: Database) -> None:
    wall = WallClock()
    lock = PinLock(PIN_HASH, POLICY, db, 500, wall)
    assert wrong_tries(lock, db, 500, 3)[-1] == "locked"
    wall.now += 20  # the plug pulled 20 s into the minute; the new process's clock starts anywhere
    after = restarted(tmp_path / "kiosk.db", 7, wall)
    assert after.check(PIN, 7, db) == "locked"
    assert after.check(PIN, 7 + 39, db) == "locked"
    assert wrong_tries(after, db, 7 + 40, 2) == ["wrong", "wrong"]  # the minute is over: two tries left
    wall.now += 40
    again = restarted(tmp_path / "kiosk.db", 0, wall)
    assert wrong_tries(again, db, 0, 1) == ["locked"]  # the count survived the second restart too
    assert again.tries.lockouts == 2 and again.tries.locked_until == 120  # and the escalation
    assert restarted(tmp_path / "kiosk.db", 0, wall).check(PIN, 119, db) == "locked"


def test_a_right_pin_clears_what_the_database_keeps(tmp_path: Path, db: Database) -> None:
    wall = WallClock()
    lock = PinLock(PIN_HASH, POLICY, db, 0, wall)
    wrong_tries(lock, db, 0, 3)
    assert lock.check(PIN, 60, db) == "ok"
    assert restarted(tmp_path / "kiosk.db", 0, wall).tries == lock.tries
    assert wrong_tries(restarted(tmp_path / "kiosk.db", 0, wall), db, 0, 2) == ["wrong", "wrong"]


def test_a_wall_clock_set_back_at_boot_cannot_stretch_a_lock_out(tmp_path: Path, db: Database) -> None:
    """A board without a clock battery may start in 1970: what is read back lasts no longer than its length."""
    wall = WallClock()
    wrong_tries(PinLock(PIN_HASH, POLICY, db, 0, wall), db, 0, 3)
    wall.now = 0.0
    after = restarted(tmp_path / "kiosk.db", 0, wall)
    assert after.check(PIN, 59, db) == "locked"
    assert after.check(PIN, 60, db) == "ok"


# --- on the kiosk's screen ---------------------------------------------------------------------------------


def test_a_new_controller_on_the_same_database_is_still_locked(controller: KioskController) -> None:
    """Today's kiosk forgot a lock-out when the screen was built again (a restart); now the database keeps it."""
    controller.open_admin()
    for _ in range(controller.kiosk.settings.ui.admin_attempts_before_lockout):
        controller.type_text("11111111")
        controller.submit()
    assert controller.state.notice == "locked"
    clock = FakeClock()
    fresh = KioskController(lambda: controller.kiosk, clock=clock, today=fixed_today)
    try:
        fresh.open_admin()
        fresh.type_text(DEMO_PIN)
        fresh.submit()
        assert fresh.state.screen == "admin_pin" and fresh.state.notice == "locked"
        clock.now += controller.kiosk.settings.ui.admin_lockout_s
        fresh.type_text(DEMO_PIN)
        fresh.submit()
        assert fresh.state.screen == "admin"  # and the right PIN clears the count for the tests after this one
        fresh.close_admin()
    finally:
        fresh.detach()
