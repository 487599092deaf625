"""DeepPCB pairs and their annotations as laid out in ../shared/data/deeppcb (see its SOURCE.md)."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "deeppcb"


@dataclass
class Pair:
    """One template/test pair and its annotated boxes (``{"box": [x1, y1, x2, y2], "label": type}``)."""

    template: Path
    test: Path
    boxes: list[dict] = field(default_factory=list)


def load_pairs(data: Path, split: str) -> list[Pair]:
    """The pairs of one split (``train`` or ``dev``), in manifest order."""
    boxes: dict[str, list[dict]] = defaultdict(list)
    with open(data / "annotations.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            box = [int(row[k]) for k in ("x1", "y1", "x2", "y2")]
            boxes[row["test_image"]].append({"box": box, "label": row["type_name"]})
    with open(data / "manifest.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == split]
    if not rows:
        raise SystemExit(f"no '{split}' pairs in {data / 'manifest.csv'}")
    return [Pair(data / r["template_image"], data / r["test_image"], boxes[r["test_image"]]) for r in rows]
