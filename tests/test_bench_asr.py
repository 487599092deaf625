"""The speech benchmark's own arithmetic (WER, text normalisation, digit scoring, latency summaries) and a tiny run
of its per-engine core on the real recordings in tests/fixtures/speech, so the benchmark cannot rot unnoticed.
Nothing here reads the training data folder (fixtures only)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from bench.asr_scoring import digit_correct as digit_ok
from bench.asr_scoring import edit_counts, normalise_words, wer
from bench.bench_asr import Clip, engine_worker, report_section
from bench.bench_voice_path import Turn, voice_path_summary, voice_path_worker

SPEECH = Path(__file__).parent / "fixtures" / "speech"


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("a b c", "a b c", (0, 0, 0)),
        ("a b c", "a x c", (1, 0, 0)),
        ("a b c", "a c", (0, 1, 0)),
        ("a b c", "a b c d", (0, 0, 1)),
        ("a b c", "", (0, 3, 0)),
        ("", "a b", (0, 0, 2)),
        ("ten of clubs", "at ten of close", (1, 0, 1)),
    ],
)
def test_edit_counts_split_errors_into_substitutions_deletions_insertions(
    reference: str, hypothesis: str, expected: tuple[int, int, int]
) -> None:
    counts = edit_counts(reference.split(), hypothesis.split())
    assert (counts.substitutions, counts.deletions, counts.insertions) == expected
    assert counts.reference_words == len(reference.split())


def test_wer_is_all_errors_over_all_reference_words() -> None:
    result = wer([("go forward ten meters", "go forward can leaders"), ("ten of clubs", "ten of clubs")])
    assert result["wer"] == pytest.approx(2 / 7, abs=1e-4)
    assert (result["utterances"], result["reference_words"], result["exact"]) == (2, 7, 1)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Go forward 10 metres.", "go forward ten meters"),
        ("My card ends in 4321", "my card ends in four three two one"),
        ("Five, five.", "five five"),
        ("I'm still waiting, I can't find it!", "i am still waiting i can not find it"),
        ("What's a top-up?", "what is a top up"),
        ("I organised a cheque", "i organized a check"),
        ("£5 for 2-3 days", "five pounds for two to three days"),
        ("twenty-one", "21"),
    ],
)
def test_normalisation_makes_equivalent_writings_equal(a: str, b: str) -> None:
    assert normalise_words(a) == normalise_words(b)


def test_normalisation_keeps_real_differences() -> None:
    assert normalise_words("ten of clubs") != normalise_words("ten of close")
    assert normalise_words("Mary's card") == ["mary's", "card"]


@pytest.mark.parametrize(("heard", "right"), [("3", True), ("it's 3", True), ("33", False), ("8", False), ("", False)])
def test_a_digit_is_right_only_when_it_is_the_only_digit(heard: str, right: bool) -> None:
    assert digit_ok(heard, "3") is right


def test_voice_path_summary_splits_fast_path_and_escalated() -> None:
    turns = [
        Turn("card_arrival", 1.0, 1.1, 1.1005, "card_arrival", None, "fast", "where is my card"),
        Turn("card_arrival", 5.0, 5.8, 5.8005, "card_arrival", "low_confidence", "accurate", "where is my card"),
        Turn("change_pin", nothing_heard=True),
    ]
    summary = voice_path_summary(turns)
    assert summary["to_reply_fast_path"]["n"] == 1
    assert summary["to_reply_fast_path"]["p50_ms"] == pytest.approx(100, abs=0.1)
    assert summary["to_reply_escalated"]["p50_ms"] == pytest.approx(800, abs=0.1)
    assert (summary["answered"], summary["nothing_heard"], summary["escalations"]) == (2, 1, {"low_confidence": 1})
    assert summary["reply_intent_accuracy"] == pytest.approx(2 / 3, abs=1e-4)


def test_the_fast_engine_core_runs_on_real_fixture_recordings(tmp_path: Path) -> None:
    sentences = [
        Clip(str(SPEECH / "pocketsphinx_goforward.wav"), "go forward ten meters", "cmusphinx", "card_arrival", 2.786),
        Clip(str(SPEECH / "pocketsphinx_cards_001.wav"), "ten of clubs", "cmusphinx", "card_arrival", 1.095),
    ]
    digits = [Clip(str(SPEECH / f), f[0], f.split("_")[1], f[0]) for f in ("9_jackson_8.wav", "5_lucas_6.wav")]
    plan = {
        "mini": [asdict(c) for c in sentences],
        "digits": [asdict(c) for c in digits],
        "synthetic": [asdict(c) for c in sentences],
    }
    result = engine_worker("fast", plan, kiosk_data=tmp_path)

    assert result["sentences_mini"]["utterances"] == 2
    assert 0 <= result["sentences_mini"]["wer"] <= 2
    assert result["digits"]["n"] == 2
    assert set(result["digits"]["per_speaker"]) == {"jackson", "lucas"}
    assert result["synthetic"]["voices"] == ["cmusphinx"]
    assert result["latency"]["clips"] + result["synthetic"]["errors"] == 2
    assert result["latency"]["rtf"] > 0
    assert result["latency"]["end_of_speech"]["p50_ms"] > 0

    report = report_section(
        {
            "command": "pytest",
            "clips": {"mini": 2, "digits": 2, "synthetic": 2},
            "voices": ["cmusphinx"],
            "engines": {"fast": result},
            "voice_path": {**voice_path_summary([]), "voices": [], "settings": {"silence_ms": 700}},
        }
    )
    assert report[0] == "## Speech recognition and the voice path"
    assert any(line.startswith("| fast |") for line in report)


def test_the_voice_path_runs_the_pipeline_without_a_screen_on_real_fixture_recordings() -> None:
    questions = [
        Clip(str(SPEECH / "pocketsphinx_goforward.wav"), "go forward ten meters", "cmusphinx", "card_arrival", 2.786),
        Clip(str(SPEECH / "pocketsphinx_cards_001.wav"), "ten of clubs", "cmusphinx", "card_arrival", 1.095),
    ]
    result = voice_path_worker({"synthetic": [asdict(c) for c in questions], "voice_questions": 2})

    assert (result["questions"], result["answered"], result["nothing_heard"], result["not_understood"]) == (2, 2, 0, 0)
    assert result["to_reply_all"]["n"] == result["to_turn_end_all"]["n"] == 2
    assert 0 < result["to_reply_all"]["p50_ms"] <= result["to_turn_end_all"]["p50_ms"]
    assert result["settings"] == {"asr_engine": "auto", "silence_ms": 700, "trigger": "push-to-talk"}
