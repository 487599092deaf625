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
    utterance while it is captured (the streaming recognizer) and gets it whole at the end."""
    listening = settings.listening
    return Listener(
        source,
        load_wake_words(settings, publish) if listening.wake_words else None,
        SileroVad(),
        EndpointConfig.from_listening(listening),
        None,
        publish,
        capture,
        barge_in_on_speech=settings.speech.barge_in_on_speech,
    )


def load_wake_words(settings: KioskSettings, publish: Callable[[Event], None], retry: bool = False) -> WakeWords | None:
    """The configured wake words, or None when they cannot be loaded, published as a ``WakeWordError``: the
    kiosk still listens on a tap (and the voice pipeline tries them again, a ``retry``, logged quietly)."""
    listening = settings.listening
    try:
        return build_wake_words(listening.wake_words, settings.models_dir, listening.thresholds, listening.refractory_s)
    except (ValueError, OSError, ModelIntegrityError) as error:
        log.log(logging.DEBUG if retry else logging.ERROR, "wake words unavailable, push-to-talk only: %s", error)
        publish(WakeWordError(code="unavailable", message=str(error)))
        return None
