"""Test doubles for what the kiosk reads from its surroundings (only the clock so far)."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock that moves only when a test moves it (``clock.now += 5``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
