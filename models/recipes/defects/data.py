"""Profiles' data: which folder, which labels, and the fixed per-class train/dev split of the shared images.

The shared folders hold only the ``shared`` part of each dataset (the heldout part is kept for the final
evaluation), so train and dev are carved out of it here, per class and by a fixed seed, so that every run of the
recipe (and the manifest's metrics) sees the same dev images.
"""

from __future__ import annotations

import csv
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from firmware_app.vision.capture import load_image  # noqa: E402
from firmware_app.vision.defects import preprocess  # noqa: E402

DATA_ROOT = REPO.parent / "shared" / "data"
DEV_FRACTION = 0.2


@dataclass(frozen=True)
class ProfileSpec:
    """A product profile's dataset and label semantics."""

    name: str
    folder: str
    labels: tuple[str, ...]
    ok_labels: tuple[str, ...] = ()  # labels that mean "not defective"
    training_data: list[dict[str, str]] = field(default_factory=list)


PROFILES: dict[str, ProfileSpec] = {
    "steel_surface": ProfileSpec(
        name="steel_surface",
        folder="neu_det_steel",
        labels=("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"),
        training_data=[
            {
                "name": "NEU surface defect database (NEU-DET), shared part (1,259 images; 80% train by seed)",
                "licence": "no explicit licence; free for research use with citation",
                "attribution": "K. Song and Y. Yan, Applied Surface Science 2013 (Northeastern University)",
            }
        ],
    ),
    "magnetic_tile": ProfileSpec(
        name="magnetic_tile",
        folder="magnetic_tile_defects",
        labels=("free", "blowhole", "break", "crack", "fray", "uneven"),
        ok_labels=("free",),
        training_data=[
            {
                "name": "Magnetic-tile surface defect dataset, shared part (694 images; 80% train by seed)",
                "licence": "none stated; research use with citation",
                "attribution": "Huang, Qiu, Yuan, Surface defect saliency of magnetic tile, The Visual Computer 2020",
            }
        ],
    ),
}


def split(profile: ProfileSpec, seed: int = 13) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """(train, dev) lists of (image path, label index): 80/20 per class, shuffled by ``seed``."""
    folder = DATA_ROOT / profile.folder
    by_label: dict[str, list[Path]] = {label: [] for label in profile.labels}
    with (folder / "manifest.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            by_label[row["label"]].append(folder / row["path"])
    train: list[tuple[Path, int]] = []
    dev: list[tuple[Path, int]] = []
    for index, label in enumerate(profile.labels):
        paths = sorted(by_label[label])
        random.Random(f"{seed}-{label}").shuffle(paths)
        n_dev = round(len(paths) * DEV_FRACTION)
        dev += [(p, index) for p in paths[:n_dev]]
        train += [(p, index) for p in paths[n_dev:]]
    return train, dev


# What ``augment`` teaches a model to take in its stride, recorded in its manifest entry (``trained_for``): the
# kiosk skips the restoration a model no longer needs (JPEG dithering hurts a model trained on compressed photos).
TRAINED_FOR = ("turned_90", "dark", "blurred", "jpeg")


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Re-encode as JPEG at ``quality`` (OpenCV's encoder, as a phone or a messenger app would) and decode."""
    colour = image.ndim == 3
    ok, buffer = cv2.imencode(
        ".jpg", np.ascontiguousarray(image[:, :, ::-1] if colour else image), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    if not ok or decoded is None:
        return image
    return np.ascontiguousarray(decoded[:, :, ::-1] if colour else decoded)


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Augmentation a technician's phone photo could plausibly show: flips, 90-degree turns, a small rotation,
    brightness/contrast, under-exposure, slight defocus and JPEG re-compression (applied last, as a phone does)."""
    if rng.random() < 0.5:
        image = image[:, ::-1]
    if rng.random() < 0.5:
        image = image[::-1]
    image = np.rot90(image, int(rng.integers(0, 4)))  # a phone photo has no up
    height, width = image.shape[:2]
    angle = float(rng.uniform(-10, 10))
    scale = float(rng.uniform(1.0, 1.12))  # zoom in a little so the rotated corners stay inside the image
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    gain = rng.uniform(0.8, 1.2)
    offset = rng.uniform(-20, 20)
    if rng.random() < 0.3:  # under-exposed: darkened down to 30%
        gain *= rng.uniform(0.3, 0.8)
        offset *= 0.3
    image = np.clip(image.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:  # slightly out of focus
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.2, 1.2)))
    if rng.random() < 0.5:  # re-compressed
        image = _jpeg(image, int(rng.integers(15, 96)))
    return image


def tensor_images(images: list[np.ndarray], rng: np.random.Generator | None = None) -> np.ndarray:
    """RGB images -> the kiosk's own preprocessing ([N, 3, 224, 224] float32), augmented when ``rng`` is given."""
    return np.stack([preprocess(augment(image, rng) if rng is not None else image)[0] for image in images])


def tensor_batch(paths: list[Path], rng: np.random.Generator | None = None) -> np.ndarray:
    """Image files -> model input, as ``tensor_images``."""
    return tensor_images([load_image(path) for path in paths], rng)
