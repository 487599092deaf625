"""Product-profile defect classification of technicians' photos: label, defect score, heat map and a box.

A profile is one int8 ONNX model in ``models/int8/`` with its manifest entry (labels, which labels mean "not
defective", thresholds). The model's last class is ``not_recognised``: it was trained on pictures of other things
(walls, noise, drawings, a natural photo, the other product). It has three outputs, so the kiosk needs no second
model to locate or reject:

- ``logits`` [1, C]: the class activation maps pooled (the classifier): their mean, or for profiles with tiny
  defects (magnetic tile) half mean, half max, so that one hot cell of the map is not outvoted;
- ``cam`` [1, C, 7, 7]: the class activation maps themselves (where the evidence for each class lies);
- ``similarity`` [1, C]: cosine similarity of the pooled backbone features to each class's training mean.

Unknown-input rejection: the ``not_recognised`` class wins, or ``similarity`` to the winning class is below the
manifest's threshold (a second guard for things unlike anything seen in training: softmax alone only compares
the known classes with each other). The threshold is set by the recipe
(``models/recipes/defects/export_int8.py``) below the 0.5th percentile of the dev photos.

Ordinary phone photos (``DefectClassifier(views=4)``, the default; measured by ``bench/bench_vision_robustness.py``):
the magnetic-tile model was trained on upright, well exposed, lightly compressed photos (flips and 180 degrees
included; the steel model since also on 90-degree turns, darkened, blurred and JPEG-compressed ones), so
``classify`` runs the photo in its four 90-degree turns as one batch, averages logits, similarity and the heat
map (turned back to the photo's orientation) within the 0/180 and the 90/270 pair, and keeps the pair whose
winning class is more similar to its training photos: a photo and its 90/180/270-degree turns get the same
verdict. Before that, ``restore_photo`` brightens an under-exposed photo (99th-percentile grey below the darkest
1% of the training photos) and dithers a heavily JPEG-compressed one (8x8 block edges much stronger than the
rest) so that its flat, noiseless areas look like a camera's again, unless the model's manifest entry says it was
trained for JPEG (``trained_for``); normally exposed, lightly compressed photos are left untouched. ``views=1``
is the model alone (one pass, no restoration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from firmware_app.inference.manifest import ModelEntry, verified_model_path
from firmware_app.inference.runtime import open_model

INPUT_SIZE = 224
INPUT = "image"  # the model's input name
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
NOT_RECOGNISED = "not_recognised"
BOX_COLOUR = (255, 0, 0)  # RGB red
HOT_FRACTION = 0.5  # the box surrounds the heat map's region above this share of its peak
VIEWS = (1, 2, 4)  # 1: the photo as it is; 2: and turned 180 degrees; 4: in all four 90-degree turns
# Exposure: the training photos' 99th-percentile grey is >= 87-89 for 99% of them (median 181-196), so a darker
# photo is under-exposed: it is brightened to the training median, by at most MAX_GAIN (a black frame stays dark).
DARK_P99 = 90.0
TARGET_P99 = 180.0
MAX_GAIN = 4.0
# JPEG blocking: mean step across the 8x8 grid's edges over the mean step elsewhere is <= 1.6 for every training
# and dev photo (the datasets' own JPEGs), >= 1.6 at quality 20 and ~2-3 at quality 40.
BLOCKY = 1.6
DITHER_SD = 4.0  # grey levels of seeded Gaussian noise: the sensor grain that heavy compression wiped out


def preprocess(image: np.ndarray) -> np.ndarray:
    """RGB (or grey) uint8 image -> [1, 3, 224, 224] float32, ImageNet-normalised.

    The training photos of both profiles are greyscale, so colour is dropped here (and the grey copied to the
    three channels): a camera's colour cast must not look like a defect. Training uses this same function.
    """
    grey = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    shrink = grey.shape[0] > INPUT_SIZE or grey.shape[1] > INPUT_SIZE
    grey = cv2.resize(grey, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    rgb = np.repeat(grey[:, :, None].astype(np.float32) / 255.0, 3, axis=2)
    return ((rgb - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None].astype(np.float32)


def grey_of(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def percentile_99(grey: np.ndarray) -> float:
    """The 99th-percentile grey level of a uint8 image (from its histogram: cheap at any size)."""
    counts = np.bincount(grey.ravel(), minlength=256)
    return float(np.searchsorted(np.cumsum(counts), 0.99 * grey.size))


def blockiness(grey: np.ndarray) -> float:
    """How much stronger the steps across an 8-pixel grid are than the other steps (about 1 for a camera's photo,
    well above for a heavily compressed JPEG); the grid's phase is searched, so a cropped JPEG is measured too."""
    if min(grey.shape) < 32:
        return 1.0
    g = grey.astype(np.float32)
    ratios = []
    for steps in (np.abs(np.diff(g, axis=1)).mean(axis=0), np.abs(np.diff(g, axis=0)).mean(axis=1)):
        steps = steps[: len(steps) // 8 * 8].reshape(-1, 8).mean(axis=0)  # mean step by position in the grid
        edge = int(np.argmax(steps))
        ratios.append(float(steps[edge]) / max(float(np.delete(steps, edge).mean()), 1e-3))
    return float(np.mean(ratios))


def restore_photo(image: np.ndarray, dither: bool = True) -> np.ndarray:
    """The grey photo, brightened if under-exposed and dithered if heavily JPEG-compressed (unless ``dither`` is
    off: for a model trained on compressed photos; see the module's docstring); a normally exposed, lightly
    compressed photo comes back unchanged. Deterministic."""
    grey = grey_of(image)
    p99 = percentile_99(grey)
    gain = min(TARGET_P99 / max(p99, 1.0), MAX_GAIN) if p99 < DARK_P99 else 1.0
    blocky = dither and blockiness(grey) >= BLOCKY
    if gain == 1.0 and not blocky:
        return grey
    out = grey.astype(np.float32) * gain
    if blocky:
        out += np.random.default_rng(0).normal(0.0, DITHER_SD, grey.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@dataclass
class DefectResult:
    """What the kiosk says about one photo."""

    label: str
    confidence: float
    defective: bool
    defect_score: float
    similarity: float
    heatmap: np.ndarray  # float32 [H, W] in 0-1, the predicted class's CAM at the photo's size
    boxes: list[dict[str, object]] = field(default_factory=list)
    probabilities: dict[str, float] = field(default_factory=dict)  # over the product's classes only

    def as_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "defective": self.defective,
            "defect_score": round(self.defect_score, 4),
            "boxes": self.boxes,
        }


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def hot_box(heatmap: np.ndarray, level: float | None = None) -> list[int]:
    """[x1, y1, x2, y2] of the connected region that contains the peak and is at or above ``level`` (by default
    ``HOT_FRACTION`` of the peak: a CAM has no scale of its own; an enrolled part's heat map has one)."""
    cut = HOT_FRACTION * float(heatmap.max()) if level is None else min(level, float(heatmap.max()))
    mask = (heatmap >= cut).astype(np.uint8)
    _, components = cv2.connectedComponents(mask)
    peak = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    ys, xs = np.nonzero(components == components[peak])
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def annotate(image: np.ndarray, result: DefectResult, alpha: float = 0.4) -> np.ndarray:
    """The photo with the heat map blended in (JET colours) and the boxes drawn: the picture for the ticket."""
    colours = cv2.applyColorMap((result.heatmap * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if result.defective:
        out = cv2.addWeighted(out, 1 - alpha, colours, alpha, 0)
    draw_rectangles(out, [tuple(int(v) for v in box["box"]) for box in result.boxes])  # type: ignore[attr-defined]
    return out


def draw_rectangles(image: np.ndarray, boxes: Sequence[Sequence[int]]) -> None:
    """Draw a red rectangle round each [x1, y1, x2, y2) box on the RGB ``image``, in place, thick enough to see
    on the kiosk's screen at any photo size."""
    thickness = max(1, round(max(image.shape[:2]) / 200))
    for x1, y1, x2, y2 in boxes:
        cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), BOX_COLOUR, thickness)


class DefectClassifier:
    """One product profile's int8 model on OpenVINO (one thread by default: the kiosk's other work keeps going).

    ``views`` is the test-time augmentation: 4 (default) classifies the photo in its four 90-degree turns (one
    batch) after ``restore_photo``, so turning the phone does not change the verdict; 2 the photo and its
    180-degree turn; 1 the photo alone, as the model was measured by its recipe.
    """

    def __init__(self, models_dir: Path, profile: str, threads: int = 1, views: int = 4) -> None:
        if views not in VIEWS:
            raise ValueError(f"views must be one of {VIEWS}, not {views!r}")
        self.views = views
        self.entry: ModelEntry
        self.entry, path = verified_model_path(models_dir, profile)
        extra = self.entry.model_extra or {}
        if not self.entry.labels or self.entry.labels[-1] != NOT_RECOGNISED:
            raise ValueError(f"profile {profile!r}: the manifest's last label must be {NOT_RECOGNISED!r}")
        self.labels = list(self.entry.labels[:-1])  # the product's own classes
        self.ok_labels = set(extra.get("ok_labels", []))
        self.similarity_threshold = self.entry.thresholds.get("similarity", -1.0)
        # A model its recipe trained on JPEG-compressed photos is better without the dithering (steel dev, JPEG
        # quality 20: 98.8% without, 94.4% with); one trained without still needs it (tile: 88.4% with, 83.3%).
        self.dither = "jpeg" not in extra.get("trained_for", [])
        self.model = open_model(self.entry, path, threads=threads)

    @property
    def name(self) -> str:
        return self.entry.name

    def raw(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        """The model's outputs by name for a preprocessed tensor (a batch of one or more)."""
        return self.model.infer({INPUT: tensor})

    def _outputs(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logits [C], similarity [C] and CAM [C, h, w] in the photo's orientation, pooled over the views."""
        if self.views == 1:
            outputs = self.raw(preprocess(image))
            return outputs["logits"][0], outputs["similarity"][0], outputs["cam"][0]
        tensor = preprocess(restore_photo(image, self.dither))
        turns = (0, 2) if self.views == 2 else (0, 1, 2, 3)
        outputs = self.raw(np.concatenate([np.rot90(tensor, k, axes=(2, 3)) for k in turns]))
        cams = [np.rot90(outputs["cam"][i], -k, axes=(1, 2)) for i, k in enumerate(turns)]  # back to the photo
        pairs = [[turns.index(0), turns.index(2)]] + ([[turns.index(1), turns.index(3)]] if self.views == 4 else [])
        pooled = []
        for pair in pairs:  # a 180-degree pair: the model was trained on both of them
            logits = outputs["logits"][pair].mean(axis=0)
            similarity = outputs["similarity"][pair].mean(axis=0)
            cam = np.mean([cams[i] for i in pair], axis=0)
            pooled.append((float(similarity[int(np.argmax(logits[:-1]))]), logits, similarity, cam))
        # The orientation the model knows best: its product class is most like the training photos.
        _, logits, similarity, cam = max(pooled, key=lambda p: p[0])
        return logits, similarity, cam

    def classify(self, image: np.ndarray) -> DefectResult:
        """Classify an RGB photo; ``label`` is ``not_recognised`` when it does not look like this profile's part."""
        logits, similarities, cams = self._outputs(image)
        all_probabilities = softmax(logits.astype(np.float64))
        best = int(np.argmax(all_probabilities))
        similarity = float(similarities[best])
        height, width = image.shape[:2]
        cam = np.maximum(cams[best].astype(np.float32), 0.0)
        heatmap = cv2.resize(cam, (width, height), interpolation=cv2.INTER_CUBIC)
        heatmap = np.clip(heatmap / max(float(heatmap.max()), 1e-6), 0.0, 1.0)
        confidence = float(all_probabilities[best])
        known = all_probabilities[:-1] / max(float(all_probabilities[:-1].sum()), 1e-12)
        probabilities = {label: float(p) for label, p in zip(self.labels, known, strict=True)}
        if best == len(self.labels) or similarity < self.similarity_threshold:
            return DefectResult(NOT_RECOGNISED, confidence, False, 0.0, similarity, heatmap, [], probabilities)
        label = self.labels[best]
        defect_score = 1.0 - sum(probabilities[ok] for ok in self.ok_labels)
        defective = label not in self.ok_labels
        boxes: list[dict[str, object]] = []
        if defective:
            boxes.append({"box": hot_box(heatmap), "label": label, "score": round(confidence, 4)})
        return DefectResult(label, confidence, defective, defect_score, similarity, heatmap, boxes, probabilities)
