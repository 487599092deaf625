"""``models/int8/manifest.json``: what each shipped model file is, how to run it, and what it measured.

The kiosk checks a model's sha256 against its manifest entry before loading it, so a truncated or
tampered file is refused with a clear message instead of producing wrong answers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

MANIFEST_NAME = "manifest.json"
ENROLLED_KIND = "anomaly"  # the ``kind`` of a part enrolled at a kiosk (``firmware_app.vision.anomaly``)


class ModelIntegrityError(RuntimeError):
    """A model file is missing or does not match its manifest hash."""


class ModelEntry(BaseModel):
    """One model file of the manifest (extra fields such as metrics and training data are kept as-is)."""

    model_config = {"extra": "allow"}

    name: str
    version: str
    file: str
    sha256: str
    runtime: list[str]
    labels: list[str] = []
    thresholds: dict[str, float] = {}
    assets: dict[str, str] = {}
    assets_sha256: dict[str, str] = {}  # by asset name, for assets that must be checked like the model file
    metrics: dict[str, Any] = {}


def load_manifest(models_dir: Path) -> dict[str, ModelEntry]:
    path = models_dir / MANIFEST_NAME
    if not path.is_file():
        raise ModelIntegrityError(f"model manifest not found: {path}")
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {entry["name"]: ModelEntry.model_validate(entry) for entry in raw["models"]}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_model_path(models_dir: Path, name: str) -> tuple[ModelEntry, Path]:
    """The manifest entry and file path of model ``name``, after checking the file's sha256."""
    entries = load_manifest(models_dir)
    if name not in entries:
        raise ModelIntegrityError(f"model {name!r} is not in {models_dir / MANIFEST_NAME}")
    entry = entries[name]
    path = models_dir / entry.file
    if not path.is_file():
        raise ModelIntegrityError(f"model file missing: {path}")
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ModelIntegrityError(
            f"model file {path} has sha256 {actual[:12]}..., manifest says {entry.sha256[:12]}..."
        )
    return entry, path
