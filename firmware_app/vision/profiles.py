"""Which model answers for a product profile: a trained classifier, an enrolled part, or the pairwise board check.

Three kinds of profile share one name space:
- trained classifiers (``steel_surface``, ``magnetic_tile``): manifest entries whose last label is
  ``not_recognised``, run by ``DefectClassifier``;
- enrolled parts (``kiosk vision enrol``): a profile folder of their own (bank and a one-entry manifest) under
  the kiosk's data folder, or an entry of kind ``anomaly`` in the models manifest when the fleet released one;
  run by ``AnomalyInspector``;
- ``pcb``: a board compared with its template, which only ``kiosk vision detect`` and the camera's pcb profile do.

A part enrolled at this kiosk wins over a released one of the same name: the technician's own photos are newer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from firmware_app.config import PCB_PROFILE
from firmware_app.inference.manifest import MANIFEST_NAME, ModelEntry, ModelIntegrityError, load_manifest
from firmware_app.vision.anomaly import KIND, AnomalyInspector
from firmware_app.vision.defects import DefectClassifier, DefectResult


class PhotoClassifier(Protocol):
    """What ``kiosk vision classify``, ``eval`` and the camera need of a profile's model."""

    entry: ModelEntry
    labels: list[str]
    ok_labels: set[str]

    @property
    def name(self) -> str: ...

    def classify(self, image: np.ndarray) -> DefectResult: ...


class PairwiseProfile(ValueError):
    """The profile compares a photo with a template, so it cannot classify a photo alone."""


def enrolled_root(data_dir: Path) -> Path:
    """Where the kiosk keeps the parts enrolled on it, one folder per profile."""
    return data_dir / "vision" / "profiles"


def enrolled_profiles(data_dir: Path | None, models_dir: Path) -> list[str]:
    """Enrolled parts' names: this kiosk's own (none without a data folder), then those the fleet released."""
    folders = sorted(enrolled_root(data_dir).glob("*")) if data_dir is not None else []
    names = [folder.name for folder in folders if (folder / MANIFEST_NAME).is_file()]
    try:
        released = [name for name, entry in load_manifest(models_dir).items() if _is_enrolled(entry)]
    except (ModelIntegrityError, OSError, ValueError):
        released = []
    return list(dict.fromkeys([*names, *released]))


def profile_folder(name: str, data_dir: Path | None, models_dir: Path) -> Path | None:
    """The folder holding enrolled part ``name`` (its own, or the models folder); ``None`` if it is not one."""
    if data_dir is not None and (enrolled_root(data_dir) / name / MANIFEST_NAME).is_file():
        return enrolled_root(data_dir) / name
    try:
        entry = load_manifest(models_dir).get(name)
    except (ModelIntegrityError, OSError, ValueError):
        return None
    return models_dir if entry is not None and _is_enrolled(entry) else None


def open_profile(name: str, data_dir: Path | None, models_dir: Path, threads: int = 1) -> PhotoClassifier:
    """The model that classifies photos for profile ``name``."""
    if name == PCB_PROFILE:
        raise PairwiseProfile(
            f"{PCB_PROFILE!r} compares a board with its defect-free template: use"
            " `kiosk vision detect --template TEMPLATE.png PHOTO.png`"
        )
    folder = profile_folder(name, data_dir, models_dir)
    if folder is not None:
        return AnomalyInspector(folder, name, models_dir, threads)
    return DefectClassifier(models_dir, name, threads)


def _is_enrolled(entry: ModelEntry) -> bool:
    return (entry.model_extra or {}).get("kind") == KIND


def read_entry(folder: Path, name: str) -> dict[str, Any]:
    """The raw manifest entry of ``name`` in ``folder`` (for editing its threshold)."""
    for entry in json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))["models"]:
        if entry["name"] == name:
            return dict(entry)
    raise ModelIntegrityError(f"profile {name!r} is not in {folder / MANIFEST_NAME}")
