"""How well boxes match the annotations, by DeepPCB's convention: one-to-one IoU matching with the label
required to agree, then precision / recall / F-score overall and per type. Shared by the training recipe (which
also labels its candidates with ``match``), the evaluation, the bench and the tests, so all report the same
numbers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from firmware_app.vision.pcb.labels import LABELS

IOU_THRESHOLD = 0.33  # the DeepPCB evaluation convention


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes."""
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(
    predicted: Sequence[Sequence[float]], truth: Sequence[Sequence[float]], threshold: float = IOU_THRESHOLD
) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by IoU (best pairs first): ``(predicted index, truth index)`` pairs."""
    scored = [(iou(p, t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth) if iou(p, t) >= threshold]
    used_p: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for _, i, j in sorted(scored, reverse=True):
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            pairs.append((i, j))
    return pairs


def detection_metrics(results: Iterable[tuple[list[dict], list[dict]]]) -> dict:
    """Precision, recall and F-score at IoU >= 0.33 with the label required to match, overall and per type.

    ``results`` holds ``(predicted boxes, true boxes)`` per image, each box ``{"box": [...], "label": ...}``.
    Per type, precision counts the predictions of that label and recall the true boxes of that label.
    """
    counts = {label: {"tp": 0, "pred": 0, "true": 0} for label in LABELS}
    for predicted, truth in results:
        for label in LABELS:
            pred_l = [p["box"] for p in predicted if p["label"] == label]
            true_l = [t["box"] for t in truth if t["label"] == label]
            counts[label]["tp"] += len(match(pred_l, true_l))
            counts[label]["pred"] += len(pred_l)
            counts[label]["true"] += len(true_l)
    per_type = {label: _prf(**c) for label, c in counts.items()}
    overall = _prf(*(sum(c[k] for c in counts.values()) for k in ("tp", "pred", "true")))
    return {**overall, "per_type": per_type}


def _prf(tp: int, pred: int, true: int) -> dict:
    precision = tp / pred if pred else 0.0
    recall = tp / true if true else 0.0
    f_score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f_score": round(f_score, 4),
        "tp": tp,
        "predicted": pred,
        "true": true,
    }
