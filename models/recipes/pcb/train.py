"""Train the ``pcb`` profile's candidate classifiers on DeepPCB train pairs, measure them on dev, ship them.

Steps: every train pair goes through the detector's own alignment, differencing and candidate extraction
(``firmware_app.vision.pcb.extraction.extract``), so the classifiers see exactly the candidates they will see at run
time; each candidate is matched to the annotations (IoU >= 0.33, one-to-one, best first) and takes that defect's
type, or ``none`` when it matches nothing. An extra-trees ensemble (fixed seed, one thread) is fitted on the
features and stored as plain arrays (``models/int8/pcb.trees.npz``, loaded without pickle); the crop network
(``cnn.py``) is trained on the crops and stored as int8 ONNX (``models/int8/pcb.crops.int8.onnx``). The detector is
then run end to end on the 100 dev pairs for precision / recall / F-score and ms per pair, which go into the
manifest entry with both files' sha256. About 3 minutes on one core.

    .venv/bin/python -m models.recipes.pcb.train [--data ../shared/data/deeppcb] [--trees 120]
    .venv/bin/python -m models.recipes.pcb.evaluate   # dev numbers only, for the shipped model
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
from sklearn.ensemble import ExtraTreesClassifier

from firmware_app.inference.manifest import sha256_file
from firmware_app.vision.pcb.alignment import LOCAL_SHIFT_PX, LOCAL_TILE_PX
from firmware_app.vision.pcb.crops import CROP_PX
from firmware_app.vision.pcb.detector import (
    CROP_ASSET,
    CROP_MODEL_NAME,
    DEFAULT_MIN_SCORE,
    MANIFEST_ENTRY,
    MODEL_PATH,
    TREE_WEIGHT,
)
from firmware_app.vision.pcb.extraction import extract
from firmware_app.vision.pcb.features import N_FEATURES
from firmware_app.vision.pcb.labels import CLASSES, LABELS, NONE_LABEL
from firmware_app.vision.pcb.masks import load_binary
from firmware_app.vision.pcb.scoring import IOU_THRESHOLD, match
from firmware_app.vision.pcb.trees import TreeEnsemble
from models.recipes.pcb import cnn
from models.recipes.pcb.data import DEFAULT_DATA, load_pairs
from models.recipes.pcb.evaluate import evaluate

SEED = 20240601
MANIFEST = Path(__file__).resolve().parents[2] / "int8" / "manifest.json"


def candidate_dataset(data: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, crops and class indices (``CLASSES``) of every candidate on a split's pairs."""
    features, crops, targets = [], [], []
    for pair in load_pairs(data, split):
        extraction = extract(load_binary(pair.template), load_binary(pair.test))
        candidates = extraction.candidates
        if not candidates:
            continue
        labels = [CLASSES.index(NONE_LABEL)] * len(candidates)
        truth = [box["box"] for box in pair.boxes]
        for i, j in match([c.box for c in candidates], truth):
            labels[i] = CLASSES.index(pair.boxes[j]["label"])
        features.append(extraction.features)
        crops.append(extraction.crops)
        targets.extend(labels)
    return np.concatenate(features), np.concatenate(crops), np.array(targets)


def fit(features: np.ndarray, targets: np.ndarray, trees: int) -> TreeEnsemble:
    """Extra trees: as accurate as a random forest here, faster to fit, and shallow leaves keep the file small."""
    forest = ExtraTreesClassifier(
        n_estimators=trees,
        min_samples_leaf=2,
        max_features=0.5,
        class_weight="balanced_subsample",
        random_state=SEED,
        n_jobs=1,
    )
    forest.fit(features, targets)
    if list(forest.classes_) != list(range(len(CLASSES))):
        raise SystemExit(f"training data lacks some classes: {forest.classes_}")
    return TreeEnsemble.from_sklearn(forest)


