"""Where audio comes from: WAV/FLAC files, arrays and the microphone, all turned into 16 kHz mono int16 frames.

Conversion happens here, at the edge (see ``frames.py``): every source down-mixes, resamples with soxr and cuts
10 ms frames block by block, so nothing downstream sees another format and a long file or an endless microphone
stream never sits in memory whole.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import pyaudio
import soundfile as sf
import soxr

from firmware_app.audio.frames import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE_HZ, AudioFormatError, Frame
from firmware_app.health import Health

log = logging.getLogger(__name__)

# What the kiosk reads from a file. Other rates would resample just as well; these are the ones tested.
FILE_FORMATS = ("WAV", "WAVEX", "FLAC")
FILE_SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
MIN_RATE_HZ, MAX_RATE_HZ = 8_000, 48_000
MAX_CHANNELS = 2
MICROPHONE_RETRY_S = 5.0  # a missing microphone is tried again this often: voice back within 10 s of plugging in
BLOCK_S = 0.25  # how much of a file is decoded at a time: small enough for flat memory, large enough to be fast

Direction = Literal["input", "output"]


class AudioSource(Protocol):
    """A stream of 10 ms frames (16 kHz mono int16) that ends when the audio does or when closed."""

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class AudioDeviceError(RuntimeError):
    """No usable sound card: none at all, or none matching the configured one (the message lists what exists)."""


@dataclass(frozen=True)
class AudioDevice:
    """One PortAudio device as the configuration names it: by ``index`` or by (part of) ``name``."""

    index: int
    name: str
    channels: int
    default_rate_hz: int


class FrameCutter:
    """Turns blocks of any rate and channel count into 16 kHz mono int16 frames, keeping only a frame's worth
    of leftover samples (and soxr's filter state) between blocks."""

    def __init__(self, rate_hz: int) -> None:
        self._resampler = (
            None if rate_hz == SAMPLE_RATE_HZ else soxr.ResampleStream(rate_hz, SAMPLE_RATE_HZ, 1, dtype="float32")
        )
        self._leftover = np.zeros(0, dtype=np.int16)

    def push(self, block: np.ndarray, last: bool = False) -> Iterator[Frame]:
        """Feed ``block`` (samples x channels, int16 or float in [-1, 1]); yields every whole frame it completes.
        ``last`` flushes the resampler and pads the final partial frame with silence."""
        mono = _to_float_mono(block)
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono, last=last)
        samples = np.concatenate([self._leftover, float_to_int16(mono)])
        whole = len(samples) - len(samples) % FRAME_SAMPLES
        for start in range(0, whole, FRAME_SAMPLES):
            yield samples[start : start + FRAME_SAMPLES]
        self._leftover = samples[whole:]
        if last and len(self._leftover):
            yield np.concatenate([self._leftover, np.zeros(FRAME_SAMPLES - len(self._leftover), dtype=np.int16)])
            self._leftover = self._leftover[:0]


def _to_float_mono(block: np.ndarray) -> np.ndarray:
    samples = block.astype(np.float32) / 32768.0 if block.dtype == np.int16 else block.astype(np.float32, copy=False)
    return samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as int16, rounded and clipped."""
    # x 32768 is the inverse of how soundfile reads int16 as float, so 16 kHz int16 files pass through unchanged.
    return np.clip(np.rint(samples * 32768.0), -32768, 32767).astype(np.int16)


class _Pacer:
    """Hands frames out at the speed of real time, as a microphone would (for demos and soak tests)."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._count = 0

    def wait(self) -> None:
        self._count += 1
        delay = self._start + self._count * FRAME_MS / 1000 - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class WavSource:
    """A WAV or FLAC file, read and converted a quarter of a second at a time.

    The header is checked when the source is made, so a wrong file fails at once with its name and the reason;
    ``realtime=True`` paces the frames at 10 ms each.
    """

    def __init__(self, path: Path | str, realtime: bool = False) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self.info = _checked_info(self.path)
        self._closed = threading.Event()

    @property
    def duration_s(self) -> float:
        return float(self.info.frames) / self.info.samplerate

    def frames(self) -> Iterator[Frame]:
        cutter = FrameCutter(self.info.samplerate)
        pacer = _Pacer() if self.realtime else None
        block_frames = round(self.info.samplerate * BLOCK_S)
        try:
            with sf.SoundFile(self.path) as file:
                while not self._closed.is_set():
                    block = file.read(block_frames, dtype="float32", always_2d=True)
                    last = len(block) < block_frames
                    for frame in cutter.push(block, last=last):
                        if pacer is not None:
                            pacer.wait()
                        yield frame
                    if last:
                        return
        except sf.LibsndfileError as error:
            raise AudioFormatError(f"{self.path}: the audio data is damaged ({error})") from error

    def close(self) -> None:
        """Stop a ``frames()`` loop at its next block (from any thread)."""
        self._closed.set()


