"""The speech-to-text stage: the fast engine hears the utterance while it is captured, the policy decides at the end.

While the customer speaks, the frames stream to the fast recognizer and its partial words are published as
``PartialTranscript`` (the screen shows them as they come). At the end of the utterance the stream is finished
(the fast result is ready within milliseconds of the end of speech) and the ``AsrPolicy`` decides, on the same
samples in memory, whether Whisper must hear it too. The result is the stage's end event (``Transcribed``) or
its error (``SpeechToTextError``), which the pipeline publishes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from firmware_app.asr.policy import AsrPolicy, with_engine_seconds
from firmware_app.asr.types import AsrAudioError, Grammar, StreamingRecognizer, Transcript
from firmware_app.audio.frames import SAMPLE_RATE_HZ, Frame
from firmware_app.events import Event, PartialTranscript, SpeechToTextError, Transcribed
from firmware_app.health import Health

log = logging.getLogger(__name__)


class SpeechToText:
    """Streams captures to the fast recognizer and turns each utterance into ``Transcribed``."""

    def __init__(self, policy: AsrPolicy, publish: Callable[[Event], None]) -> None:
        self.policy = policy
        self.publish = publish
        self.streaming: StreamingRecognizer | None = None  # the fast engine, once load_engines() has it
        self._load_error: str | None = None
        self.health: Health | None = None  # told whether the recognizers loaded (``voice_for`` sets it)
        self._grammar: Grammar | None = None
        self._streaming_active = False
        self._last_partial = ""

    def load_engines(self, retry: bool = False) -> None:
        """Load the recognizers this mode uses (slow: language model, Whisper), and stream with the fast one.
        An engine that cannot load makes every utterance a ``SpeechToTextError("unavailable")`` until a later
        try (a ``retry``, logged quietly) loads it."""
        try:
            if self.policy.mode != "accurate":
                fast = self.policy.fast.get()
                if isinstance(fast, StreamingRecognizer):
                    self.streaming = fast
            if self.policy.mode != "fast":
                self.policy.accurate.get()
        except Exception as error:
            if retry:
                log.debug("speech recognition still cannot be loaded: %s", error)
            else:
                log.exception("speech recognition could not be loaded; voice questions will not be understood")
            self._load_error = f"{type(error).__name__}: {error}"
            if self.health is not None:
                self.health.degraded("speech_recognition", self._load_error, "touch_only")
            return
        self._load_error = None
        if self.health is not None:
            self.health.ok("speech_recognition")

    @property
    def unavailable(self) -> bool:
        """The recognizers could not be loaded (the voice pipeline tries again)."""
        return self._load_error is not None

    def start(self, grammar: Grammar | None) -> None:
        """A capture began: stream it to the fast engine, with the grammar the conversation expects."""
        self._grammar = grammar
        self._last_partial = ""
        if self.streaming is not None:
            self.streaming.start(grammar)
            self._streaming_active = True

    def feed(self, frame: Frame) -> None:
        """The next frame of the utterance; publishes the partial words when they changed."""
        if not self._streaming_active:
            return
        assert self.streaming is not None
        partial = self.streaming.feed(frame)
        if partial and partial != self._last_partial:
            self._last_partial = partial
            self.publish(PartialTranscript(text=partial))

    def transcribe(self, samples: np.ndarray, sample_rate_hz: int) -> Transcribed | SpeechToTextError:
        """The words of a captured utterance (16 kHz mono int16), or why there are none. ``Transcribed.seconds``
        counts from here: what the customer waits after the end of speech."""
        started = time.perf_counter()
        fast = self._finish_stream()
        if self._load_error is not None:
            return SpeechToTextError(code="unavailable", message=self._load_error)
        if sample_rate_hz != SAMPLE_RATE_HZ:
            return SpeechToTextError(code="bad_audio", message=f"{sample_rate_hz} Hz audio, expected {SAMPLE_RATE_HZ}")
        try:
            decision = self.policy.transcribe(samples, self._grammar, fast=fast)
        except AsrAudioError as error:
            log.warning("utterance not recognized: %s", error)
            return SpeechToTextError(code="bad_audio", message=str(error))
        except Exception as error:  # an engine crash loses this utterance, not the listening loop
            log.exception("speech recognition failed")
            return SpeechToTextError(code="failed", message=f"{type(error).__name__}: {error}")
        transcript = with_engine_seconds(decision)
        return Transcribed(
            text=transcript.text,
            engine=transcript.engine,
            confidence=round(transcript.confidence, 3),
            seconds=round(time.perf_counter() - started, 4),
            audio_s=round(transcript.audio_s, 2),
            escalated=decision.escalated,
        )

    def _finish_stream(self) -> Transcript | None:
        if not self._streaming_active:
            return None
        assert self.streaming is not None
        self._streaming_active = False
        return self.streaming.finish()
