"""Good-only inspection of a part no recipe was trained for: a PatchCore-style memory bank built at the kiosk.

Roth et al., "Towards Total Recall in Industrial Anomaly Detection" (CVPR 2022): the features of every small
patch of a few photos of good parts are kept (a coreset of them, so the bank stays small); a patch of a new photo
that is far from every kept patch is something the good photos never showed. Here the features come from the
int8 ``patch-features`` model (EfficientNet-Lite0's ImageNet blocks, ``models/recipes/anomaly/``), so enrolment
is a forward pass per photo and a greedy coreset, seconds on one core, and nothing is trained.

What makes the verdict survive an ordinary photo:
- every photo enters the bank in its four 90-degree turns, so a part photographed sideways matches itself;
- ``to_tensor`` stretches the photo's grey levels (1st to 99th percentile, one gain for all channels), so an
  under- or over-exposed photo of a good part looks like the enrolment photos;
- a JPEG-compressed and a slightly blurred copy of each upright photo join the bank too.

Calibration is per part, from the enrolment photos themselves: each photo is scored against the bank without the
patches that came from it (leave one photo out, no second bank needed), which is what a new good photo of the
part looks like to the bank. The threshold, the scale of ``defect_score`` and the heat map's floor come from
those scores, so ``defect_score`` is 0.5 at the threshold for every part and a heat map only lights up where
a patch is further from the bank than the part's own good photos ever were.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from firmware_app.inference.manifest import ENROLLED_KIND, MANIFEST_NAME, ModelEntry, sha256_file, verified_model_path
from firmware_app.inference.runtime import open_model
from firmware_app.vision.defects import IMAGENET_MEAN, IMAGENET_STD, DefectResult, hot_box
from kiosk_link.durable import write_bytes_atomically

BACKBONE = "patch-features"
INPUT = "image"  # the backbone's input name
FEATURE_LAYERS = ("stride4", "stride8", "stride16")
Detail = Literal["fine", "standard"]
# Which backbone maps a part uses. "standard" is PatchCore's choice (the middle layers); "fine" keeps the
# stride-4 map for thin structures (a circuit board's tracks), at four times the patches.
DETAIL_LAYERS: dict[str, tuple[str, str]] = {"fine": ("stride4", "stride8"), "standard": ("stride8", "stride16")}
KIND = ENROLLED_KIND
OK, DEFECT = "ok", "defect"
MIN_PHOTOS = 4  # fewer cannot calibrate a threshold (leave-one-out needs a spread)
MAX_PHOTOS = 64
MAX_BANK_PATCHES = 2048  # the coreset's size: bounds both the profile file and the time of an inspection
# The coreset is chosen among at most this many patches (a seeded random sample when there are more): the greedy
# search costs candidates x bank size, so this bounds the enrolment's time whatever the photos' count and detail.
MAX_CANDIDATE_PATCHES = 65_536
PROJECTION_DIMS = 32  # the coreset is chosen on a random projection (PatchCore's speed-up)
SMOOTH_SIGMA_CELLS = 1.0  # the patch map is smoothed before its peak is taken (one stray patch is noise)
# threshold = mean + 2 standard deviations of the good photos' left-out scores, and above every one of them
# (MARGIN_SIGMAS more): none of the part's own good photos is flagged. On the magnetic-tile dev split (16 good
# tiles enrolled) 3 sd passed 97.6% of good tiles and caught 30% of defective ones, 2 sd 96.4% and 46%.
THRESHOLD_SIGMAS = 2.0
MARGIN_SIGMAS = 0.25
NOT_PART_SHARE = 0.5  # more than half the photo unlike the part: it does not show the part at all
STRETCH_PERCENTILES = (1.0, 99.0)
JPEG_AUGMENT_QUALITY = 20  # a photo sent through a messaging app at quality 20 must keep its verdict
BLUR_AUGMENT_SIGMA_PX = 1.0


class EnrolmentError(ValueError):
    """Photos that cannot make a profile (too few, unreadable, all alike to nothing)."""


def to_tensor(image: np.ndarray, side_px: int) -> np.ndarray:
    """RGB (or grey) uint8 photo -> [1, 3, side, side] float32 for the backbone, exposure-normalised."""
    rgb = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    shrink = max(rgb.shape[:2]) > side_px
    rgb = cv2.resize(rgb, (side_px, side_px), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    values = rgb.astype(np.float32) / 255.0
    low, high = np.percentile(values.mean(axis=2), STRETCH_PERCENTILES)
    if high - low > 0.02:  # a blank photo is left as it is rather than amplifying its noise
        values = np.clip((values - low) / (high - low), 0.0, 1.0)
    return ((values - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None].astype(np.float32)


class PatchFeatureExtractor:
    """The int8 backbone at one fixed square size, on the kiosk's runtime (OpenVINO or LiteRT, whose maps agree:
    a part taught on one is inspected on the other); ``__call__`` gives [rows, cols, channels]."""

    def __init__(self, models_dir: Path, side_px: int, detail: Detail, threads: int = 1) -> None:
        if side_px % 16:
            raise ValueError(f"side_px must be a multiple of 16, not {side_px}")
        self.entry, path = verified_model_path(models_dir, BACKBONE)
        self.side_px, self.detail = side_px, detail
        shape = {INPUT: [1, 3, side_px, side_px]}  # OpenVINO compiles for it; LiteRT resizes its input to it
        self.model = open_model(self.entry, path, threads=threads, shapes=shape)

    @property
    def sha256(self) -> str:
        return self.entry.sha256

    def __call__(self, image: np.ndarray) -> np.ndarray:
        results = self.model.infer({INPUT: to_tensor(image, self.side_px)})
        fine, coarse = (results[name][0] for name in DETAIL_LAYERS[self.detail])
        rows, cols = fine.shape[1:]
        upsampled = cv2.resize(
            np.ascontiguousarray(coarse.transpose(1, 2, 0)), (cols, rows), interpolation=cv2.INTER_LINEAR
        )
        return np.concatenate([fine.transpose(1, 2, 0), upsampled], axis=2)


def enrolment_views(image: np.ndarray) -> list[np.ndarray]:
    """The copies of one good photo that enter the bank: four turns, a JPEG-compressed and a blurred copy."""
    turns = [np.ascontiguousarray(np.rot90(image, k)) for k in range(4)]
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_AUGMENT_QUALITY])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) if ok else None
    compressed = image if decoded is None else np.asarray(decoded)
    blurred = cv2.GaussianBlur(image, (0, 0), BLUR_AUGMENT_SIGMA_PX)
    return [*turns, compressed, blurred]


def greedy_coreset(points: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Indices of ``size`` points chosen farthest-first (k-center greedy) on a random projection: every point
    ends up close to a chosen one, so rare but normal patches are kept, unlike a random sample."""
    if size >= len(points):
        return np.arange(len(points))
    rng = np.random.default_rng(seed)
    projection = rng.normal(size=(points.shape[1], PROJECTION_DIMS)).astype(np.float32) / np.sqrt(PROJECTION_DIMS)
    projected = points.astype(np.float32) @ projection
    squared = (projected * projected).sum(axis=1)
    chosen = np.empty(size, dtype=np.int64)
    chosen[0] = int(rng.integers(len(points)))
    nearest = squared - 2.0 * (projected @ projected[chosen[0]]) + squared[chosen[0]]
    for k in range(1, size):  # |p - c|^2 = |p|^2 - 2 p.c + |c|^2: one matrix-vector product per pick
        chosen[k] = int(np.argmax(nearest))
        distance = projected @ projected[chosen[k]]
        distance *= -2.0
        distance += squared
        distance += squared[chosen[k]]
        np.minimum(nearest, distance, out=nearest)
    return chosen


