"""The candidate classifier on pixels: a small CNN that types each candidate from its template / test /
difference crops, where the drawn shape of a defect shows (a thin stroke across a track for an open, a ragged
bite for a mousebite) that the hand-made features miss. Trained by ``models/recipes/pcb/cnn.py``."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from firmware_app.inference.runtime import Model
from firmware_app.vision.pcb.candidates import Candidate
from firmware_app.vision.pcb.features import crop, feature_window

CROP_PX = 32  # the crop network's input side
INPUT = "crops"  # the crop network's input name


def candidate_crops(template: np.ndarray, test: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray:
    """The crop network's input: template, test and their difference over each candidate's feature window,
    resampled to ``CROP_PX`` square (``(n, 3, CROP_PX, CROP_PX)`` float32; a window cut by the image border is
    stretched, which is rare and the same in training)."""
    crops = np.zeros((len(candidates), 3, CROP_PX, CROP_PX), np.float32)
    for k, candidate in enumerate(candidates):
        window = feature_window(candidate.blob, test.shape[:2])
        tmpl_w, test_w = crop(template, window).astype(np.float32), crop(test, window).astype(np.float32)
        for channel, image in enumerate((tmpl_w, test_w, test_w - tmpl_w)):
            crops[k, channel] = cv2.resize(image, (CROP_PX, CROP_PX), interpolation=cv2.INTER_AREA)
    return crops


class CropModel:
    """The int8 crop network, one thread: class probabilities (``labels.CLASSES`` order) per crop."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """Softmax of the network's logits (the ONNX graph ends at the logits, as exported for training)."""
        logits = np.asarray(next(iter(self.model.infer({INPUT: crops}).values())), dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)
