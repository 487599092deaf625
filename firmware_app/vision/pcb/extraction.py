"""Steps 2 to 5 of the ``pcb`` pipeline and the inputs of step 6: one pair of copper masks in, every candidate
with its features and crops out. Kept apart from the detector because the training recipe must see exactly the
candidates the detector will see, without loading any model."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from firmware_app.vision.pcb.alignment import align, local_shift
from firmware_app.vision.pcb.candidates import Candidate, difference, find_candidates
from firmware_app.vision.pcb.crops import candidate_crops
from firmware_app.vision.pcb.features import N_FEATURES, candidate_features


@dataclass(frozen=True)
class Extraction:
    """What the classifiers see of one pair: its candidates, their features and crops, and the alignment used."""

    candidates: list[Candidate]
    features: np.ndarray
    crops: np.ndarray
    alignment: str


def extract(template: np.ndarray, test: np.ndarray) -> Extraction:
    """Align, difference, and featurise and crop the candidates of one pair of copper masks."""
    warped, valid, method = align(template, test)
    warped = local_shift(warped, test)
    extra, missing = difference(warped, test, valid)
    candidates = find_candidates(extra, missing)
    labels = (cv2.connectedComponents(warped, connectivity=8)[1], cv2.connectedComponents(test, connectivity=8)[1])
    rows = [candidate_features(warped, test, extra, missing, c, labels) for c in candidates]
    features = np.stack(rows) if rows else np.zeros((0, N_FEATURES), np.float32)
    return Extraction(candidates, features, candidate_crops(warped, test, candidates), method)
