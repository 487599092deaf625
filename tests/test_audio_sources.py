"""Audio sources and sinks: real recordings in every format the kiosk accepts, broken files, and the sound-card
error paths as PortAudio really reports them on this machine."""

from __future__ import annotations

import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from firmware_app.audio.frames import FRAME_SAMPLES, SAMPLE_RATE_HZ, AudioFormatError
from firmware_app.audio.sinks import Speaker, WavSink
from firmware_app.audio.sources import (
    ArraySource,
    AudioDeviceError,
    MicrophoneSource,
    WavSource,
    list_input_devices,
    open_portaudio,
)
from tests.audio_samples import AMELIA_LOUD, CHEDDAR_BLOCK, WINE_GLASS, read


def collect(source: WavSource | ArraySource) -> np.ndarray:
    frames = list(source.frames())
    assert all(frame.shape == (FRAME_SAMPLES,) and frame.dtype == np.int16 for frame in frames)
    return np.concatenate(frames)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised correlation of two signals over their common length."""
    n = min(len(a), len(b))
    a, b = a[:n].astype(np.float64), b[:n].astype(np.float64)
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def test_a_16khz_mono_wav_passes_through_unchanged() -> None:
    original = read(AMELIA_LOUD)
    frames = collect(WavSource(AMELIA_LOUD))
    assert len(frames) == -(-len(original) // FRAME_SAMPLES) * FRAME_SAMPLES  # the last frame padded
    assert np.array_equal(frames[: len(original)], original)
    assert not frames[len(original) :].any()


@pytest.mark.parametrize(
    ("rate_hz", "channels", "subtype", "container"),
    [
        (8_000, 1, "PCM_16", "WAV"),
        (22_050, 1, "PCM_16", "WAV"),
        (44_100, 2, "PCM_16", "WAV"),
        (48_000, 1, "FLOAT", "WAV"),
        (48_000, 2, "PCM_24", "FLAC"),
        (16_000, 1, "PCM_24", "FLAC"),
        (44_100, 1, "DOUBLE", "WAV"),
    ],
)
def test_other_rates_channels_and_encodings_arrive_as_the_same_16khz_speech(
    tmp_path: Path, rate_hz: int, channels: int, subtype: str, container: str
) -> None:
    original = read(WINE_GLASS).astype(np.float32) / 32768
    resampled = soxr.resample(original, SAMPLE_RATE_HZ, rate_hz)
    data = np.stack([resampled] * channels, axis=1) if channels == 2 else resampled
    path = tmp_path / f"clip.{container.lower()}"
    sf.write(path, data, rate_hz, subtype=subtype, format=container)

    frames = collect(WavSource(path))

    assert abs(len(frames) - len(original)) <= 2 * FRAME_SAMPLES
    # 8 kHz keeps only the band below 4 kHz, which holds most of the energy of speech.
    assert similarity(frames, original) > (0.9 if rate_hz == 8_000 else 0.99)
    level = np.sqrt(np.mean(np.square(frames / 32768))) / np.sqrt(np.mean(np.square(original)))
    assert 0.9 < level < 1.05


def test_stereo_is_down_mixed_by_averaging_the_channels(tmp_path: Path) -> None:
    speech = read(CHEDDAR_BLOCK)
    path = tmp_path / "left-only.wav"
    sf.write(path, np.stack([speech, np.zeros_like(speech)], axis=1), SAMPLE_RATE_HZ)
    frames = collect(WavSource(path))[: len(speech)]
    assert np.abs(frames.astype(np.int32) - speech // 2).max() <= 1


def test_float_samples_beyond_full_scale_are_clipped_not_wrapped(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    sf.write(path, np.array([1.5, -1.5, 0.5] * 1000, dtype=np.float32), SAMPLE_RATE_HZ, subtype="FLOAT")
    frames = collect(WavSource(path))
    assert frames[:3].tolist() == [32767, -32768, 16384]


def test_a_truncated_wav_gives_the_audio_that_is_there(tmp_path: Path) -> None:
    data = AMELIA_LOUD.read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) // 2])
    frames = collect(WavSource(path))
    assert 0.4 < len(frames) / len(read(AMELIA_LOUD)) < 0.6


def _write_broken(tmp_path: Path, kind: str) -> Path:
    speech = read(WINE_GLASS)
    path = tmp_path / f"{kind}.wav"
    if kind == "text":
        path.write_text("Dear customer, this is not a recording.\n" * 20)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "header_only":
        sf.write(path, np.zeros(0, dtype=np.int16), SAMPLE_RATE_HZ)
    elif kind == "corrupt_header":
        path.write_bytes(b"RIFF\xff\xff\xff\xffWAVEjunk" + WINE_GLASS.read_bytes()[44:])
    elif kind == "ogg":
        sf.write(path, speech, SAMPLE_RATE_HZ, format="OGG")
    elif kind == "mu_law":
        sf.write(path, speech, SAMPLE_RATE_HZ, subtype="ULAW")
    elif kind == "four_channels":
        sf.write(path, np.stack([speech] * 4, axis=1), SAMPLE_RATE_HZ)
    elif kind == "96khz":
        sf.write(path, speech, 96_000)
    return path


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("text", "not a readable WAV or FLAC file"),
        ("empty", "the file is empty"),
        ("header_only", "holds no audio"),
        ("corrupt_header", "not a readable WAV or FLAC file"),
        ("ogg", "OGG audio is not supported"),
        ("mu_law", "ULAW samples are not supported"),
        ("four_channels", "4 channels are not supported"),
        ("96khz", "96000 Hz is not supported"),
        ("missing", "no such audio file"),
    ],
)
def test_unusable_files_are_refused_with_their_name_and_the_reason(tmp_path: Path, kind: str, reason: str) -> None:
    path = _write_broken(tmp_path, kind)
    with pytest.raises(AudioFormatError, match=reason) as refused:
        WavSource(path)
    assert str(path) in str(refused.value)


def test_damaged_flac_data_fails_while_reading_with_the_file_name(tmp_path: Path) -> None:
    speech = read(WINE_GLASS)
    path = tmp_path / "damaged.flac"
    sf.write(path, np.tile(speech, 3), SAMPLE_RATE_HZ, format="FLAC")
    data = bytearray(path.read_bytes())
    data[len(data) // 3 :] = bytes(len(data) - len(data) // 3)  # the second half of the stream zeroed out
    path.write_bytes(bytes(data))
    with pytest.raises(AudioFormatError, match="damaged") as refused:
        collect(WavSource(path))
    assert str(path) in str(refused.value)


def test_a_60_minute_file_streams_in_flat_memory(tmp_path: Path) -> None:
    """60 minutes at 8 kHz (58 MB on disk, 115 MB once at 16 kHz) read through the resampler."""
    path = tmp_path / "hour.wav"
    tone = (np.sin(2 * np.pi * 440 * np.arange(8_000 * 60) / 8_000) * 8_000).astype(np.int16)
    with sf.SoundFile(path, "w", 8_000, 1, "PCM_16") as file:
        for _ in range(60):
            file.write(tone)
    source = WavSource(path)
    assert source.duration_s == 3600

    tracemalloc.start()
    count = sum(1 for _ in source.frames())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert count == 360_000
    assert peak < 1_000_000, f"peak {peak} bytes"


def test_realtime_paces_frames_at_10_ms_and_close_stops_it() -> None:
    source = WavSource(AMELIA_LOUD, realtime=True)
    started = time.monotonic()
    frames = source.frames()
    for _ in range(30):
        next(frames)
    assert time.monotonic() - started >= 0.28
    threading.Timer(0.05, source.close).start()
    rest = sum(1 for _ in frames)
    assert rest < 198 - 30  # the file has 199 frames; close() ended the loop early


def test_array_source_converts_like_a_file() -> None:
    speech = read(WINE_GLASS)
    resampled = soxr.resample(speech.astype(np.float32) / 32768, SAMPLE_RATE_HZ, 44_100)
    frames = collect(ArraySource(np.stack([resampled, resampled], axis=1), 44_100))
    assert similarity(frames, speech) > 0.99
    assert np.array_equal(collect(ArraySource(speech))[: len(speech)], speech)


@pytest.mark.parametrize(
    ("samples", "rate_hz", "reason"),
    [
        (np.zeros(0, dtype=np.int16), 16_000, "non-empty"),
        (np.zeros((10, 2, 2), dtype=np.int16), 16_000, "1-D or 2-D"),
        (np.zeros(100, dtype=np.int32), 16_000, "int16 or float"),
        (np.zeros(100, dtype=np.int16), 4_000, "4000 Hz is not supported"),
    ],
)
def test_array_source_refuses_what_it_cannot_convert(samples: np.ndarray, rate_hz: int, reason: str) -> None:
    with pytest.raises(AudioFormatError, match=reason):
        ArraySource(samples, rate_hz)


def test_wav_sink_writes_16khz_mono_int16_atomically(tmp_path: Path) -> None:
    speech = read(CHEDDAR_BLOCK)
    path = tmp_path / "utterances" / "one.wav"
    with WavSink(path) as sink:
        for start in range(0, len(speech), FRAME_SAMPLES):
            sink.write(speech[start : start + FRAME_SAMPLES])
            assert not path.exists()  # nothing under the final name until it is complete
    assert sink.duration_s == len(speech) / SAMPLE_RATE_HZ
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16_000, 1, "PCM_16", "WAV")
    assert np.array_equal(sf.read(path, dtype="int16")[0], speech)
    assert [p.name for p in path.parent.iterdir()] == ["one.wav"]


def test_wav_sink_leaves_nothing_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    with pytest.raises(AudioFormatError, match="int16"), WavSink(path) as sink:
        sink.write(np.zeros(FRAME_SAMPLES, dtype=np.int16))
        sink.write(np.zeros(FRAME_SAMPLES, dtype=np.float32))
    assert list(tmp_path.iterdir()) == []


def test_portaudio_starts_without_back_end_noise_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    open_portaudio().terminate()
    assert capfd.readouterr().err == ""


def test_microphone_errors_name_the_problem_and_the_devices_that_exist() -> None:
    """Real PortAudio: on a machine without sound cards (CI) it has no input device at all; where it has some,
    a name that matches nothing is refused with the list."""
    devices = list_input_devices()
    if not devices:
        for device in (None, 0, "USB"):
            with pytest.raises(AudioDeviceError, match="no audio input device found"):
                MicrophoneSource(device)
    else:
        with pytest.raises(AudioDeviceError, match="no audio input device matches 'no such microphone'") as refused:
            MicrophoneSource("no such microphone")
        assert all(device.name in str(refused.value) for device in devices)


def test_speaker_without_an_output_device_is_a_clear_error() -> None:
    audio = open_portaudio()
    try:
        outputs = [i for i in range(audio.get_device_count()) if audio.get_device_info_by_index(i)["maxOutputChannels"]]
    finally:
        audio.terminate()
    if outputs:
        with pytest.raises(AudioDeviceError, match="no audio output device matches 'no such speaker'"):
            Speaker("no such speaker")
    else:
        with pytest.raises(AudioDeviceError, match="no audio output device found"):
            Speaker()
