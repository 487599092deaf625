"""Audio, features and labels for the "Amelia" wake word, read from ``../shared/data`` (or ``KIOSK_DATA_DIR``).

Real recordings:

- positives: the 156 shared Mycroft Precise ``amelia`` clips, split by file with a fixed seed: 30% (47) are the
  dev set for FRR and the threshold, the rest train (a tenth of those validate during training);
- negatives: every other real recording: the other Mycroft wake words (athena, android, computer,
  hey_computer, hey_chatterbox) and ``not_wake_word`` clips, Speech Commands (split by speaker), FSDD digits
  (its own train/dev folders, 8 kHz resampled to 16 kHz) and the pocketsphinx sentences; 30% dev by file;
- noise: the 6 Mycroft background clips, split in time (first 70% train, last 30% dev).

Synthetic speech (Debian ``espeak-ng`` with every English voice and voice variant, ``flite`` with its 5 voices,
random rate, pitch and duration): "Amelia" as positives; confusables ("Emilia", "a meal here", "camellia",
"family", ...) and BANKING77/CLINC150 sentences as negatives (training sentences from their train splits,
the dev stream's from BANKING77 dev and CLINC150 val). Rendered clips are cached under ``build/wakeword/tts``.

Training data are long continuous streams (about 30 s each) as the kiosk hears them: a background bed (quiet
room, Mycroft noise, white/pink/brown noise, babble, music-like tones) with words and sentences placed on it,
each augmented (speed 0.85-1.15, gain, band-pass colouring, synthetic room echo: exponentially decaying noise
as the impulse response) and mixed at 0-30 dB SNR. The features are computed over the whole stream with the
same ``pymicro_features`` front end, frame by frame, as the kiosk does at run time, so its noise estimate and
gain control have the same history. Every feature frame gets a label for the window that ends there:
1 when a whole "Amelia" ended 0-300 ms before, 0 for anything without the word (including windows that hear
only its beginning "Ame..." or its end "...lia"), -1 (not trained on) in between.

    python models/recipes/wakeword/data.py [--data-dir DIR] [--out build/wakeword]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from pymicro_features import MicroFrontend
from scipy import signal

REPO = Path(__file__).resolve().parents[3]
DEFAULT_OUT = REPO / "build" / "wakeword"
SAMPLE_RATE = 16_000
FRAME_SAMPLES = 160
FEATURES = 40
FRONTEND_DELAY_FRAMES = 2  # the front end's 30 ms window: feature k is emitted with audio frame k + 2
WINDOW_FRAMES = 120  # 1.2 s of features per model input
STRIDE_FRAMES = 4  # the kiosk scores a window every 40 ms
POSITIVE_TAIL_FRAMES = 30  # a window is positive while the word ended 0-300 ms before its end
DEV_SHARE = 0.3
VAL_SHARE = 0.1
SPLIT_SEED = "kiosk-amelia-20261121"
WAKE_WORDS_OTHER = ("athena", "android", "computer", "hey_computer", "hey_chatterbox")

POSITIVE_TEXTS = ("Amelia", "Amelia.", "Amelia!", "Amelia?", "Amelia,", "Ameelia", "Amelya")
CONFUSABLES = (
    "a meal here",
    "Emilia",
    "Amanda",
    "camellia",
    "family",
    "am I late",
    "Emily",
    "Amelie",
    "a million",
    "Cecilia",
    "Ophelia",
    "Camilla",
    "Aurelia",
    "Cornelia",
    "familiar",
    "ameliorate",
    "a melon",
    "I'm really",
    "Julia",
    "America",
    "a meeting",
    "Melissa",
    "really",
    "hey Emma",
    "amen",
    "Amy",
    "Malia",
    "a mere",
    "a mealie",
    "homily",
    "Hi, I'd like a meal",
    "Emilio",
    "Natalia",
    "Mia",
    "Ally",
)
ESPEAK_VOICES = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-029",
    "en-gb-x-gbcwmd",
    "en-us-nyc",
)
FLITE_VOICES = ("kal16", "awb", "rms", "slt", "kal")


def default_data_dir() -> Path:
    """``KIOSK_DATA_DIR`` or ``../shared/data`` next to the repository."""
    env = os.environ.get("KIOSK_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


# --- audio helpers -------------------------------------------------------------------------------------------


def read_wav(path: Path) -> np.ndarray:
    """float32 mono 16 kHz in [-1, 1] (8 kHz FSDD is resampled)."""
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        g = np.gcd(rate, SAMPLE_RATE)
        audio = signal.resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)
    return audio


def to_int16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)


def features(audio: np.ndarray, frontend: MicroFrontend | None = None) -> np.ndarray:
    """The 40 log-mel features per 10 ms of int16 audio, fed frame by frame exactly as the kiosk does."""
    fe = frontend or MicroFrontend()
    data = to_int16(audio).tobytes() if audio.dtype != np.int16 else audio.tobytes()
    out: list[list[float]] = []
    step = FRAME_SAMPLES * 2
    for i in range(0, len(data) - step + 1, step):
        result = fe.process_samples(data[i : i + step])
        if result.features:
            out.append(result.features)
    return np.asarray(out, dtype=np.float32).reshape(-1, FEATURES)


def speech_span(audio: np.ndarray) -> tuple[int, int]:
    """Start and end sample of the loudest run of speech in a clip (10 ms energy, gaps < 150 ms bridged)."""
    n = len(audio) // FRAME_SAMPLES
    if n == 0:
        return 0, len(audio)
    energy = 10 * np.log10((audio[: n * FRAME_SAMPLES].reshape(n, FRAME_SAMPLES) ** 2).mean(axis=1) + 1e-10)
    floor = np.percentile(energy, 10)
    active = energy > max(floor + 12, energy.max() - 30)
    segments: list[list[int]] = []
    for i, on in enumerate(active):
        if on and segments and i - segments[-1][1] < 15:
            segments[-1][1] = i + 1
        elif on:
            segments.append([i, i + 1])
    if not segments:
        return 0, len(audio)
    power = 10 ** (energy / 10)
    best = max(segments, key=lambda s: power[s[0] : s[1]].sum())
    return best[0] * FRAME_SAMPLES, min(len(audio), best[1] * FRAME_SAMPLES)


def _rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(audio.astype(np.float64) ** 2) + 1e-12))


def colored_noise(n: int, rng: np.random.Generator, color: str) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise, unit RMS."""
    white = rng.standard_normal(n)
    if color == "white":
        out = white
    else:
        spectrum = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        f[0] = f[1] if n > 1 else 1.0
        spectrum /= np.sqrt(f) if color == "pink" else f
        out = np.fft.irfft(spectrum, n)
    return (out / (np.std(out) + 1e-9)).astype(np.float32)


