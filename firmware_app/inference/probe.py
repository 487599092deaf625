"""A model's self-test: load it the way the kiosk will and run one built-in probe input through it.

The updater runs this on a freshly installed model before trusting it. It needs nothing but the manifest entry:
an ONNX model is compiled on OpenVINO (the kiosk's runtime) and run on zeros shaped like its inputs (dynamic
dimensions as 1), and every output must be finite; an ``.npz`` model (the PCB tree ensemble) must open without
pickles and hold finite numeric arrays; an enrolled part (kind ``anomaly``) is opened as the camera will open it,
with the backbone it was enrolled with, and inspects a grey photo. A file that is not a model, or a model that
computes NaN, fails here instead of in front of a customer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from firmware_app.inference.manifest import ENROLLED_KIND, verified_model_path


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
        outputs = runner(path)
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


def _run_onnx(path: Path) -> list[np.ndarray]:
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": 1})
    inputs = {}
    for port in compiled.inputs:
        shape = [dim.get_length() if dim.is_static else 1 for dim in port.get_partial_shape()]
        inputs[port.get_any_name()] = np.zeros(shape, dtype=port.get_element_type().to_dtype())
    results = compiled.create_infer_request().infer(inputs)
    return [np.asarray(value) for value in results.values()]


def _read_npz(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as arrays:
        return [arrays[key] for key in arrays.files if np.issubdtype(arrays[key].dtype, np.number)]


_RUNNERS: dict[str, Callable[[Path], list[np.ndarray]]] = {".onnx": _run_onnx, ".npz": _read_npz}
