"""Dev numbers for the ``pcb`` profile: precision / recall / F-score at IoU >= 0.33 (label must match), per
type, and the median and mean ms per pair (reading both files included) on one core.

    .venv/bin/python -m models.recipes.pcb.evaluate [--data ../shared/data/deeppcb] [--split dev]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from firmware_app.vision.pcb.detector import MODEL_PATH, PcbDetector, timed_detect
from firmware_app.vision.pcb.scoring import IOU_THRESHOLD, detection_metrics
from models.recipes.pcb.data import DEFAULT_DATA, load_pairs


def evaluate(data: Path, split: str = "dev", model_path: Path = MODEL_PATH, verify: bool = True) -> dict:
    """Run the detector on every pair of ``split`` and score it against the annotations (``verify=False`` for
    freshly trained files that the manifest does not list yet)."""
    cv2.setNumThreads(1)
    detector = PcbDetector(model_path, verify=verify)
    results, times, methods = [], [], {}
    for pair in load_pairs(data, split):
        result, ms = timed_detect(detector, pair.template, pair.test)
        results.append((result["boxes"], pair.boxes))
        times.append(ms)
        methods[result["alignment"]] = methods.get(result["alignment"], 0) + 1
    metrics = detection_metrics(results)
    metrics.update(
        split=f"deeppcb {split} ({len(times)} pairs)",
        iou_threshold=IOU_THRESHOLD,
        ms_per_pair_median=round(float(np.median(times)), 1),
        ms_per_pair_mean=round(float(np.mean(times)), 1),
        ms_per_pair_max=round(float(np.max(times)), 1),
        alignment=methods,
        threads=1,
    )
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    print(json.dumps(evaluate(args.data, args.split, args.model), indent=1))


if __name__ == "__main__":
    main()