def music_tones(n: int, rng: np.random.Generator) -> np.ndarray:
    """Music-like audio: notes of a scale with harmonics and decaying envelopes, sometimes chords, unit RMS."""
    out = np.zeros(n, dtype=np.float32)
    pos = 0
    base = rng.uniform(110, 330)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    while pos < n:
        dur = int(rng.uniform(0.12, 0.6) * SAMPLE_RATE)
        t = np.arange(min(dur, n - pos)) / SAMPLE_RATE
        note = np.zeros_like(t)
        for _ in range(int(rng.integers(1, 4))):
            f0 = base * 2 ** (rng.choice(scale) / 12 + rng.integers(0, 2))
            for h in range(1, 5):
                note += np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28)) * 0.6**h
        note *= np.exp(-t * rng.uniform(1, 8))
        out[pos : pos + len(t)] += note.astype(np.float32)
        pos += len(t)
    return out / (np.std(out) + 1e-9)


def room_echo(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room impulse response: direct path + exponentially decaying noise."""
    rt60 = rng.uniform(0.15, 0.8)
    length = int(rt60 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    rir = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    rir[: int(rng.uniform(0.002, 0.02) * SAMPLE_RATE)] = 0
    rir *= rng.uniform(0.1, 0.6) / (np.sqrt(np.sum(rir**2)) + 1e-9)
    rir[0] = 1.0
    wet = signal.fftconvolve(audio, rir)[: len(audio) + length // 2]
    return wet.astype(np.float32)


def augment(audio: np.ndarray, span: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int]]:
    """Speed (0.85-1.15, pitch with it), colouring and echo; returns the clip and where its word now is."""
    if rng.random() < 0.8:
        factor = rng.uniform(0.85, 1.15)
        down = round(100 * factor)
        audio = signal.resample_poly(audio, 100, down).astype(np.float32)
        span = (span[0] * 100 // down, span[1] * 100 // down)
    if rng.random() < 0.3:
        low, high = rng.uniform(60, 400), rng.uniform(3000, 7800)
        sos = signal.butter(2, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")
        audio = signal.sosfilt(sos, audio).astype(np.float32)
    if rng.random() < 0.35:
        audio = room_echo(audio, rng)
    return audio, span


# --- real recordings -------------------------------------------------------------------------------------------


@dataclass
class Clip:
    audio: np.ndarray  # float32, 16 kHz
    source: str  # data set / label, e.g. "mycroft:athena", "tts:espeak"
    path: str
    span: tuple[int, int] | None = None  # the wake word's samples (positives)


def _split(items: list[str], key: str, share: float = DEV_SHARE) -> set[str]:
    """The dev part of ``items``: sorted, shuffled with a fixed seed per key, first round(share * n)."""
    items = sorted(items)
    random.Random(f"{SPLIT_SEED}-{key}").shuffle(items)
    return set(items[: round(share * len(items))])


@dataclass
class RealData:
    positives_train: list[Clip]
    positives_val: list[Clip]
    positives_dev: list[Clip]
    negatives_train: list[Clip]
    negatives_dev: list[Clip]
    noise_train: list[np.ndarray]
    noise_dev: list[np.ndarray]


def load_real(data_dir: Path | None = None) -> RealData:
    root = data_dir or default_data_dir()
    mycroft = root / "mycroft_precise_wakewords"
    with (mycroft / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_label: dict[str, list[str]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row["path"])
    data = RealData([], [], [], [], [], [], [])
    amelia = by_label.pop("amelia")
    dev = _split(amelia, "amelia")
    val = _split([p for p in amelia if p not in dev], "amelia-val", VAL_SHARE)
    for path in sorted(amelia):
        audio = read_wav(mycroft / path)
        clip = Clip(audio, "mycroft:amelia", path, speech_span(audio))
        (data.positives_dev if path in dev else data.positives_val if path in val else data.positives_train).append(
            clip
        )
    for path in sorted(by_label.pop("noise")):
        audio = read_wav(mycroft / path)
        cut = int(len(audio) * (1 - DEV_SHARE))
        data.noise_train.append(audio[:cut])
        data.noise_dev.append(audio[cut:])
    for label, paths in sorted(by_label.items()):
        dev = _split(paths, label)
        for path in sorted(paths):
            clip = Clip(read_wav(mycroft / path), f"mycroft:{label}", path)
            (data.negatives_dev if path in dev else data.negatives_train).append(clip)

    commands = root / "speech_commands_v001_subset"
    with (commands / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    dev_speakers = _split(sorted({r["speaker_id"] for r in rows}), "speech_commands")
    for row in rows:
        clip = Clip(read_wav(commands / row["path"]), "speech_commands", row["path"])
        (data.negatives_dev if row["speaker_id"] in dev_speakers else data.negatives_train).append(clip)

    fsdd = root / "fsdd"
    for part, target in (("train", data.negatives_train), ("dev", data.negatives_dev)):
        with (fsdd / f"{part}_manifest.csv").open(newline="") as handle:
            target.extend(Clip(read_wav(fsdd / r["path"]), "fsdd", r["path"]) for r in csv.DictReader(handle))

    asr = root / "asr_sentences_mini"
    with (asr / "manifest.csv").open(newline="") as handle:
        paths = [r["path"] for r in csv.DictReader(handle)]
    dev = _split(paths, "asr")
    for path in sorted(paths):
        clip = Clip(read_wav(asr / path), "asr_sentences_mini", path)
        (data.negatives_dev if path in dev else data.negatives_train).append(clip)
    return data


def minutes(clips: list[Clip]) -> float:
    return sum(len(c.audio) for c in clips) / SAMPLE_RATE / 60


# --- synthetic speech ----------------------------------------------------------------------------------------


def espeak_variants() -> list[str]:
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    names = [line.split()[4].split("/")[-1] for line in out.splitlines()[1:] if len(line.split()) >= 5]
    return sorted(n for n in names if n)


def random_voice(rng: random.Random, variants: list[str]) -> tuple[str, ...]:
    """A random TTS voice setting: ("espeak", voice+variant, rate, pitch) or ("flite", voice, stretch, f0)."""
    if rng.random() < 0.8:
        variant = rng.choice([*variants, ""])
        voice = rng.choice(ESPEAK_VOICES) + (f"+{variant}" if variant else "")
        return ("espeak", voice, str(rng.randint(110, 230)), str(rng.randint(20, 85)))
    return ("flite", rng.choice(FLITE_VOICES), f"{rng.uniform(0.75, 1.5):.2f}", str(rng.randint(80, 240)))


def synthesize(text: str, voice: tuple[str, ...], cache: Path | None = None) -> np.ndarray:
    """Render ``text`` with a TTS voice to float32 16 kHz; cached by (text, voice) when ``cache`` is given."""
    key = hashlib.sha1(json.dumps([text, *voice]).encode()).hexdigest()[:16]
    if cache is not None and (cache / f"{key}.wav").exists():
        return read_wav(cache / f"{key}.wav")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        if voice[0] == "espeak":
            cmd = ["espeak-ng", "-v", voice[1], "-s", voice[2], "-p", voice[3], "-w", str(path), text]
        else:
            cmd = ["flite", "-voice", voice[1], "--setf", f"duration_stretch={voice[2]}"]
            cmd += ["--setf", f"int_f0_target_mean={voice[3]}", "-t", text, "-o", str(path)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        audio = read_wav(path)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        # float, so that a cached clip is the very clip a fresh run renders (the streams stay reproducible)
        sf.write(str(cache / f"{key}.wav"), audio, SAMPLE_RATE, subtype="FLOAT")
    return audio


def _trim(audio: np.ndarray) -> np.ndarray:
    """Cut the TTS engine's digital silence, keeping 50 ms."""
    loud = np.where(np.abs(audio) > 0.003)[0]
    if len(loud) == 0:
        return audio
    return audio[max(0, loud[0] - 800) : loud[-1] + 800]


def sentences(data_dir: Path, part: str) -> list[str]:
    """Negative sentences: BANKING77 and CLINC150 (all domains) train, or their dev/val for the dev stream."""
    with (data_dir / "banking77" / f"{'train' if part == 'train' else 'dev'}.csv").open(newline="") as handle:
        texts = [r["text"] for r in csv.DictReader(handle)]
    clinc = json.loads((data_dir / "clinc150" / "data_full_train_val.json").read_text(encoding="utf-8"))
    texts += [t for t, _ in clinc["train" if part == "train" else "val"]]
    texts += [t for t, _ in clinc["oos_train" if part == "train" else "oos_val"]]
    return [t for t in texts if "amelia" not in t.lower()]


def tts_clips(
    texts: list[str], rng: random.Random, cache: Path | None, source: str, positive: bool, workers: int = 4
) -> list[Clip]:
    variants = espeak_variants()
    jobs = [(text, random_voice(rng, variants)) for text in texts]
    with ThreadPoolExecutor(workers) as pool:
        audios = list(pool.map(lambda job: _trim(synthesize(job[0], job[1], cache)), jobs))
    return [
        Clip(a, f"tts:{voice[0]}", f"{text} | {' '.join(voice)}", speech_span(a) if positive else None)
        for (text, voice), a in zip(jobs, audios, strict=True)
        if len(a) > FRAME_SAMPLES * 10
    ]


# --- streams ---------------------------------------------------------------------------------------------------


@dataclass
class Stream:
    audio: np.ndarray  # float32
    words: list[tuple[int, int]]  # wake-word spans in samples
    events: list[tuple[int, int, str]]  # every clip placed: start, end sample and where it came from


BEDS = ("quiet", "noise", "white", "pink", "brown", "babble", "tones")
BED_SHARES = (0.2, 0.3, 0.08, 0.1, 0.07, 0.15, 0.1)


def background(
    n: int, rng: np.random.Generator, noise: list[np.ndarray], babble: list[Clip], kind: str | None = None
) -> np.ndarray:
    """A background bed of n samples at unit RMS (or near-silence: very low RMS)."""
    kind = kind or str(rng.choice(BEDS, p=BED_SHARES))
    if kind == "quiet":
        return colored_noise(n, rng, "white") * 10 ** (rng.uniform(-40, -20) / 20)  # 40-70 dB under the speech
    if kind == "noise":
        parts, total = [], 0
        while total < n:
            clip = noise[int(rng.integers(len(noise)))]
            start = int(rng.integers(max(1, len(clip) - SAMPLE_RATE)))
            parts.append(clip[start : start + int(rng.integers(SAMPLE_RATE, 10 * SAMPLE_RATE))])
            total += len(parts[-1])
        bed = np.concatenate(parts)[:n]
        return bed / (np.std(bed) + 1e-9)
    if kind == "babble":
        bed = np.zeros(n, dtype=np.float32)
        for _ in range(int(rng.integers(3, 7))):
            pos = int(rng.integers(0, SAMPLE_RATE))
            while pos < n:
                clip = babble[int(rng.integers(len(babble)))].audio
                clip = clip[: n - pos]
                bed[pos : pos + len(clip)] += clip / (np.std(clip) + 1e-9)
                pos += len(clip) + int(rng.integers(0, SAMPLE_RATE // 2))
        return bed / (np.std(bed) + 1e-9)
    if kind == "tones":
        return music_tones(n, rng)
    return colored_noise(n, rng, str(kind))


def sound_effect(rng: np.random.Generator) -> np.ndarray:
    """Short non-speech sounds: beeps, clicks, knocks, noise bursts."""
    kind = rng.integers(3)
    n = int(rng.uniform(0.05, 0.6) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    if kind == 0:
        return (np.sin(2 * np.pi * rng.uniform(400, 3000) * t) * np.exp(-t * rng.uniform(0, 10))).astype(np.float32)
    if kind == 1:
        return colored_noise(n, rng, str(rng.choice(["white", "pink"]))) * np.exp(-t * rng.uniform(5, 60))
    return (
        np.sin(2 * np.pi * rng.uniform(60, 200) * t) * np.exp(-t * 40) + rng.standard_normal(n) * np.exp(-t * 80)
    ).astype(np.float32)


def make_stream(
    events: list[Clip],
    rng: np.random.Generator,
    noise: list[np.ndarray],
    babble: list[Clip],
    positive_augment: bool = True,
) -> Stream:
    """Place the clips one after another (gaps 0-1.5 s, some back to back) on a background bed."""
    pieces: list[tuple[int, np.ndarray, tuple[int, int] | None, str]] = []
    pos = int(rng.uniform(0.5, 1.5) * SAMPLE_RATE)
    speech_db = rng.uniform(-38, -16)
    for clip in events:
        audio, span = clip.audio, clip.span or (0, len(clip.audio))
        if positive_augment or clip.span is None:
            audio, span = augment(audio, span, rng)
        level = speech_db + rng.uniform(-6, 6)
        core = audio[span[0] : span[1]] if span[1] > span[0] else audio
        audio = audio * 10 ** ((level - _rms_db(core)) / 20)
        pieces.append((pos, audio.astype(np.float32), span if clip.span is not None else None, clip.path))
        pos += len(audio) + int(rng.choice([0, rng.uniform(0.1, 1.5)], p=[0.15, 0.85]) * SAMPLE_RATE)
        if rng.random() < 0.08:
            sfx = sound_effect(rng) * 10 ** ((speech_db + rng.uniform(-10, 6)) / 20)
            pieces.append((pos, sfx, None, "sound effect"))
            pos += len(sfx) + int(rng.uniform(0.1, 0.8) * SAMPLE_RATE)
    n = pos + int(rng.uniform(0.5, 1.5) * SAMPLE_RATE)
    snr = rng.uniform(3, 30)
    kind = str(rng.choice(BEDS, p=BED_SHARES))
    bed = background(n, rng, noise, babble, kind) * 10 ** ((speech_db - snr) / 20)
    out = bed.astype(np.float32)
    words, placed = [], []
    for start, audio, span, name in pieces:
        end = min(n, start + len(audio))
        out[start:end] += audio[: end - start]
        placed.append((start, end, f"{name} [{kind} bed, SNR {snr:.0f} dB]"))
        if span is not None:
            words.append((start + span[0], start + span[1]))
    if rng.random() < 0.3:  # whole-stream gain change, sometimes into clipping
        out *= 10 ** (rng.uniform(-6, 12) / 20)
    return Stream(np.clip(out, -1, 1), words, placed)


def frame_labels(n_frames: int, words: list[tuple[int, int]]) -> np.ndarray:
    """Label of the window ending at each feature frame: 1 wake word just ended, 0 none, -1 not trained on."""
    labels = np.zeros(n_frames, dtype=np.int8)

    def frame(sample: int) -> int:
        return sample // FRAME_SAMPLES - FRONTEND_DELAY_FRAMES

    for start, end in words:
        f0, f1 = frame(start), frame(end)
        length = max(1, f1 - f0)
        # a window that ends inside the word's last 40% or up to W frames later (still holds most of it): ignored
        lo, hi = f0 + int(0.6 * length), f1 + WINDOW_FRAMES - int(0.4 * length)
        labels[max(0, lo) : max(0, min(n_frames, hi))] = -1
        if length <= WINDOW_FRAMES - 5:  # a word longer than the window is never a positive
            labels[max(0, f1) : max(0, min(n_frames, f1 + POSITIVE_TAIL_FRAMES + 1))] = 1
    labels[: WINDOW_FRAMES - 1] = -1  # not a full window yet
    return labels


def build_split(
    positives: list[Clip],
    negatives: list[Clip],
    noise: list[np.ndarray],
    babble: list[Clip],
    positive_repeats: list[int],
    negative_repeats: list[int],
    seed: int,
    stream_seconds: float = 30.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Streams from repeated, shuffled clips -> (features float16 [T, 40], labels int8 [T], stream starts)."""
    rng = np.random.default_rng(seed)
    items = [c for c, r in zip(positives, positive_repeats, strict=True) for _ in range(r)]
    items += [c for c, r in zip(negatives, negative_repeats, strict=True) for _ in range(r)]
    order = rng.permutation(len(items))
    feats, labels, starts, total = [], [], [], 0
    batch: list[Clip] = []
    length = 0.0
    for i in order:
        batch.append(items[i])
        length += len(items[i].audio) / SAMPLE_RATE + 0.8
        if length >= stream_seconds or i == order[-1]:
            stream = make_stream(batch, rng, noise, babble)
            f = features(stream.audio)
            feats.append(f.astype(np.float16))
            labels.append(frame_labels(len(f), stream.words))
            starts.append(total)
            total += len(f)
            batch, length = [], 0.0
    return np.concatenate(feats), np.concatenate(labels), np.asarray(starts, dtype=np.int64)


# --- evaluation audio (dev): used by calibrate.py and bench/bench_wakeword.py ------------------------------------


def positive_eval_streams(
    clips: list[Clip], noise: list[np.ndarray] | None = None, snr_db: float = 10.0, seed: int = 0
) -> list[tuple[np.ndarray, int, int]]:
    """Each clip as heard: 1 s of room tone, the clip, 1 s more; (int16 audio, clip start, end of the 1 s after).

    With ``noise``, dev background noise is mixed in at ``snr_db`` (speech RMS over the word vs noise RMS).
    """
    rng = np.random.default_rng(seed)
    out = []
    for clip in clips:
        lead = SAMPLE_RATE
        audio = np.concatenate([np.zeros(lead, np.float32), clip.audio, np.zeros(SAMPLE_RATE, np.float32)])
        audio = audio + rng.standard_normal(len(audio)).astype(np.float32) * 10 ** (-66 / 20)
        if noise is not None:
            bed = np.concatenate(noise)
            start = int(rng.integers(0, max(1, len(bed) - len(audio))))
            bed = np.resize(bed[start:], len(audio))
            word = clip.audio[clip.span[0] : clip.span[1]] if clip.span else clip.audio
            audio = audio + bed / (np.std(bed) + 1e-9) * 10 ** ((_rms_db(word) - snr_db) / 20)
        out.append((to_int16(audio), lead, lead + len(clip.audio) + SAMPLE_RATE))
    return out


def negative_eval_stream(clips: list[Clip], seed: int = 0) -> np.ndarray:
    """All clips back to back with 0.1-0.3 s of room tone between them, as one int16 stream."""
    rng = np.random.default_rng(seed)
    parts = []
    for clip in clips:
        parts.append(clip.audio)
        parts.append(np.zeros(int(rng.uniform(0.1, 0.3) * SAMPLE_RATE), np.float32))
    audio = np.concatenate(parts)
    return to_int16(audio + rng.standard_normal(len(audio)).astype(np.float32) * 10 ** (-66 / 20))


def synthetic_negative_stream(
    data_dir: Path,
    real: RealData,
    hours: float,
    seed: int = 7,
    chunk_s: float = 60.0,
    events: list[tuple[int, int, str]] | None = None,
) -> Iterator[np.ndarray]:
    """``hours`` of generated negative audio as int16 chunks, made on the fly and never stored.

    Speech: dev sentences and the confusables in random TTS voices (rendered into memory as they are needed,
    not cached) and the dev real negatives, augmented; beds: dev noise, coloured noise, babble, music-like
    tones, quiet room; plus stretches of only background (a fifth of the time).
    """
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    variants = espeak_variants()
    texts = sentences(data_dir, "dev")
    total = int(hours * 3600 * SAMPLE_RATE)
    done = 0
    pool = ThreadPoolExecutor(4)
    try:
        while done < total:
            pending: list[Clip] = []
            length = 0.0
            jobs = []
            while length < chunk_s * 0.7:
                r = rng.random()
                if r < 0.55:
                    text = rng.choice(texts) if rng.random() < 0.95 else rng.choice(CONFUSABLES)
                    jobs.append((text, random_voice(rng, variants)))
                    length += 2.5
                elif r < 0.85:
                    clip = real.negatives_dev[rng.randrange(len(real.negatives_dev))]
                    pending.append(clip)
                    length += len(clip.audio) / SAMPLE_RATE + 0.8
                else:
                    length += 5.0
                    pending.append(Clip(np.zeros(5 * SAMPLE_RATE, np.float32) + 1e-6, "silence", "(background only)"))
            audios = pool.map(lambda job: _trim(synthesize(job[0], job[1], None)), jobs)
            pending += [
                Clip(a, "tts", f"{text} | {' '.join(voice)}") for a, (text, voice) in zip(audios, jobs, strict=True)
            ]
            rng.shuffle(pending)
            stream = make_stream(pending, nrng, real.noise_dev, real.negatives_dev)
            audio = to_int16(stream.audio[: total - done])
            if events is not None:  # what was placed where, for looking into false accepts
                events.extend((done + a, done + b, name) for a, b, name in stream.events)
            done += len(audio)
            yield audio
    finally:
        pool.shutdown()


# --- main --------------------------------------------------------------------------------------------------------


def build(data_dir: Path, out: Path, seed: int) -> dict[str, object]:
    t0 = time.time()
    real = load_real(data_dir)
    rng = random.Random(seed)
    cache = out / "tts"
    tts_pos = tts_clips([rng.choice(POSITIVE_TEXTS) for _ in range(700)], rng, cache, "tts", positive=True)
    tts_conf = tts_clips([c for c in CONFUSABLES for _ in range(60)], rng, cache, "tts", positive=False)
    texts = sentences(data_dir, "train")
    tts_sent = tts_clips(rng.sample(texts, 1500), rng, cache, "tts", positive=False)
    t_tts = time.time() - t0
    babble = real.negatives_train + tts_sent
    negatives = real.negatives_train + tts_conf + tts_sent
    neg_rep = [3] * len(real.negatives_train) + [2] * len(tts_conf) + [1] * len(tts_sent)
    summary: dict[str, object] = {
        "positives_train_real": len(real.positives_train),
        "positives_val_real": len(real.positives_val),
        "positives_dev_real": len(real.positives_dev),
        "positives_tts": len(tts_pos),
        "negatives_train_real": len(real.negatives_train),
        "negatives_train_real_minutes": round(minutes(real.negatives_train), 1),
        "negatives_dev_real": len(real.negatives_dev),
        "negatives_dev_real_minutes": round(minutes(real.negatives_dev), 1),
        "negatives_tts_confusables": len(tts_conf),
        "negatives_tts_sentences": len(tts_sent),
        "tts_seconds": round(t_tts, 1),
    }
    splits = {
        "train": (
            real.positives_train + tts_pos,
            [30] * len(real.positives_train) + [4] * len(tts_pos),
            negatives,
            neg_rep,
            real.noise_train,
            seed,
        ),
        "val": (
            real.positives_val,
            [20] * len(real.positives_val),
            real.negatives_train[::7] + tts_conf[::5],
            [1] * len(real.negatives_train[::7]) + [1] * len(tts_conf[::5]),
            real.noise_train,
            seed + 1,
        ),
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, (pos, pos_rep, neg, n_rep, noise, s) in splits.items():
        feats, labels, starts = build_split(pos, neg, noise, babble, pos_rep, n_rep, s)
        np.save(out / f"{name}_features.npy", feats)
        np.save(out / f"{name}_labels.npy", labels)
        np.save(out / f"{name}_starts.npy", starts)
        summary[f"{name}_hours"] = round(len(feats) / 100 / 3600, 2)
        summary[f"{name}_positive_windows"] = int((labels == 1).sum())
        summary[f"{name}_negative_windows"] = int((labels == 0).sum())
    summary["seconds"] = round(time.time() - t0, 1)
    (out / "data_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    print(json.dumps(build(args.data_dir or default_data_dir(), args.out, args.seed), indent=1))


if __name__ == "__main__":
    main()
