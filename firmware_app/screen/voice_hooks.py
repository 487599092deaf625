"""The controller's voice hooks: where a microphone pipeline plugs into the screen.

``firmware_app.voice.attach_voice`` sets the three hooks from outside (``listen``, ``transcribe`` and ``hush``,
the last declared with ``_touched`` in ``core``, which calls it) and sends the listening loop's events on the
kiosk's bus; without a pipeline the hooks stay None and the screen says plainly that voice is unavailable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from firmware_app.asr.types import Grammar
from firmware_app.events import (
    Event,
    ListeningStarted,
    NothingHeard,
    PartialTranscript,
    SpeakingChanged,
    UtteranceCaptured,
    WakeWordDetected,
)
from firmware_app.privacy import mask_for_display
from firmware_app.screen.core import ScreenCore
from firmware_app.screen.state import Activity

log = logging.getLogger(__name__)


class VoiceHooks(ScreenCore):
    """Listening, recognition and speaking as the screen shows them."""

    listen: Callable[[], None] | None = None  # starts push-to-talk capture when a microphone pipeline is attached
    # Turns a captured utterance (a WAV path) into text (``firmware_app.voice.VoiceTurns.transcribe``).
    transcribe: Callable[[str], str | None] | None = None

    def expected_grammar(self) -> Grammar | None:
        """ "digits" while a flow asks for a number on the numpad (card digits, an amount), else None. The staff
        PIN is never listened for: it must not be said aloud."""
        form = self._state.form
        return "digits" if form is not None and form.purpose == "flow" and form.hint == "numpad" else None

    def _on_voice_event(self, event: Event) -> None:
        """The listening loop's events, as they arrive on the kiosk's bus (from its own thread)."""
        if isinstance(event, WakeWordDetected):
            self.wake(event.wake_word)
        elif isinstance(event, ListeningStarted):
            self.set_activity("listening")
        elif isinstance(event, UtteranceCaptured):
            self.heard(event.path)
        elif isinstance(event, NothingHeard):
            with self._lock:
                self._set(activity="idle", partial_transcript="", notice="not_heard")
        elif isinstance(event, PartialTranscript):
            self.set_activity("listening", event.text)
        elif isinstance(event, SpeakingChanged):
            with self._lock:
                if event.state == "started":
                    self._set(activity="speaking")
                elif self._state.activity == "speaking":
                    self._set(activity="idle")

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

    def heard(self, wav_path: str) -> None:
        """An utterance was captured: its words go to the dialogue as a spoken turn, once speech recognition
        can read them; until then the customer is told to type or tap instead. The recording is personal data
        and is deleted once read."""
        if self.transcribe is not None:
            self.set_activity("thinking", self._state.partial_transcript)
        try:
            text = self.transcribe(wav_path) if self.transcribe is not None else None
        finally:
            Path(wav_path).unlink(missing_ok=True)
        if text is None:
            with self._lock:
                notice = "no_speech_recognition" if self.transcribe is None else "not_understood_audio"
                self._set(activity="idle", partial_transcript="", notice=notice)
            return
        self.ask(text, "voice")

    def push_to_talk(self) -> None:
        """The big microphone button: listen without a wake word, or say plainly that voice is unavailable."""
        with self._lock:
            self._touched()
            self._require_session()
            if self.listen is None:
                self._set(notice="no_microphone")
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
