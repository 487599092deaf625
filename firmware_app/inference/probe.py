"""A model's self-test: load it the way the kiosk will and run one built-in probe input through it.

The updater runs this on a freshly installed model before trusting it. It needs nothing but the manifest entry:
an ONNX model is opened on the runtime the kiosk will run it on (``firmware_app.inference.runtime``: OpenVINO, or
LiteRT for its ``.tflite``) and run on zeros shaped like its inputs (ones for integer inputs, dynamic dimensions
as 1), and every output must be finite; an ``.npz`` model (the PCB tree ensemble) must open without pickles and
hold finite numeric arrays; an enrolled part (kind ``anomaly``) is opened as the camera will open it, with the
backbone it was enrolled with, and inspects a grey photo. A file that is not a model, or a model that computes
NaN, fails here instead of in front of a customer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from firmware_app.inference.manifest import ENROLLED_KIND, ModelEntry, verified_model_path
from firmware_app.inference.runtime import open_model


class ProbeFailed(RuntimeError):
    """The model did not load, did not run, or produced non-finite values."""


def probe_model(models_dir: Path, name: str) -> None:
    """Raise ``ProbeFailed`` (or ``ModelIntegrityError`` for a hash mismatch) unless model ``name`` works."""
    entry, path = verified_model_path(models_dir, name)
    if (entry.model_extra or {}).get("kind") == ENROLLED_KIND:
        _probe_enrolled_part(models_dir, name)
        return
    runner = _RUNNERS.get(path.suffix)
    if runner is None:
        raise ProbeFailed(f"model {name!r}: no probe for {path.suffix!r} files")
    try:
        outputs = runner(entry, path)
    except Exception as exc:  # the runtime's own errors are many and untyped; any of them means "broken"
        raise ProbeFailed(f"model {name!r} did not run: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not outputs or not all(np.isfinite(value).all() for value in outputs):
        raise ProbeFailed(f"model {name!r} produced no output or non-finite values")


def _probe_enrolled_part(models_dir: Path, name: str) -> None:
    from firmware_app.vision.anomaly import AnomalyInspector

    try:
        result = AnomalyInspector(models_dir, name, models_dir).classify(np.full((224, 224, 3), 128, np.uint8))
    except Exception as exc:  # as above: whatever the runtime or the bank raises means "broken"
        raise ProbeFailed(f"enrolled part {name!r} did not load: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not np.isfinite(result.defect_score) or not np.isfinite(result.heatmap).all():
        raise ProbeFailed(f"enrolled part {name!r} produced non-finite values")


def _run_onnx(entry: ModelEntry, path: Path) -> list[np.ndarray]:
    model = open_model(entry, path, threads=1)
    inputs = {
        name: _probe_input([1 if size is None else size for size in spec.shape], spec.dtype)
        for name, spec in model.inputs.items()
    }
    return list(model.infer(inputs).values())


def _probe_input(shape: list[int], dtype: np.dtype) -> np.ndarray:
    """Zeros, but ones for integer inputs: token ids and an attention mask that attends to something (a text
    model on a mask of zeros divides by zero, which LiteRT's ``.tflite`` answers with NaN)."""
    return np.ones(shape, dtype) if np.issubdtype(dtype, np.integer) else np.zeros(shape, dtype)


def _read_npz(entry: ModelEntry, path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as arrays:
        return [arrays[key] for key in arrays.files if np.issubdtype(arrays[key].dtype, np.number)]


_RUNNERS: dict[str, Callable[[ModelEntry, Path], list[np.ndarray]]] = {".onnx": _run_onnx, ".npz": _read_npz}
