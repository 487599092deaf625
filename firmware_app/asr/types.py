"""What every speech recognizer takes and returns, and how a recording becomes its input.

All engines read 16 kHz mono int16 samples (``firmware_app.audio.frames``), so files of any supported rate,
channel count or container (WAV, FLAC) are converted once, here, by the same ``WavSource`` the listening loop
uses. Bad recordings are refused with an ``AsrAudioError`` that says what is wrong, before any engine runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from firmware_app.audio.frames import SAMPLE_RATE_HZ, AudioFormatError, Frame
from firmware_app.audio.sources import WavSource

EngineName = Literal["fast", "accurate"]
Grammar = Literal["digits"]

MIN_AUDIO_S = 0.1
MAX_AUDIO_S = 60.0  # an utterance at the kiosk is seconds long; longer files are refused, not truncated
CLIPPED_LEVEL = 32_700
MAX_CLIPPED_SHARE = 0.05  # more than 5% of samples at full scale: the words are distorted beyond use


class AsrAudioError(ValueError):
    """A recording the recognizers cannot use (unreadable, empty, silent, clipped, too long)."""


@dataclass(frozen=True)
class Transcript:
    """One recognized utterance.

    ``confidence`` is 0-1 and comparable between calls of one engine (the policy escalates on it), not between
    engines. ``seconds`` is the processing time, ``audio_s`` the length of what was heard.
    """

    text: str
    engine: EngineName
    confidence: float
    seconds: float
    audio_s: float


class SpeechRecognizer(Protocol):
    """One engine: a whole utterance in, a transcript out."""

    name: EngineName

    def transcribe(self, samples: np.ndarray, grammar: Grammar | None = None) -> Transcript: ...


@runtime_checkable
class StreamingRecognizer(Protocol):
    """An engine that also hears frames as they arrive and reports what it has understood so far."""

    def start(self, grammar: Grammar | None = None) -> None: ...

    def feed(self, frame: Frame) -> str | None:
        """The partial transcript when it changed, else None."""
        ...

    def finish(self) -> Transcript: ...


def check_samples(samples: np.ndarray) -> np.ndarray:
    """``samples`` (16 kHz mono int16) if a recognizer can use them, else ``AsrAudioError`` with the reason."""
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise AsrAudioError(f"expected 16 kHz mono int16 samples, got {samples.dtype} with shape {samples.shape}")
    seconds = len(samples) / SAMPLE_RATE_HZ
    if seconds < MIN_AUDIO_S:
        raise AsrAudioError(f"the recording is empty or too short ({seconds:.2f} s; at least {MIN_AUDIO_S} s)")
    if seconds > MAX_AUDIO_S:
        raise AsrAudioError(f"the recording is too long ({seconds:.1f} s; at most {MAX_AUDIO_S:.0f} s)")
    if not np.any(samples):
        raise AsrAudioError("the recording is digital silence")
    clipped = float(np.mean(np.abs(samples.astype(np.int32)) >= CLIPPED_LEVEL))
    if clipped > MAX_CLIPPED_SHARE:
        raise AsrAudioError(f"the recording is clipped ({clipped:.0%} of samples at full scale): speak further away")
    return samples


def read_audio(path: Path | str) -> np.ndarray:
    """A WAV or FLAC file (8-48 kHz, mono or stereo) as checked 16 kHz mono int16 samples."""
    try:
        source = WavSource(path)
        if source.duration_s > MAX_AUDIO_S:
            raise AsrAudioError(f"the recording is too long ({source.duration_s:.1f} s; at most {MAX_AUDIO_S:.0f} s)")
        samples = join_frames(source.frames())
    except AudioFormatError as error:
        raise AsrAudioError(str(error)) from error
    return check_samples(samples)


def join_frames(frames: Iterable[Frame]) -> np.ndarray:
    parts = list(frames)
    return np.concatenate(parts) if parts else np.zeros(0, np.int16)
