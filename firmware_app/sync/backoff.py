"""Reconnect delays: exponential, capped, with jitter.

Jitter matters for a fleet: when a broker restarts, hundreds of kiosks lose it at the same instant, and
without jitter they would all come back at the same instants too. Each delay is drawn between half and all
of the exponential step ("equal jitter"), so no kiosk retries in a tight loop and the fleet spreads out.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, first_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self._rng = rng or random.Random()
        self._failures = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; each call counts one more failure."""
        step = min(self.max_s, self.first_s * 2.0 ** min(self._failures, 32))
        self._failures += 1
        return self._rng.uniform(step / 2, step)

    def reset(self) -> None:
        """A connection succeeded: the next failure starts from ``first_s`` again."""
        self._failures = 0
