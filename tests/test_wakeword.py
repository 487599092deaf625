"""Wake words on real and synthesised recordings: the shipped microWakeWord models, several at once, refractory.

Speech with the wake word is made at test time with Debian ``flite``: its ``rms`` voice triggers all four shipped
models reliably (clean, quiet or loud, in pink noise at 20 dB SNR, at any frame alignment), which ``espeak-ng``
does not ("hey jarvis" in espeak-ng's English voices never triggers). Speech without it is the real Mycroft
Precise recordings in ``tests/fixtures/audio`` and banking sentences in three synthetic voices.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from click.testing import CliRunner

from firmware_app.audio import cli as audio_cli
from firmware_app.audio.frames import FRAME_SAMPLES, SAMPLE_RATE_HZ, Detection, Frame
from firmware_app.audio.sources import ArraySource, AudioDevice
from firmware_app.audio.wakeword import (
    SCAN_TAIL_S,
    SHIPPED_WAKE_WORDS,
    MicroWakeWordDetector,
    WakeWords,
    available_wake_words,
    build_wake_words,
    scan,
)
from firmware_app.cli import main
from firmware_app.config import REPO_ROOT
from firmware_app.inference.manifest import ModelIntegrityError
from tests.conftest import FIXTURES

REAL_AUDIO = FIXTURES / "audio"
PHRASES = {"okay_nabu": "okay nabu", "hey_jarvis": "hey jarvis", "alexa": "alexa", "hey_mycroft": "hey mycroft"}
SENTENCES = [
    "I would like to open a savings account",
    "my card was stolen yesterday",
    "what time does the branch close on saturday",
    "can I speak to a person please",
    "how do I send money abroad",
    "thank you, goodbye",
]
rng = np.random.default_rng(20261121)

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="Debian flite is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="Debian espeak-ng is not installed")


@functools.cache
def synthesise(text: str, engine: str = "flite", voice: str = "rms") -> np.ndarray:
    """Speech as float samples at 16 kHz, peak 0.5."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "speech.wav"
        if engine == "flite":
            command = ["flite", "-voice", voice, "-t", text, "-o", str(out)]
        else:
            command = ["espeak-ng", "-v", voice, "-w", str(out), text]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        samples, rate_hz = sf.read(out, dtype="float32")
    if rate_hz != SAMPLE_RATE_HZ:
        samples = soxr.resample(samples, rate_hz, SAMPLE_RATE_HZ)
    return samples * (0.5 / np.abs(samples).max())


def speech_end_s(clip: np.ndarray) -> float:
    """Where the voice in a clip stops (the TTS pads it with silence)."""
    return float(np.nonzero(np.abs(clip) > 0.02 * np.abs(clip).max())[0][-1]) / SAMPLE_RATE_HZ


def pink_noise(seconds: float) -> np.ndarray:
    """1/f noise, peak 1: more like a room than white noise is."""
    white = np.fft.rfft(rng.standard_normal(int(seconds * SAMPLE_RATE_HZ)))
    bins = np.maximum(np.arange(len(white)), 1)
    pink = np.fft.irfft(white / np.sqrt(bins), int(seconds * SAMPLE_RATE_HZ))
    return (pink / np.abs(pink).max()).astype(np.float32)


def tones(seconds: float) -> np.ndarray:
    """Music-like: a note every quarter second, four harmonics, a fast attack and a decaying envelope."""
    note_samples = SAMPLE_RATE_HZ // 4
    t = np.arange(note_samples) / SAMPLE_RATE_HZ
    envelope = np.minimum(1.0, t * 200) * np.exp(-4 * t)
    notes = []
    for semitone in rng.integers(0, 24, size=int(seconds * 4)):
        f0 = 220.0 * 2 ** (semitone / 12)
        notes.append(envelope * sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3, 4)))
    music = np.concatenate(notes)
    return (music / np.abs(music).max()).astype(np.float32)


