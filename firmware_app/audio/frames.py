"""The one audio format inside the kiosk, and the shapes every listening part agrees on.

Everything that listens takes 16 kHz mono int16 audio in frames of 10 ms (160 samples): sources convert to
it (resampling, down-mixing) at the edge, so wake words, voice activity and capture never see anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

SAMPLE_RATE_HZ = 16_000
FRAME_MS = 10
FRAME_SAMPLES = SAMPLE_RATE_HZ * FRAME_MS // 1000  # 160

Frame = np.ndarray  # int16, shape (FRAME_SAMPLES,)


class AudioFormatError(ValueError):
    """Audio the kiosk cannot use (unsupported encoding, no samples, unreadable file), with the reason."""


@dataclass(frozen=True)
class Detection:
    """A wake word heard: which one, when (seconds from the start of the stream) and how sure."""

    wake_word: str
    time_s: float
    score: float


class WakeWordDetector(Protocol):
    """A streaming wake-word model: fed every 10 ms frame in order, says when its word was heard."""

    name: str

    def process(self, frame: Frame) -> float | None:
        """Feed one frame; returns the detection score when the word was heard at this frame, else None."""
        ...

    def reset(self) -> None:
        """Forget the stream so far (a new stream, or after a detection)."""
        ...
