"""The accurate recognizer (Whisper tiny.en int8) on real recordings and on speech made by flite, with the real
model from the installed wheel: the words, the digits grammar, confidence, the model check and bad audio."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware_app.asr.types import AsrAudioError, read_audio
from firmware_app.asr.whisper import WhisperRecognizer, domain_prompt, numbers_as_numerals, whisper_model_dir
from firmware_app.inference.manifest import ModelIntegrityError
from firmware_app.packs import Pack

SPEECH = Path(__file__).parent / "fixtures" / "speech"
needs_flite = pytest.mark.skipif(
    shutil.which("flite") is None, reason="needs the Debian package flite (scripts/setup.sh installs it)"
)
# Whisper writes numbers as numerals and may spell British: compare words after mapping these.
SAME_WORD = {"ten": "10", "metres": "meters"}


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, so "Go forward 10 metres." compares with "go forward ten meters"."""
    return [SAME_WORD.get(w, w) for w in re.findall(r"[a-z0-9']+", text.lower())]


@pytest.fixture(scope="module")
def recognizer(pack: Pack) -> WhisperRecognizer:
    return WhisperRecognizer(pack, threads=1)


def flite(text: str, folder: Path) -> np.ndarray:
    """``text`` said by flite's "slt" voice (16 kHz)."""
    path = folder / "flite.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    return read_audio(path)


@pytest.fixture(scope="module")
def lost_card(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return flite("I lost my debit card", tmp_path_factory.mktemp("flite"))


@pytest.mark.parametrize(
    ("file", "expected"),
    [("pocketsphinx_goforward.wav", "go forward ten meters"), ("pocketsphinx_cards_001.wav", "ten of clubs")],
)
def test_real_recordings_are_transcribed_word_for_word(recognizer: WhisperRecognizer, file: str, expected: str) -> None:
    samples = read_audio(SPEECH / file)
    transcript = recognizer.transcribe(samples)
    assert words(transcript.text) == words(expected)
    assert transcript.engine == "accurate"
    assert transcript.audio_s == pytest.approx(len(samples) / 16_000)
    assert 0 < transcript.seconds < 10
    assert 0.5 < transcript.confidence <= 1


@needs_flite
def test_a_bank_question_is_understood_with_high_confidence(
    recognizer: WhisperRecognizer, lost_card: np.ndarray
) -> None:
    transcript = recognizer.transcribe(lost_card)
    assert words(transcript.text) == ["i", "lost", "my", "debit", "card"]
    assert transcript.confidence > 0.8


@pytest.mark.parametrize("file", ["3_nicolas_7.wav", "7_theo_9.wav", "9_jackson_8.wav", "5_lucas_6.wav"])
def test_digits_grammar_gives_numerals_for_spoken_digits(recognizer: WhisperRecognizer, file: str) -> None:
    # FSDD: one digit, said alone, recorded at 8 kHz; the file name starts with the digit.
    transcript = recognizer.transcribe(read_audio(SPEECH / file), grammar="digits")
    assert transcript.text == file[0]
    assert transcript.confidence > 0


@needs_flite
def test_digits_grammar_joins_a_card_ending_and_keeps_the_other_words(
    recognizer: WhisperRecognizer, tmp_path: Path
) -> None:
    samples = flite("my card ends in four five six seven", tmp_path)
    assert recognizer.transcribe(samples, grammar="digits").text == "my card ends in 4567"


@needs_flite
def test_digits_grammar_still_hears_words_that_are_not_numbers(
    recognizer: WhisperRecognizer, lost_card: np.ndarray
) -> None:
    transcript = recognizer.transcribe(lost_card, grammar="digits")
    assert transcript.text == "i lost my debit card"


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("Four, five, six, seven.", "4567"),
        ("4-5-6-7", "4567"),
        ("My card ends in 4567.", "my card ends in 4567"),
        ("Oh seven seven double oh nine.", "077009"),
        ("07700 900123", "07700 900123"),
        ("Forty-five pounds.", "45 pounds"),
        ("The 3rd of May.", "the 3rd of may"),
        ("Cancel.", "cancel"),
    ],
)
def test_numbers_as_numerals_writes_what_the_fast_engine_writes(text: str, normalised: str) -> None:
    assert numbers_as_numerals(text) == normalised


@needs_flite
def test_garbled_speech_and_noise_score_lower_than_clean_speech(
    recognizer: WhisperRecognizer, lost_card: np.ndarray
) -> None:
    clean = recognizer.transcribe(lost_card).confidence
    backwards = recognizer.transcribe(lost_card[::-1].copy()).confidence
    noise = np.random.default_rng(0).normal(0, 3000, 32_000).astype(np.int16)
    hiss = recognizer.transcribe(noise)
    assert backwards < clean - 0.3
    assert hiss.confidence < clean - 0.3


def test_domain_prompt_is_a_short_glossary_of_the_pack(pack: Pack) -> None:
    prompt = domain_prompt(pack)
    assert prompt.startswith("Kestrel Bank: ")
    assert {"card", "transfer", "PIN", "ATM", "cheque"} <= set(re.findall(r"[\w'-]+", prompt))
    assert len(prompt.split()) <= 30


@pytest.mark.parametrize(
    ("samples", "reason"),
    [
        (np.zeros(16_000, np.float32), "int16"),
        (np.ones(800, np.int16), "too short"),
        (np.zeros(16_000, np.int16), "silence"),
        (np.full(16_000, 32_767, np.int16), "clipped"),
    ],
)
def test_unusable_audio_is_refused(recognizer: WhisperRecognizer, samples: np.ndarray, reason: str) -> None:
    with pytest.raises(AsrAudioError, match=reason):
        recognizer.transcribe(samples)


def test_a_corrupted_or_missing_model_file_is_refused(tmp_path: Path) -> None:
    model_dir = shutil.copytree(whisper_model_dir(), tmp_path / "model")
    with (model_dir / "model.bin").open("r+b") as handle:
        handle.seek(1_000_000)
        byte = handle.read(1)
        handle.seek(1_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelIntegrityError, match=r"model\.bin has sha256 .* expected"):
        WhisperRecognizer(model_dir=model_dir)
    (model_dir / "tokenizer.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"missing in .*: tokenizer\.json"):
        WhisperRecognizer(model_dir=model_dir)