def place(background: np.ndarray, clip: np.ndarray, at_s: float, snr_db: float | None = None) -> np.ndarray:
    """``clip`` mixed into ``background`` starting at ``at_s``; with ``snr_db`` the background is scaled to that
    signal-to-noise ratio against the clip's voiced part."""
    mixed = background.copy()
    if snr_db is not None:
        voiced = clip[np.abs(clip) > 0.02 * np.abs(clip).max()]
        noise_rms = np.sqrt(np.mean(voiced**2)) / 10 ** (snr_db / 20)
        mixed *= noise_rms / np.sqrt(np.mean(background**2))
    start = round(at_s * SAMPLE_RATE_HZ)
    mixed[start : start + len(clip)] += clip
    return mixed


def frames(samples: np.ndarray) -> list[Frame]:
    return list(ArraySource(np.clip(samples, -1.0, 1.0)).frames())


@pytest.fixture(scope="module")
def shipped() -> WakeWords:
    """All four shipped models listening at once, with the default refractory period."""
    return build_wake_words(SHIPPED_WAKE_WORDS, Path("unused"))


def write_wav(path: Path, samples: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if rate_hz != SAMPLE_RATE_HZ:
        samples = soxr.resample(samples, SAMPLE_RATE_HZ, rate_hz)
    sf.write(path, samples, rate_hz)
    return path


# --- no wake word, no detection ---


@pytest.mark.parametrize("kind", ["silence", "white", "pink", "tones"])
@pytest.mark.parametrize("peak", [0.9, 0.1])
def test_no_detection_without_speech(shipped: WakeWords, kind: str, peak: float) -> None:
    seconds = 30.0
    background = {
        "silence": lambda: np.zeros(int(seconds * SAMPLE_RATE_HZ), dtype=np.float32),
        "white": lambda: np.clip(rng.standard_normal(int(seconds * SAMPLE_RATE_HZ)) / 4, -1, 1).astype(np.float32),
        "pink": lambda: pink_noise(seconds),
        "tones": lambda: tones(seconds),
    }[kind]()
    assert scan(frames(background * peak), shipped) == []
    assert shipped.seconds_seen == pytest.approx(seconds + SCAN_TAIL_S)  # scan listens on for a moment


def test_no_detection_on_real_recordings_of_other_words(shipped: WakeWords) -> None:
    """Real people saying "Amelia", "wine glass", "a cheddar block", and real background noise."""
    recordings = sorted(REAL_AUDIO.glob("*.wav"))
    assert len(recordings) >= 5
    for path in recordings:
        samples, rate_hz = sf.read(path, dtype="float32")
        assert rate_hz == SAMPLE_RATE_HZ
        padded = np.concatenate([np.zeros(8000, np.float32), samples, np.zeros(8000, np.float32)])
        assert scan(frames(padded), shipped) == [], path.name


@needs_flite
@needs_espeak
@pytest.mark.parametrize(("engine", "voice"), [("flite", "rms"), ("flite", "awb"), ("espeak", "en-us")])
def test_no_detection_on_banking_speech(shipped: WakeWords, engine: str, voice: str) -> None:
    pause = np.zeros(SAMPLE_RATE_HZ // 2, dtype=np.float32)
    speech = np.concatenate([part for s in SENTENCES for part in (synthesise(s, engine, voice), pause)])
    noisy = place(pink_noise(len(speech) / SAMPLE_RATE_HZ + 1), speech, 0.5, snr_db=30)
    assert scan(frames(noisy), shipped) == []


# --- the wake word, detected once, at the right time ---


@needs_flite
@pytest.mark.parametrize("wake_word", SHIPPED_WAKE_WORDS)
@pytest.mark.parametrize("at_s", [3.0, 4.437])  # the second start is not a multiple of 10 ms
def test_wake_word_in_noise_is_detected_once_when_it_ends(shipped: WakeWords, wake_word: str, at_s: float) -> None:
    clip = synthesise(PHRASES[wake_word])
    stream = place(pink_noise(10.0), clip, at_s, snr_db=20)
    detections = scan(frames(stream), shipped)
    assert [d.wake_word for d in detections] == [wake_word]
    assert detections[0].time_s == pytest.approx(at_s + speech_end_s(clip), abs=0.5)
    assert detections[0].score > MicroWakeWordDetector(wake_word).threshold


@needs_flite
@pytest.mark.parametrize("peak", [0.05, 0.9])
def test_quiet_and_loud_wake_words_are_detected(shipped: WakeWords, peak: float) -> None:
    clip = synthesise("okay nabu") * (peak / 0.5)
    stream = place(np.zeros(5 * SAMPLE_RATE_HZ, dtype=np.float32), clip, 1.0)
    assert [d.wake_word for d in scan(frames(stream), shipped)] == ["okay_nabu"]


@needs_flite
@pytest.mark.parametrize("wake_word", SHIPPED_WAKE_WORDS)
def test_a_recording_that_ends_with_its_wake_word_still_triggers(shipped: WakeWords, wake_word: str) -> None:
    """The models fire a little after the word ends; scan goes on listening past the end of the recording."""
    clip = synthesise(PHRASES[wake_word])
    cut = place(pink_noise(4.0), clip, 1.0, snr_db=20)[: round((1.0 + speech_end_s(clip)) * SAMPLE_RATE_HZ)]
    detections = scan(frames(cut), shipped)
    assert [d.wake_word for d in detections] == [wake_word]
    assert detections[0].time_s == pytest.approx(len(cut) / SAMPLE_RATE_HZ, abs=0.5)


@needs_flite
def test_several_wake_words_in_one_stream(shipped: WakeWords) -> None:
    stream = pink_noise(14.0)
    starts_s = {"hey_jarvis": 1.0, "alexa": 4.5, "okay_nabu": 8.0, "hey_mycroft": 11.5}
    stream = place(stream, synthesise(PHRASES["hey_jarvis"]), starts_s["hey_jarvis"], snr_db=20)
    for word in ("alexa", "okay_nabu", "hey_mycroft"):
        stream = place(stream, synthesise(PHRASES[word]), starts_s[word])
    detections = scan(frames(stream), shipped)
    assert [d.wake_word for d in detections] == list(starts_s)
    for detection in detections:
        clip = synthesise(PHRASES[detection.wake_word])
        assert detection.time_s == pytest.approx(starts_s[detection.wake_word] + speech_end_s(clip), abs=0.5)


# --- refractory period ---


@needs_flite
@pytest.mark.parametrize(("gap_s", "expected"), [(1.4, 1), (3.0, 2)])
def test_the_same_wake_word_twice(shipped: WakeWords, gap_s: float, expected: int) -> None:
    """Said again within the 2 s refractory period: one detection; 3 s apart: two."""
    clip = synthesise("hey jarvis")
    stream = place(np.zeros(9 * SAMPLE_RATE_HZ, dtype=np.float32), clip, 1.0)
    stream = place(stream, clip, 1.0 + gap_s)
    detections = scan(frames(stream), shipped)
    assert [d.wake_word for d in detections] == ["hey_jarvis"] * expected


class ScriptedDetector:
    """Fires at the frames it is told to (1-based), so the refractory arithmetic can be checked exactly."""

    def __init__(self, name: str, fire_at: set[int]) -> None:
        self.name = name
        self.fire_at = fire_at
        self.frames_seen = 0
        self.resets = 0

    def process(self, frame: Frame) -> float | None:
        self.frames_seen += 1
        return 0.9 if self.frames_seen in self.fire_at else None

    def reset(self) -> None:
        self.frames_seen = 0
        self.resets += 1


def test_refractory_is_counted_per_wake_word_from_the_reported_detection() -> None:
    a = ScriptedDetector("a", {100, 150, 299, 300, 301, 350})
    b = ScriptedDetector("b", {120, 130})
    wake_words = WakeWords([a, b], refractory_s=2.0)
    silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    detections = scan([silence] * 400, wake_words)
    # a: 1.00 reported; 1.50 and 2.99 within 2 s of it; 3.00 is 2 s later; 3.01 and 3.50 within 2 s of 3.00.
    assert detections == [Detection("a", 1.0, 0.9), Detection("b", 1.2, 0.9), Detection("a", 3.0, 0.9)]
    scan([silence] * 100, wake_words)  # a new stream: the clock and the refractory periods start again
    assert wake_words.seconds_seen == 1.0 + SCAN_TAIL_S
    assert a.resets == b.resets == 2


def test_zero_refractory_reports_every_frame_above_threshold() -> None:
    wake_words = WakeWords([ScriptedDetector("a", {5, 6, 7})], refractory_s=0.0)
    times = [d.time_s for d in scan([np.zeros(FRAME_SAMPLES, dtype=np.int16)] * 10, wake_words)]
    assert times == [0.05, 0.06, 0.07]


# --- thresholds, names and misuse ---


def test_threshold_defaults_to_the_models_own_cutoff() -> None:
    cutoffs = {"okay_nabu": 0.85, "hey_jarvis": 0.97, "alexa": 0.9, "hey_mycroft": 0.95}
    assert {name: MicroWakeWordDetector(name).threshold for name in SHIPPED_WAKE_WORDS} == cutoffs


@needs_flite
def test_a_threshold_override_is_applied() -> None:
    stream = place(np.zeros(4 * SAMPLE_RATE_HZ, dtype=np.float32), synthesise("okay nabu"), 1.0)
    # int8 outputs top out at 255/256, so 0.999 can never be reached.
    strict = build_wake_words(["okay_nabu"], Path("unused"), thresholds={"okay_nabu": 0.999})
    assert scan(frames(stream), strict) == []
    lenient = build_wake_words(["okay_nabu"], Path("unused"), thresholds={"okay_nabu": 0.5})
    assert [d.wake_word for d in scan(frames(stream), lenient)] == ["okay_nabu"]


def test_unknown_wake_word_names_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown wake word 'hey_kestrel'; available: .*alexa.*okay_nabu"):
        build_wake_words(["okay_nabu", "hey_kestrel"], Path("unused"))
    with pytest.raises(ValueError, match="unknown wake word 'okay_nabo'"):
        build_wake_words(["okay_nabu"], Path("unused"), thresholds={"okay_nabo": 0.9})
    with pytest.raises(ValueError, match="no shipped microWakeWord model"):
        MicroWakeWordDetector("amelia")
    with pytest.raises(ValueError, match="between 0 and 1"):
        MicroWakeWordDetector("alexa", threshold=1.5)
    with pytest.raises(ValueError, match="no wake words"):
        build_wake_words([], Path("unused"))


def test_amelia_is_available_when_the_manifest_lists_it_and_its_file_is_there(tmp_path: Path) -> None:
    assert set(available_wake_words(tmp_path)) == set(SHIPPED_WAKE_WORDS)  # no manifest at all
    entry = {"name": "amelia", "version": "1", "file": "amelia.int8.onnx", "sha256": "0" * 64, "runtime": ["openvino"]}
    (tmp_path / "manifest.json").write_text(json.dumps({"models": [entry]}))
    assert "amelia" not in available_wake_words(tmp_path)  # listed, but the file is missing
    (tmp_path / "amelia.int8.onnx").write_bytes(b"truncated")
    assert "amelia" in available_wake_words(tmp_path)
    with pytest.raises(ModelIntegrityError, match="sha256"):  # a damaged model is refused loudly, not skipped
        build_wake_words(["amelia"], tmp_path)


@pytest.mark.skipif(
    "amelia" not in available_wake_words(REPO_ROOT / "models" / "int8"), reason="the Amelia model is not shipped yet"
)
def test_amelia_listens_beside_the_shipped_wake_words() -> None:
    from firmware_app.audio.amelia import AmeliaWakeWord

    wake_words = build_wake_words(["amelia", "okay_nabu"], REPO_ROOT / "models" / "int8", thresholds={"amelia": 0.99})
    assert wake_words.names == ("amelia", "okay_nabu")
    amelia = wake_words.detectors[0]
    assert isinstance(amelia, AmeliaWakeWord) and amelia.threshold == 0.99
    assert scan(frames(pink_noise(5.0) * 0.1), wake_words) == []


def test_a_frame_of_the_wrong_shape_is_refused() -> None:
    detector = MicroWakeWordDetector("alexa")
    with pytest.raises(ValueError, match="160 int16 samples"):
        detector.process(np.zeros(320, dtype=np.int16))
    with pytest.raises(ValueError, match="160 int16 samples"):
        detector.process(np.zeros(FRAME_SAMPLES, dtype=np.float32))


@needs_flite
def test_reset_makes_a_rescan_identical(shipped: WakeWords) -> None:
    stream = frames(place(pink_noise(4.0), synthesise("alexa"), 1.0, snr_db=20))
    first = scan(stream, shipped)
    assert len(first) == 1
    assert scan(stream, shipped) == first


# --- command line ---


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@needs_flite
def test_cli_scan_prints_one_json_line_per_file(runner: CliRunner, tmp_path: Path) -> None:
    clip = synthesise("okay nabu")
    okay = write_wav(tmp_path / "okay.flac", place(np.zeros(3 * SAMPLE_RATE_HZ, np.float32), clip, 1.0), 44_100)
    quiet = write_wav(tmp_path / "quiet.wav", np.zeros(SAMPLE_RATE_HZ, np.float32))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    files = [str(okay), str(broken), str(quiet), str(tmp_path / "missing.wav")]
    result = runner.invoke(main, ["wake", "scan", *files])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == files
    assert [d["wake_word"] for d in lines[0]["detections"]] == ["okay_nabu"]
    assert set(lines[0]["detections"][0]) == {"wake_word", "time_s", "score"}
    assert lines[0]["detections"][0]["time_s"] == pytest.approx(1.0 + speech_end_s(clip), abs=0.5)
    assert "error" in lines[1] and "detections" not in lines[1]
    assert lines[2] == {"file": str(quiet), "detections": []}
    assert "no such audio file" in lines[3]["error"]


@needs_flite
def test_cli_scan_listens_only_for_the_named_wake_words(runner: CliRunner, tmp_path: Path) -> None:
    stream = place(np.zeros(4 * SAMPLE_RATE_HZ, np.float32), synthesise("alexa"), 1.0)
    path = write_wav(tmp_path / "alexa.wav", stream)
    named = runner.invoke(main, ["wake", "scan", "--wake-word", "okay_nabu", "--wake-word", "alexa", str(path)])
    assert named.exit_code == 0
    assert [d["wake_word"] for d in json.loads(named.stdout)["detections"]] == ["alexa"]
    other = runner.invoke(main, ["wake", "scan", "--wake-word", "hey_jarvis", str(path)])
    assert json.loads(other.stdout)["detections"] == []


@needs_flite
def test_cli_scan_uses_the_configured_thresholds_and_refractory_period(runner: CliRunner, tmp_path: Path) -> None:
    clip = synthesise("hey jarvis")
    twice = place(place(np.zeros(6 * SAMPLE_RATE_HZ, np.float32), clip, 1.0), clip, 2.4)
    path = str(write_wav(tmp_path / "twice.wav", twice))
    args = ["wake", "scan", "--wake-word", "hey_jarvis", path]
    assert len(json.loads(runner.invoke(main, args).stdout)["detections"]) == 1
    short = runner.invoke(main, args, env={"KIOSK_LISTENING__REFRACTORY_S": "0.5"})
    assert len(json.loads(short.stdout)["detections"]) == 2
    strict = runner.invoke(main, args, env={"KIOSK_LISTENING__THRESHOLDS": '{"hey_jarvis": 0.999}'})
    assert json.loads(strict.stdout)["detections"] == []


def test_cli_unknown_wake_word_is_one_error_line(runner: CliRunner, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "quiet.wav", np.zeros(SAMPLE_RATE_HZ, np.float32))
    result = runner.invoke(main, ["wake", "scan", "--wake-word", "hey_kestrel", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown wake word 'hey_kestrel'; available:")
    assert "Traceback" not in result.output


@needs_flite
def test_cli_eval_reports_false_rejects_and_false_accepts_per_hour(runner: CliRunner, tmp_path: Path) -> None:
    positives, negatives = tmp_path / "okay_nabu", tmp_path / "negatives"
    silence = np.zeros(3 * SAMPLE_RATE_HZ, np.float32)
    for voice in ("rms", "awb", "kal16"):
        write_wav(positives / f"{voice}.wav", place(silence, synthesise("okay nabu", voice=voice), 1.0))
    write_wav(positives / "missed.wav", silence)  # a positive that holds no wake word: one false reject
    write_wav(negatives / "noise" / "pink.flac", pink_noise(60.0) * 0.3, 22_050)
    write_wav(negatives / "speech.wav", place(silence, synthesise("okay nabu"), 1.0))  # one false accept
    (negatives / "notes.txt").write_text("not audio: ignored")
    args = ["wake", "eval", "--positives", str(positives), "--negatives", str(negatives), "--json"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["wake_word"] == "okay_nabu"  # from the positives folder's name
    assert (report["positives"], report["false_rejects"], report["false_reject_rate"]) == (4, 1, 0.25)
    assert (report["negatives"], report["false_accepts"]) == (2, 1)
    assert report["negative_hours"] == pytest.approx(63 / 3600, abs=1e-4)
    assert report["false_accepts_per_hour"] == pytest.approx(3600 / 63, rel=1e-2)

    text = runner.invoke(main, [*args[:-1], "--wake-word", "okay_nabu", "--threshold", "0.999"])
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines() == [
        "wake word: okay_nabu (threshold: 0.999)",
        "false rejects: 4 of 4 positives (100.0%)",
        "false accepts: 0 in 0.02 h of negative audio (2 files): 0.0 per hour",
    ]


def test_cli_eval_asks_for_the_wake_word_when_the_folder_does_not_name_one(runner: CliRunner, tmp_path: Path) -> None:
    write_wav(tmp_path / "clips" / "a.wav", np.zeros(SAMPLE_RATE_HZ, np.float32))
    result = runner.invoke(main, ["wake", "eval", "--positives", str(tmp_path / "clips"), "--negatives", str(tmp_path)])
    assert result.exit_code == 2
    assert "--wake-word" in result.stderr


def test_cli_audio_devices(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("firmware_app.audio.sources.list_input_devices", lambda: [])
    monkeypatch.setattr(audio_cli, "_output_devices", lambda: [])
    none = runner.invoke(main, ["audio", "devices"])
    assert none.exit_code == 0
    assert "No audio devices found" in none.stdout

    usb = AudioDevice(2, "USB Audio Device: Mic (hw:1,0)", 1, 48_000)
    monkeypatch.setattr("firmware_app.audio.sources.list_input_devices", lambda: [usb])
    listed = runner.invoke(main, ["audio", "devices"])
    assert listed.stdout.splitlines() == [
        "input devices:",
        "  2: USB Audio Device: Mic (hw:1,0) (1 ch, 48000 Hz)",
        "output devices: none",
    ]
