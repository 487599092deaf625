"""The soak's clock jumps (``bench/bench_soak.py``): a process started with this folder on ``PYTHONPATH`` and
``SOAK_CLOCK_OFFSET_FILE`` set sees its wall clock shifted by the seconds that file holds, as a kiosk whose clock
jumped would (a dead RTC battery at boot, then NTP setting it right).

Python's wall clock only: ``time.time``, ``time.time_ns`` and ``datetime.datetime.now`` / ``utcnow`` / ``today``,
which is where the kiosk's link reads the time (ack timeouts, retry schedules, timestamps). The monotonic clock is
left alone, as a real jump leaves it; SQLite's ``CURRENT_TIMESTAMP`` and OpenSSL still see the true time.
Changing the machine's clock itself would disturb everything else running here.
"""

from __future__ import annotations

import datetime
import os
import time

OFFSET_FILE = os.environ.get("SOAK_CLOCK_OFFSET_FILE")
READ_EVERY_S = 0.1

if OFFSET_FILE:
    _true_time, _true_time_ns = time.time, time.time_ns
    _offset_s, _read_at = 0.0, -1.0

    def _offset() -> float:
        global _offset_s, _read_at
        now = time.monotonic()
        if now - _read_at >= READ_EVERY_S:
            _read_at = now
            try:
                with open(OFFSET_FILE, encoding="ascii") as handle:
                    _offset_s = float(handle.read().strip() or 0)
            except (OSError, ValueError):
                pass  # half-written: keep the last offset
        return _offset_s

    class _ShiftedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> datetime.datetime:
            return super().now(tz) + datetime.timedelta(seconds=_offset())

        @classmethod
        def utcnow(cls) -> datetime.datetime:
            return super().now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(seconds=_offset())

        @classmethod
        def today(cls) -> datetime.datetime:
            return cls.now()

    time.time = lambda: _true_time() + _offset()
    time.time_ns = lambda: _true_time_ns() + int(_offset() * 1e9)
    datetime.datetime = _ShiftedDatetime  # type: ignore[misc]
