"""What the kiosk can do right now: each capability is at full service or degraded, with what serves instead.

Every part the kiosk leans on has a defined fallback, chosen where the part fails (at start or at run time):
the intent model falls back to keyword search, the broker to the outbox, a missing camera to filing without a
photo, a defect model to a photo filed without a verdict, a full or read-only disk to refusing new photos, a
missing microphone and speech recognition to touch, the kiosk's voice and a missing loudspeaker to text on the
screen, the wake word to the microphone button.
The component that notices reports it here (``degraded``), and reports ``ok`` when the part works again, so
full service returns without a restart.

``Health`` is written from any thread (the dialogue, the sync's, the camera's) and read by the staff screen and
the telemetry, so it holds a lock. A change (and only a change: a part that keeps failing reports the same
state again and again) is published as a ``HealthChanged`` event on the kiosk's bus, and told to the listeners
(the link to the fleet sends its telemetry at once), both outside the lock.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from firmware_app.events import (
    Event,
    HealthChanged,
    SpeechToTextError,
    Transcribed,
    WakeWordDetected,
    WakeWordError,
)
from kiosk_link.durable import write_bytes_atomically

log = logging.getLogger(__name__)

Capability = Literal[
    "intent_model",
    "microphone",
    "speech_recognition",
    "speech_output",
    "loudspeaker",
    "wake_word",
    "camera",
    "defect_models",
    "storage",
    "broker",
]
CAPABILITIES: tuple[Capability, ...] = get_args(Capability)

# What serves while a capability is degraded (the staff screen says each in plain words, ``health_fallback_*``).
Fallback = Literal[
    "keywords",  # questions read by the knowledge store's keyword search
    "touch_only",  # no speech recognition: the customer types and taps
    "text_only",  # no voice: replies are shown, not spoken
    "tap_to_talk",  # no wake word: the microphone button starts listening
    "no_photos",  # no camera: tickets are filed without a photo
    "no_verdict",  # no defect model: the photo is filed without the model's verdict
    "photos_refused",  # a full or read-only disk: new photos are refused, earlier data kept
    "outbox",  # no broker: tickets wait in the kiosk's outbox and are sent on reconnect
]
FALLBACKS: tuple[Fallback, ...] = get_args(Fallback)
DEFAULT_FALLBACK: dict[Capability, Fallback] = {
    "intent_model": "keywords",
    "microphone": "touch_only",
    "speech_recognition": "touch_only",
    "speech_output": "text_only",
    "loudspeaker": "text_only",
    "wake_word": "tap_to_talk",
    "camera": "no_photos",
    "defect_models": "no_verdict",
    "storage": "photos_refused",
    "broker": "outbox",
}
MAX_REASON_CHARS = 300  # what the wire carries of a reason (``kiosk_link.wire.DegradedV1``)


@dataclass(frozen=True)
class Degraded:
    """A capability that is not at full service: why, what serves instead, and since when (UTC)."""

    capability: Capability
    reason: str
    fallback: Fallback
    since: datetime


Listener = Callable[[], None]


class Health:
    """The kiosk's capabilities, each ``ok`` or ``degraded``; ``publish`` (the bus) is told each change."""

    def __init__(
        self,
        publish: Callable[[Event], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._publish = publish
        self._clock = clock
        self._degraded: dict[Capability, Degraded] = {}
        self._listeners: list[Listener] = []
        self._guard = threading.Lock()

    def listen(self, listener: Listener) -> None:
        """``listener()`` after every change (on the thread that reported it): it must be quick."""
        with self._guard:
            self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        with self._guard:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def degraded(self, capability: Capability, reason: str, fallback: Fallback | None = None) -> None:
        """``capability`` does not work (``reason``, kept to ``MAX_REASON_CHARS``): ``fallback`` (by default the
        capability's own) serves instead. Reported again with the same reason and fallback, nothing changes
        (``since`` stays when the outage began)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}")
        reason = " ".join(reason.split())[:MAX_REASON_CHARS]
        chosen = fallback or DEFAULT_FALLBACK[capability]
        with self._guard:
            before = self._degraded.get(capability)
            if before is not None and (before.reason, before.fallback) == (reason, chosen):
                return
            since = before.since if before is not None else self._clock()
            now = self._degraded[capability] = Degraded(capability, reason, chosen, since)
            listeners = list(self._listeners)
        if before is None:
            log.warning("capability degraded", extra={"capability": capability, "reason": reason, "fallback": chosen})
        self._changed(HealthChanged(capability, False, reason, chosen, now.since.isoformat()), listeners)

    def ok(self, capability: Capability) -> None:
        """``capability`` works (again); nothing happens if it was not degraded."""
        with self._guard:
            before = self._degraded.pop(capability, None)
            listeners = list(self._listeners)
        if before is None:
            return
        log.warning("capability restored", extra={"capability": capability, "fallback": before.fallback})
        self._changed(HealthChanged(capability, True), listeners)

    def state(self, capability: Capability) -> Degraded | None:
        """What serves ``capability`` instead, or None at full service."""
        with self._guard:
            return self._degraded.get(capability)

    def snapshot(self) -> tuple[Degraded, ...]:
        """Every degraded capability, in ``CAPABILITIES`` order."""
        with self._guard:
            return tuple(self._degraded[c] for c in CAPABILITIES if c in self._degraded)

    def on_event(self, event: Event) -> None:
        """Bus subscriber: the voice pipeline's own news of its parts. Wake words that cannot be loaded
        (``WakeWordError``) leave the microphone button; a recognizer that cannot be loaded
        (``SpeechToTextError("unavailable")``) leaves touch; a wake word heard or words recognized mean the part
        works."""
        if isinstance(event, WakeWordError) and event.code == "unavailable":
            self.degraded("wake_word", event.message or "wake words unavailable", "tap_to_talk")
        elif isinstance(event, WakeWordDetected):
            self.ok("wake_word")
        elif isinstance(event, SpeechToTextError) and event.code == "unavailable":
            self.degraded("speech_recognition", event.message or "speech recognition unavailable", "touch_only")
        elif isinstance(event, Transcribed):
            self.ok("speech_recognition")

    def _changed(self, event: HealthChanged, listeners: list[Listener]) -> None:
        if self._publish is not None:
            self._publish(event)
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.exception("health listener failed")


class HealthReport:
    """The kiosk's capabilities kept in a file (``data_dir/health.json``) after every change, for ``kiosk
    doctor``, which runs in its own process beside the kiosk. Written atomically (a reader never sees half of
    it); a disk that refuses it is logged once and costs nothing else."""

    def __init__(self, health: Health, path: Path) -> None:
        self.health = health
        self.path = path
        self._lock = threading.Lock()
        self._failing = False
        health.listen(self.write)
        self.write()

    def write(self) -> None:
        report = {
            "written_at": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
            "degraded": [
                {"capability": d.capability, "fallback": d.fallback, "reason": d.reason, "since": d.since.isoformat()}
                for d in self.health.snapshot()
            ],
        }
        with self._lock:
            try:
                write_bytes_atomically(self.path, json.dumps(report, indent=1).encode(), mode=0o644)
            except OSError as error:
                if not self._failing:
                    log.warning("cannot keep the health report in %s: %s", self.path, error)
                self._failing = True
            else:
                self._failing = False

    def close(self) -> None:
        self.health.unlisten(self.write)
