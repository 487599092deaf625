"""What the kiosk reports about its own health: latencies, error counts, versions, queue depth and free disk.

A ``HealthRecorder`` is fed on the dialogue thread (as an event-bus subscriber: the time from the customer's
words to the kiosk's reply, and speech recognition time) and by the logging system from any thread (as a
handler counting warnings and errors), and read on the sync thread, so it holds a lock. It keeps a bounded
window of recent samples per latency, so its memory does not grow with uptime and the percentiles describe the
kiosk as it is now rather than since boot.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from firmware_app.events import Event, Reply, SessionEnded, Transcribed, UserSaid
from firmware_app.health import Degraded
from firmware_app.inference.manifest import ModelIntegrityError, load_manifest
from firmware_app.sync.outbox import Outbox
from kiosk_link import wire

WINDOW = 256  # recent samples kept per latency
MAX_VERSIONS = 32  # what ``wire.StatusV1.versions`` and ``wire.TelemetryV1.versions`` hold at most


class HealthRecorder(logging.Handler):
    """Latency samples and warning/error counts, shared between the threads that produce and report them."""

    def __init__(self, window: int = WINDOW) -> None:
        super().__init__(level=logging.WARNING)
        self.started = time.monotonic()
        self._window = window
        self._samples: dict[str, deque[float]] = {}
        self._errors: Counter[str] = Counter()
        self._turns: dict[str, float] = {}  # session id -> when the customer's words reached the kiosk
        self._guard = threading.Lock()

    def on_event(self, event: Event) -> None:
        """Bus subscriber: a reply's latency is measured from the ``UserSaid`` of the same session."""
        now = time.perf_counter()
        if isinstance(event, UserSaid):
            self._turns[event.session_id] = now
        elif isinstance(event, Reply):
            said = self._turns.pop(event.session_id, None)
            if said is not None:
                self.record("reply", (now - said) * 1000)
        elif isinstance(event, Transcribed):
            self.record("asr", event.seconds * 1000)
        elif isinstance(event, SessionEnded):
            self._turns.pop(event.session_id, None)

    def record(self, name: str, ms: float) -> None:
        with self._guard:
            self._samples.setdefault(name, deque(maxlen=self._window)).append(ms)

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self._errors[f"log.{record.levelname.lower()}"] += 1

    def latencies(self) -> dict[str, wire.LatencyV1]:
        with self._guard:
            windows = {name: sorted(samples) for name, samples in self._samples.items() if samples}
        return {
            name: wire.LatencyV1(count=len(s), p50_ms=_rank(s, 0.50), p95_ms=_rank(s, 0.95), max_ms=round(s[-1], 1))
            for name, s in windows.items()
        }

    def errors(self) -> dict[str, int]:
        with self._guard:
            return dict(self._errors)

    def uptime_s(self) -> float:
        return round(time.monotonic() - self.started, 1)


def _rank(ordered: list[float], quantile: float) -> float:
    """Nearest-rank percentile of sorted samples: always a value that was measured."""
    return round(ordered[min(len(ordered) - 1, max(0, round(quantile * len(ordered)) - 1))], 1)


def model_versions(models_dir: Path) -> dict[str, str]:
    """``model:NAME`` -> version of every model in the manifest; none where the manifest is missing."""
    try:
        return {f"model:{name}": entry.version for name, entry in load_manifest(models_dir).items()}
    except ModelIntegrityError:
        return {}


def wire_versions(versions: Mapping[str, str]) -> dict[str, str]:
    """``versions`` as a status or telemetry report can carry them: at most ``MAX_VERSIONS``, the kiosk's own
    first, then the models in manifest order (the shipped ones, then released parts, newest last). A kiosk that has
    been released many enrolled parts reports the first of them, instead of failing every report."""
    ordered = {key: versions[key] for key in ("kiosk",) if key in versions} | dict(versions)
    return dict(list(ordered.items())[:MAX_VERSIONS])


def installed_pack(db: Database) -> wire.PackV1 | None:
    """The pack installed last (the one the kiosk serves), as the knowledge store recorded it."""
    row = db.execute("SELECT pack_id, version, content_sha256 FROM packs ORDER BY installed_at DESC LIMIT 1").fetchone()
    return wire.PackV1(id=row[0], version=row[1], sha256=row[2]) if row else None


def free_disk_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def telemetry(
    health: HealthRecorder,
    outbox: Outbox,
    versions: Mapping[str, str],
    rejected: Mapping[str, int],
    data_dir: Path,
    config_revision: int,
    degraded: Sequence[Degraded] = (),
) -> wire.TelemetryV1 | wire.TelemetryV2:
    """One telemetry report; ``rejected`` (messages the kiosk refused, by reason) join the error counts. With a
    capability ``degraded`` it is a ``TelemetryV2`` that lists them, else a ``TelemetryV1`` (which every backend
    reads)."""
    errors = health.errors() | {f"rejected.{reason}": n for reason, n in rejected.items()}
    fields = dict(
        sent_at=datetime.now(UTC),
        uptime_s=health.uptime_s(),
        versions=wire_versions(versions),
        queue_depth=outbox.depth(),
        held=outbox.held(),
        latencies=health.latencies(),
        errors=errors,
        free_disk_bytes=free_disk_bytes(data_dir),
        config_revision=config_revision,
    )
    if not degraded:
        return wire.TelemetryV1.model_validate(fields)
    listed = [
        wire.DegradedV1(capability=d.capability, reason=d.reason, fallback=d.fallback, since=d.since) for d in degraded
    ]
    return wire.TelemetryV2.model_validate(fields | {"degraded": listed})
