"""Conversation by voice: the listening loop's utterances become spoken turns, and replies are spoken back.

``VoiceTurns`` sits between the listening loop, speech recognition and the kiosk's bus:

- while an utterance is captured it streams the frames to the fast recognizer and publishes
  ``PartialTranscript`` events (the screen shows the words as they come);
- when the utterance ends, ``transcribe(wav)`` finishes the stream (the fast result is ready within
  milliseconds of the end of speech), lets the ``AsrPolicy`` decide whether Whisper must hear it, publishes
  ``Transcribed`` and returns the words for the dialogue;
- every ``Reply`` on the bus is spoken, and a wake word, a capture starting or a tap cut the voice short
  (barge-in); the listening loop is told while the kiosk speaks, so that speech over the voice interrupts it.

The numbers the customer types on the numpad (card digits, amounts) are recognized with the digits grammar when
the screen asks for them (``grammar()``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from firmware_app.asr.engines import build_policy, in_scope_of
from firmware_app.asr.policy import AsrPolicy, with_engine_seconds
from firmware_app.asr.types import AsrAudioError, Grammar, StreamingRecognizer, Transcript, read_audio
from firmware_app.audio.frames import Frame
from firmware_app.audio.listener import Listener
from firmware_app.audio.pipeline import build_listener, start_in_background
from firmware_app.audio.sources import AudioSource
from firmware_app.audio.tts import AudioOutput, SpeechState, SpeechSynthesizer, SpokenReplies
from firmware_app.events import (
    CaptureTrigger,
    Event,
    Language,
    ListeningStarted,
    PartialTranscript,
    Reply,
    SpeakingChanged,
    Transcribed,
    WakeWordDetected,
)

if TYPE_CHECKING:
    from firmware_app.screen.controller import KioskController

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 10.0  # a turn in progress (Whisper, the dialogue) ends well within this


class Voice(Protocol):
    """The kiosk's spoken output (``firmware_app.audio.tts.SpokenReplies``)."""

    def say(self, text: str, language: Language) -> None: ...

    def stop(self) -> bool: ...


class VoiceTurns:
    """Streams captures to the fast recognizer, decides the transcript, and speaks the replies."""

    def __init__(
        self,
        policy: AsrPolicy,
        publish: Callable[[Event], None],
        *,
        voice: Voice | None = None,
        grammar: Callable[[], Grammar | None] = lambda: None,
    ) -> None:
        self.policy = policy
        self.publish = publish
        self.streaming: StreamingRecognizer | None = None  # the fast engine, once load_engines() has it
        self.voice = voice
        self.grammar = grammar
        self._grammar: Grammar | None = None
        self._streaming_active = False
        self._last_partial = ""

    def load_engines(self) -> None:
        """Load the recognizers this mode uses (slow: language model, Whisper), and stream with the fast one."""
        try:
            if self.policy.mode != "accurate":
                fast = self.policy.fast.get()
                if isinstance(fast, StreamingRecognizer):
                    self.streaming = fast
            if self.policy.mode != "fast":
                self.policy.accurate.get()
        except Exception:
            log.exception("speech recognition could not be loaded; voice questions will not be understood")

    # --- the listening loop's capture (CaptureObserver) ---------------------------------------------------

    def capture_started(self, trigger: CaptureTrigger) -> None:
        self._grammar = self.grammar()
        self._last_partial = ""
        if self.streaming is not None:
            self.streaming.start(self._grammar)
            self._streaming_active = True

    def capture_frame(self, frame: Frame) -> None:
        if not self._streaming_active:
            return
        assert self.streaming is not None
        partial = self.streaming.feed(frame)
        if partial and partial != self._last_partial:
            self._last_partial = partial
            self.publish(PartialTranscript(text=partial))

    # --- the end of an utterance (the controller's ``transcribe`` hook) -----------------------------------

    def transcribe(self, wav_path: str) -> str | None:
        """The words of a captured utterance, or None when nothing usable was said (bad audio, no words)."""
        started = time.perf_counter()
        fast = self._finish_stream()
        try:
            samples = read_audio(wav_path)
        except AsrAudioError as error:
            log.warning("utterance not recognized: %s", error)
            return None
        decision = self.policy.transcribe(samples, self._grammar, fast=fast)
        transcript = with_engine_seconds(decision)
        self.publish(
            Transcribed(
                text=transcript.text,
                engine=transcript.engine,
                confidence=round(transcript.confidence, 3),
                seconds=round(time.perf_counter() - started, 4),
                audio_s=round(transcript.audio_s, 2),
                escalated=decision.escalated,
            )
        )
        return transcript.text or None

    def _finish_stream(self) -> Transcript | None:
        if not self._streaming_active:
            return None
        assert self.streaming is not None
        self._streaming_active = False
        return self.streaming.finish()

    # --- the kiosk's bus ---------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Speak replies; stop speaking when the customer takes the turn."""
        if self.voice is None:
            return
        if isinstance(event, WakeWordDetected | ListeningStarted):
            self.voice.stop()
        elif isinstance(event, Reply) and (event.speech or event.text):
            self.voice.say(event.speech or event.text, event.language)


