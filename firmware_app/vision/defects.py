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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from firmware_app.inference.manifest import ModelEntry, verified_model_path

INPUT_SIZE = 224
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
NOT_RECOGNISED = "not_recognised"
BOX_COLOUR = (255, 0, 0)  # RGB red
HOT_FRACTION = 0.5  # the box surrounds the heat map's region above this share of its peak


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


def hot_box(heatmap: np.ndarray) -> list[int]:
    """[x1, y1, x2, y2] of the connected region above ``HOT_FRACTION`` of the peak that contains the peak."""
    mask = (heatmap >= HOT_FRACTION * float(heatmap.max())).astype(np.uint8)
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
    """One product profile's int8 model on OpenVINO (one thread by default: the kiosk's other work keeps going)."""

    def __init__(self, models_dir: Path, profile: str, threads: int = 1) -> None:
        import openvino as ov

        self.entry: ModelEntry
        self.entry, path = verified_model_path(models_dir, profile)
        extra = self.entry.model_extra or {}
        if not self.entry.labels or self.entry.labels[-1] != NOT_RECOGNISED:
            raise ValueError(f"profile {profile!r}: the manifest's last label must be {NOT_RECOGNISED!r}")
        self.labels = list(self.entry.labels[:-1])  # the product's own classes
        self.ok_labels = set(extra.get("ok_labels", []))
        self.similarity_threshold = self.entry.thresholds.get("similarity", -1.0)
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        self._compiled = ov.Core().compile_model(str(path), "CPU", config)
        self._request = self._compiled.create_infer_request()

    @property
    def name(self) -> str:
        return self.entry.name

    def raw(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        """The model's outputs by name for a preprocessed tensor."""
        results = self._request.infer({0: tensor})
        return {output.get_any_name(): np.asarray(value) for output, value in results.items()}

    def classify(self, image: np.ndarray) -> DefectResult:
        """Classify an RGB photo; ``label`` is ``not_recognised`` when it does not look like this profile's part."""
        outputs = self.raw(preprocess(image))
        all_probabilities = softmax(outputs["logits"][0].astype(np.float64))
        best = int(np.argmax(all_probabilities))
        similarity = float(outputs["similarity"][0, best])
        height, width = image.shape[:2]
        cam = np.maximum(outputs["cam"][0, best].astype(np.float32), 0.0)
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
