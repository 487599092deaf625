"""Which recognizer hears an utterance: the fast domain engine first, Whisper when that is not good enough.

PocketSphinx with the pack's language model answers in-domain questions in tens of milliseconds but forces
everything into the pack's words; Whisper hears open questions correctly but costs about a second. So in
``auto`` mode the fast result is kept when it is confident and the intent model finds it in scope; otherwise
the same audio goes to Whisper, unless the utterance is so long that Whisper would blow the reply's latency
budget (``escalate_max_audio_s``). A Pi 4 can stay on the fast path alone (``fast``), a NUC can use Whisper
alone (``accurate``). Engines are created on first use, so a kiosk that never escalates never loads Whisper.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from firmware_app.asr.types import Grammar, SpeechRecognizer, Transcript, check_samples
from firmware_app.audio.frames import SAMPLE_RATE_HZ

log = logging.getLogger(__name__)

Mode = Literal["auto", "fast", "accurate"]
EscalationReason = Literal["low_confidence", "out_of_scope", "empty"]


@dataclass(frozen=True)
class Decision:
    """What the policy returned and why: the transcript used, the fast one it replaced, and the reason."""

    transcript: Transcript
    fast: Transcript | None = None
    escalated: EscalationReason | None = None

    @property
    def seconds(self) -> float:
        """Recognition time of everything that ran for this utterance."""
        return self.transcript.seconds + (self.fast.seconds if self.escalated and self.fast else 0.0)


class LazyRecognizer:
    """Builds a recognizer on first use (thread-safe): loading Whisper takes time and memory."""

    def __init__(self, build: Callable[[], SpeechRecognizer]) -> None:
        self._build = build
        self._engine: SpeechRecognizer | None = None
        self._lock = threading.Lock()

    def get(self) -> SpeechRecognizer:
        with self._lock:
            if self._engine is None:
                self._engine = self._build()
            return self._engine


class AsrPolicy:
    """One ``transcribe`` for the kiosk, whatever engines run behind it.

    ``in_scope(text)`` is the intent model's verdict (True when the text is a question the pack covers).
    """

    def __init__(
        self,
        mode: Mode,
        fast: LazyRecognizer,
        accurate: LazyRecognizer,
        *,
        escalate_below: float,
        escalate_digits_below: float,
        escalate_max_audio_s: float,
        in_scope: Callable[[str], bool] | None = None,
    ) -> None:
        self.mode = mode
        self.fast = fast
        self.accurate = accurate
        self.escalate_below = escalate_below
        self.escalate_digits_below = escalate_digits_below
        self.escalate_max_audio_s = escalate_max_audio_s
        self.in_scope = in_scope

    def transcribe(
        self, samples: np.ndarray, grammar: Grammar | None = None, fast: Transcript | None = None
    ) -> Decision:
        """Recognize ``samples``; ``fast`` is the fast engine's result when it already streamed the utterance."""
        check_samples(samples)
        if self.mode == "accurate":
            return Decision(self.accurate.get().transcribe(samples, grammar))
        if fast is None:
            fast = self.fast.get().transcribe(samples, grammar)
        reason = self.escalation(fast, len(samples) / SAMPLE_RATE_HZ, grammar)
        if reason is None:
            return Decision(fast)
        accurate = self.accurate.get().transcribe(samples, grammar)
        log.info(
            "speech recognition escalated",
            extra={"reason": reason, "fast_confidence": round(fast.confidence, 3), "fast_s": round(fast.seconds, 3)},
        )
        return Decision(accurate, fast, reason)

    def escalation(self, fast: Transcript, audio_s: float, grammar: Grammar | None) -> EscalationReason | None:
        """Why the fast result should be checked by Whisper, or None to keep it."""
        if self.mode != "auto" or audio_s > self.escalate_max_audio_s:
            return None
        if not fast.text:
            return "empty"
        if fast.confidence < (self.escalate_below if grammar is None else self.escalate_digits_below):
            return "low_confidence"
        if grammar is None and self.in_scope is not None and not self.in_scope(fast.text):
            return "out_of_scope"
        return None


def with_engine_seconds(decision: Decision) -> Transcript:
    """The transcript to report, its ``seconds`` covering every engine that ran."""
    return replace(decision.transcript, seconds=decision.seconds)
