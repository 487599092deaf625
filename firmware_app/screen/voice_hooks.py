"""The screen's side of the voice pipeline: a listener on its events, and the conversation its dialogue stage
talks to.

The pipeline (``firmware_app.voice``) publishes the start and end of each stage on the kiosk's bus;
``_on_voice_event`` turns them into what the screen shows (listening, the words so far, thinking, speaking, and a
notice when a turn ends without an answer) and never drives a stage. The pipeline's dialogue stage hands the
recognized words to ``respond``, which asks them as a spoken turn, or works the screen when they are a short
spoken command. ``connect_voice`` gives the screen the pipeline's controls (the microphone button starts a
capture, a touch stops the voice, declared with ``_touched`` in ``core``, which calls it); without a pipeline
the screen says plainly that voice is unavailable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from firmware_app.asr.types import Grammar
from firmware_app.events import (
    DialogueError,
    Event,
    ListeningStarted,
    NothingHeard,
    PartialTranscript,
    Reply,
    SpeechEnded,
    SpeechStarted,
    SpeechToTextError,
    TranscriptionStarted,
    WakeWordDetected,
)
from firmware_app.privacy import mask_for_display
from firmware_app.screen.core import ScreenCore
from firmware_app.screen.state import Activity

log = logging.getLogger(__name__)


class VoiceControls(Protocol):
    """What the screen asks of a voice pipeline (``firmware_app.voice.pipeline.VoicePipeline``)."""

    wake_words: tuple[str, ...]

    def push_to_talk(self) -> None: ...

    def hush(self) -> None: ...


class VoiceHooks(ScreenCore):
    """Listening, recognition and speaking as the screen shows them."""

    listen: Callable[[], None] | None = None  # starts push-to-talk capture once a voice pipeline is connected

    def connect_voice(self, voice: VoiceControls) -> None:
        """A voice pipeline serves this screen: the attract screen invites its wake words, the microphone button
        starts its capture, and a touch stops its voice."""
        self.listen = voice.push_to_talk
        self.hush = voice.hush
        self.announce_wake_words(list(voice.wake_words))

    def expected_grammar(self) -> Grammar | None:
        """ "digits" while a flow asks for a number on the numpad (card digits, an amount), else None. The staff
        PIN is never listened for: it must not be said aloud."""
        form = self._state.form
        return "digits" if form is not None and form.purpose == "flow" and form.hint == "numpad" else None

    def respond(self, text: str) -> Reply | None:
        """The voice pipeline's dialogue stage: recognized words, asked as a spoken turn (None when they were a
        screen command)."""
        return self.ask(text, "voice")

    def _on_voice_event(self, event: Event) -> None:
        """The voice pipeline's events, as they arrive on the kiosk's bus (from its own threads)."""
        if isinstance(event, WakeWordDetected):
            self.wake(event.wake_word)
        elif isinstance(event, ListeningStarted):
            self.set_activity("listening")
        elif isinstance(event, PartialTranscript):
            self.set_activity("listening", event.text)
        elif isinstance(event, TranscriptionStarted):
            self.set_activity("thinking", self._state.partial_transcript)
        elif isinstance(event, NothingHeard):
            self._turn_failed("not_heard")
        elif isinstance(event, SpeechToTextError):
            self._turn_failed("no_speech_recognition" if event.code == "unavailable" else "not_understood_audio")
        elif isinstance(event, DialogueError):
            self._turn_failed(None)
        elif isinstance(event, SpeechStarted):
            with self._lock:
                self._set(activity="speaking")
        elif isinstance(event, SpeechEnded):
            with self._lock:
                if self._state.activity == "speaking":
                    self._set(activity="idle")

    def _turn_failed(self, notice: str | None) -> None:
        """A spoken turn ended without an answer: the indicators stop, and the notice says why."""
        with self._lock:
            self._set(activity="idle", partial_transcript="", notice=notice)

    def announce_wake_words(self, names: list[str]) -> None:
        """The wake words the attract screen invites people to say ("okay_nabu" -> "Okay Nabu")."""
        with self._lock:
            self._set(wake_words=tuple(name.replace("_", " ").title() for name in names))

    def wake(self, wake_word: str) -> None:
        """A wake word: from the attract screen a visit starts; on any screen the kiosk shows it is listening."""
        with self._lock:
            log.info("wake word", extra={"wake_word": wake_word})
            if self._state.screen in ("attract", "thanks"):
                self.touch_start()
            self._touched()
            self._set(activity="listening", partial_transcript="", notice=None)

    def push_to_talk(self) -> None:
        """The big microphone button: listen without a wake word, or say plainly that voice is unavailable."""
        with self._lock:
            self._touched()
            self._require_session()
            if self.listen is None or self.kiosk.capabilities.state("microphone") is not None:
                self._set(notice="no_microphone")  # no voice pipeline, or its microphone is missing
                return
            self._set(activity="listening", partial_transcript="")
        self.listen()

    def set_activity(self, activity: Activity, partial_transcript: str = "") -> None:
        """Listening / thinking / speaking indicators and the live partial transcript."""
        with self._lock:
            if activity != "idle":
                self._touched()
            shown = mask_for_display(partial_transcript, region=self.kiosk.settings.region)
            self._set(activity=activity, partial_transcript=shown)
