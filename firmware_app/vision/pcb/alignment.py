"""Steps 2 and 3 of the ``pcb`` pipeline: bring the template into the test image's pixels, first as a whole
(identity, translation or homography) and then tile by tile, so that only defects are left in their difference.

An unaligned pair turns every track edge into a false defect, and a DeepPCB scan, a shifted DeepPCB pair and a
technician's rotated photo each need a different remedy; ``align`` picks the cheapest one that works.
"""

from __future__ import annotations

import cv2
import numpy as np

from firmware_app.vision.pcb.aligned import Alignment
from firmware_app.vision.pcb.board_check import MAX_UNMATCHED, unmatched_copper
from firmware_app.vision.pcb.masks import xor_share

PREALIGNED_XOR_SHARE = 0.02  # half the DeepPCB pairs differ in < 1.4% of pixels: keep them as they are
ALIGNED_XOR_SHARE = 0.06  # 99% of aligned DeepPCB pairs are below this; a shifted photo is far above
MIN_ALIGN_INLIERS = 12
LOCAL_TILE_PX = 64  # on train folds 48 px tiles and 1 px shifts did worse, 80 px and 3 px no better
LOCAL_SHIFT_PX = 2
LOCAL_SHIFT_GAIN = 0.3  # a tile moves only when that removes at least this share of its XOR ...
LOCAL_SHIFT_MIN_PX = 40  # ... and at least this many pixels


