"""Assembles the listening loop from the settings: the configured wake words, Silero VAD and end-pointing,
with captured utterances saved under the data directory."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from firmware_app.audio.endpoint import EndpointConfig
from firmware_app.audio.listener import CaptureObserver, Listener
from firmware_app.audio.sources import AudioSource
from firmware_app.audio.vad import SileroVad
from firmware_app.audio.wakeword import WakeWords, build_wake_words
from firmware_app.config import KioskSettings
from firmware_app.events import Event
from firmware_app.inference.manifest import ModelIntegrityError

log = logging.getLogger(__name__)


def build_listener(
    settings: KioskSettings,
    source: AudioSource,
    publish: Callable[[Event], None],
    capture: CaptureObserver | None = None,
) -> Listener:
    """The listener for ``source``; no wake words configured means push-to-talk only. ``capture`` hears each
    utterance while it is captured (the streaming recognizer)."""
    listening = settings.listening
    wake_words: WakeWords | None = None
    if listening.wake_words:
        try:
            wake_words = build_wake_words(
                listening.wake_words, settings.models_dir, listening.thresholds, listening.refractory_s
            )
        except (ValueError, ModelIntegrityError) as error:  # the kiosk still listens when the button is tapped
            log.error("wake words unavailable, push-to-talk only: %s", error)
    return Listener(
        source,
        wake_words,
        SileroVad(),
        EndpointConfig.from_listening(listening),
        settings.data_dir / "utterances",
        publish,
        capture,
        barge_in_on_speech=settings.speech.barge_in_on_speech,
    )


def start_in_background(listener: Listener) -> threading.Thread:
    """Run the loop on its own thread (a microphone delivers audio in real time; the UI must not wait)."""
    thread = threading.Thread(target=_run_logged, args=(listener,), name="kiosk-listener", daemon=True)
    thread.start()
    return thread


def _run_logged(listener: Listener) -> None:
    try:
        listener.run()
    except Exception:
        log.exception("the listening loop stopped")
