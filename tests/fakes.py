"""Test doubles for what the kiosk reads from its surroundings: the clock, and the audio hardware this machine
lacks (a microphone and a loudspeaker that can be unplugged and plugged back in). The bench uses them too."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from firmware_app.audio.frames import FRAME_SAMPLES, Frame
from firmware_app.audio.sources import AudioDeviceError
from firmware_app.audio.tts import WavFileOutput


class FakeClock:
    """A monotonic clock that moves only when a test moves it (``clock.now += 5``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class PluggableMicrophone:
    """A microphone that can be unplugged and plugged back in (a recording of silence stands in for it): it opens
    only while ``plugged`` is set, as PortAudio finds no device otherwise, and a read fails with ``OSError`` the
    moment it is pulled out, as PortAudio's does."""

    def __init__(self, plugged: threading.Event) -> None:
        if not plugged.is_set():
            raise AudioDeviceError("no input device matches 'USB'")
        self.plugged = plugged
        self._closed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        silence = np.zeros(FRAME_SAMPLES, np.int16)
        while not self._closed.is_set():
            if not self.plugged.is_set():
                raise OSError(-9988, "Stream closed")
            time.sleep(0.01)  # a microphone delivers a frame every 10 ms
            yield silence

    def close(self) -> None:
        self._closed.set()


class PluggableSpeaker(WavFileOutput):
    """A loudspeaker that can be unplugged (each utterance written to a WAV file while plugged in): it opens only
    while ``plugged`` is set, and playing fails with ``OSError`` once it is pulled out, as PortAudio's does."""

    def __init__(self, folder: Path, plugged: threading.Event) -> None:
        if not plugged.is_set():
            raise AudioDeviceError("no output device matches 'USB'")
        super().__init__(folder)
        self.plugged = plugged

    def play(self, samples: np.ndarray) -> bool:
        if not self.plugged.is_set():
            raise OSError(-9999, "Unanticipated host error")
        return super().play(samples)

    def close(self) -> None:
        self.stop()


class PluggableCamera:
    """A camera that can be unplugged (a grey picture while it is in): it opens only while ``plugged`` is set, as
    OpenCV finds no device otherwise, and gives no picture once it is pulled out."""

    def __init__(self, plugged: threading.Event) -> None:
        if not plugged.is_set():
            raise OSError("no camera at '/dev/video0': check that it is plugged in")
        self.plugged = plugged

    def frame(self) -> np.ndarray | None:
        return np.full((480, 640, 3), 128, np.uint8) if self.plugged.is_set() else None

    def close(self) -> None:
        pass