def _warp(template: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The template in the test image's pixels, and the mask of pixels the template actually covers."""
    height, width = shape
    size = (width, height)
    ones = np.ones_like(template)
    if matrix.shape == (3, 3):
        warped = cv2.warpPerspective(template, matrix, size, flags=cv2.INTER_NEAREST)
        valid = cv2.warpPerspective(ones, matrix, size, flags=cv2.INTER_NEAREST)
    else:
        warped = cv2.warpAffine(template, matrix, size, flags=cv2.INTER_NEAREST)
        valid = cv2.warpAffine(ones, matrix, size, flags=cv2.INTER_NEAREST)
    valid = cv2.erode(valid, np.ones((9, 9), np.uint8))  # resampled borders are unreliable
    return warped, valid


def _orb_homography(template: np.ndarray, test: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Template -> test homography from ORB matches and RANSAC, and its number of inliers (the matched features
    it explains); the homography is ``None`` when fewer than ``MIN_ALIGN_INLIERS`` matches agree."""
    orb = cv2.ORB.create(nfeatures=1500)
    kp_t, des_t = orb.detectAndCompute(template * 255, None)
    kp_s, des_s = orb.detectAndCompute(test * 255, None)
    if des_t is None or des_s is None or len(kp_t) < MIN_ALIGN_INLIERS or len(kp_s) < MIN_ALIGN_INLIERS:
        return None, 0
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(des_t, des_s)
    if len(matches) < 4:  # findHomography's minimum
        return None, len(matches)
    src = np.array([kp_t[m.queryIdx].pt for m in matches], dtype=np.float32)
    dst = np.array([kp_s[m.trainIdx].pt for m in matches], dtype=np.float32)
    matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    count = 0 if inliers is None else int(inliers.sum())
    if matrix is None or count < MIN_ALIGN_INLIERS:
        return None, count
    return matrix, count


def _ecc_refine(template: np.ndarray, test: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Sub-pixel refinement of a homography with ECC on blurred masks; returns the input when ECC fails."""
    blur_t = cv2.GaussianBlur(template.astype(np.float32), (0, 0), 2.0)
    blur_s = cv2.GaussianBlur(test.astype(np.float32), (0, 0), 2.0)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-5)
    # With the template as ECC's "template image", its warp maps template pixels to test pixels, like ours.
    try:
        _, warp = cv2.findTransformECC(blur_t, blur_s, matrix.astype(np.float32), cv2.MOTION_HOMOGRAPHY, criteria)
    except cv2.error:
        return matrix
    return warp.astype(np.float64)


def _translate(template: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, float]:
    """The whole-pixel shift from phase correlation, as an affine matrix, and the XOR share it leaves."""
    (dx, dy), _ = cv2.phaseCorrelate(template.astype(np.float32), test.astype(np.float32))
    matrix = np.array([[1, 0, round(dx)], [0, 1, round(dy)]], dtype=np.float32)
    shifted = cv2.warpAffine(template, matrix, (test.shape[1], test.shape[0]), flags=cv2.INTER_NEAREST)
    return matrix, xor_share(shifted, test)


def align(template: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Bring the template into the test image's pixels: ``(warped template, valid mask, method)``.

    Method is ``prealigned`` (identity: the pair already matches), ``translation`` (phase correlation: some
    DeepPCB pairs are off by a few pixels, which would turn every track edge into a false defect),
    ``orb+ecc`` (a shifted, rotated or tilted photo, or a pair whose copper the cheaper ones left unmatched:
    see ``_copper_matches``), or ``fallback`` when nothing brings the pair close (the best of the above is used,
    the boxes are unreliable, and ``board_check`` refuses the pair).
    """
    found = align_pair(template, test)
    return found.warped, found.valid, found.method


# The last pair ``align_pair`` aligned (the very array objects, held so that their ids cannot be reused) and the
# result: the detector checks the board (``board_check``) before ``extraction.extract`` aligns the same two
# arrays again, and an ORB + ECC alignment costs 50-400 ms. Masks are not changed in place once loaded.
_last: tuple[np.ndarray, np.ndarray, Alignment] | None = None


def align_pair(template: np.ndarray, test: np.ndarray) -> Alignment:
    """``align``, with the transform and the ORB inlier count that ``board_check`` needs."""
    global _last
    last = _last
    if last is not None and last[0] is template and last[1] is test:
        return last[2]
    found = _align(template, test)
    _last = (template, test, found)
    return found


def _align(template: np.ndarray, test: np.ndarray) -> Alignment:
    shape = test.shape[:2]
    best: tuple[float, np.ndarray | None, str] = (1.0, None, "fallback")
    if template.shape[:2] == shape:
        best = (xor_share(template, test), None, "prealigned")
        everywhere = np.ones_like(test)
        if best[0] < PREALIGNED_XOR_SHARE and _copper_matches(template, everywhere, test):
            return Alignment(template, everywhere, "prealigned", None, None)
        matrix, share = _translate(template, test)
        if share < best[0]:
            best = (share, matrix, "translation")
        if best[0] < ALIGNED_XOR_SHARE:
            warped, valid = _place(template, best[1], shape)
            if _copper_matches(warped, valid, test):
                return Alignment(warped, valid, best[2], best[1], None)
    found, inliers = _orb_homography(template, test)
    if found is not None:
        homography = _ecc_refine(template, test, found)
        warped, valid = _warp(template, homography, shape)
        covered = valid.astype(bool)
        share = xor_share(warped[covered], test[covered]) if covered.mean() > 0.25 else 1.0
        if share < best[0]:
            best = (share, homography, "orb+ecc")
    share, chosen, method = best
    if method != "orb+ecc" and share >= ALIGNED_XOR_SHARE:
        method = "fallback"
    warped, valid = _place(template, chosen, shape)
    return Alignment(warped, valid, method, chosen, inliers)


def _copper_matches(warped: np.ndarray, valid: np.ndarray, test: np.ndarray) -> bool:
    """Whether the board check would accept this alignment's copper: a few pairs are below
    ``ALIGNED_XOR_SHARE`` and still misaligned (a sparse board photographed 4 degrees askew differs in only
    3-5% of its pixels), so ORB gets its chance before ``board_check`` refuses the pair."""
    return unmatched_copper(warped, valid, test) <= MAX_UNMATCHED


def _place(template: np.ndarray, matrix: np.ndarray | None, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The template under ``matrix`` (``None``: as it is, stretched to the test's size if needed) and its mask."""
    if matrix is None:
        if template.shape[:2] != shape:
            template = cv2.resize(template, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        return template, np.ones(shape, template.dtype)
    return _warp(template, matrix, shape)


def local_shift(template: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The template with each tile moved by the whole-pixel shift (up to ``LOCAL_SHIFT_PX``) that best fits the test.

    Why: some DeepPCB pairs (and any photo) are not rigidly aligned: one part of the board sits a pixel or two off
    another, and a single global transform turns every track edge there into a stripe of false difference that
    also swallows the real defects nearby. A tile only takes a shift when it removes a clear share of its XOR, so
    tiles that match (or are blank) keep the global alignment; a defect is far smaller than a tile's edges, so the
    best shift is set by the tracks, not by the defect.
    """
    radius, tile = LOCAL_SHIFT_PX, LOCAL_TILE_PX
    height, width = test.shape
    rows, cols = -(-height // tile), -(-width // tile)
    padded = np.pad(template, ((radius, rows * tile - height + radius), (radius, cols * tile - width + radius)))
    target = np.pad(test, ((0, rows * tile - height), (0, cols * tile - width)))
    shifts = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    costs = np.stack(
        [
            (padded[radius + dy : radius + dy + rows * tile, radius + dx : radius + dx + cols * tile] != target)
            .reshape(rows, tile, cols, tile)
            .sum(axis=(1, 3))
            for dy, dx in shifts
        ]
    )
    zero = shifts.index((0, 0))
    best = costs.argmin(axis=0)
    gain = costs[zero] - costs.min(axis=0)
    keep = (gain < LOCAL_SHIFT_GAIN * costs[zero]) | (gain < LOCAL_SHIFT_MIN_PX)
    best[keep] = zero
    if not (best != zero).any():
        return template
    out = template.copy()
    for r, c in zip(*np.nonzero(best != zero), strict=True):
        dy, dx = shifts[best[r, c]]
        y1, x1 = r * tile, c * tile
        y2, x2 = min(y1 + tile, height), min(x1 + tile, width)
        out[y1:y2, x1:x2] = padded[radius + dy + y1 : radius + dy + y2, radius + dx + x1 : radius + dx + x2]
    return out
