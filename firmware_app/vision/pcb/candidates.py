"""Steps 4 and 5 of the ``pcb`` pipeline: the difference of two aligned copper masks, and its blobs as candidate
defects with the box each would be reported with. Which candidates are real, and of which kind, is left to the
classifiers."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MERGE_PX = 9  # dilation that merges fragments of one defect (a mousebite is often 2-3 bites)
MIN_BLOB_PX = 6  # difference blobs smaller than this after clean-up are noise
MIN_BOX_PX = 32  # DeepPCB boxes are 25-90 px, median ~34: a small blob still gets a box that size
BOX_PAD_PX = 10  # chosen on train folds (6 -> 10: F +0.004); DeepPCB boxes frame the defect loosely


@dataclass(frozen=True)
class Candidate:
    """One difference blob: its pixel bounding box (inclusive-exclusive) and the box we would report."""

    blob: tuple[int, int, int, int]
    box: tuple[int, int, int, int]


def difference(template: np.ndarray, test: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extra copper (in test, not in template) and missing copper, each opened to drop edge slivers."""
    kernel = np.ones((3, 3), np.uint8)
    extra = cv2.morphologyEx(test & (1 - template) & valid, cv2.MORPH_OPEN, kernel)
    missing = cv2.morphologyEx(template & (1 - test) & valid, cv2.MORPH_OPEN, kernel)
    return extra, missing


def _report_box(blob: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A box centred on the blob, padded, at least ``MIN_BOX_PX`` wide and high, inside the image."""
    x1, y1, x2, y2 = blob
    height, width = shape
    half_w = max((x2 - x1) / 2 + BOX_PAD_PX, MIN_BOX_PX / 2)
    half_h = max((y2 - y1) / 2 + BOX_PAD_PX, MIN_BOX_PX / 2)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (
        max(0, round(cx - half_w)),
        max(0, round(cy - half_h)),
        min(width, round(cx + half_w)),
        min(height, round(cy + half_h)),
    )


def find_candidates(extra: np.ndarray, missing: np.ndarray) -> list[Candidate]:
    """Merge nearby difference fragments and give one candidate per merged blob."""
    diff = extra | missing
    merged = cv2.dilate(diff, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (MERGE_PX, MERGE_PX)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    candidates = []
    for index in range(1, count):
        left, top, width, height = (int(v) for v in stats[index, :4])  # only the component's own box is scanned
        inside = (labels[top : top + height, left : left + width] == index) & (
            diff[top : top + height, left : left + width] > 0
        )
        ys, xs = np.nonzero(inside)
        if xs.size < MIN_BLOB_PX:
            continue
        blob = (left + int(xs.min()), top + int(ys.min()), left + int(xs.max()) + 1, top + int(ys.max()) + 1)
        candidates.append(Candidate(blob=blob, box=_report_box(blob, diff.shape)))
    return candidates
