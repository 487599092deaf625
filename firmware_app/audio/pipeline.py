"""Assembles the listening loop from the settings: the configured wake words, Silero VAD and end-pointing,
with captured utterances handed on in memory (nothing is written to disk)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from firmware_app.audio.endpoint import EndpointConfig
from firmware_app.audio.listener import CaptureObserver, Listener
from firmware_app.audio.sources import AudioSource
from firmware_app.audio.vad import SileroVad
from firmware_app.audio.wakeword import WakeWords, build_wake_words
from firmware_app.config import KioskSettings
from firmware_app.events import Event, WakeWordError
from firmware_app.inference.manifest import ModelIntegrityError

log = logging.getLogger(__name__)


def build_listener(
    settings: KioskSettings,
    source: AudioSource,
    publish: Callable[[Event], None],
    capture: CaptureObserver | None = None,
) -> Listener:
    """The listener for ``source``; no wake words configured means push-to-talk only. ``capture`` hears each
    utterance while it is captured (the streaming recognizer) and gets it whole at the end. Wake words that
    cannot be loaded are published as a ``WakeWordError``: the kiosk still listens on a tap."""
    listening = settings.listening
    wake_words: WakeWords | None = None
    if listening.wake_words:
        try:
            wake_words = build_wake_words(
                listening.wake_words, settings.models_dir, listening.thresholds, listening.refractory_s
            )
        except (ValueError, ModelIntegrityError) as error:  # the kiosk still listens when the button is tapped
            log.error("wake words unavailable, push-to-talk only: %s", error)
            publish(WakeWordError(code="unavailable", message=str(error)))
    return Listener(
        source,
        wake_words,
        SileroVad(),
        EndpointConfig.from_listening(listening),
        None,
        publish,
        capture,
        barge_in_on_speech=settings.speech.barge_in_on_speech,
    )