@dataclass
class VoicePipeline:
    """A kiosk wired for voice: its listening loop, the turns it feeds, and the voice that answers."""

    listener: Listener
    turns: VoiceTurns
    replies: SpokenReplies | None
    thread: threading.Thread | None = None

    def start(self) -> None:
        """Run the listening loop on its own thread (a microphone delivers audio in real time)."""
        self.thread = start_in_background(self.listener)

    def progress(self) -> int | None:
        """Frames heard so far while the listening loop runs (the service watchdog checks it moves), None once it
        has ended (its source finished or was closed), which is not a hang."""
        alive = self.thread is not None and self.thread.is_alive()
        return self.listener.frames_seen if alive else None

    def wait_until_quiet(self, timeout_s: float = 30.0) -> bool:
        """Wait until every reply has been spoken (True at once for a silent kiosk)."""
        return self.replies is None or self.replies.wait_until_quiet(timeout_s)

    def close(self) -> None:
        """Stop listening and speaking; waits for a turn in progress, so the kiosk can be closed after."""
        self.listener.stop()
        if self.thread is not None:
            self.thread.join(timeout=CLOSE_TIMEOUT_S)
        if self.replies is not None:
            self.replies.close()


def attach_voice(
    controller: KioskController,
    source: AudioSource,
    output: AudioOutput | None,
    *,
    policy: AsrPolicy | None = None,
    wait_for_engines: bool = False,
) -> VoicePipeline:
    """Wire a kiosk for voice: ``source`` feeds the listening loop, utterances are recognized and answered,
    replies are spoken on ``output`` (None or ``speech.tts_engine = "none"``: a silent kiosk).

    The recognizers load on a background thread, so the screen comes up at once and the first question rarely
    waits for them (``wait_for_engines`` loads them first, for recordings). The caller runs the listener
    (``pipeline.start_in_background``, ``run()``, or ``step()`` frame by frame). ``policy`` defaults to the
    configured one; a caller with several kiosk sessions (tests, benchmarks) passes one in to load engines once.
    """
    kiosk = controller.kiosk
    settings = kiosk.settings
    policy = policy or build_policy(settings, kiosk.pack, in_scope=in_scope_of(kiosk.nlu.classifiers["en"]))
    turns = VoiceTurns(policy, kiosk.bus.publish, grammar=controller.expected_grammar)
    listener = build_listener(settings, source, kiosk.bus.publish, capture=turns)
    replies = None
    if output is not None and settings.speech.tts_engine != "none":

        def on_state(state: SpeechState, _text: str) -> None:
            if state is SpeechState.STARTED:
                listener.kiosk_speaking.set()
            else:
                listener.kiosk_speaking.clear()
            kiosk.bus.publish(SpeakingChanged(state=_SPEAKING[state]))

        replies = SpokenReplies(SpeechSynthesizer.from_config(settings.speech), output, on_state)
        turns.voice = replies
        controller.hush = replies.interrupt
    kiosk.bus.subscribe(turns.on_event)
    controller.transcribe = turns.transcribe
    controller.listen = listener.push_to_talk
    controller.announce_wake_words(settings.listening.wake_words)
    if wait_for_engines:
        turns.load_engines()
    else:
        threading.Thread(target=turns.load_engines, name="asr-load", daemon=True).start()
    return VoicePipeline(listener, turns, replies)


_SPEAKING: dict[SpeechState, Literal["started", "finished", "interrupted"]] = {
    SpeechState.STARTED: "started",
    SpeechState.FINISHED: "finished",
    SpeechState.INTERRUPTED: "interrupted",
}
