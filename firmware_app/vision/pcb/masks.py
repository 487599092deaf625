"""Step 1 of the ``pcb`` pipeline: images as 0/1 copper masks, the form every later step compares."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from firmware_app.vision.capture import ImageError, decode_image
from firmware_app.vision.pcb.errors import PcbError
from firmware_app.vision.pcb.features import WINDOW_PX

MAX_SIDE_PX = 4096  # larger images are refused: bounded memory, and no PCB scan we handle is that big


def load_binary(path: Path) -> np.ndarray:
    """Read an image as a 0/1 copper mask (copper = dark, as on the DeepPCB scans)."""
    try:
        image = decode_image(path, cv2.IMREAD_GRAYSCALE)
    except ImageError as error:
        raise PcbError(str(error)) from error
    return binarise(image, name=str(path))


def binarise(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Otsu threshold with the dark side as copper (1), as on the DeepPCB scans; refuses degenerate sizes.

    The polarity is fixed, not guessed per image: whether the test has *more* or *less* copper than the
    template is what tells a short from an open and a spur from a mousebite, so it must mean the same on
    every board (a first version took the minority colour as copper and confused exactly those pairs).
    """
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    height, width = image.shape[:2]
    if min(height, width) < WINDOW_PX or max(height, width) > MAX_SIDE_PX:
        raise PcbError(f"{name}: {width}x{height} px is not a PCB scan ({WINDOW_PX}-{MAX_SIDE_PX} px per side)")
    _, mask = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return mask


def xor_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixels where two masks disagree: small when they are aligned."""
    return float(np.count_nonzero(a != b)) / a.size
