"""The result of aligning a template with a test image: shared by ``alignment`` (which makes it) and
``board_check`` (which judges it), so that neither imports the other's module for it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Alignment:
    """The template in the test image's pixels, and how it got there (what ``board_check`` judges)."""

    warped: np.ndarray
    valid: np.ndarray  # 1 where the warped template covers the test image
    method: str  # prealigned, translation, orb+ecc or fallback (see ``align``)
    matrix: np.ndarray | None  # template -> test: 2x3 (translation) or 3x3 (homography); None: identity
    inliers: int | None  # RANSAC inliers of the best ORB homography, when that step ran (0: none found)
