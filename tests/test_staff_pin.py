"""The staff PIN lock on its own: right, wrong, locked out, and free again after the lockout."""

from __future__ import annotations

import hashlib

from firmware_app.screen.staff import PinLock

PIN_SHA256 = hashlib.sha256(b"2468").hexdigest()


def test_right_pin_opens_and_resets_the_count() -> None:
    lock = PinLock(PIN_SHA256, attempts_before_lockout=3, lockout_s=60)
    assert lock.check("1111", now=0) == "wrong"
    assert lock.check("2468", now=1) == "ok"
    assert lock.failures == 0


def test_third_wrong_try_locks_even_the_right_pin_until_the_lockout_ends() -> None:
    lock = PinLock(PIN_SHA256, attempts_before_lockout=3, lockout_s=60)
    assert [lock.check("0000", now=t) for t in (0, 1, 2)] == ["wrong", "wrong", "locked"]
    assert lock.check("2468", now=61) == "locked"
    assert lock.check("2468", now=62) == "ok"


def test_a_prefix_or_longer_pin_is_wrong() -> None:
    lock = PinLock(PIN_SHA256, attempts_before_lockout=5, lockout_s=60)
    assert lock.check("246", now=0) == "wrong"
    assert lock.check("24680", now=0) == "wrong"
