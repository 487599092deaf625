"""Structured logging: one JSON object per line on stderr, with personal data redacted.

Every record passes through ``privacy.redact`` so a card number or phone number typed by a customer never
reaches a log file, whatever the calling code put in its message or ``extra`` fields.
"""

from __future__ import annotations

import collections
import logging

from firmware_app.privacy import redact
from kiosk_link.logs import JsonFormatter as BaseJsonFormatter
from kiosk_link.logs import log_to_stderr


class JsonFormatter(BaseJsonFormatter):
    """The link's JSON lines with every string value redacted."""

    def __init__(self) -> None:
        super().__init__(scrub=redact)


class RedactingTextFormatter(logging.Formatter):
    """Human-readable lines for development, still redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send all kiosk logs to stderr, redacted, as JSON lines or (``fmt="text"``) readable lines."""
    text = RedactingTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_to_stderr(JsonFormatter() if fmt == "json" else text, level)


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
