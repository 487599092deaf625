"""The ``pcb`` board check (firmware_app/vision/pcb/board_check.py): does ``kiosk vision detect`` accept every
real template / test pair and refuse every test image that does not show the template's board? The numbers
behind the thresholds in that module's docstring.

- Accepted (target: none refused): every DeepPCB dev pair (100) and every train pair (900).
- Another board (target: all refused): each dev template with the test images of five other dev pairs: the
  next pair in the manifest, one more pair of the template's group, and three of other groups (another board
  design). A group's pairs are crops of one larger DeepPCB scan, so a few of the same-group pairs overlap the
  template, copper matching: ``refused_with_matching_copper`` counts those refused only because too little of
  the template is in view or the alignment fell back.
- Not a board (target: all refused), against each of ``NOT_A_BOARD_TEMPLATES`` dev templates: a page of text
  (``cv2.putText`` on white), uniform noise, blank white and blank black, the natural photos in
  tests/fixtures/photos and tests/fixtures/defects (steel strip, magnetic tile) at their own size and
  stretched to 640x640, and another dev pair's test image turned by 90 degrees.
- For information: the template's own test image turned by 90 degrees (the same board, photographed sideways)
  and shifted / rotated like a technician's photo (4 degrees, 12 and -9 px).
- Cost: the check alone (its three numbers on an alignment that the extraction reuses) and the alignment, ms
  on one pinned core; and the dev precision / recall / F-score of ``models/recipes/pcb/evaluate.py`` with
  the check in place (``PcbDetector.detect`` runs it), to compare with bench/results/vision.json.

    python -m bench.bench_board_check [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.bench_vision import ms_summary
from bench.worker import harness_command, run_worker

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
FIXTURES = REPO / "tests" / "fixtures"
PHOTOS = sorted([*(FIXTURES / "photos").glob("*.jpg"), *(FIXTURES / "defects").glob("*.jpg")])
NOT_A_BOARD_TEMPLATES = 25  # dev templates (every fourth one) that each non-board picture is tried against
SEED = 20240601
MEASURES = ("unmatched", "differ", "in_view")


def text_page(size: int = 640) -> Any:
    """A printed page: lines of black text on white."""
    import cv2
    import numpy as np

    page = np.full((size, size), 255, np.uint8)
    words = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "PCB", "report", "2024"]
    rng = random.Random(SEED)
    for y in range(40, size - 10, 34):
        line = " ".join(rng.choice(words) for _ in range(8))
        cv2.putText(page, line, (20, y), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 0, 2, cv2.LINE_AA)
    return page


def _synthetic(size: int = 640) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(SEED)
    return {
        "text page": text_page(size),
        "noise": rng.integers(0, 256, (size, size), dtype=np.uint8),
        "blank white": np.full((size, size), 255, np.uint8),
        "blank black": np.zeros((size, size), np.uint8),
    }


def _photos() -> dict[str, Any]:
    import cv2

    out = {}
    for path in PHOTOS:
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        assert grey is not None, path
        out[f"photo {path.stem}"] = grey
        out[f"photo {path.stem} 640px"] = cv2.resize(grey, (640, 640), interpolation=cv2.INTER_LINEAR)
    return out


def _photo_like(test: Any) -> Any:
    """Rotated 4 degrees about the centre and shifted by (12, -9) px, white borders (as in tests/test_pcb.py)."""
    import cv2

    matrix = cv2.getRotationMatrix2D((test.shape[1] / 2, test.shape[0] / 2), 4.0, 1.0)
    matrix[:, 2] += (12, -9)
    return cv2.warpAffine(test, matrix, test.shape[::-1], flags=cv2.INTER_NEAREST, borderValue=0)


class _Recorder:
    """Each checked pair's numbers, grouped by what the pair is, and the time the check and the alignment took."""

    def __init__(self) -> None:
        self.groups: dict[str, list[dict[str, Any]]] = {}
        self.check_ms: list[float] = []
        self.align_ms: list[float] = []
        self.messages: dict[str, str] = {}  # one refusal message per group, as the CLI prints it

    def check(self, group: str, name: str, template: Any, test: Any) -> None:
        from firmware_app.vision.pcb.alignment import align_pair
        from firmware_app.vision.pcb.board_check import measure

        start = time.perf_counter()
        alignment = align_pair(template, test)
        aligned = time.perf_counter()
        match = measure(template.shape[:2], alignment, test)
        self.align_ms.append((aligned - start) * 1000)
        self.check_ms.append((time.perf_counter() - aligned) * 1000)
        refusal = match.refusal("TEST")
        if refusal is not None:
            self.messages.setdefault(group, refusal)
        self.groups.setdefault(group, []).append({"pair": name, "refused": refusal is not None, **match.as_dict()})


