"""Scores for a product profile's photo classifier, shared by ``kiosk vision eval`` and the bench (numpy only:
the kiosk image has no scikit-learn)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from firmware_app.nlu.evaluation import auroc


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Mean F1 over the true labels."""
    return float(np.mean([f1(truth, predicted, label) for label in sorted(set(truth))]))


def f1(truth: Sequence[str], predicted: Sequence[str], label: str) -> float:
    pairs = list(zip(truth, predicted, strict=True))
    tp = sum(t == p == label for t, p in pairs)
    fp = sum(p == label != t for t, p in pairs)
    fn = sum(t == label != p for t, p in pairs)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def classification_scores(
    truth: Sequence[str], predicted: Sequence[str], defect_scores: Sequence[float], ok_labels: Collection[str]
) -> dict[str, object]:
    """Accuracy, macro-F1 and per-label F1 of ``predicted`` against ``truth``; with ``ok_labels`` (labels that
    mean "no defect") present on both sides, also the AUROC of ``defect_scores`` for defect vs defect-free."""
    scores: dict[str, object] = {
        "images": len(truth),
        "accuracy": float(np.mean([t == p for t, p in zip(truth, predicted, strict=True)])),
        "macro_f1": macro_f1(truth, predicted),
        "f1_per_label": {label: round(f1(truth, predicted, label), 4) for label in sorted(set(truth))},
    }
    is_defect = np.asarray([t not in ok_labels for t in truth])
    if ok_labels and 0 < is_defect.sum() < len(is_defect):
        values = np.asarray(defect_scores, dtype=np.float64)
        scores["defect_auroc"] = auroc(values[is_defect], values[~is_defect])
    return scores
