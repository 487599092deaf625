"""Where audio goes: a WAV file that appears whole or not at all, and the kiosk's loudspeaker.

Both take the kiosk's one format (16 kHz mono int16, ``frames.py``).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from types import TracebackType

import numpy as np
import pyaudio
import soundfile as sf
import soxr

from firmware_app.audio.frames import SAMPLE_RATE_HZ, AudioFormatError
from firmware_app.audio.sources import AudioDeviceError, device_format, find_device, float_to_int16, open_portaudio
from kiosk_link.durable import fsync_folder

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