def _manifest_rows(data: Path) -> list[dict[str, str]]:
    with open(data / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _other_pairs(dev: list[dict[str, str]]) -> Iterator[tuple[dict[str, str], dict[str, str], bool]]:
    """(template's row, other row, same group) for each dev template and five other dev pairs."""
    rng = random.Random(SEED)
    group = {row["test_image"]: Path(row["test_image"]).name[:5] for row in dev}
    for index, row in enumerate(dev):
        same = [o for o in dev if o is not row and group[o["test_image"]] == group[row["test_image"]]]
        other = [o for o in dev if group[o["test_image"]] != group[row["test_image"]]]
        after = dev[(index + 1) % len(dev)]
        chosen = [after, *rng.sample([o for o in same if o is not after], 1), *rng.sample(other, 3)]
        for pick in chosen:
            yield row, pick, group[pick["test_image"]] == group[row["test_image"]]


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How many were refused, on which count (a pair can fail several), and each number's range."""
    from firmware_app.vision.pcb import board_check as bc

    causes = {
        "unmatched": sum(r["unmatched"] > bc.MAX_UNMATCHED for r in rows),
        "differ": sum(r["differ"] > bc.MAX_DIFFER for r in rows),
        "in_view": sum(r["in_view"] < bc.MIN_IN_VIEW for r in rows),
        "fallback": sum(r["method"] == bc.FALLBACK for r in rows),
    }
    ranges = {key: {"min": min(r[key] for r in rows), "max": max(r[key] for r in rows)} for key in MEASURES}
    only_view = [
        r for r in rows if r["refused"] and r["unmatched"] <= bc.MAX_UNMATCHED and r["differ"] <= bc.MAX_DIFFER
    ]
    return {
        "pairs": len(rows),
        "refused": sum(r["refused"] for r in rows),
        "refused_on": causes,
        "refused_with_matching_copper": len(only_view),
        "measures": ranges,
    }


ACCEPT = ("dev pairs", "train pairs")
REFUSE = ("another region, same group", "another board design", "not a board")


def board_check_worker(data_dir: Path) -> dict[str, Any]:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2
    import numpy as np

    from firmware_app.vision.pcb.masks import binarise, load_binary
    from models.recipes.pcb.evaluate import evaluate

    cv2.setNumThreads(1)
    data = data_dir / "deeppcb"
    if not data.is_dir():
        return {"skipped": f"no data set at {data}"}
    rows = _manifest_rows(data)
    dev = [r for r in rows if r["split"] == "dev"]
    rec = _Recorder()

    def load(name: str) -> Any:
        return load_binary(data / name)

    for split in ("dev", "train"):
        for row in (r for r in rows if r["split"] == split):
            rec.check(f"{split} pairs", row["test_image"], load(row["template_image"]), load(row["test_image"]))
    for row, other, same_group in _other_pairs(dev):
        name = f"{row['template_image']} + {other['test_image']}"
        rec.check(REFUSE[0] if same_group else REFUSE[1], name, load(row["template_image"]), load(other["test_image"]))
    pictures = {**_synthetic(), **_photos()}
    step = len(dev) // NOT_A_BOARD_TEMPLATES
    for index in range(0, len(dev), step):
        row, other = dev[index], dev[(index + len(dev) // 2) % len(dev)]
        template, test = load(row["template_image"]), load(row["test_image"])
        for what, picture in pictures.items():
            rec.check(REFUSE[2], f"{row['template_image']} + {what}", template, binarise(picture, what))
        turned = np.ascontiguousarray(np.rot90(load(other["test_image"])))
        rec.check(REFUSE[2], f"{row['template_image']} + {other['test_image']} turned 90", template, turned)
        rec.check("same board turned 90 (info)", row["test_image"], template, np.ascontiguousarray(np.rot90(test)))
        rec.check("same board as a photo, 4 degrees askew (info)", row["test_image"], template, _photo_like(test))
    accepted = [r for name in ACCEPT for r in rec.groups[name]]
    return {
        "groups": {name: _summary(found) for name, found in rec.groups.items()},
        "worst_accepted": {
            "unmatched": max(r["unmatched"] for r in accepted),
            "differ": max(r["differ"] for r in accepted),
            "in_view": min(r["in_view"] for r in accepted),
        },
        "wrongly_refused": [r for name in ACCEPT for r in rec.groups[name] if r["refused"]],
        "accepted_of_the_refuse_groups": [r for name in REFUSE for r in rec.groups[name] if not r["refused"]],
        "closest_other_boards": sorted(rec.groups[REFUSE[1]], key=lambda r: r["unmatched"])[:3],
        "example_messages": rec.messages,
        "check_ms": ms_summary(rec.check_ms),
        "align_ms": ms_summary(rec.align_ms),
        "dev_evaluation_with_check": evaluate(data, "dev"),
        "pictures": list(pictures),
        "pinned_to_one_core": True,
    }


# --- the harness side --------------------------------------------------------------------------------------


def run(data_dir: Path = DEFAULT_DATA) -> dict[str, Any]:
    started = time.perf_counter()
    result = run_worker("bench_board_check", ["--data-dir", str(data_dir)])
    return {
        "command": harness_command(),
        "runtime_s": round(time.perf_counter() - started, 1),
        "data_dir": str(data_dir),
        **result,
    }


def report_section(r: dict[str, Any]) -> list[str]:
    from firmware_app.vision.pcb import board_check as bc

    lines = [
        "## PCB board check (does the test image show the template's board?)",
        "",
        f"`{r.get('command', 'python -m bench.bench_board_check')}` ({r.get('runtime_s', '?')} s), one pinned "
        f"core. Data: DeepPCB in {r.get('data_dir', '?')}; pictures from tests/fixtures and drawn with OpenCV.",
        "",
    ]
    if "skipped" in r:
        return [*lines, f"Skipped: {r['skipped']}.", ""]
    lines += [
        "| pairs | checked | refused | unmatched copper | pixels differ | template in view |",
        "|---|---|---|---|---|---|",
    ]
    for name, g in r["groups"].items():
        m = g["measures"]
        lines.append(
            f"| {name} | {g['pairs']} | **{g['refused']}** | {m['unmatched']['min']:.3f}-{m['unmatched']['max']:.3f}"
            f" | {m['differ']['min']:.3f}-{m['differ']['max']:.3f} | {m['in_view']['min']:.3f}-"
            f"{m['in_view']['max']:.3f} |"
        )
    dev, worst = r["dev_evaluation_with_check"], r["worst_accepted"]
    kept = [f"{a['pair']} (in view {a['in_view']:.2f})" for a in r["accepted_of_the_refuse_groups"]]
    lines += [
        "",
        f"Refused when: unmatched copper > {bc.MAX_UNMATCHED}, pixels differ > {bc.MAX_DIFFER}, template in view < "
        f"{bc.MIN_IN_VIEW}, or the alignment fell back. Worst real pair: unmatched {worst['unmatched']:.3f}, "
        f"differ {worst['differ']:.3f}, in view {worst['in_view']:.3f}. Accepted although from another pair or "
        f"no board: {', '.join(kept) or 'none'}.",
        "",
        f"Cost on one core: the check **{r['check_ms']['median']} ms** median ({r['check_ms']['p95']} ms p95) on "
        f"top of the alignment ({r['align_ms']['median']} ms median, {r['align_ms']['p95']} ms p95), which the "
        "extraction reuses.",
        "",
        f"Dev detection with the check in place ({dev['split']}): precision / recall / F-score "
        f"{dev['precision']:.3f} / {dev['recall']:.3f} / **{dev['f_score']:.3f}**, "
        f"{dev['ms_per_pair_median']} ms per pair (median).",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(board_check_worker(args.data_dir.resolve())))
    else:
        result = run(args.data_dir)
        print(json.dumps({k: v for k, v in result.items() if k != "dev_evaluation_with_check"}, indent=1))
        print("\n".join(report_section(result)))


if __name__ == "__main__":
    main()
