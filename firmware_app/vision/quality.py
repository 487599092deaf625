"""The photo quality gate: asks for a retake, with the reason, before a blurred, dark, glaring or empty photo
reaches a defect model (which would answer anyway, and wrongly).

Measures on a 256-pixel-wide grey copy, so the thresholds do not depend on the camera's resolution:
sharpness is the variance of the Laplacian, exposure the mean and the clipped fraction, and framing the share
of edges in the centre of the picture (a part held up to the camera fills the middle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

RetakeReason = Literal["blurred", "too_dark", "too_bright", "not_in_frame"]
ANALYSIS_WIDTH_PX = 256
MIN_SHARPNESS = 40.0
MIN_BRIGHTNESS = 45.0
MAX_BRIGHTNESS = 215.0
MAX_CLIPPED_FRACTION = 0.35
MIN_EDGE_DENSITY = 0.01  # share of edge pixels in the centre region


@dataclass(frozen=True)
class QualityReport:
    ok: bool
    reasons: tuple[RetakeReason, ...]
    sharpness: float
    brightness: float
    edge_density: float


def check_quality(image: np.ndarray) -> QualityReport:
    """Judge an RGB photo; ``reasons`` is empty when it is good enough to analyse."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 32:
        raise ValueError(f"expected an RGB uint8 photo of at least 32x32 pixels, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    scale = ANALYSIS_WIDTH_PX / width
    small = cv2.resize(image, (ANALYSIS_WIDTH_PX, max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    brightness = float(grey.mean())
    dark = float((grey < 16).mean())
    bright = float((grey > 240).mean())
    rows, cols = grey.shape
    centre = grey[rows // 4 : rows - rows // 4, cols // 4 : cols - cols // 4]
    edge_density = float((cv2.Canny(centre, 50, 150) > 0).mean())
    reasons: list[RetakeReason] = []
    if brightness < MIN_BRIGHTNESS or dark > MAX_CLIPPED_FRACTION:
        reasons.append("too_dark")
    elif brightness > MAX_BRIGHTNESS or bright > MAX_CLIPPED_FRACTION:
        reasons.append("too_bright")
    if edge_density < MIN_EDGE_DENSITY:
        reasons.append("not_in_frame")
    elif sharpness < MIN_SHARPNESS:
        reasons.append("blurred")
    return QualityReport(not reasons, tuple(reasons), sharpness, brightness, edge_density)
