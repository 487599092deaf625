"""One log form for kiosk and backend: a JSON object per line on stderr, so one log pipeline reads both ends.

The fields are ``ts``, ``level``, ``logger``, ``msg``, every ``extra`` field, and ``exc`` for a traceback. The kiosk
passes its personal-data redaction as ``scrub`` (``firmware_app.logs``); the backend passes none, because what
reaches it was redacted on the kiosk before it left.

Lines that an outsider can trigger at will (a refused message, a handler that failed on one) go through a
``RateLimit``: one line per kind a minute, saying how many were held back since the last.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _unchanged(text: str) -> str:
    return text


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra}``, every string passed through ``scrub``."""

    def __init__(self, scrub: Callable[[str], str] = _unchanged) -> None:
        super().__init__()
        self.scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.scrub(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS:
                payload[key] = self._scrub_value(value)
        if record.exc_info:
            payload["exc"] = self.scrub(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False, default=str)

    def _scrub_value(self, value: Any) -> Any:
        """Any ``extra`` value: strings directly, anything else through its JSON text."""
        if isinstance(value, str):
            return self.scrub(value)
        text = json.dumps(value, ensure_ascii=False, default=str)
        scrubbed = self.scrub(text)
        if scrubbed == text:
            return value
        try:
            return json.loads(scrubbed)
        except json.JSONDecodeError:
            return scrubbed


def log_to_stderr(formatter: logging.Formatter, level: str = "INFO") -> None:
    """Every record to stderr through ``formatter`` (stdout carries a command's own, machine-readable output)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class RateLimit:
    """At most one log line per key every ``interval_s``; the lines held back in between are counted, and the
    next line that goes out says how many (``suppressed``).

    A flood of hostile messages (or one retained message met on every reconnect) must neither fill the kiosk's
    disk nor drown the lines around it, yet no kind of trouble may go unseen: its first line goes out at once,
    and its counts are in telemetry, not only in the log. Thread-safe: one limit may serve several threads."""

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._next: dict[str, float] = {}  # key -> when its next line may go out
        self._held: Counter[str] = Counter()
        self._guard = threading.Lock()

    def admit(self, key: str) -> int | None:
        """None where a line of ``key`` must be held back; else how many were held back since its last one."""
        with self._guard:
            now = self._clock()
            if now < self._next.get(key, now):
                self._held[key] += 1
                return None
            self._next[key] = now + self.interval_s
            return self._held.pop(key, 0)

    def log(self, logger: logging.Logger, level: int, key: str, msg: str, *args: object, **kwargs: Any) -> None:
        """``logger.log(level, msg, *args, **kwargs)``, unless a line of ``key`` went out too recently."""
        held = self.admit(key)
        if held is not None:
            extra = kwargs.pop("extra", None) or {}
            logger.log(level, msg, *args, extra={**extra, "suppressed": held}, stacklevel=2, **kwargs)