def manifest_entry(model_file: Path, crop_file: Path, metrics: dict, trees: int, n_candidates: int) -> dict:
    """The ``pcb`` entry of models/int8/manifest.json (the files' hashes let the kiosk refuse a tampered model)."""
    return {
        "name": MANIFEST_ENTRY,
        "version": "1.1.0",
        "task": "PCB defect location and typing from a template/test image pair (DeepPCB's six defect kinds)",
        "file": model_file.name,
        "sha256": sha256_file(model_file),
        "size_bytes": model_file.stat().st_size,
        "assets": {CROP_ASSET: crop_file.name},
        "assets_sha256": {CROP_ASSET: sha256_file(crop_file)},
        "assets_size_bytes": {CROP_ASSET: crop_file.stat().st_size},
        "runtime": ["opencv + numpy (firmware_app/vision/pcb/)", "openvino (crop network, one thread)"],
        "precision": "trees: float32 thresholds, float16 leaf distributions, a numpy .npz of tree arrays, no "
        "pickle; crop network: int8 (NNCF post-training quantization, weights and activations)",
        "base_model": "none: OpenCV alignment (phase correlation, ORB + RANSAC homography + ECC, then a per-tile "
        "shift of up to 2 px) and XOR differencing propose candidates; an extra-trees classifier (scikit-learn, "
        "exported to arrays) and a small CNN on 32x32 template/test/difference crops (PyTorch, trained from "
        "scratch) type them, their probabilities averaged",
        "inputs": {"crops": f"float32 [candidates, 3, {CROP_PX}, {CROP_PX}]: template, test, test - template"},
        "outputs": {"logits": f"float32 [candidates, {len(CLASSES)}] in the order of labels + ['none']"},
        "parameters": {
            "trees": trees,
            "features": N_FEATURES,
            "seed": SEED,
            "local_tile_px": LOCAL_TILE_PX,
            "local_shift_px": LOCAL_SHIFT_PX,
        },
        "labels": list(LABELS),
        "thresholds": {
            "min_score": DEFAULT_MIN_SCORE,
            "tree_weight": TREE_WEIGHT,
            "iou_eval": IOU_THRESHOLD,
        },
        "decision": "a candidate whose most likely class is 'none', or whose score is under min_score, is dropped",
        "tuning": "min_score, tree_weight, the local-shift tile and radius, the box padding and the features were "
        "chosen on two random folds of 180 train pairs each (fitted on the other 720), never on the dev pairs that "
        "the metrics below come from",
        "training": {
            "recipe": "models/recipes/pcb/train.py",
            "command": ".venv/bin/python -m models.recipes.pcb.train",
            "candidates": n_candidates,
            "crop_net": {"epochs": cnn.EPOCHS, "batch": cnn.BATCH, "calibration_crops": cnn.CALIBRATION},
        },
        "training_data": [
            {
                "name": "DeepPCB trainval, 900 pairs of the shared 'train' split (dev = 100 further trainval pairs)",
                "licence": "MIT (repository LICENSE); the README restricts the data set to research use",
                "attribution": "Tang et al., 'Online PCB Defect Detector On A New PCB Defect Dataset', "
                "arXiv:1902.06197; github.com/tangsanli5201/DeepPCB",
            }
        ],
        "metrics": metrics,
    }


def write_manifest(entry: dict) -> None:
    """Replace (or add) only the ``pcb`` entry, so entries written by other recipes are kept."""
    manifest = json.loads(MANIFEST.read_text())
    manifest["models"] = [m for m in manifest["models"] if m.get("name") != MANIFEST_ENTRY] + [entry]
    MANIFEST.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--trees", type=int, default=120)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--no-manifest", action="store_true", help="do not touch models/int8/manifest.json")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    start = time.perf_counter()
    features, crops, targets = candidate_dataset(args.data, "train")
    counts = {CLASSES[k]: int(v) for k, v in zip(*np.unique(targets, return_counts=True), strict=True)}
    print(f"{len(targets)} candidates {counts} in {time.perf_counter() - start:.0f} s")
    ensemble = fit(features, targets, args.trees)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ensemble.save(args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    crop_out = args.out.with_name(CROP_MODEL_NAME)
    cnn.export_int8(cnn.train(crops, targets, SEED), crops, crop_out, SEED)
    print(f"saved {crop_out} ({crop_out.stat().st_size / 1e6:.2f} MB) at {time.perf_counter() - start:.0f} s")
    metrics = evaluate(args.data, "dev", args.out, verify=False)
    print(json.dumps(metrics, indent=1))
    if not args.no_manifest:
        write_manifest(manifest_entry(args.out, crop_out, metrics, args.trees, len(targets)))


if __name__ == "__main__":
    main()
