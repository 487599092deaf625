"""One log form for kiosk and backend: a JSON object per line on stderr, so one log pipeline reads both ends.

The fields are ``ts``, ``level``, ``logger``, ``msg``, every ``extra`` field, and ``exc`` for a traceback. The kiosk
passes its personal-data redaction as ``scrub`` (``firmware_app.logs``); the backend passes none, because what
reaches it was redacted on the kiosk before it left.
"""

from __future__ import annotations

import json
import logging
import sys
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
