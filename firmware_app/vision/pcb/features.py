"""The trees' view of a candidate: hand-made numbers from the template and test crops around it.

Why these numbers: the class of a defect is mostly topology. Whether copper is extra or missing splits the
kinds in two; whether the difference cuts a track or bridges a gap (pieces and holes that appear or vanish,
counted in the crop and on the whole board) tells an open from a mousebite and a short from a spur; the blob's
size and shape tell copper and pin-holes from the rest.
"""

from __future__ import annotations

import cv2
import numpy as np

from firmware_app.vision.pcb.candidates import Candidate

WINDOW_PX = 48  # the crop around a candidate that the features (and the crop network) look at
N_FEATURES = 37  # the length of ``candidate_features``; the trees' file is fitted to exactly these columns


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The part of an image inside an ``(x1, y1, x2, y2)`` box (a view, not a copy)."""
    x1, y1, x2, y2 = box
    return image[y1:y2, x1:x2]


def feature_window(blob: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The blob plus a margin, at least ``WINDOW_PX`` square: enough context to see tracks and holes.

    Public because the crop network's input is cut from the same window (``crops.candidate_crops``).
    """
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
    ``extraction.extract``).
    """
    window = feature_window(candidate.blob, test.shape[:2])
    tmpl_w, test_w = crop(template, window), crop(test, window)
    extra_w, missing_w = crop(extra, window), crop(missing, window)
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
            *_topology_features(tmpl_w, test_w, extra_w, missing_w, crop(labels[0], window), crop(labels[1], window)),
        ],
        dtype=np.float32,
    )
