"""Pictures of "something else" for the extra ``not_recognised`` class (outlier exposure) and for measuring it.

A classifier trained only on its product's classes maps a wall, a face or another product onto one of them
with high confidence (softmax, energy and feature-distance scores measured 7-90% rejection here). Training one
more class on varied non-part pictures teaches the model what "not this part" looks like. Training and
measurement use disjoint sources, so the measured rejection is not just memorisation: different seeds for the
synthetic pictures, a different natural photo (scikit-learn's temple for training, its flower for measuring),
and the other profile's train split vs its dev split.
"""

from __future__ import annotations

import cv2
import numpy as np
from data import PROFILES, ProfileSpec, load_image, split
from sklearn.datasets import load_sample_images

TRAIN_SEED, EVAL_SEED = 11, 7
OUTLIER_DATA = [
    {
        "name": "not_recognised class: synthetic walls, noise and drawings (OpenCV/numpy, seed 11)",
        "licence": "generated",
        "attribution": "models/recipes/defects/outliers.py",
    },
    {
        "name": "not_recognised class: crops of scikit-learn's sample photo china.jpg (flower.jpg: evaluation only)",
        "licence": "CC BY 2.0",
        "attribution": "danielbuechele (china.jpg), vultilion (flower.jpg) on Flickr, via scikit-learn",
    },
    {
        "name": "not_recognised class: 150 train-split images of the other profile (steel <-> magnetic tile)",
        "licence": "research use with citation (see that profile's entry)",
        "attribution": "Song & Yan 2013 (NEU-DET); Huang, Qiu, Yuan 2020 (magnetic tile)",
    },
]


def walls(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Blank walls and desks: flat colour, a light gradient, vignetting, sensor noise, sometimes a soft edge."""
    images = []
    for _ in range(count):
        height, width = int(rng.integers(200, 640)), int(rng.integers(200, 640))
        yy, xx = np.mgrid[-1 : 1 : height * 1j, -1 : 1 : width * 1j]
        image = rng.uniform(20, 235, size=3) + (xx * rng.uniform(-40, 40) + yy * rng.uniform(-40, 40))[:, :, None]
        image = image - (xx**2 + yy**2)[:, :, None] * rng.uniform(0, 40)
        if rng.random() < 0.4:  # a table edge or a door frame
            edge = (yy > rng.uniform(-0.8, 0.8))[:, :, None]
            image = image + edge * rng.uniform(-80, 80, size=3)
        image = image + rng.normal(0, rng.uniform(0, 10), size=(height, width, 1))
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


def noise(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """White noise and blurred noise at several scales (clouds, carpet, a covered lens)."""
    images = []
    for _ in range(count):
        size = int(rng.integers(160, 400))
        image = rng.integers(0, 256, size=(size, size, 3)).astype(np.float32)
        sigma = float(rng.choice([0, 1, 3, 8, 20]))
        if sigma:
            image = cv2.GaussianBlur(image, (0, 0), sigma)
            image = (image - image.mean()) / (image.std() + 1e-6) * rng.uniform(20, 60) + rng.uniform(60, 190)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


def drawings(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Documents, screens and clutter: text lines, boxes, circles and lines on a plain background."""
    images = []
    for _ in range(count):
        height, width = int(rng.integers(240, 600)), int(rng.integers(240, 600))
        image = np.full((height, width, 3), rng.uniform(150, 255, size=3), np.uint8)
        for _ in range(int(rng.integers(3, 15))):
            colour = tuple(int(c) for c in rng.integers(0, 200, size=3))
            x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
            kind = rng.integers(0, 4)
            if kind == 0:
                text = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "), size=12))
                cv2.putText(
                    image, text, (x - width // 3, y), cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.4, 1.5), colour, 2
                )
            elif kind == 1:
                cv2.rectangle(
                    image, (x, y), (x + int(rng.integers(10, 200)), y + int(rng.integers(10, 200))), colour, -1
                )
            elif kind == 2:
                cv2.circle(image, (x, y), int(rng.integers(5, 80)), colour, int(rng.choice([-1, 2])))
            else:
                cv2.line(image, (x, y), (int(rng.integers(0, width)), int(rng.integers(0, height))), colour, 3)
        images.append(image)
    return images


def photo_crops(photo: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The whole photo and random square crops of it (a face, a hand, a shelf fill the frame differently)."""
    height, width = photo.shape[:2]
    images = [photo]
    for _ in range(count - 1):
        side = int(rng.integers(100, min(height, width)))
        y, x = int(rng.integers(0, height - side)), int(rng.integers(0, width - side))
        crop = photo[y : y + side, x : x + side]
        images.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return images


def other_profile(profile: ProfileSpec, part: str, limit: int, seed: int) -> list[np.ndarray]:
    """Photos of the other product (a magnetic tile is not a steel strip, and the other way round)."""
    other = next(p for p in PROFILES.values() if p.name != profile.name)
    train, dev = split(other, 13)
    items = train if part == "train" else dev
    chosen = np.random.default_rng(seed).choice(len(items), size=min(limit, len(items)), replace=False)
    return [load_image(items[i][0]) for i in sorted(chosen)]


def outliers(profile: ProfileSpec, part: str) -> dict[str, list[np.ndarray]]:
    """Named groups of not-this-part pictures; ``part`` is ``train`` or ``eval`` (disjoint sources)."""
    seed = TRAIN_SEED if part == "train" else EVAL_SEED
    rng = np.random.default_rng(seed)
    temple, flower = load_sample_images().images
    return {
        "walls": walls(80, rng),
        "noise": noise(40, rng),
        "drawings": drawings(80, rng),
        "natural_photo": photo_crops(temple if part == "train" else flower, 60, rng),
        "other_profile": other_profile(profile, part, 150 if part == "train" else 120, seed),
    }