def nearest_distances(features: np.ndarray, bank: np.ndarray, bank_sq: np.ndarray) -> np.ndarray:
    """Euclidean distance of each feature vector [N, C] to its nearest bank row [M, C]."""
    squared = (features * features).sum(axis=1, keepdims=True) - 2.0 * (features @ bank.T) + bank_sq[None, :]
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def smoothed_peak(patch_map: np.ndarray) -> tuple[np.ndarray, float]:
    smoothed = cv2.GaussianBlur(patch_map.astype(np.float32), (0, 0), SMOOTH_SIGMA_CELLS)
    return smoothed, float(smoothed.max())


@dataclass(frozen=True)
class Calibration:
    """The part's own statistics, from its enrolment photos scored with themselves left out."""

    good_scores: tuple[float, ...]  # each enrolment photo's image score
    patch_floor: float  # median patch distance of the good photos: the heat map's zero
    threshold: float  # image scores at or above it are defects
    scale: float  # the spread of the good scores: defect_score's slope

    @classmethod
    def from_scores(cls, good_scores: Sequence[float], patch_floor: float) -> Calibration:
        scores = np.asarray(good_scores, dtype=np.float64)
        scale = max(float(scores.std()), 0.05 * float(scores.mean()), 1e-6)
        threshold = max(float(scores.mean()) + THRESHOLD_SIGMAS * scale, float(scores.max()) + MARGIN_SIGMAS * scale)
        return cls(tuple(round(float(s), 5) for s in scores), patch_floor, threshold, scale)

    def defect_score(self, image_score: float, threshold: float) -> float:
        """0-1, 0.5 at the threshold: how sure the kiosk is that the photo shows a defect."""
        return float(1.0 / (1.0 + np.exp(-(image_score - threshold) / self.scale)))

    def flagged(self, threshold: float) -> int:
        """How many enrolment photos a threshold would call defective (the staff screen shows it)."""
        return sum(score >= threshold for score in self.good_scores)