def _checked_info(path: Path) -> sf._SoundFileInfo:
    if not path.is_file():
        raise AudioFormatError(f"{path}: no such audio file")
    if path.stat().st_size == 0:
        raise AudioFormatError(f"{path}: the file is empty")
    try:
        info = sf.info(str(path))
    except sf.LibsndfileError as error:
        raise AudioFormatError(f"{path}: not a readable WAV or FLAC file ({error})") from error
    if info.format not in FILE_FORMATS:
        raise AudioFormatError(f"{path}: {info.format} audio is not supported; use WAV or FLAC")
    if info.subtype not in FILE_SUBTYPES:
        raise AudioFormatError(
            f"{path}: {info.subtype} samples are not supported; use 16-, 24- or 32-bit integer or float samples"
        )
    if not MIN_RATE_HZ <= info.samplerate <= MAX_RATE_HZ:
        raise AudioFormatError(f"{path}: {info.samplerate} Hz is not supported; use {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise AudioFormatError(f"{path}: {info.channels} channels are not supported; use mono or stereo")
    if info.frames <= 0:
        raise AudioFormatError(f"{path}: the file holds no audio")
    return info


class FileSequence:
    """Recordings heard one after another as one stream, each followed by ``gap_s`` of silence (so the end of
    one file ends its utterance): a conversation recorded as several WAVs.

    ``file_started`` is True while the first frame of a file is being handled (push-to-talk per file).
    """

    def __init__(self, paths: Iterable[Path | str], gap_s: float = 1.0) -> None:
        self.sources = [WavSource(path) for path in paths]  # every header is checked before anything plays
        self.gap_frames = round(gap_s * 1000 / FRAME_MS)
        self.file_started = False
        self._closed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        for source in self.sources:
            for index, frame in enumerate(source.frames()):
                if self._closed.is_set():
                    return
                self.file_started = index == 0
                yield frame
            self.file_started = False
            for _ in range(self.gap_frames):
                yield silence

    def close(self) -> None:
        self._closed.set()
        for source in self.sources:
            source.close()


class ArraySource:
    """Samples already in memory (tests, synthesised speech): int16 or float, mono or samples x channels."""

    def __init__(self, samples: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ) -> None:
        if samples.ndim not in (1, 2) or samples.shape[0] == 0:
            raise AudioFormatError(f"expected a non-empty 1-D or 2-D sample array, got shape {samples.shape}")
        if samples.dtype != np.int16 and not np.issubdtype(samples.dtype, np.floating):
            raise AudioFormatError(f"expected int16 or float samples, got {samples.dtype}")
        if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
            raise AudioFormatError(f"{rate_hz} Hz is not supported; use {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz")
        self.samples = samples
        self.rate_hz = rate_hz

    def frames(self) -> Iterator[Frame]:
        cutter = FrameCutter(self.rate_hz)
        block = round(self.rate_hz * BLOCK_S)
        for start in range(0, len(self.samples), block):
            yield from cutter.push(self.samples[start : start + block], last=start + block >= len(self.samples))

    def close(self) -> None:
        """Nothing to release: the samples belong to the caller."""


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """PortAudio probes every ALSA and JACK back-end when it starts and they print dozens of lines straight to
    file descriptor 2, where the kiosk's JSON logs go; this hides them for that moment only."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def open_portaudio() -> pyaudio.PyAudio:
    """PortAudio, started without its back-ends' start-up noise on stderr."""
    with _native_stderr_silenced():
        return pyaudio.PyAudio()


def _devices(audio: pyaudio.PyAudio, direction: Direction) -> list[AudioDevice]:
    key = "maxInputChannels" if direction == "input" else "maxOutputChannels"
    rows = []
    for index in range(audio.get_device_count()):
        info = audio.get_device_info_by_index(index)
        if int(info[key]) > 0:
            rows.append(AudioDevice(index, str(info["name"]), int(info[key]), int(info["defaultSampleRate"])))
    return rows


def list_input_devices() -> list[AudioDevice]:
    """Every device PortAudio can record from, for ``kiosk audio devices`` and for error messages."""
    audio = open_portaudio()
    try:
        return _devices(audio, "input")
    finally:
        audio.terminate()


def find_device(audio: pyaudio.PyAudio, device: int | str | None, direction: Direction) -> AudioDevice:
    """The configured device: an index, a (case-insensitive) part of its name, or None for the system default.
    Fails with the list of devices that do exist, which is what a technician needs to fix the configuration."""
    available = _devices(audio, direction)
    if not available:
        raise AudioDeviceError(
            f"no audio {direction} device found: PortAudio sees none (is it plugged in, and may this user use it?)"
        )
    if isinstance(device, str) and device.isdigit():  # from an environment variable
        device = int(device)
    if device is None:
        default_index = _default_index(audio, direction)
        return next((row for row in available if row.index == default_index), available[0])
    if isinstance(device, int):
        match = next((row for row in available if row.index == device), None)
    else:
        wanted = device.casefold()
        named = [row for row in available if wanted in row.name.casefold()]
        match = next((row for row in named if row.name.casefold() == wanted), named[0] if named else None)
    if match is None:
        listing = "; ".join(
            f"{row.index}: {row.name} ({row.channels} ch, {row.default_rate_hz} Hz)" for row in available
        )
        raise AudioDeviceError(
            f"no audio {direction} device matches {device!r}; available {direction} devices: {listing}"
        )
    return match


def _default_index(audio: pyaudio.PyAudio, direction: Direction) -> int | None:
    try:
        info = audio.get_default_input_device_info() if direction == "input" else audio.get_default_output_device_info()
    except OSError:  # PortAudio has devices but no default one
        return None
    return int(info["index"])


def device_format(audio: pyaudio.PyAudio, device: AudioDevice, direction: Direction) -> tuple[int, int]:
    """(rate, channels) to open ``device`` with: 16 kHz mono when it takes it (PortAudio and ALSA's plug layer
    usually do), otherwise its own default rate and at most two channels, converted by us."""
    kwargs = {f"{direction}_device": device.index, f"{direction}_channels": 1, f"{direction}_format": pyaudio.paInt16}
    try:
        if audio.is_format_supported(SAMPLE_RATE_HZ, **kwargs):
            return SAMPLE_RATE_HZ, 1
    except ValueError:
        pass
    return device.default_rate_hz, min(device.channels, MAX_CHANNELS)


class MicrophoneSource:
    """The kiosk's microphone through PortAudio, read 10 ms at a time.

    The device is looked up when the source is made, so a wrong configuration fails at start-up with the list of
    microphones; the stream opens when ``frames()`` is iterated and closes when that loop ends or ``close()`` is
    called from another thread.
    """

    def __init__(self, device: int | str | None = None) -> None:
        self._audio = open_portaudio()
        try:
            self.device = find_device(self._audio, device, "input")
            self.rate_hz, self.channels = device_format(self._audio, self.device, "input")
        except BaseException:
            self._audio.terminate()
            raise
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._streaming = False

    def frames(self) -> Iterator[Frame]:
        buffer_frames = self.rate_hz * FRAME_MS // 1000
        with self._lock:
            if self._closed.is_set():
                return
            try:
                stream = self._audio.open(
                    format=pyaudio.paInt16,
                    channels=self.channels,
                    rate=self.rate_hz,
                    input=True,
                    input_device_index=self.device.index,
                    frames_per_buffer=buffer_frames,
                )
            except OSError as error:
                raise AudioDeviceError(f"cannot record from {self.device.name!r}: {error}") from error
            self._streaming = True
        cutter = FrameCutter(self.rate_hz)
        try:
            while not self._closed.is_set():
                # An overflow (the loop fell behind) loses audio; raising would stop the kiosk listening at all.
                data = stream.read(buffer_frames, exception_on_overflow=False)
                yield from cutter.push(np.frombuffer(data, dtype=np.int16).reshape(-1, self.channels))
        finally:
            with self._lock:
                stream.close()
                self._streaming = False
                if self._closed.is_set():
                    self._audio.terminate()

    def close(self) -> None:
        """Stop recording (from any thread); PortAudio is released now, or by the reading loop as it ends."""
        with self._lock:
            already = self._closed.is_set()
            self._closed.set()
            if not already and not self._streaming:
                self._audio.terminate()


class ReconnectingMicrophone:
    """The configured microphone, whether or not it is there: missing at start or unplugged while listening, it
    is opened again every ``retry_s`` and the frames go on from where it returns, so the listening loop never
    ends and voice comes back without a restart. ``health_of()`` hears of it (the kiosk's ``microphone``
    capability, "touch_only" meanwhile); ``connected`` tells the service watchdog that no frames is not a hang.
    ``open_source`` makes one attempt (``MicrophoneSource`` by default; tests use recordings, as this machine has
    no sound card)."""

    def __init__(
        self,
        open_source: Callable[[], AudioSource],
        health_of: Callable[[], Health | None] = lambda: None,
        retry_s: float = MICROPHONE_RETRY_S,
    ) -> None:
        self.open_source = open_source
        self.health_of = health_of
        self.retry_s = retry_s
        self.connected = False
        self._source: AudioSource | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def frames(self) -> Iterator[Frame]:
        while not self._closed.is_set():
            source = self._open()
            if source is None:
                self._closed.wait(self.retry_s)
                continue
            try:
                yield from source.frames()
                if not self._closed.is_set():
                    self._lost("the microphone stream ended")
            except (AudioDeviceError, OSError) as error:
                self._lost(f"the microphone stopped: {error}")
            finally:
                source.close()

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            source = self._source
        if source is not None:
            source.close()

    def _open(self) -> AudioSource | None:
        try:
            source = self.open_source()
        except (AudioDeviceError, OSError) as error:
            self._report(f"no microphone: {error}")
            return None
        with self._lock:
            if self._closed.is_set():
                source.close()
                return None
            self._source = source
        self.connected = True
        health = self.health_of()
        if health is not None:
            health.ok("microphone")
        return source

    def _lost(self, reason: str) -> None:
        log.warning("%s; trying again every %.0f s", reason, self.retry_s)
        self._report(reason)
        self._closed.wait(self.retry_s)

    def _report(self, reason: str) -> None:
        self.connected = False
        health = self.health_of()
        if health is not None:
            health.degraded("microphone", reason, "touch_only")
