"""Text understanding on top of the real int8 model: language, acts, cleaning, intents, out-of-scope."""

from __future__ import annotations

import csv

import pytest

from firmware_app.nlu.engine import NluEngine
from firmware_app.nlu.language import detect_language
from firmware_app.text import MAX_INPUT_CHARS, clean_text
from tests.conftest import FIXTURES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I lost my card", "en"),
        ("我的卡丢了", "zh"),
        ("我的card丢了", "zh"),
        ("I lost my 卡", "en"),
        ("1234", "en"),
        ("卡", "zh"),
        ("", "en"),
    ],
)
def test_language_detection(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("text", "language", "act"),
    [
        ("yes please", "en", "affirm"),
        ("No, I meant Tuesday", "en", "deny"),
        ("cancel", "en", "cancel"),
        ("never mind", "en", "cancel"),
        ("Can I talk to a person?", "en", "human"),
        ("I want a real human", "en", "human"),
        ("thanks, bye", "en", "goodbye"),
        ("thank you", "en", "thanks"),
        ("hello", "en", "greeting"),
        ("I'd like to make a complaint", "en", "complaint"),
        ("can I book an appointment", "en", "book_appointment"),
        ("是的", "zh", "affirm"),
        ("取消", "zh", "cancel"),
        ("转人工", "zh", "human"),
        ("我要投诉", "zh", "complaint"),
    ],
)
def test_dialogue_acts(nlu: NluEngine, text: str, language: str, act: str) -> None:
    result = nlu.understand(text, language).result  # type: ignore[arg-type]
    assert result.dialogue_act == act


@pytest.mark.parametrize(
    "text", ["someone used my card", "hello, I lost my card", "somebody took money from my account"]
)
def test_acts_do_not_swallow_real_questions(nlu: NluEngine, text: str) -> None:
    assert nlu.understand(text).result.dialogue_act not in {"human", "greeting"}


def test_clean_text_drops_control_characters_and_cuts_long_input() -> None:
    assert clean_text("a\x00b\tc\n\nd") == ("a b c d", False)
    cleaned, truncated = clean_text("x" * (MAX_INPUT_CHARS + 5))
    assert truncated and len(cleaned) == MAX_INPUT_CHARS


def test_understanding_carries_entities_and_sentiment(nlu: NluEngine) -> None:
    result = nlu.understand("This is ridiculous, I was charged £45.50 twice on my card ending 4821").result
    kinds = {e.kind: e.value for e in result.entities}
    assert kinds["amount"] == "45.50 GBP" and kinds["card_last4"] == "4821"
    assert result.frustrated and result.sentiment == "negative"
    assert result.intent == "transaction_charged_twice"


def test_hand_written_utterances_are_classified(nlu: NluEngine) -> None:
    """Paraphrases written for this test (not from BANKING77): in-scope ones right, out-of-scope ones rejected."""
    with (FIXTURES / "intent_smoke.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    results = [(nlu.understand(r["text"]).result, r["label"]) for r in rows]
    in_scope = [(r, g) for r, g in results if g != "oos"]
    oos = [r for r, g in results if g == "oos"]
    wrong = [(r.text, r.intent, g) for r, g in in_scope if r.intent != g]
    assert len(wrong) <= 0.1 * len(in_scope), wrong
    assert sum(r.intent == "oos" for r in oos) >= 0.8 * len(oos)
    assert min(r.in_scope_score for r, _ in in_scope) > max(r.in_scope_score for r in oos) - 0.5


@pytest.mark.parametrize(
    "text", ["", "\x00\xff\xfe", "a" * 10_000, "我想问 about the exchange rate", "🙂" * 50, "1234 5678"]
)
def test_any_input_gives_a_result(nlu: NluEngine, text: str) -> None:
    result = nlu.understand(text).result
    assert result.intent and 0.0 <= result.in_scope_score <= 1.0 and 0.0 <= result.confidence <= 1.0
