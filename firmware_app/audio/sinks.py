"""Where audio goes: a WAV file that appears whole or not at all, and the kiosk's loudspeaker (reopened when it
comes back, ``ReconnectingSpeaker``).

Both take the kiosk's one format (16 kHz mono int16, ``frames.py``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np
import pyaudio
import soundfile as sf
import soxr

from firmware_app.audio.frames import SAMPLE_RATE_HZ, AudioFormatError
from firmware_app.audio.sources import AudioDeviceError, device_format, find_device, float_to_int16, open_portaudio
from firmware_app.health import Health
from kiosk_link.durable import fsync_folder

log = logging.getLogger(__name__)

SPEAKER_RETRY_S = 5.0  # a missing loudspeaker is tried again this often: speech back within 10 s of plugging in
PLAY_CHUNK_MS = 20  # how often playback checks for stop(): the longest a barge-in waits, plus the device buffer


def _checked_samples(samples: np.ndarray) -> np.ndarray:
    if samples.ndim != 1 or samples.dtype != np.int16:
        raise AudioFormatError(
            f"expected 1-D int16 samples at {SAMPLE_RATE_HZ} Hz, got {samples.dtype} {samples.shape}"
        )
    return samples


class WavSink:
    """A 16 kHz mono 16-bit WAV written as the audio arrives, under a temporary name in the same folder.

    ``close()`` fsyncs it and renames it into place (then fsyncs the folder), so a reader such as speech
    recognition, or a power cut, never sees half a file; ``discard()`` (or an exception inside ``with``) removes
    it. Used as a context manager it commits on success.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part")
        self._temporary = Path(temporary)
        self._raw = os.fdopen(handle, "w+b")
        self._wav = sf.SoundFile(self._raw, "w", SAMPLE_RATE_HZ, 1, "PCM_16", format="WAV")
        self.samples_written = 0

    @property
    def duration_s(self) -> float:
        return self.samples_written / SAMPLE_RATE_HZ

    def write(self, samples: np.ndarray) -> None:
        self._wav.write(_checked_samples(samples))
        self.samples_written += len(samples)

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path."""
        try:
            self._wav.close()  # writes the final sizes into the header
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            os.replace(self._temporary, self.path)
        except BaseException:
            self.discard()
            raise
        fsync_folder(self.path.parent)
        return self.path

    def discard(self) -> None:
        """Drop what was written; the final path is never created."""
        if not self._wav.closed:
            self._wav.close()
        self._raw.close()
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> WavSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


class Speaker:
    """The kiosk's loudspeaker through PortAudio.

    ``play()`` blocks until the sound ends; ``stop()`` from another thread (the listening loop hearing the
    customer talk over the kiosk) cuts it within ``PLAY_CHUNK_MS`` and drops what the device still had buffered.
    """

    def __init__(self, device: int | str | None = None) -> None:
        self._audio = open_portaudio()
        try:
            self.device = find_device(self._audio, device, "output")
            self.rate_hz, self.channels = device_format(self._audio, self.device, "output")
        except BaseException:
            self._audio.terminate()
            raise
        self._stop = threading.Event()
        self.connected = True

    def play(self, samples: np.ndarray) -> bool:
        """Play 16 kHz mono int16 ``samples``; True when played to the end, False when ``stop()`` cut it short."""
        device_samples = self._for_device(_checked_samples(samples))
        self._stop.clear()
        chunk = self.rate_hz * PLAY_CHUNK_MS // 1000
        try:
            stream = self._audio.open(
                format=pyaudio.paInt16,
                channels=self.channels,
                rate=self.rate_hz,
                output=True,
                output_device_index=self.device.index,
                frames_per_buffer=chunk,
            )
        except OSError as error:
            raise AudioDeviceError(f"cannot play on {self.device.name!r}: {error}") from error
        try:
            for start in range(0, len(device_samples), chunk):
                if self._stop.is_set():
                    return False
                stream.write(device_samples[start : start + chunk].tobytes())
            stream.stop_stream()  # waits for the device to play what it holds
            return not self._stop.is_set()
        finally:
            stream.close()  # on an active stream this drops the rest, as Pa_AbortStream does

    def stop(self) -> None:
        """Cut the sound now playing (thread-safe); a no-op when nothing plays."""
        self._stop.set()

    def close(self) -> None:
        self._audio.terminate()

    def _for_device(self, samples: np.ndarray) -> np.ndarray:
        if self.rate_hz != SAMPLE_RATE_HZ:
            samples = float_to_int16(soxr.resample(samples.astype(np.float32) / 32768.0, SAMPLE_RATE_HZ, self.rate_hz))
        return np.repeat(samples[:, None], self.channels, axis=1) if self.channels > 1 else samples


class PlaybackDevice(Protocol):
    """What ``ReconnectingSpeaker`` opens: a ``Speaker`` (or, in tests, a file writer standing in for one)."""

    def play(self, samples: np.ndarray) -> bool: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


class ReconnectingSpeaker:
    """The configured loudspeaker, whether or not it is there: missing at start or gone while playing, it is
    opened again (at most every ``retry_s``, at the next thing to say or at ``poll()``) and speech goes on when it
    returns; meanwhile replies are shown, not spoken, and ``health_of()`` hears of it (``loudspeaker``).
    ``open_output`` makes one attempt (``Speaker`` by default)."""

    def __init__(
        self,
        open_output: Callable[[], PlaybackDevice],
        health_of: Callable[[], Health | None] = lambda: None,
        retry_s: float = SPEAKER_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.open_output = open_output
        self.health_of = health_of
        self.retry_s = retry_s
        self._clock = clock
        self._lock = threading.Lock()
        self._speaker: PlaybackDevice | None = None
        self._tried_at = float("-inf")
        self.poll()

    @property
    def connected(self) -> bool:
        """Whether there is a loudspeaker to play on (a missing one is tried again first, when it is due)."""
        with self._lock:
            return self._connect() is not None

    @property
    def due(self) -> bool:
        """A missing loudspeaker is due another try (cheap: the UI loop asks every frame)."""
        return self._speaker is None and self._clock() - self._tried_at >= self.retry_s

    def poll(self) -> None:
        """Try a missing loudspeaker again when ``retry_s`` has passed since the last try."""
        with self._lock:
            self._connect()

    def play(self, samples: np.ndarray) -> bool:
        with self._lock:
            speaker = self._connect()
        if speaker is None:
            return False
        try:
            return speaker.play(samples)
        except (AudioDeviceError, OSError) as error:
            with self._lock:
                self._lost(speaker, f"the loudspeaker stopped: {error}")
            return False

    def stop(self) -> None:
        speaker = self._speaker
        if speaker is not None:
            speaker.stop()

    def close(self) -> None:
        with self._lock:
            if self._speaker is not None:
                self._speaker.close()
                self._speaker = None

    def _connect(self) -> PlaybackDevice | None:
        if self.due:
            self._tried_at = self._clock()
            try:
                self._speaker = self.open_output()
            except (AudioDeviceError, OSError) as error:
                self._report(f"no loudspeaker: {error}")
            else:
                health = self.health_of()
                if health is not None:
                    health.ok("loudspeaker")
        return self._speaker

    def _lost(self, speaker: PlaybackDevice, reason: str) -> None:
        log.warning("%s; trying again every %.0f s", reason, self.retry_s)
        speaker.close()
        if self._speaker is speaker:
            self._speaker = None
        self._tried_at = self._clock()
        self._report(reason)

    def _report(self, reason: str) -> None:
        health = self.health_of()
        if health is not None:
            health.degraded("loudspeaker", reason, "text_only")
