"""Sentiment and frustration: quality on labelled customer utterances, and the behaviours the hand-off relies on."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.bench_sentiment import DEFAULT_CSVS, kiosk_reader, load_examples, run, score, vader_only
from firmware_app.nlu import sentiment
from firmware_app.nlu.sentiment import Sentiment, analyze_sentiment

LABELLED, HOLDOUT = DEFAULT_CSVS


@pytest.fixture(scope="module")
def labelled_report() -> dict[str, object]:
    return score(load_examples(LABELLED), kiosk_reader)


def test_labelled_set_is_large_and_balanced_as_specified() -> None:
    examples = load_examples(LABELLED)
    assert len(examples) >= 200
    shares = {label: sum(e.label == label for e in examples) / len(examples) for label in ("neutral", "negative")}
    assert 0.35 <= shares["neutral"] <= 0.45
    assert 0.30 <= shares["negative"] <= 0.40
    assert sum(any("\u4e00" <= char <= "\u9fff" for char in e.text) for e in examples) >= 20
    assert all(e.label == "negative" for e in examples if e.frustrated)
    assert len(load_examples(HOLDOUT)) >= 40


def test_frustration_precision_and_recall_on_labelled_set(labelled_report: dict[str, object]) -> None:
    frustrated = labelled_report["frustrated"]
    assert isinstance(frustrated, dict)
    assert frustrated["precision"] >= 0.85
    assert frustrated["recall"] >= 0.80


def test_three_class_accuracy_on_labelled_set(labelled_report: dict[str, object]) -> None:
    assert isinstance(labelled_report["accuracy"], float)
    assert labelled_report["accuracy"] >= 0.80


def test_holdout_keeps_the_same_bar() -> None:
    report = score(load_examples(HOLDOUT), kiosk_reader)
    frustrated = report["frustrated"]
    assert isinstance(frustrated, dict) and isinstance(report["accuracy"], float)
    assert report["accuracy"] >= 0.80
    assert frustrated["precision"] >= 0.85
    assert frustrated["recall"] >= 0.80


def test_cue_lexicon_beats_plain_vader() -> None:
    report = run([LABELLED])[LABELLED.name]
    plain, without_cues, full = (report[name] for name in ("vader_only", "without_cues", "full"))
    assert isinstance(plain, dict) and isinstance(without_cues, dict) and isinstance(full, dict)
    assert full["accuracy"] > without_cues["accuracy"] > plain["accuracy"]
    assert full["frustrated"]["f1"] > plain["frustrated"]["f1"] + 0.2


def test_vader_baseline_is_plain_vader() -> None:
    predict = vader_only()
    assert predict("I lost my card") == ("negative", True)
    assert predict("Thank you so much") == ("positive", False)


@pytest.mark.parametrize(
    "text",
    [
        "I lost my card",
        "I lost my card, how do I block it?",
        "My card was stolen",
        "Payment declined",
        "My payment was declined, can you help please?",
        "I think there's fraud on my account",
        "How do I report fraud?",
        "I've been charged twice",
        "I was charged twice for the same thing",
        "There's a problem with my card",
        "My direct debit failed",
        "I think I was scammed by an online seller",
        "Can I try again?",
        "How many times can I withdraw cash in a day?",
        "I'd like to close my account",
        "Can I speak to someone about a loan?",
        "I need my PIN reset",
        "No, I didn't make that payment",
        "Can I put my card on hold?",
        "I'm going abroad for weeks, will my card work?",
        "Nobody else knows my PIN, right?",
        "Every time I use my card abroad is there a fee?",
        "YES",
        "I'm not sure what this charge is",
        "我的卡丢了，怎么办？",
        "我被重复扣款了",
    ],
)
def test_problem_reports_are_not_frustration(text: str) -> None:
    result = analyze_sentiment(text)
    assert not result.frustrated
    assert result.label != "negative"


@pytest.mark.parametrize(
    "text",
    [
        "This is the third time I've asked",
        "It's still not working",
        "The card still hasn't arrived",
        "What a waste of time",
        "This is ridiculous",
        "Your app is useless",
        "This is unacceptable",
        "I'm fed up",
        "I'm sick of this",
        "Nobody helps you here",
        "I want my money back",
        "These fees are a rip off",
        "This bank is a scam",
        "I've been waiting for weeks",
        "This is a joke",
        "Why won't it work!!!",
        "Why is this SO HARD",
        "That was not helpful at all",
        "I've explained this three times",
        "How many times do I have to tell you?",
        "I want to make a complaint",
        "I'm going to move my money elsewhere",
        "Are you even listening?",
        "I need to talk to a real person",
    ],
)
def test_frustration_cues(text: str) -> None:
    result = analyze_sentiment(text)
    assert result.frustrated
    assert result.label == "negative"
    assert result.score < 0


@pytest.mark.parametrize(
    "text",
    [
        "太差了",
        "气死我了",
        "我很生气",
        "我要投诉",
        "真没用",
        "浪费时间",
        "又坏了",
        "还没到账",
        "受够了",
        "骗子",
        "垃圾",
    ],
)
def test_chinese_frustration_cues(text: str) -> None:
    result = analyze_sentiment(text)
    assert (result.label, result.frustrated) == ("negative", True)
    assert result.score <= -0.5


@pytest.mark.parametrize(
    ("text", "label"), [("谢谢你", "positive"), ("非常感谢", "positive"), ("我想查询余额", "neutral")]
)
def test_chinese_without_frustration(text: str, label: str) -> None:
    result = analyze_sentiment(text)
    assert (result.label, result.frustrated) == (label, False)


def test_negated_chinese_praise_is_not_thanks() -> None:
    assert analyze_sentiment("没有帮助").label == "neutral"


@pytest.mark.parametrize(
    "text",
    ["Thank you, that's really helpful", "Brilliant, thanks!", "Great, that worked", "I love the new app"],
)
def test_thanks_is_positive(text: str) -> None:
    result = analyze_sentiment(text)
    assert (result.label, result.frustrated) == ("positive", False)
    assert result.score > 0.3


def test_exclamation_of_thanks_is_not_shouting() -> None:
    assert analyze_sentiment("Thanks so much!").label == "positive"
    assert analyze_sentiment("I need my PIN and my IBAN").frustrated is False


@pytest.mark.parametrize(
    "text", ["I'm really worried someone has taken my money", "I'm scared I've lost my savings", "I'm so anxious"]
)
def test_distress_is_negative_but_not_frustrated(text: str) -> None:
    result = analyze_sentiment(text)
    assert (result.label, result.frustrated) == ("negative", False)


@pytest.mark.parametrize(
    "text", ["No thanks", "No, thank you", "I can't thank you enough", "It's not clear why I was charged"]
)
def test_negated_gratitude_and_hedging_are_not_frustration(text: str) -> None:
    assert not analyze_sentiment(text).frustrated


def test_strong_anger_without_a_cue_is_frustrated() -> None:
    assert analyze_sentiment("Terrible. Just terrible.").frustrated


def test_more_cues_pull_further_down() -> None:
    one = analyze_sentiment("This is ridiculous")
    two = analyze_sentiment("This is ridiculous, the third time I've asked!!!")
    assert -1.0 <= two.score < one.score < 0


def test_mixed_english_and_chinese() -> None:
    assert analyze_sentiment("My card 又 blocked, 气死了").frustrated
    assert analyze_sentiment("谢谢, thank you very much").label == "positive"
    assert analyze_sentiment("我的卡 lost, what should I do?").label == "neutral"


@pytest.mark.parametrize("text", ["", "   ", "\x00\xff\xfe\x01", "\ufffd", "1234", "???", "..."])
def test_empty_and_garbage_are_neutral(text: str) -> None:
    assert analyze_sentiment(text) == Sentiment(label="neutral", score=0.0, frustrated=False)


@pytest.mark.parametrize(
    ("text", "frustrated"),
    [("I lost my card. " * 625, False), ("This is ridiculous. " * 500, True), ("\x00\xff" * 5000, False)],
)
def test_long_input_is_fast(text: str, frustrated: bool) -> None:
    started = time.perf_counter()
    result = analyze_sentiment(text)
    assert time.perf_counter() - started < 2.0
    assert result.frustrated is frustrated
    assert -1.0 <= result.score <= 1.0


def test_result_is_immutable() -> None:
    result = analyze_sentiment("Thanks")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.label = "negative"  # type: ignore[misc]


def test_analyzer_is_built_once_and_shared_across_threads() -> None:
    texts = ["This is ridiculous", "Thank you", "I lost my card", "太差了"] * 25
    expected = [analyze_sentiment(text) for text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(analyze_sentiment, texts)) == expected
    assert sentiment._get_analyzers() is sentiment._get_analyzers()
