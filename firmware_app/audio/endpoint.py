"""End-pointing: where a customer's utterance starts and ends, from the VAD's per-frame speech probability.

A frame counts as speech once the probability reaches ``threshold`` and stays speech until it drops below
``threshold - HYSTERESIS``, so a probability hovering around the threshold (a fan, a voice far away) does not
flicker between the two. An utterance starts after ``start_ms`` of unbroken speech and keeps ``pre_roll_ms`` of
the audio before that run (soft consonants the VAD is slow to call speech); it ends after ``silence_ms`` of
non-speech, at ``max_s``, or when the stream does. If no speech starts within ``no_speech_s`` the capture
gives up. Only bounded buffers are kept: the pre-roll ring while waiting, and at most ``max_s`` of audio.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from firmware_app.audio.frames import FRAME_MS, SAMPLE_RATE_HZ, Frame
from firmware_app.config import ListeningConfig

HYSTERESIS = 0.15  # Silero's own streaming iterator releases speech at threshold - 0.15

EndedBy = Literal["silence", "max_length", "stream_end"]


@dataclass(frozen=True)
class EndpointConfig:
    threshold: float = 0.5
    start_ms: int = 200
    silence_ms: int = 700
    max_s: float = 15.0
    pre_roll_ms: int = 300
    no_speech_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"the VAD threshold must be between 0 and 1, got {self.threshold}")
        if min(self.start_ms, self.silence_ms, self.max_s, self.no_speech_s) <= 0 or self.pre_roll_ms < 0:
            raise ValueError(f"end-pointing times must be positive: {self}")
        if self.start_ms + self.pre_roll_ms >= self.max_s * 1000:
            raise ValueError(f"max_s ({self.max_s}) must be longer than start_ms + pre_roll_ms: {self}")

    @classmethod
    def from_listening(cls, listening: ListeningConfig) -> EndpointConfig:
        return cls(
            threshold=listening.vad_threshold,
            start_ms=listening.start_ms,
            silence_ms=listening.silence_ms,
            max_s=listening.max_utterance_s,
            pre_roll_ms=listening.pre_roll_ms,
            no_speech_s=listening.no_speech_s,
        )


@dataclass(frozen=True)
class Utterance:
    """The captured audio (16 kHz mono int16) and why capture stopped."""

    samples: np.ndarray
    ended_by: EndedBy

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE_HZ


@dataclass(frozen=True)
class NoSpeech:
    """Capture started but nobody spoke (``waited_s`` of audio without an utterance starting)."""

    waited_s: float


def _frames(ms: float) -> int:
    return max(1, round(ms / FRAME_MS))


class Endpointer:
    """Fed every frame with its speech probability; captures one utterance after each ``start()``.

    Between captures it only keeps the pre-roll, so that a capture started by a tap can include the words the
    customer began saying as they tapped.
    """

    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self._on, self._off = config.threshold, max(config.threshold - HYSTERESIS, 0.01)
        self._start_frames = _frames(config.start_ms)
        self._silence_frames = _frames(config.silence_ms)
        self._max_frames = _frames(config.max_s * 1000)
        self._no_speech_frames = _frames(config.no_speech_s * 1000)
        # While waiting: the pre-roll plus the speech run that may become the utterance's start.
        self._recent: deque[Frame] = deque(maxlen=round(config.pre_roll_ms / FRAME_MS) + self._start_frames)
        self._speaking = False  # the hysteresis state of the latest frame
        self._run = 0  # speech frames in a row (while waiting) / non-speech frames in a row (in an utterance)
        self._capturing = False
        self._waited = 0
        self._utterance: list[Frame] | None = None

    @property
    def capturing(self) -> bool:
        return self._capturing

    @property
    def in_utterance(self) -> bool:
        """A capture found speech and is collecting the utterance."""
        return self._utterance is not None

    @property
    def hearing_speech(self) -> bool:
        """Between captures: speech has lasted long enough to start an utterance (a customer talking over the
        kiosk's voice)."""
        return not self._capturing and self._run >= self._start_frames

    def utterance_so_far(self) -> list[Frame]:
        """The frames of the utterance being collected (pre-roll included), for a recognizer that streams."""
        return list(self._utterance or ())

    def start(self, keep_history: bool) -> None:
        """Begin a capture. ``keep_history=False`` drops the audio heard so far (the wake word itself)."""
        if not keep_history:
            self._recent.clear()
            self._run = 0
        self._capturing = True
        self._waited = 0
        self._utterance = None

    def push(self, frame: Frame, probability: float) -> Utterance | NoSpeech | None:
        """Feed the next frame; the result when this frame ends a capture, else None."""
        self._speaking = probability >= (self._off if self._speaking else self._on)
        if self._utterance is not None:
            return self._in_utterance(frame)
        self._recent.append(frame)
        self._run = self._run + 1 if self._speaking else 0
        if not self._capturing:
            return None
        self._waited += 1
        if self._run >= self._start_frames:
            self._utterance = list(self._recent)
            self._run = 0
            return None
        if self._waited >= self._no_speech_frames:
            return self._give_up()
        return None

    def finish(self) -> Utterance | NoSpeech | None:
        """The stream ended: what was being captured, if anything."""
        if not self._capturing:
            return None
        return self._end("stream_end") if self._utterance is not None else self._give_up()

    def _in_utterance(self, frame: Frame) -> Utterance | None:
        assert self._utterance is not None
        self._utterance.append(frame)
        self._run = 0 if self._speaking else self._run + 1
        if self._run >= self._silence_frames:
            return self._end("silence")
        if len(self._utterance) >= self._max_frames:
            return self._end("max_length")
        return None

    def _end(self, ended_by: EndedBy) -> Utterance:
        assert self._utterance is not None
        samples = np.concatenate(self._utterance)
        self._reset_capture()
        return Utterance(samples, ended_by)

    def _give_up(self) -> NoSpeech:
        waited_s = self._waited * FRAME_MS / 1000
        self._reset_capture()
        return NoSpeech(waited_s)

    def _reset_capture(self) -> None:
        self._capturing = False
        self._utterance = None
        self._recent.clear()
        self._run = 0
