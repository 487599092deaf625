"""Audio for the listening tests: the real recordings in ``fixtures/audio`` (see its SOURCE.md) and noises made
with numpy, all as 16 kHz mono int16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from firmware_app.audio.frames import SAMPLE_RATE_HZ

AUDIO = Path(__file__).parent / "fixtures" / "audio"
AMELIA_LOUD = AUDIO / "amelia-00801684-3e63-4a0a-aa4a-98f0542b67d3.wav"
AMELIA = AUDIO / "amelia-0117c82e-3a01-4f5a-8b14-0f4752ff334a.wav"
AMELIA_QUIET = AUDIO / "amelia-10fa56f7-7b74-4fe8-a492-5de8c6c5a146.wav"
AMELIA_SHORT = AUDIO / "amelia-128b0bc7-0952-4634-a1ff-354ef50b4d8a.wav"
WINE_GLASS = AUDIO / "notwakeword-en-113240c4-b6e8-4efe-93d1-f7613a569aa9.wav"
CHEDDAR_BLOCK = AUDIO / "notwakeword-en-2472aebf-4c6e-4f0a-88e7-0eb1d258e26f.wav"
BACKGROUND_NOISE = AUDIO / "bg_noise7.wav"
ATHENA = AUDIO / "athena-en-053dfcef-2e6b-491c-8846-69e3cf2ac487.wav"
SPEECH_CLIPS = (AMELIA_LOUD, AMELIA, AMELIA_QUIET, AMELIA_SHORT, WINE_GLASS, CHEDDAR_BLOCK)


def read(path: Path) -> np.ndarray:
    samples, rate_hz = sf.read(path, dtype="int16")
    assert rate_hz == SAMPLE_RATE_HZ and samples.ndim == 1
    return samples


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE_HZ), dtype=np.int16)


def to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)


def at_level(samples: np.ndarray, dbfs: float) -> np.ndarray:
    """Float samples scaled to an RMS level in dB below full scale, as int16."""
    rms = np.sqrt(np.mean(np.square(samples, dtype=np.float64)))
    return to_int16(samples / rms * 32768 * 10 ** (dbfs / 20))


def white_noise(seconds: float, dbfs: float, seed: int = 1) -> np.ndarray:
    return at_level(np.random.default_rng(seed).standard_normal(round(seconds * SAMPLE_RATE_HZ)), dbfs)


def pink_noise(seconds: float, dbfs: float, seed: int = 2) -> np.ndarray:
    """1/f noise: white noise shaped in the frequency domain."""
    count = round(seconds * SAMPLE_RATE_HZ)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(count))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    spectrum[0] = 0
    return at_level(np.fft.irfft(spectrum, count), dbfs)


def fan_noise(seconds: float, dbfs: float, seed: int = 3) -> np.ndarray:
    """A fan as a microphone hears it: brown (1/f^2) broadband rush plus the motor's hum (50 Hz and harmonics)
    and the blade-pass tone, slowly wobbling in level."""
    count = round(seconds * SAMPLE_RATE_HZ)
    t = np.arange(count) / SAMPLE_RATE_HZ
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(count))
    spectrum[1:] /= np.arange(1, len(spectrum))
    spectrum[0] = 0
    rush = np.fft.irfft(spectrum, count)
    rush /= np.std(rush)
    hum = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3)) + 0.5 * np.sin(2 * np.pi * 217 * t)
    return at_level((rush + 0.7 * hum) * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t)), dbfs)


def mix(speech: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return to_int16(speech.astype(np.float64) + noise[: len(speech)])


def speech_span(samples: np.ndarray) -> tuple[float, float]:
    """Where a clip's voice is (seconds), from its energy: the first and last 10 ms within 15 dB of the loudest."""
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160).astype(np.float64)
    energy_db = 10 * np.log10(np.mean(np.square(frames), axis=1) + 1)
    loud = np.flatnonzero(energy_db > energy_db.max() - 15)
    return loud[0] / 100, (loud[-1] + 1) / 100


def voiced(samples: np.ndarray) -> np.ndarray:
    """The part of a clip between its first and last loud frame."""
    start_s, end_s = speech_span(samples)
    return samples[round(start_s * SAMPLE_RATE_HZ) : round(end_s * SAMPLE_RATE_HZ)]


def room_tone(seconds: float) -> np.ndarray:
    return white_noise(seconds, -66, seed=9)


def as_heard(clip: np.ndarray) -> np.ndarray:
    """A clip as the kiosk hears it: room tone before and after."""
    return np.concatenate([room_tone(1.0), clip, room_tone(1.0)])


def amelia_windows() -> np.ndarray:
    """Windows the "Amelia" detector scores on real recordings (Amelia, other words, noise), every 20th frame."""
    from firmware_app.audio.amelia import evaluation_ends, stream_features

    audio = np.concatenate([as_heard(read(p)) for p in (AMELIA, WINE_GLASS, AMELIA_SHORT, ATHENA, BACKGROUND_NOISE)])
    feats = stream_features(audio)
    ends = evaluation_ends(len(feats), 120, 4)[::5]
    return feats[ends[:, None] + np.arange(-119, 1)[None, :]]
