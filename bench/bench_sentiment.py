"""Measure the kiosk's sentiment reader on labelled customer utterances, against plain VADER.

Three systems are scored on each file so that every part of `firmware_app.nlu.sentiment` has to earn its
place:

* ``vader_only``: stock VADER, Hutto & Gilbert's +-0.05 thresholds, and "frustrated" meaning "labelled
  negative" (the naive hand-off policy);
* ``without_cues``: the kiosk's reader with every frustration cue switched off (the cue lexicon, shouting and
  negated praise), leaving VADER with the banking topic words taken out of its lexicon, the strongly-negative
  anger rule and the Chinese thanks cues;
* ``full``: `analyze_sentiment` as shipped.

Run from the repository root::

    python -m bench.bench_sentiment [--csv FILE ...]

and read the JSON it prints. Each CSV has the columns text,label,frustrated (label in
negative/neutral/positive, frustrated 0/1).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from firmware_app.nlu import sentiment

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DEFAULT_CSVS = (FIXTURES / "sentiment_labelled.csv", FIXTURES / "sentiment_holdout.csv")
LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Example:
    """One labelled utterance."""

    text: str
    label: str
    frustrated: bool


Predictor = Callable[[str], tuple[str, bool]]


def load_examples(path: Path) -> list[Example]:
    """Read a labelled CSV (text,label,frustrated)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [Example(row["text"], row["label"], row["frustrated"] == "1") for row in csv.DictReader(handle)]


def _ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def score(examples: Sequence[Example], predict: Predictor) -> dict[str, object]:
    """Accuracy, per-class precision/recall and frustrated precision/recall/F1 of `predict` on `examples`."""
    predictions = [predict(example.text) for example in examples]
    per_class = {}
    for label in LABELS:
        true_positive = sum(p[0] == label and e.label == label for p, e in zip(predictions, examples, strict=True))
        per_class[label] = {
            "precision": _ratio(true_positive, sum(p[0] == label for p in predictions)),
            "recall": _ratio(true_positive, sum(e.label == label for e in examples)),
        }
    hits = sum(p[1] and e.frustrated for p, e in zip(predictions, examples, strict=True))
    precision = _ratio(hits, sum(p[1] for p in predictions))
    recall = _ratio(hits, sum(e.frustrated for e in examples))
    return {
        "n": len(examples),
        "accuracy": _ratio(sum(p[0] == e.label for p, e in zip(predictions, examples, strict=True)), len(examples)),
        "per_class": per_class,
        "frustrated": {
            "precision": precision,
            "recall": recall,
            "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        },
    }


def vader_only() -> Predictor:
    """Stock VADER: +-0.05 thresholds, and every negative turn counted as frustrated."""
    analyzer = SentimentIntensityAnalyzer()

    def predict(text: str) -> tuple[str, bool]:
        compound = analyzer.polarity_scores(text)["compound"]
        label = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
        return label, label == "negative"

    return predict


def kiosk_reader(text: str) -> tuple[str, bool]:
    """The shipped reader."""
    result = sentiment.analyze_sentiment(text)
    return result.label, result.frustrated


def run(paths: Sequence[Path]) -> dict[str, dict[str, object]]:
    """Score the three systems on each file."""
    report: dict[str, dict[str, object]] = {}
    for path in paths:
        examples = load_examples(path)
        with mock.patch.object(sentiment, "_frustration_cue_count", return_value=0):
            without_cues = score(examples, kiosk_reader)
        report[path.name] = {
            "vader_only": score(examples, vader_only()),
            "without_cues": without_cues,
            "full": score(examples, kiosk_reader),
        }
    return report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--csv", type=Path, action="append", help="labelled CSV (repeatable; default: labelled set and holdout)"
    )
    args = parser.parse_args(argv)
    print(json.dumps(run(args.csv or DEFAULT_CSVS), indent=2))


if __name__ == "__main__":
    main()
