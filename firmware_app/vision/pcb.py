"""The ``pcb`` profile: locate and type defects on a bare PCB from a defect-free template and a test image.

Why this design rather than an object detector: the template tells us exactly what the board should look like,
so after aligning the two images almost every defect is a blob in their difference. What is left to learn is
small: which difference blobs are real defects (not alignment or scan noise) and of which kind. That is a
tree ensemble on a few dozen hand-made features plus a tiny CNN on a 32x32 crop of each candidate, which run in
milliseconds on one core and fit in about 1 MB, instead of a CNN detector that would need a GPU to train and far
more than 100 ms per pair.

Pipeline (``PcbDetector.detect``):

1. Binarise both images (Otsu; the DeepPCB scans are already 0/255) so that copper (dark) is 1.
2. Align the template onto the test image (``align``). DeepPCB pairs are pre-aligned, which we detect by a
   small XOR share and then keep the identity; a technician's photo is shifted and rotated, so ORB features
   with a RANSAC homography, refined by ECC, bring the template into the test image's pixels. When both fail
   we fall back to the identity and say so (``alignment`` in the result) instead of failing the pair.
3. Local shift: each 64 px tile of the aligned template may move by up to 2 px where that clearly reduces its
   XOR with the test (``local_shift``). Some DeepPCB pairs, and photos, are not rigidly aligned, and a
   global transform alone left stripes of edge difference that swallowed the defects next to them (on
   random folds of the train pairs this step alone took the F-score from 0.946 to 0.961).
4. Difference: copper the test has and the template lacks ("extra": short, spur, copper) and the reverse
   ("missing": open, mousebite, pin-hole). A 3x3 opening removes the 1-2 px slivers along every edge that
   resampling and scanning leave; real defects are wider.
5. Candidates: the cleaned difference is dilated so that the fragments of one defect merge, and each
   connected component becomes a candidate box, centred on the blob and at least as large as a typical
   DeepPCB annotation (they frame the defect with a margin).
6. Classifier: features from the template and test crops around each candidate (how much copper is extra or
   missing, the blob's size and shape, how the number of copper pieces and holes changes, whether the extra
   copper touches existing tracks, and, on the raw difference next to the blob, whether it cuts a track or
   bridges a gap, counted in the crop and on the whole board) go into an extra-trees ensemble with a seventh
   class, ``none``, that drops false candidates. The ensemble is stored as plain arrays in an ``.npz`` file
   (no pickle), and evaluated here with numpy. A small CNN (int8 ONNX on OpenVINO, one thread) types the same
   candidates from their template / test / difference crops, and the two probability vectors are averaged:
   the network sees the drawn shape of a defect (a thin stroke across a track for an open, a ragged bite for
   a mousebite), which the hand-made numbers missed.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from firmware_app.inference.manifest import ModelIntegrityError, sha256_file, verified_model_path
from firmware_app.vision.capture import ImageError, decode_image

LABELS: tuple[str, ...] = ("open", "short", "mousebite", "spur", "copper", "pin-hole")
NONE_LABEL = "none"
CLASSES: tuple[str, ...] = (*LABELS, NONE_LABEL)
MODEL_PATH = Path(__file__).resolve().parents[2] / "models" / "int8" / "pcb.trees.npz"
CROP_MODEL_NAME = "pcb.crops.int8.onnx"  # next to the trees' file
MANIFEST_ENTRY = "pcb"  # models/int8/manifest.json: both files' names and sha256
CROP_ASSET = "crop_net"  # the crop network's key in that entry's ``assets``
IOU_THRESHOLD = 0.33  # the DeepPCB evaluation convention
MAX_SIDE_PX = 4096  # larger images are refused: bounded memory, and no PCB scan we handle is that big
PREALIGNED_XOR_SHARE = 0.02  # half the DeepPCB pairs differ in < 1.4% of pixels: keep them as they are
ALIGNED_XOR_SHARE = 0.06  # 99% of aligned DeepPCB pairs are below this; a shifted photo is far above
MIN_ALIGN_INLIERS = 12
MERGE_PX = 9  # dilation that merges fragments of one defect (a mousebite is often 2-3 bites)
MIN_BLOB_PX = 6  # difference blobs smaller than this after clean-up are noise
MIN_BOX_PX = 32  # DeepPCB boxes are 25-90 px, median ~34: a small blob still gets a box that size
BOX_PAD_PX = 10  # chosen on train folds (6 -> 10: F +0.004); DeepPCB boxes frame the defect loosely
WINDOW_PX = 48  # the crop around a candidate that the features look at
LOCAL_TILE_PX = 64  # on train folds 48 px tiles and 1 px shifts did worse, 80 px and 3 px no better
LOCAL_SHIFT_PX = 2
LOCAL_SHIFT_GAIN = 0.3  # a tile moves only when that removes at least this share of its XOR ...
LOCAL_SHIFT_MIN_PX = 40  # ... and at least this many pixels
DEFAULT_MIN_SCORE = 0.4
CROP_PX = 32  # the crop network's input side
TREE_WEIGHT = 0.5  # the trees' share of the averaged class probabilities (the crop network has the rest)
N_FEATURES = 37


class PcbError(ValueError):
    """An image pair that cannot be inspected (unreadable, empty or too large), or model files that cannot be
    trusted (missing, or not the ones the manifest describes)."""


@dataclass(frozen=True)
class Candidate:
    """One difference blob: its pixel bounding box (inclusive-exclusive) and the box we would report."""

    blob: tuple[int, int, int, int]
    box: tuple[int, int, int, int]


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


def _orb_homography(template: np.ndarray, test: np.ndarray) -> np.ndarray | None:
    """Template -> test homography from ORB matches and RANSAC; ``None`` when too few consistent matches."""
    orb = cv2.ORB.create(nfeatures=1500)
    kp_t, des_t = orb.detectAndCompute(template * 255, None)
    kp_s, des_s = orb.detectAndCompute(test * 255, None)
    if des_t is None or des_s is None or len(kp_t) < MIN_ALIGN_INLIERS or len(kp_s) < MIN_ALIGN_INLIERS:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(des_t, des_s)
    if len(matches) < MIN_ALIGN_INLIERS:
        return None
    src = np.array([kp_t[m.queryIdx].pt for m in matches], dtype=np.float32)
    dst = np.array([kp_s[m.trainIdx].pt for m in matches], dtype=np.float32)
    matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if matrix is None or inliers is None or int(inliers.sum()) < MIN_ALIGN_INLIERS:
        return None
    return matrix


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
    ``orb+ecc`` (a shifted, rotated or tilted photo), or ``fallback`` when nothing brings the pair close
    (the best of the above is used, and the boxes are unreliable).
    """
    shape = test.shape[:2]
    best: tuple[float, np.ndarray | None, str] = (1.0, None, "fallback")
    if template.shape[:2] == shape:
        best = (xor_share(template, test), None, "prealigned")
        if best[0] < PREALIGNED_XOR_SHARE:
            return template, np.ones_like(test), "prealigned"
        matrix, share = _translate(template, test)
        if share < best[0]:
            best = (share, matrix, "translation")
    if best[0] >= ALIGNED_XOR_SHARE:
        found = _orb_homography(template, test)
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
    if chosen is None:
        if template.shape[:2] != shape:
            template = cv2.resize(template, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        return template, np.ones_like(test), method
    warped, valid = _warp(template, chosen, shape)
    return warped, valid, method


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


def difference(template: np.ndarray, test: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extra copper (in test, not in template) and missing copper, each opened to drop edge slivers."""
    kernel = np.ones((3, 3), np.uint8)
    extra = cv2.morphologyEx(test & (1 - template) & valid, cv2.MORPH_OPEN, kernel)
    missing = cv2.morphologyEx(template & (1 - test) & valid, cv2.MORPH_OPEN, kernel)
    return extra, missing


def _report_box(blob: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A box centred on the blob, padded, at least ``MIN_BOX_PX`` wide and high, inside the image."""
    x1, y1, x2, y2 = blob
    height, width = shape
    half_w = max((x2 - x1) / 2 + BOX_PAD_PX, MIN_BOX_PX / 2)
    half_h = max((y2 - y1) / 2 + BOX_PAD_PX, MIN_BOX_PX / 2)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (
        max(0, round(cx - half_w)),
        max(0, round(cy - half_h)),
        min(width, round(cx + half_w)),
        min(height, round(cy + half_h)),
    )


def find_candidates(extra: np.ndarray, missing: np.ndarray) -> list[Candidate]:
    """Merge nearby difference fragments and give one candidate per merged blob."""
    diff = extra | missing
    merged = cv2.dilate(diff, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (MERGE_PX, MERGE_PX)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    candidates = []
    for index in range(1, count):
        left, top, width, height = (int(v) for v in stats[index, :4])  # only the component's own box is scanned
        inside = (labels[top : top + height, left : left + width] == index) & (
            diff[top : top + height, left : left + width] > 0
        )
        ys, xs = np.nonzero(inside)
        if xs.size < MIN_BLOB_PX:
            continue
        blob = (left + int(xs.min()), top + int(ys.min()), left + int(xs.max()) + 1, top + int(ys.max()) + 1)
        candidates.append(Candidate(blob=blob, box=_report_box(blob, diff.shape)))
    return candidates


def _crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return image[y1:y2, x1:x2]


def _window(blob: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The blob plus a margin, at least ``WINDOW_PX`` square: enough context to see tracks and holes."""
    x1, y1, x2, y2 = blob
    half = max(WINDOW_PX / 2, (x2 - x1) / 2 + 8, (y2 - y1) / 2 + 8)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    height, width = shape
    return (
        max(0, round(cx - half)),
        max(0, round(cy - half)),
        min(width, round(cx + half)),
        min(height, round(cy + half)),
    )


def _pieces(mask: np.ndarray) -> tuple[int, int]:
    """Number of copper pieces and of enclosed holes (background pieces not touching the crop border)."""
    copper = cv2.connectedComponents(mask, connectivity=8)[0] - 1
    count, labels = cv2.connectedComponents(1 - mask, connectivity=4)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))) - {0}
    holes = count - 1 - len(border)
    return copper, holes


def _blob_shape(mask: np.ndarray) -> tuple[float, float, float]:
    """Area, thickness (max distance to the blob's edge) and elongation of a difference blob."""
    area = float(mask.sum())
    if area == 0:
        return 0.0, 0.0, 0.0
    thickness = float(cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 3).max())
    ys, xs = np.nonzero(mask)
    if xs.size < 3:
        return area, thickness, 1.0
    eigen = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(np.float64)))
    return area, thickness, float(np.sqrt((eigen[1] + 1e-3) / (eigen[0] + 1e-3)))


def _cut_features(
    tmpl_w: np.ndarray, test_w: np.ndarray, missing_w: np.ndarray, extra_w: np.ndarray
) -> tuple[float, float, float, float]:
    """Does the defect cut a track (open) or bridge a gap (short), or only nibble/stick out (mousebite, spur)?

    The width of the track (gap) under the missing (extra) copper, from the template's distance transform,
    against the defect's own thickness; and the change in pieces counted only among the pieces the defect
    touches, which is not fooled by tracks that merely cross the crop's border.
    """
    track = cv2.distanceTransform(np.pad(tmpl_w, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    gap = cv2.distanceTransform(np.pad(1 - tmpl_w, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]  # crop edge counts as copper
    track_width = float(2 * track[missing_w > 0].max()) if missing_w.any() else 0.0
    gap_width = float(2 * gap[extra_w > 0].max()) if extra_w.any() else 0.0
    return track_width, gap_width, _touched_pieces(test_w, missing_w), _touched_pieces(tmpl_w, extra_w)


def _touched_pieces(copper: np.ndarray, defect: np.ndarray) -> float:
    """How many copper pieces lie next to the defect blob: 2 or more around missing copper is a cut track."""
    return _bordering_labels(cv2.connectedComponents(copper, connectivity=8)[1], defect)


def _contacts(defect: np.ndarray, side: np.ndarray) -> float:
    """Separate places where a defect blob borders ``side``: a cut track meets the gap on both of its edges
    (open), a bite only on one (mousebite); a bridge meets two pieces of copper (short), a spur one."""
    ring = cv2.dilate(defect, np.ones((3, 3), np.uint8)) & (1 - defect) & side
    return float(cv2.connectedComponents(ring, connectivity=8)[0] - 1)


def _bordering_labels(labels: np.ndarray, defect: np.ndarray) -> float:
    """How many labelled pieces border a defect blob. With the labels of the whole board rather than of a crop,
    a track that only leaves the crop is still one piece, and a track cut in two really counts two."""
    if not defect.any():
        return 0.0
    ring = cv2.dilate(defect, np.ones((3, 3), np.uint8)) > 0
    return float(len(set(np.unique(labels[ring])) - {0}))


def _topology_features(
    tmpl_w: np.ndarray,
    test_w: np.ndarray,
    extra_w: np.ndarray,
    missing_w: np.ndarray,
    tmpl_labels_w: np.ndarray,
    test_labels_w: np.ndarray,
) -> list[float]:
    """Cut / bridge evidence on the raw difference next to the cleaned blob.

    The 3x3 opening that drops edge slivers also erases a 1-2 px cut through a track, the very pixels that make
    it an open rather than a mousebite; so these features take the raw difference within a few pixels of the
    cleaned blob, and count pieces both in the crop and on the whole board.
    """
    near = np.ones((5, 5), np.uint8)
    missing_raw = tmpl_w & (1 - test_w) & cv2.dilate(missing_w, near)
    extra_raw = test_w & (1 - tmpl_w) & cv2.dilate(extra_w, near)
    return [
        float(missing_raw.sum()),
        float(extra_raw.sum()),
        _contacts(missing_raw, 1 - tmpl_w),
        _contacts(extra_raw, tmpl_w),
        _touched_pieces(test_w, missing_raw),
        _touched_pieces(tmpl_w, extra_raw),
        _bordering_labels(test_labels_w, missing_raw),
        _bordering_labels(tmpl_labels_w, missing_raw),
        _bordering_labels(tmpl_labels_w, extra_raw),
        _bordering_labels(test_labels_w, extra_raw),
    ]


def candidate_features(
    template: np.ndarray,
    test: np.ndarray,
    extra: np.ndarray,
    missing: np.ndarray,
    candidate: Candidate,
    labels: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """The classifier's view of one candidate (see the module docstring for why each feature).

    ``labels`` are the connected-component labels of the whole template and test copper (once per pair, in
    ``extract``).
    """
    window = _window(candidate.blob, test.shape[:2])
    tmpl_w, test_w = _crop(template, window), _crop(test, window)
    extra_w, missing_w = _crop(extra, window), _crop(missing, window)
    tmpl_pieces, tmpl_holes = _pieces(tmpl_w)
    test_pieces, test_holes = _pieces(test_w)
    extra_area, extra_thick, extra_elong = _blob_shape(extra_w)
    miss_area, miss_thick, miss_elong = _blob_shape(missing_w)
    near_tmpl = cv2.dilate(tmpl_w, np.ones((3, 3), np.uint8))
    extra_touching = float((extra_w & near_tmpl).sum())
    near_gap = cv2.dilate(1 - tmpl_w, np.ones((3, 3), np.uint8))
    missing_at_edge = float((missing_w & near_gap).sum())
    x1, y1, x2, y2 = candidate.blob
    total = extra_area + miss_area
    return np.array(
        [
            extra_area,
            miss_area,
            (extra_area - miss_area) / max(total, 1.0),
            extra_thick,
            miss_thick,
            extra_elong,
            miss_elong,
            extra_touching / max(extra_area, 1.0),
            missing_at_edge / max(miss_area, 1.0),
            x2 - x1,
            y2 - y1,
            (x2 - x1) * (y2 - y1),
            total / max((x2 - x1) * (y2 - y1), 1),
            tmpl_pieces,
            test_pieces,
            test_pieces - tmpl_pieces,
            tmpl_holes,
            test_holes,
            test_holes - tmpl_holes,
            float(tmpl_w.mean()),
            float(test_w.mean()),
            float(cv2.connectedComponents(extra_w, connectivity=8)[0] - 1),
            float(cv2.connectedComponents(missing_w, connectivity=8)[0] - 1),
            *_cut_features(tmpl_w, test_w, missing_w, extra_w),
            *_topology_features(tmpl_w, test_w, extra_w, missing_w, _crop(labels[0], window), _crop(labels[1], window)),
        ],
        dtype=np.float32,
    )


class TreeEnsemble:
    """A forest of binary decision trees stored as flat arrays; ``predict_proba`` averages leaf distributions.

    Why not pickle/joblib: loading a pickle runs code, and the fleet ships model files to kiosks. The arrays
    (``feature``, ``threshold``, ``left``, ``right``, ``value`` per node, ``roots`` per tree) are loaded with
    ``allow_pickle=False``.
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.feature = arrays["feature"].astype(np.int32)
        self.threshold = arrays["threshold"].astype(np.float32)
        self.left = arrays["left"].astype(np.int32)
        self.right = arrays["right"].astype(np.int32)
        self.value = arrays["value"].astype(np.float32)
        self.roots = arrays["roots"].astype(np.int32)

    @classmethod
    def load(cls, path: Path) -> TreeEnsemble:
        with np.load(path, allow_pickle=False) as data:
            return cls({name: data[name] for name in data.files})

    @classmethod
    def from_sklearn(cls, forest: object) -> TreeEnsemble:
        """Flatten a fitted scikit-learn forest (``estimators_``) into one node table."""
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "left", "right", "value")}
        roots, offset = [], 0
        for estimator in forest.estimators_:  # type: ignore[attr-defined]
            tree = estimator.tree_
            roots.append(offset)
            is_leaf = tree.children_left < 0
            parts["feature"].append(np.where(is_leaf, -1, tree.feature))
            parts["threshold"].append(tree.threshold)
            parts["left"].append(np.where(is_leaf, -1, tree.children_left + offset))
            parts["right"].append(np.where(is_leaf, -1, tree.children_right + offset))
            value = tree.value[:, 0, :]
            parts["value"].append(value / np.maximum(value.sum(axis=1, keepdims=True), 1e-12))
            offset += tree.node_count
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        arrays["roots"] = np.array(roots)
        return cls(arrays)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            feature=self.feature.astype(np.int16),
            threshold=self.threshold,
            left=self.left,
            right=self.right,
            value=self.value.astype(np.float16),
            roots=self.roots,
        )

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per feature row: all trees walked at once, level by level."""
        features = np.asarray(features, dtype=np.float32)
        rows = np.arange(features.shape[0])
        nodes = np.repeat(self.roots[None, :], features.shape[0], axis=0)
        while True:
            feat = self.feature[nodes]
            active = feat >= 0
            if not active.any():
                break
            go_left = features[rows[:, None], np.maximum(feat, 0)] <= self.threshold[nodes]
            nodes = np.where(active, np.where(go_left, self.left[nodes], self.right[nodes]), nodes)
        return self.value[nodes].mean(axis=1)


def candidate_crops(template: np.ndarray, test: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray:
    """The crop network's input: template, test and their difference over each candidate's feature window,
    resampled to ``CROP_PX`` square (``(n, 3, CROP_PX, CROP_PX)`` float32; a window cut by the image border is
    stretched, which is rare and the same in training)."""
    crops = np.zeros((len(candidates), 3, CROP_PX, CROP_PX), np.float32)
    for k, candidate in enumerate(candidates):
        window = _window(candidate.blob, test.shape[:2])
        tmpl_w, test_w = _crop(template, window).astype(np.float32), _crop(test, window).astype(np.float32)
        for channel, image in enumerate((tmpl_w, test_w, test_w - tmpl_w)):
            crops[k, channel] = cv2.resize(image, (CROP_PX, CROP_PX), interpolation=cv2.INTER_AREA)
    return crops


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


class CropModel:
    """The int8 crop network on OpenVINO, one thread: class probabilities (``CLASSES`` order) per crop."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        import openvino as ov

        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        self._request = ov.Core().compile_model(str(path), "CPU", config).create_infer_request()

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """Softmax of the network's logits (the ONNX graph ends at the logits, as exported for training)."""
        logits = np.asarray(next(iter(self._request.infer({0: crops}).values())), dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)


def verify_model_files(model_path: Path, crop_model_path: Path) -> None:
    """Refuse model files that are not the ones the ``pcb`` entry of their folder's manifest describes (name and
    sha256 of the trees and of the crop network): a truncated or tampered file must not type defects.

    Only the training recipe skips this (``verify=False``), to measure files it has not registered yet.
    """
    try:
        entry, _ = verified_model_path(model_path.parent, MANIFEST_ENTRY)
    except ModelIntegrityError as error:
        raise PcbError(str(error)) from error
    expected = entry.assets_sha256.get(CROP_ASSET)
    if entry.file != model_path.name or entry.assets.get(CROP_ASSET) != crop_model_path.name:
        raise PcbError(f"{model_path.parent}: the manifest's {MANIFEST_ENTRY!r} entry does not list these files")
    if expected != sha256_file(crop_model_path):
        raise PcbError(f"model file {crop_model_path} does not match the sha256 in its manifest")


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
            verify_model_files(model_path, crop_model_path)
        self.model = TreeEnsemble.load(model_path)
        self.crop_model = CropModel(crop_model_path)
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
        """One JSON-ready result for a pair of image files; raises ``PcbError`` for an unusable file."""
        template, test = load_binary(template_path), load_binary(test_path)
        boxes, method = self.detect_masks(template, test)
        return {"file": str(test_path), "boxes": boxes, "alignment": method}


def detect_pairs(
    pairs: Iterable[tuple[Path, Path]], model_path: Path = MODEL_PATH, min_score: float = DEFAULT_MIN_SCORE
) -> Iterator[dict]:
    """For the CLI: one result per ``(template, test)`` pair, ``{"file", "boxes"}`` or ``{"file", "error"}``.

    The model is loaded once for all pairs; a bad pair yields an error line and the rest go on.
    """
    detector = PcbDetector(model_path, min_score)
    for template_path, test_path in pairs:
        try:
            yield detector.detect(Path(template_path), Path(test_path))
        except PcbError as error:
            yield {"file": str(test_path), "error": str(error)}


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


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes."""
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(
    predicted: Sequence[Sequence[float]], truth: Sequence[Sequence[float]], threshold: float = IOU_THRESHOLD
) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by IoU (best pairs first): ``(predicted index, truth index)`` pairs."""
    scored = [(iou(p, t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth) if iou(p, t) >= threshold]
    used_p: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for _, i, j in sorted(scored, reverse=True):
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            pairs.append((i, j))
    return pairs


def detection_metrics(results: Iterable[tuple[list[dict], list[dict]]]) -> dict:
    """Precision, recall and F-score at IoU >= 0.33 with the label required to match, overall and per type.

    ``results`` holds ``(predicted boxes, true boxes)`` per image, each box ``{"box": [...], "label": ...}``.
    Per type, precision counts the predictions of that label and recall the true boxes of that label.
    """
    counts = {label: {"tp": 0, "pred": 0, "true": 0} for label in LABELS}
    for predicted, truth in results:
        for label in LABELS:
            pred_l = [p["box"] for p in predicted if p["label"] == label]
            true_l = [t["box"] for t in truth if t["label"] == label]
            counts[label]["tp"] += len(match(pred_l, true_l))
            counts[label]["pred"] += len(pred_l)
            counts[label]["true"] += len(true_l)
    per_type = {label: _prf(**c) for label, c in counts.items()}
    overall = _prf(*(sum(c[k] for c in counts.values()) for k in ("tp", "pred", "true")))
    return {**overall, "per_type": per_type}


def _prf(tp: int, pred: int, true: int) -> dict:
    precision = tp / pred if pred else 0.0
    recall = tp / true if true else 0.0
    f_score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f_score": round(f_score, 4),
        "tp": tp,
        "predicted": pred,
        "true": true,
    }


def timed_detect(detector: PcbDetector, template_path: Path, test_path: Path) -> tuple[dict, float]:
    """A detection and its wall time in ms (file reading included), for the bench and the manifest."""
    start = time.perf_counter()
    result = detector.detect(template_path, test_path)
    return result, (time.perf_counter() - start) * 1000