def enrol(
    extractor: PatchFeatureExtractor, photos: Sequence[np.ndarray], seed: int = 0
) -> tuple[np.ndarray, Calibration, dict[str, Any]]:
    """Bank (float16 [M, C]), calibration and enrolment facts from good photos (RGB uint8)."""
    if not MIN_PHOTOS <= len(photos) <= MAX_PHOTOS:
        raise EnrolmentError(f"enrolment needs {MIN_PHOTOS} to {MAX_PHOTOS} good photos, got {len(photos)}")
    start = time.perf_counter()
    per_photo, uprights = [], []
    for photo in photos:
        views = [extractor(view) for view in enrolment_views(photo)]
        uprights.append(views[0])
        per_photo.append(np.concatenate([view.reshape(-1, view.shape[2]) for view in views]))
    features = np.concatenate(per_photo)
    owner = np.concatenate([np.full(len(f), i) for i, f in enumerate(per_photo)])
    candidates = np.arange(len(features))
    if len(candidates) > MAX_CANDIDATE_PATCHES:
        candidates = np.sort(np.random.default_rng(seed).choice(len(features), MAX_CANDIDATE_PATCHES, replace=False))
    chosen = candidates[greedy_coreset(features[candidates], min(MAX_BANK_PATCHES, len(candidates) // 4), seed)]
    bank, bank_owner = features[chosen].astype(np.float16).astype(np.float32), owner[chosen]
    good_scores, patch_medians = [], []
    for index, upright in enumerate(uprights):  # leave-one-photo-out: the bank without this photo's patches
        others = bank[bank_owner != index]
        distances = nearest_distances(upright.reshape(-1, upright.shape[2]), others, (others * others).sum(axis=1))
        patch_medians.append(float(np.median(distances)))
        good_scores.append(smoothed_peak(distances.reshape(upright.shape[:2]))[1])
    calibration = Calibration.from_scores(good_scores, float(np.median(patch_medians)))
    facts = {
        "photos": len(photos),
        "views_per_photo": len(enrolment_views(photos[0])),
        "patches": len(features),
        "bank_patches": len(bank),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return bank.astype(np.float16), calibration, facts


class AnomalyInspector:
    """An enrolled part: ``classify`` says ``ok`` or ``defect`` (or ``not_recognised``) with a heat map and a box,
    with the same ``DefectResult`` as the trained profiles."""

    def __init__(self, profile_dir: Path, name: str, models_dir: Path, threads: int = 1) -> None:
        self.labels = [OK, DEFECT]
        self.ok_labels = {OK}
        self.entry: ModelEntry
        self.entry, path = verified_model_path(profile_dir, name)
        extra = self.entry.model_extra or {}
        if extra.get("kind") != KIND:
            raise ValueError(f"profile {name!r} in {profile_dir} is not an enrolled part")
        self.extractor = PatchFeatureExtractor(models_dir, int(extra["side_px"]), extra["detail"], threads)
        if extra["backbone_sha256"] != self.extractor.sha256:
            raise ValueError(f"profile {name!r} was enrolled with another {BACKBONE} model: enrol its photos again")
        with np.load(path, allow_pickle=False) as arrays:
            self.bank = arrays["bank"].astype(np.float32)
        self._bank_sq = (self.bank * self.bank).sum(axis=1)
        self.calibration = Calibration(
            tuple(extra["calibration"]["good_scores"]),
            float(extra["calibration"]["patch_floor"]),
            float(extra["calibration"]["threshold"]),
            float(extra["calibration"]["scale"]),
        )
        self.threshold = float(self.entry.thresholds.get("score", self.calibration.threshold))

    @property
    def name(self) -> str:
        return self.entry.name

    def score(self, image: np.ndarray) -> tuple[float, np.ndarray]:
        """The image score and the smoothed patch-distance map [rows, cols]."""
        features = self.extractor(image)
        distances = nearest_distances(features.reshape(-1, features.shape[2]), self.bank, self._bank_sq)
        smoothed, peak = smoothed_peak(distances.reshape(features.shape[:2]))
        return peak, smoothed

    def classify(self, image: np.ndarray) -> DefectResult:
        image_score, patch_map = self.score(image)
        floor = self.calibration.patch_floor
        # 0.5 at the threshold, 0 at the good photos' typical patch: a good part never looks alarming.
        cells = np.clip((patch_map - floor) / (2.0 * max(self.threshold - floor, 1e-6)), 0.0, 1.0)
        height, width = image.shape[:2]
        heatmap = np.clip(cv2.resize(cells, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
        defect_score = self.calibration.defect_score(image_score, self.threshold)
        defective = image_score >= self.threshold
        probabilities = {OK: 1.0 - defect_score, DEFECT: defect_score}
        if defective and float((cells >= 0.5).mean()) > NOT_PART_SHARE:
            return DefectResult("not_recognised", defect_score, False, 0.0, 0.0, heatmap, [], probabilities)
        label = DEFECT if defective else OK
        confidence = defect_score if defective else 1.0 - defect_score
        boxes: list[dict[str, object]] = []
        if defective:
            boxes.append({"box": hot_box(heatmap, level=0.5), "label": DEFECT, "score": round(defect_score, 4)})
        return DefectResult(label, confidence, defective, defect_score, 1.0, heatmap, boxes, probabilities)


def profile_entry(
    name: str,
    title: str,
    bank_file: Path,
    extractor: PatchFeatureExtractor,
    calibration: Calibration,
    facts: dict[str, Any],
) -> dict[str, Any]:
    """The models-manifest entry of an enrolled part (the same format as the shipped models', so a profile
    folder can be staged on the backend and released like any model)."""
    return {
        "name": name,
        "version": time.strftime("%Y%m%d.%H%M%S", time.gmtime()),
        "kind": KIND,
        "title": title,
        "task": f"enrolled part {title!r}: good-only anomaly detection (PatchCore-style memory bank)",
        "file": bank_file.name,
        "sha256": sha256_file(bank_file),
        "size_bytes": bank_file.stat().st_size,
        "runtime": ["numpy", f"openvino or litert ({BACKBONE})"],
        "labels": [OK, DEFECT],
        "ok_labels": [OK],
        "thresholds": {"score": calibration.threshold},
        "backbone": BACKBONE,
        "backbone_sha256": extractor.sha256,
        "side_px": extractor.side_px,
        "detail": extractor.detail,
        "calibration": {
            "rule": f"mean + {THRESHOLD_SIGMAS:g} sd of the left-out good scores (at least max + {MARGIN_SIGMAS:g} sd)",
            "threshold": calibration.threshold,
            "scale": calibration.scale,
            "patch_floor": calibration.patch_floor,
            "good_scores": list(calibration.good_scores),
        },
        "enrolment": facts,
    }


def write_profile(
    folder: Path,
    name: str,
    title: str,
    extractor: PatchFeatureExtractor,
    photos: Sequence[np.ndarray],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Enrol ``photos`` and write the profile folder (bank, then manifest, each atomically); its entry, with the
    ``extra`` fields added."""
    bank, calibration, facts = enrol(extractor, photos)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, bank=bank)
    bank_file = folder / f"{name}.bank.npz"
    write_bytes_atomically(bank_file, buffer.getvalue())
    entry = {**profile_entry(name, title, bank_file, extractor, calibration, facts), **extra}
    write_manifest(folder, entry)
    return entry


def write_manifest(folder: Path, entry: dict[str, Any]) -> None:
    text = json.dumps({"models": [entry]}, indent=1, ensure_ascii=False) + "\n"
    write_bytes_atomically(folder / MANIFEST_NAME, text.encode("utf-8"))
