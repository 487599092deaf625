"""`kiosk asr transcribe` and the auto policy on real recordings and on broken ones: every file gets one JSON
line, a bad one a clear error (never a crash or a hang), and "auto" keeps the fast result only when it is
sure and in scope."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from firmware_app.app import Kiosk
from firmware_app.asr.engines import build_policy, in_scope_of
from firmware_app.asr.policy import AsrPolicy
from firmware_app.asr.types import read_audio
from firmware_app.audio.tts import SpeechSynthesizer
from firmware_app.cli import main
from firmware_app.config import KioskSettings
from tests.conftest import FIXTURES

SPEECH = FIXTURES / "speech"
GO_FORWARD = SPEECH / "pocketsphinx_goforward.wav"


def transcribe(tmp_path: Path, *args: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(main, ["asr", "transcribe", *args], env={"KIOSK_DATA_DIR": str(tmp_path / "data")})
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


def test_each_file_gets_a_line_and_broken_files_a_clear_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    clipped = tmp_path / "clipped.wav"
    sf.write(clipped, np.full(16_000, 32_767, dtype=np.int16), 16_000)
    too_fast = tmp_path / "96k.wav"
    sf.write(too_fast, np.zeros(96_000, dtype=np.int16) + 100, 96_000)
    silent = tmp_path / "silent.flac"
    sf.write(silent, np.zeros(16_000, dtype=np.int16), 16_000)
    eight_k_flac = tmp_path / "goforward-8k.flac"
    audio, rate = sf.read(GO_FORWARD, dtype="int16")
    sf.write(eight_k_flac, audio[::2], rate // 2)  # a crude 8 kHz copy: the words must survive it

    files = [GO_FORWARD, corrupt, empty, clipped, too_fast, silent, eight_k_flac, tmp_path / "missing.wav"]
    code, lines = transcribe(tmp_path, "--engine", "accurate", *map(str, files))

    assert code == 1
    assert [line["file"] for line in lines] == [str(f) for f in files]
    by_name = {Path(str(line["file"])).name: line for line in lines}
    good = by_name[GO_FORWARD.name]
    assert good["engine"] == "accurate" and "forward" in str(good["text"]).lower()
    assert 0 < float(str(good["confidence"])) <= 1 and float(str(good["seconds"])) > 0
    assert "forward" in str(by_name["goforward-8k.flac"]["text"]).lower()
    reasons = {
        "corrupt.wav": "not a readable",
        "empty.wav": "empty",
        "clipped.wav": "clipped",
        "96k.wav": "96000 Hz is not supported",
        "silent.flac": "silence",
        "missing.wav": "no such audio file",
    }
    for name, reason in reasons.items():
        assert reason in str(by_name[name].get("error")), by_name[name]


def test_the_digits_grammar_from_the_command_line(tmp_path: Path) -> None:
    code, lines = transcribe(tmp_path, "--engine", "accurate", "--grammar", "digits", str(SPEECH / "9_jackson_8.wav"))
    assert code == 0 and lines[0]["text"] == "9"


@pytest.fixture(scope="module")
def policy(settings: KioskSettings, kiosk: Kiosk) -> AsrPolicy:
    return build_policy(settings, kiosk.pack, in_scope=in_scope_of(kiosk.nlu.classifiers["en"]), mode="auto")


def test_auto_keeps_a_confident_in_domain_question_on_the_fast_engine(policy: AsrPolicy) -> None:
    if not SpeechSynthesizer("flite").enabled:
        pytest.skip("flite is not installed")
    question = np.asarray(SpeechSynthesizer("flite", voice_en="rms").synthesize("how do I reset my PIN", "en"))
    decision = policy.transcribe(question)
    assert decision.escalated is None and decision.transcript.engine == "fast"
    assert decision.transcript.text == "how do i reset my pin"


def test_auto_asks_whisper_about_speech_outside_the_pack(policy: AsrPolicy) -> None:
    decision = policy.transcribe(read_audio(GO_FORWARD))  # "go forward ten meters": no bank words
    assert decision.escalated in ("low_confidence", "out_of_scope")
    assert decision.fast is not None and decision.fast.engine == "fast"
    assert decision.transcript.engine == "accurate" and "forward" in decision.transcript.text.lower()
