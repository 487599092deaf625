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


class LiteRtSpec(BaseModel):
    """How the ``.tflite`` converted from one ONNX file is run (written by ``models/recipes/litert``).

    The converter names outputs by position and may turn image tensors channels-last: ``outputs`` maps each
    ONNX output name to its signature output, the transpositions restore the ONNX layout."""

    model_config = {"extra": "allow"}  # the conversion's settings and parity measurements are kept as-is

    asset: str  # the key of the ``.tflite`` in the entry's ``assets`` (checked by its ``assets_sha256``)
    inputs: dict[str, list[int]]  # ONNX input name -> the fixed shape the model was converted for
    outputs: dict[str, str]  # ONNX output name -> the signature's output name
    input_transpose: dict[str, list[int]] = {}  # ONNX layout -> the model's
    output_transpose: dict[str, list[int]] = {}  # the model's layout -> ONNX


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
    litert: dict[str, LiteRtSpec] = {}  # by the name of the ONNX file converted (the model file or an asset)


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


def verified_asset_path(models_dir: Path, entry: ModelEntry, asset: str) -> Path:
    """The path of ``entry``'s asset ``asset``, after checking it against the sha256 the entry lists for it."""
    name = entry.assets.get(asset)
    expected = entry.assets_sha256.get(asset)
    if name is None or expected is None:
        raise ModelIntegrityError(f"model {entry.name!r} lists no checked asset {asset!r}")
    path = models_dir / name
    if not path.is_file():
        raise ModelIntegrityError(f"model file missing: {path}")
    if sha256_file(path) != expected:
        raise ModelIntegrityError(f"model file {path} does not match the sha256 in its manifest")
    return path
