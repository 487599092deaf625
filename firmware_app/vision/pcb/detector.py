"""The ``pcb`` profile's entry point: load and verify both classifiers once, then turn template / test pairs
into JSON-ready defect boxes (for recognition, ``kiosk vision detect`` and the recipes' evaluation)."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from firmware_app.inference.manifest import ModelEntry, ModelIntegrityError, verified_asset_path, verified_model_path
from firmware_app.inference.runtime import OpenVinoModel, open_model
from firmware_app.vision.pcb.alignment import align_pair
from firmware_app.vision.pcb.board_check import BoardMatch, check, measure
from firmware_app.vision.pcb.crops import CropModel
from firmware_app.vision.pcb.errors import PcbError
from firmware_app.vision.pcb.extraction import Extraction, extract
from firmware_app.vision.pcb.labels import CLASSES, LABELS, NONE_LABEL
from firmware_app.vision.pcb.masks import load_binary
from firmware_app.vision.pcb.trees import TreeEnsemble

MODEL_PATH = Path(__file__).resolve().parents[3] / "models" / "int8" / "pcb.trees.npz"
CROP_MODEL_NAME = "pcb.crops.int8.onnx"  # next to the trees' file
MANIFEST_ENTRY = "pcb"  # models/int8/manifest.json: both files' names and sha256
CROP_ASSET = "crop_net"  # the crop network's key in that entry's ``assets``
DEFAULT_MIN_SCORE = 0.4
TREE_WEIGHT = 0.5  # the trees' share of the averaged class probabilities (the crop network has the rest)


def verify_model_files(model_path: Path, crop_model_path: Path) -> ModelEntry:
    """The ``pcb`` entry of the files' manifest, after refusing files that are not the ones it describes (name
    and sha256 of the trees and of the crop network): a truncated or tampered file must not type defects.

    Only the training recipe skips this (``verify=False``), to measure files it has not registered yet.
    """
    try:
        entry, _ = verified_model_path(model_path.parent, MANIFEST_ENTRY)
        if entry.file != model_path.name or entry.assets.get(CROP_ASSET) != crop_model_path.name:
            raise PcbError(f"{model_path.parent}: the manifest's {MANIFEST_ENTRY!r} entry does not list these files")
        verified_asset_path(model_path.parent, entry, CROP_ASSET)
    except ModelIntegrityError as error:
        raise PcbError(str(error)) from error
    return entry


class PcbDetector:
    """Loads both classifiers once; ``detect`` returns the boxes for one template/test pair.

    A candidate's class probabilities are the average of the trees' (built on the hand-made topology features)
    and the crop network's (which sees the shape of the defect, e.g. a thin stroke across a track for an open
    against a ragged bite for a mousebite); on random folds of the train pairs the average beat either alone.
    """

    def __init__(
        self,
        model_path: Path = MODEL_PATH,
        min_score: float = DEFAULT_MIN_SCORE,
        crop_model_path: Path | None = None,
        verify: bool = True,
    ) -> None:
        crop_model_path = crop_model_path or model_path.with_name(CROP_MODEL_NAME)
        for path in (model_path, crop_model_path):
            if not path.exists():
                raise PcbError(f"pcb model not found: {path} (train it: python -m models.recipes.pcb.train)")
        if verify:
            crop_net = open_model(verify_model_files(model_path, crop_model_path), crop_model_path)
        else:
            crop_net = OpenVinoModel(crop_model_path)
        self.model = TreeEnsemble.load(model_path)
        self.crop_model = CropModel(crop_net)
        self.min_score = min_score

    def predict_proba(self, extraction: Extraction) -> np.ndarray:
        """Class probabilities (``CLASSES`` order) of each candidate: trees and crop network, weighted."""
        trees = self.model.predict_proba(extraction.features)
        crops = self.crop_model.predict_proba(extraction.crops)
        return TREE_WEIGHT * trees + (1 - TREE_WEIGHT) * crops

    def detect_masks(self, template: np.ndarray, test: np.ndarray) -> tuple[list[dict], str]:
        """Boxes (``box``, ``label``, ``score``) for two 0/1 copper masks, and the alignment method used."""
        extraction = extract(template, test)
        if not extraction.candidates:
            return [], extraction.alignment
        boxes = []
        for candidate, row in zip(extraction.candidates, self.predict_proba(extraction), strict=True):
            best = int(np.argmax(row[: len(LABELS)]))
            score = float(row[best])
            if CLASSES[int(np.argmax(row))] == NONE_LABEL or score < self.min_score:
                continue
            boxes.append({"box": list(candidate.box), "label": LABELS[best], "score": round(score, 3)})
        return boxes, extraction.alignment

    def detect(self, template_path: Path, test_path: Path) -> dict:
        """One JSON-ready result for a pair of image files; raises ``PcbError`` for an unusable file and
        ``NotTheTemplateBoard`` when the test image does not show the template's board (``board_check``)."""
        template, test = load_binary(template_path), load_binary(test_path)
        check_board(template, test, str(test_path))
        boxes, method = self.detect_masks(template, test)
        return {"file": str(test_path), "boxes": boxes, "alignment": method}


def check_board(template: np.ndarray, test: np.ndarray, name: str = "TEST") -> BoardMatch:
    """How well two copper masks match once aligned; raises ``NotTheTemplateBoard`` when the test does not show
    the template's board. The alignment is kept for ``detect_masks`` on the same two arrays (no second ORB)."""
    return check(measure(template.shape[:2], align_pair(template, test), test), name)


def detect_pairs(
    pairs: Iterable[tuple[Path, Path]], model_path: Path = MODEL_PATH, min_score: float = DEFAULT_MIN_SCORE
) -> Iterator[dict]:
    """For the CLI: one result per ``(template, test)`` pair, ``{"file", "boxes"}`` or ``{"file", "error"}``,
    with a machine-readable ``reason`` where there is one (``not_the_template_board``).

    The model is loaded once for all pairs; a bad pair yields an error line and the rest go on.
    """
    detector = PcbDetector(model_path, min_score)
    for template_path, test_path in pairs:
        try:
            yield detector.detect(Path(template_path), Path(test_path))
        except PcbError as error:
            line = {"file": str(test_path), "error": str(error)}
            if error.reason is not None:
                line["reason"] = error.reason
            yield line


def read_pairs_csv(path: Path) -> list[tuple[Path, Path]]:
    """Lines ``template,test`` (a header line ``template,test`` is skipped); relative paths are kept as given."""
    pairs = []
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if not row or row[0].strip().startswith("#"):
                continue
            if len(row) != 2:
                raise PcbError(f"{path}: expected 'template,test' per line, got {row}")
            if [cell.strip().lower() for cell in row] == ["template", "test"]:
                continue
            pairs.append((Path(row[0].strip()), Path(row[1].strip())))
    return pairs


def timed_detect(detector: PcbDetector, template_path: Path, test_path: Path) -> tuple[dict, float]:
    """A detection and its wall time in ms (file reading included), for the bench and the manifest."""
    start = time.perf_counter()
    result = detector.detect(template_path, test_path)
    return result, (time.perf_counter() - start) * 1000
