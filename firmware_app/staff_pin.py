"""The staff PIN: compared by its sha256 in constant time, and locked for a while after repeated wrong tries
so it cannot be guessed at the counter."""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

PinVerdict = Literal["ok", "wrong", "locked"]


class PinLock:
    def __init__(self, pin_sha256: str, attempts_before_lockout: int, lockout_s: float) -> None:
        self.pin_sha256 = pin_sha256
        self.attempts_before_lockout = attempts_before_lockout
        self.lockout_s = lockout_s
        self.failures = 0
        self._locked_until = float("-inf")

    def check(self, pin: str, now: float) -> PinVerdict:
        """``locked`` while a lockout runs (even for the right PIN), and for the wrong try that starts one."""
        if now < self._locked_until:
            return "locked"
        if hmac.compare_digest(hashlib.sha256(pin.encode()).hexdigest(), self.pin_sha256):
            self.failures = 0
            return "ok"
        self.failures += 1
        if self.failures >= self.attempts_before_lockout:
            self.failures = 0
            self._locked_until = now + self.lockout_s
            return "locked"
        return "wrong"
