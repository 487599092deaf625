"""Ordinary phone photos: the classification profiles' verdicts on their dev photos turned, compressed, darkened,
shrunk and blurred, with the model alone (``views=1``) and with the kiosk's test-time augmentation (``views=4``:
four 90-degree turns, exposure and JPEG restoration; ``firmware_app/vision/defects.py``).

For each profile, setting and corruption of the recipe's dev split (``models/recipes/defects/data.py``):

- accuracy of the verdict (``label``: a photo turned away as ``not_recognised`` counts as wrong) and closed-set
  accuracy (argmax over the product's classes, as ``bench_vision`` reports it), with the count of photos turned
  away and of verdicts that differ from the same setting's verdict on the clean photo;
- on the clean photos also macro-F1 and defect-vs-free AUROC, and the share of not-this-part pictures (the
  recipe's evaluation outliers) still rejected;
- ms per photo for ``classify`` alone, one core, one thread.

Corruptions: 90/180/270-degree turns; JPEG at quality 20 and 10 (OpenCV's encoder); brightness x0.4 and x0.3
(pixel values scaled, rounded); downscaled to 50% (area); Gaussian blur, sigma 1 px. Each profile and setting runs
in a child process pinned to one core.

    python -m bench.bench_vision_robustness [--data-dir ../shared/data] [--models-dir models/int8]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_vision import (
    DEFAULT_DATA,
    MODELS,
    _pin_to_one_core,
    _recipe_module,
    classification_profiles,
    ms_summary,
)
from bench.worker import harness_command, run_worker

SETTINGS = {"before": 1, "after": 4}  # DefectClassifier(views=...)
TARGET_POINTS = 2.0  # rotations, JPEG 20 and brightness x0.4: within this many points of the clean photos
TARGETED = ("rot90", "rot180", "rot270", "jpeg20", "bright0.4")


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buffer = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    assert ok and decoded is not None
    return np.ascontiguousarray(decoded[:, :, ::-1])


def _brightness(image: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(np.rint(image.astype(np.float32) * gain), 0, 255).astype(np.uint8)


def _scale(image: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    height, width = image.shape[:2]
    return cv2.resize(image, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigma)


CORRUPTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "clean": lambda image: image,
    "rot90": lambda image: np.ascontiguousarray(np.rot90(image, 1)),
    "rot180": lambda image: np.ascontiguousarray(np.rot90(image, 2)),
    "rot270": lambda image: np.ascontiguousarray(np.rot90(image, 3)),
    "jpeg20": lambda image: _jpeg(image, 20),
    "jpeg10": lambda image: _jpeg(image, 10),
    "bright0.4": lambda image: _brightness(image, 0.4),
    "bright0.3": lambda image: _brightness(image, 0.3),
    "scale0.5": lambda image: _scale(image, 0.5),
    "blur1": lambda image: _blur(image, 1.0),
}


def robustness_worker(profile: str, views: int, data_dir: Path, models_dir: Path = MODELS) -> dict[str, Any]:
    _pin_to_one_core()
    import cv2

    from firmware_app.vision.capture import load_image
    from firmware_app.vision.defects import NOT_RECOGNISED, DefectClassifier
    from firmware_app.vision.metrics import classification_scores

    cv2.setNumThreads(1)
    data = _recipe_module("data")
    data.DATA_ROOT = data_dir  # type: ignore[attr-defined]
    spec = data.PROFILES[profile]
    if not (data_dir / spec.folder).is_dir():
        return {"profile": profile, "skipped": f"no data set at {data_dir / spec.folder}"}
    classifier = DefectClassifier(models_dir, profile, threads=1, views=views)
    _, dev = data.split(spec)
    photos = [load_image(path) for path, _ in dev]
    truth = [spec.labels[index] for _, index in dev]
    corruptions: dict[str, Any] = {}
    clean_labels: list[str] = []
    ms: list[float] = []
    for name, corrupt in CORRUPTIONS.items():
        labels, closed, defect_scores = [], [], []
        for photo in photos:
            image = corrupt(photo)
            start = time.perf_counter()
            result = classifier.classify(image)
            if name == "clean":
                ms.append((time.perf_counter() - start) * 1000)
            labels.append(result.label)
            closed.append(max(result.probabilities, key=result.probabilities.__getitem__))
            defect_scores.append(1.0 - sum(result.probabilities[ok] for ok in classifier.ok_labels))
        scores = classification_scores(truth, closed, defect_scores, classifier.ok_labels)
        clean_labels = clean_labels or labels
        corruptions[name] = {
            "accuracy": float(np.mean([t == p for t, p in zip(truth, labels, strict=True)])),
            "closed_set_accuracy": scores["accuracy"],
            "not_recognised": sum(label == NOT_RECOGNISED for label in labels),
            "verdicts_changed_from_clean": sum(a != b for a, b in zip(clean_labels, labels, strict=True)),
            **({"macro_f1": scores["macro_f1"]} if name == "clean" else {}),
            **({"defect_auroc": scores["defect_auroc"]} if name == "clean" and "defect_auroc" in scores else {}),
        }
    rejected = {
        group: round(sum(classifier.classify(img).label == NOT_RECOGNISED for img in images) / len(images), 4)
        for group, images in _recipe_module("outliers").outliers(spec, "eval").items()
    }
    return {
        "profile": profile,
        "views": views,
        "dev_photos": len(dev),
        "corruptions": corruptions,
        "not_this_part_rejected": rejected,
        "classify_ms": ms_summary(ms),
        "pinned_to_one_core": True,
    }


# --- the harness side --------------------------------------------------------------------------------------


def run(data_dir: Path = DEFAULT_DATA, models_dir: Path = MODELS) -> dict[str, Any]:
    started = time.perf_counter()
    common = ["--data-dir", str(data_dir), "--models-dir", str(models_dir)]
    profiles = {
        name: {
            setting: run_worker("bench_vision_robustness", [*common, "--profile", name, "--views", str(views)])
            for setting, views in SETTINGS.items()
        }
        for name in classification_profiles()
    }
    return {
        "command": harness_command(),
        "runtime_s": round(time.perf_counter() - started, 1),
        "data_dir": str(data_dir),
        "models_dir": str(models_dir),
        "target": f"accuracy under {', '.join(TARGETED)} within {TARGET_POINTS} points of the clean photos",
        "profiles": profiles,
    }


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _profile_rows(name: str, r: dict[str, Any]) -> list[str]:
    before, after = r["before"], r["after"]
    if "skipped" in before or "skipped" in after:
        return [f"- {name}: skipped ({before.get('skipped') or after.get('skipped')}).", ""]
    clean = {setting: r[setting]["corruptions"]["clean"] for setting in SETTINGS}
    lines = [
        f"### {name} ({before['dev_photos']} dev photos)",
        "",
        "| photo | accuracy before | after | closed-set before | after | not recognised before | after |"
        " verdicts changed before | after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for corruption in before["corruptions"]:
        b, a = before["corruptions"][corruption], after["corruptions"][corruption]
        mark = ""
        if corruption in TARGETED:
            ok = 100 * (clean["after"]["accuracy"] - a["accuracy"]) <= TARGET_POINTS
            mark = " (target met)" if ok else " (target missed)"
        lines.append(
            f"| {corruption}{mark} | {_pct(b['accuracy'])} | **{_pct(a['accuracy'])}** | "
            f"{_pct(b['closed_set_accuracy'])} | {_pct(a['closed_set_accuracy'])} | {b['not_recognised']} | "
            f"{a['not_recognised']} | {b['verdicts_changed_from_clean']} | {a['verdicts_changed_from_clean']} |"
        )
    auroc = {s: f"{c['defect_auroc']:.4f}" if "defect_auroc" in c else "n/a" for s, c in clean.items()}
    rejected = {s: ", ".join(f"{g} {_pct(v)}" for g, v in r[s]["not_this_part_rejected"].items()) for s in SETTINGS}
    return [
        *lines,
        "",
        f"Clean macro-F1 {clean['before']['macro_f1']:.4f} -> {clean['after']['macro_f1']:.4f}; defect-vs-free "
        f"AUROC {auroc['before']} -> {auroc['after']}. Not-this-part pictures rejected: before {rejected['before']};"
        f" after {rejected['after']}.",
        f"Classifier alone, ms per photo (median / p95, one core): before {before['classify_ms']['median']} / "
        f"{before['classify_ms']['p95']}, after **{after['classify_ms']['median']}** / {after['classify_ms']['p95']}.",
        "",
    ]


def report_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Technician photos: ordinary phone photos (turned, compressed, dark, small, soft)",
        "",
        f"`{r.get('command', 'python -m bench.bench_vision_robustness')}` ({r.get('runtime_s', '?')} s), each profile"
        " and setting in a child process pinned to one core. Before: the model alone (`views=1`); after: the"
        " kiosk's test-time augmentation (`views=4`: four 90-degree turns in one batch, under-exposure and JPEG"
        f" restoration). Accuracy counts a photo turned away as not recognised as wrong. Target: {r['target']}."
        f" Data: the recipes' dev splits of {r['data_dir']}.",
        "",
    ]
    for name, result in r["profiles"].items():
        lines += _profile_rows(name, result)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--models-dir", type=Path, default=MODELS, help="int8 models and their manifest.json (default models/int8)"
    )
    parser.add_argument("--profile", help="(worker) the one profile to measure")
    parser.add_argument("--views", type=int, default=4, help="(worker) DefectClassifier(views=...)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = robustness_worker(args.profile, args.views, args.data_dir.resolve(), args.models_dir.resolve())
        print(json.dumps(result))
    else:
        print("\n".join(report_section(run(args.data_dir, args.models_dir.resolve()))))


if __name__ == "__main__":
    main()
