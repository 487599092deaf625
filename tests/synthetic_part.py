"""A machined flange drawn with OpenCV, good or with a defect: photos of "a part no model was trained for" for
the enrolment tests, generated so that the suite needs no data set (and no licence) for them.

Every photo has its own small turn, shift, exposure and sensor noise, as a technician's photos do; a defect is
a dark crack across the face or a chipped rim, at a place the test knows.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

SIDE_PX = 320
CENTRE = (SIDE_PX // 2, SIDE_PX // 2)
Defect = Literal["crack", "chip"]
CRACK_BOX = (150, 180, 215, 215)  # x1, y1, x2, y2 the crack is drawn in (before the photo's own turn)


def flange(seed: int, defect: Defect | None = None) -> np.ndarray:
    """One RGB photo of the flange; ``seed`` picks the pose, light and noise."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (SIDE_PX, SIDE_PX)).astype(np.float32)
    brushed = np.asarray(cv2.GaussianBlur(noise, (0, 0), sigmaX=12, sigmaY=0.8)) * 40  # machining marks along x
    image = np.full((SIDE_PX, SIDE_PX), 60, np.float32)  # the bench under the part
    face = np.zeros((SIDE_PX, SIDE_PX), np.uint8)
    cv2.circle(face, CENTRE, 130, 255, -1)
    image[face > 0] = 150 + brushed[face > 0]
    cv2.circle(image, CENTRE, 130, 200, 3)  # the chamfer catches the light
    cv2.circle(image, CENTRE, 40, 30, -1)  # the bore
    cv2.circle(image, CENTRE, 75, 120, 2)  # a turned groove
    for angle in range(0, 360, 60):  # six bolt holes
        x = int(CENTRE[0] + 100 * np.cos(np.radians(angle)))
        y = int(CENTRE[1] + 100 * np.sin(np.radians(angle)))
        cv2.circle(image, (x, y), 11, 35, -1)
    if defect == "crack":
        points = np.array([[152, 182], [170, 195], [185, 192], [200, 205], [212, 212]], np.int32)
        cv2.polylines(image, [points], False, 25, 3)
    elif defect == "chip":
        cv2.ellipse(image, (CENTRE[0] + 92, CENTRE[1] - 92), (28, 18), 45, 0, 360, 60, -1)
    turn_deg = float(rng.uniform(-6, 6))
    matrix = np.asarray(cv2.getRotationMatrix2D(CENTRE, turn_deg, 1.0), np.float64)
    matrix[:, 2] += rng.uniform(-8, 8, 2)
    posed = np.asarray(cv2.warpAffine(image, matrix, (SIDE_PX, SIDE_PX), borderValue=60), np.float64)
    lit = posed * rng.uniform(0.9, 1.1) + rng.normal(0, 3, posed.shape)
    grey = np.clip(lit, 0, 255).astype(np.uint8)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
