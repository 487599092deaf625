"""Structured logging: one JSON object per line on stderr, with personal data redacted.

Every record passes through ``privacy.redact`` so a card number or phone number typed by a customer never
reaches a log file, whatever the calling code put in its message or ``extra`` fields.
"""

from __future__ import annotations

import collections
import json
import logging
import sys
from typing import Any

from firmware_app.privacy import redact

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra}`` with every string value redacted."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS:
                payload[key] = _redact_value(value)
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False, default=str)


def _redact_value(value: Any) -> Any:
    """Redact any ``extra`` value: strings directly, anything else through its JSON text."""
    if isinstance(value, str):
        return redact(value)
    text = json.dumps(value, ensure_ascii=False, default=str)
    redacted = redact(text)
    if redacted == text:
        return value
    try:
        return json.loads(redacted)
    except json.JSONDecodeError:
        return redacted


class RedactingTextFormatter(logging.Formatter):
    """Human-readable lines for development, still redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send all kiosk logs to stderr (stdout is reserved for the CLI's machine-readable output)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class RecentErrors(logging.Handler):
    """Keeps the last few warnings and errors, redacted, for the staff screen ("what went wrong lately?")."""

    def __init__(self, capacity: int = 20) -> None:
        super().__init__(level=logging.WARNING)
        self.setFormatter(RedactingTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        self._lines: collections.deque[str] = collections.deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        self._lines.append(self.format(record).splitlines()[0])

    def lines(self) -> tuple[str, ...]:
        """Newest first."""
        return tuple(reversed(self._lines))
