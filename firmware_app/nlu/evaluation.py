"""Accuracy and out-of-scope numbers of the NLU on a labelled CSV (``kiosk nlu eval``, the bench)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from firmware_app.events import NluResult
from firmware_app.nlu.engine import KIOSK_INTENT_ACTS, NluEngine
from firmware_app.nlu.intent import OOS

LABEL_COLUMNS = ("label", "category", "intent")


def read_labelled_csv(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs from a CSV with a ``text`` column and one of ``LABEL_COLUMNS``."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        column = next((c for c in LABEL_COLUMNS if c in (reader.fieldnames or [])), None)
        if column is None or "text" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: need a 'text' column and one of {LABEL_COLUMNS}, found {reader.fieldnames}")
        return [(row["text"], row[column].strip()) for row in reader]


def auroc(positive_scores: np.ndarray, negative_scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    pos = np.asarray(positive_scores, dtype=np.float64)[:, None]
    neg = np.asarray(negative_scores, dtype=np.float64)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def _as_label(result: NluResult) -> NluResult:
    """A kiosk-level intent (thanks, block_card...) comes out as a dialogue act; score it under its own name."""
    label = next((intent for intent, act in KIOSK_INTENT_ACTS.items() if act == result.dialogue_act), None)
    return replace(result, intent=label) if result.intent == OOS and label else result


def evaluate_rows(engine: NluEngine, rows: list[tuple[str, str]]) -> dict[str, Any]:
    """Closed-set and open-set accuracy on in-scope rows, rejection rate and AUROC against ``oos`` rows."""
    if not rows:
        raise ValueError("no labelled rows to evaluate")
    predictions = [_as_label(engine.understand(text).result) for text, _ in rows]
    gold = [label for _, label in rows]
    in_scope = [(p, g) for p, g in zip(predictions, gold, strict=True) if g != OOS]
    oos = [p for p, g in zip(predictions, gold, strict=True) if g == OOS]
    report: dict[str, Any] = {
        "n": len(rows),
        "n_in_scope": len(in_scope),
        "n_oos": len(oos),
        "threshold": {language: c.threshold for language, c in engine.classifiers.items()},
    }
    if in_scope:
        report["accuracy"] = sum(p.intent == g for p, g in in_scope) / len(in_scope)
        report["in_scope_answered"] = sum(p.intent != OOS for p, _ in in_scope) / len(in_scope)
    if oos:
        report["oos_rejected"] = sum(p.intent == OOS for p in oos) / len(oos)
    if in_scope and oos:
        report["auroc"] = auroc(
            np.array([p.in_scope_score for p, _ in in_scope]), np.array([p.in_scope_score for p in oos])
        )
        report["accuracy_with_oos"] = sum(p.intent == g for p, g in zip(predictions, gold, strict=True)) / len(rows)
    return report
