"""Technician photos benchmark: every shipped product profile on its recipe's dev split, on one core.

- Classification profiles (manifest entries whose last label is ``not_recognised``): accuracy, macro-F1 and
  per-label F1 over the product's own classes, defect-vs-free AUROC where the profile has a defect-free label,
  how many dev photos the open-set rule turned away, and the share of not-this-part pictures (the recipe's
  evaluation outliers: walls, noise, drawings, a natural photo, the other product) it rejects.
- The same dev photos through the float ONNX model the recipe leaves in ``build/defects/<profile>/`` (when it is
  there: it is a build output, not shipped) for int8 vs float accuracy.
- Latency, capture to result: decode the JPEG/PNG file, the quality gate, the classifier and the annotated copy
  for the ticket, as the kiosk does after the shutter; also the classifier alone.
- ``pcb``: precision / recall / F-score at IoU >= 0.33 (DeepPCB's convention, label must match) on its dev pairs,
  ms per pair including reading both files (``models/recipes/pcb/evaluate.py``).

Dev splits are the recipes' own (``models/recipes/defects/data.py``, ``models/recipes/pcb/data.py``), never used
for training. Each profile runs in a child process pinned to one core before OpenCV or OpenVINO start threads.

    python -m bench.bench_vision [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.worker import harness_command, run_worker

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
MODELS = REPO / "models" / "int8"
FLOAT_MODELS = REPO / "build" / "defects"  # where models/recipes/defects/export_int8.py leaves the float ONNX
PCB = "pcb"
TARGETS = {"classify_ms": 20.0, "pcb_ms": 100.0, "steel_accuracy": 0.99, "tile_macro_f1": 0.90, "tile_auroc": 0.98}


def classification_profiles() -> list[str]:
    """The shipped profiles that classify single photos (the manifest decides, not this file)."""
    entries = json.loads((MODELS / "manifest.json").read_text())["models"]
    return [e["name"] for e in entries if e.get("labels") and e["labels"][-1] == "not_recognised"]


def _recipe_module(name: str) -> ModuleType:
    """``models/recipes/defects/<name>.py`` (the recipe folder is scripts, not a package)."""
    folder = REPO / "models" / "recipes" / "defects"
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _pin_to_one_core() -> None:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def ms_summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 2),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "max": round(ordered[-1], 2),
    }


def _float_scores(profile: str, tensors: list[Any], truth: list[str], labels: list[str]) -> dict[str, Any]:
    """Top-1 over the product's classes from the recipe's float ONNX model, on the same preprocessed photos."""
    import numpy as np
    import openvino as ov

    from firmware_app.vision.metrics import classification_scores

    path = FLOAT_MODELS / profile / f"{profile}.float.onnx"
    if not path.is_file():
        return {"skipped": f"no float model at {path.relative_to(REPO)}: run the profile's recipe to build it"}
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": 1})
    request = compiled.create_infer_request()
    predicted, ms = [], []
    for tensor in tensors:
        start = time.perf_counter()
        logits = np.asarray(request.infer({0: tensor})[compiled.output("logits")])[0, : len(labels)]
        ms.append((time.perf_counter() - start) * 1000)
        predicted.append(labels[int(np.argmax(logits))])
    scores = classification_scores(truth, predicted, [0.0] * len(truth), ())
    return {"model": str(path.relative_to(REPO)), **scores, "inference_ms": ms_summary(ms)}


def classification_worker(profile: str, data_dir: Path) -> dict[str, Any]:
    _pin_to_one_core()
    import cv2

    from firmware_app.vision.capture import load_image
    from firmware_app.vision.defects import NOT_RECOGNISED, DefectClassifier, annotate, preprocess
    from firmware_app.vision.metrics import classification_scores
    from firmware_app.vision.quality import check_quality

    cv2.setNumThreads(1)
    data = _recipe_module("data")
    data.DATA_ROOT = data_dir
    spec = data.PROFILES[profile]
    if not (data_dir / spec.folder).is_dir():
        return {"profile": profile, "skipped": f"no data set at {data_dir / spec.folder}"}
    classifier = DefectClassifier(MODELS, profile, threads=1)
    _, dev = data.split(spec)
    truth, predicted, defect_scores, tensors = [], [], [], []
    capture_ms, classify_ms, turned_away, refused_by_gate = [], [], 0, 0
    for path, index in dev:
        start = time.perf_counter()
        image = load_image(path)
        refused_by_gate += not check_quality(image).ok
        middle = time.perf_counter()
        result = classifier.classify(image)
        classified = time.perf_counter()
        annotate(image, result)
        capture_ms.append((time.perf_counter() - start) * 1000)
        classify_ms.append((classified - middle) * 1000)
        turned_away += result.label == NOT_RECOGNISED
        truth.append(spec.labels[index])
        predicted.append(max(result.probabilities, key=result.probabilities.__getitem__))
        defect_scores.append(1.0 - sum(result.probabilities[ok] for ok in classifier.ok_labels))
        tensors.append(preprocess(image))
    rejected = {
        group: round(sum(classifier.classify(img).label == NOT_RECOGNISED for img in images) / len(images), 4)
        for group, images in _recipe_module("outliers").outliers(spec, "eval").items()
    }
    return {
        "profile": profile,
        "model": classifier.entry.file,
        "model_bytes": (MODELS / classifier.entry.file).stat().st_size,
        "dev_split": f"{len(dev)} photos, recipe split (80/20 per class, seed 13)",
        "int8": classification_scores(truth, predicted, defect_scores, classifier.ok_labels),
        "float": _float_scores(profile, tensors, truth, classifier.labels),
        "dev_turned_away_as_not_recognised": turned_away,
        "dev_refused_by_quality_gate": refused_by_gate,
        "not_this_part_rejected": rejected,
        "capture_to_result_ms": ms_summary(capture_ms),
        "classify_ms": ms_summary(classify_ms),
        "pinned_to_one_core": True,
    }


def pcb_worker(data_dir: Path) -> dict[str, Any]:
    _pin_to_one_core()
    from models.recipes.pcb.evaluate import evaluate

    folder = data_dir / "deeppcb"
    if not folder.is_dir():
        return {"profile": PCB, "skipped": f"no data set at {folder}"}
    entry = next(e for e in json.loads((MODELS / "manifest.json").read_text())["models"] if e["name"] == PCB)
    files = [entry["file"], *entry.get("assets", {}).values()]
    return {
        "profile": PCB,
        "model_files": files,
        "model_bytes": sum((MODELS / name).stat().st_size for name in files),
        **evaluate(folder, "dev"),
        "pinned_to_one_core": True,
    }


# --- the harness side --------------------------------------------------------------------------------------


def run(data_dir: Path = DEFAULT_DATA) -> dict[str, Any]:
    started = time.perf_counter()
    profiles = {
        name: run_worker("bench_vision", ["--data-dir", str(data_dir), "--profile", name])
        for name in [*classification_profiles(), PCB]
    }
    return {
        "command": harness_command(),
        "runtime_s": round(time.perf_counter() - started, 1),
        "data_dir": str(data_dir),
        "targets": TARGETS,
        "profiles": profiles,
    }


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _classification_rows(r: dict[str, Any]) -> list[str]:
    int8, flt = r["int8"], r["float"]
    auroc = f"{int8['defect_auroc']:.3f}" if "defect_auroc" in int8 else "n/a (every class is a defect)"
    flt_acc = f"{_pct(flt['accuracy'])} / {flt['macro_f1']:.3f}" if "accuracy" in flt else flt["skipped"]
    rejected = ", ".join(f"{group} {_pct(share)}" for group, share in r["not_this_part_rejected"].items())
    return [
        f"### {r['profile']} ({r['model']}, {r['model_bytes'] / 1e6:.2f} MB)",
        "",
        "| measure | value |",
        "|---|---|",
        f"| dev photos | {r['dev_split']} |",
        f"| int8 accuracy / macro-F1 | **{_pct(int8['accuracy'])} / {int8['macro_f1']:.3f}** |",
        f"| float accuracy / macro-F1 (same photos) | {flt_acc} |",
        f"| defect-vs-free AUROC (int8) | {auroc} |",
        f"| F1 per label (int8) | {', '.join(f'{k} {v:.3f}' for k, v in int8['f1_per_label'].items())} |",
        f"| dev photos turned away as not recognised | {r['dev_turned_away_as_not_recognised']} |",
        f"| dev photos the quality gate would refuse | {r['dev_refused_by_quality_gate']} |",
        f"| not-this-part pictures rejected | {rejected} |",
        f"| capture to result, ms (median / p95) | **{r['capture_to_result_ms']['median']}** / "
        f"{r['capture_to_result_ms']['p95']} |",
        f"| classifier alone, ms (median / p95) | {r['classify_ms']['median']} / {r['classify_ms']['p95']} |",
        "",
    ]


def _pcb_rows(r: dict[str, Any]) -> list[str]:
    per_type = ", ".join(f"{k} {v['f_score']:.3f}" for k, v in r["per_type"].items())
    return [
        f"### pcb ({' + '.join(r['model_files'])}, {r['model_bytes'] / 1e6:.2f} MB)",
        "",
        "| measure | value |",
        "|---|---|",
        f"| dev pairs | {r['split']} |",
        f"| precision / recall / F-score at IoU >= {r['iou_threshold']} | {r['precision']:.3f} / "
        f"{r['recall']:.3f} / **{r['f_score']:.3f}** |",
        f"| F-score per type | {per_type} |",
        f"| ms per pair, both files read (median / mean / max) | **{r['ms_per_pair_median']}** / "
        f"{r['ms_per_pair_mean']} / {r['ms_per_pair_max']} |",
        f"| alignment used | {', '.join(f'{k} {v}' for k, v in r['alignment'].items())} |",
        "",
    ]


def report_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Technician photos (product profiles)",
        "",
        f"`{r.get('command', 'python -m bench.bench_vision')}` ({r.get('runtime_s', '?')} s), each profile in a"
        " child process pinned to one core, OpenVINO and OpenCV on one thread. Data: the recipes' dev splits"
        f" of {r['data_dir']}.",
        "",
    ]
    for name, result in r["profiles"].items():
        if "skipped" in result:
            lines += [f"- {name}: skipped ({result['skipped']}).", ""]
        else:
            lines += _pcb_rows(result) if name == PCB else _classification_rows(result)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--profile", help="(worker) the one profile to measure")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        data_dir = args.data_dir.resolve()
        result = pcb_worker(data_dir) if args.profile == PCB else classification_worker(args.profile, data_dir)
        print(json.dumps(result))
    else:
        print("\n".join(report_section(run(args.data_dir))))


if __name__ == "__main__":
    main()
