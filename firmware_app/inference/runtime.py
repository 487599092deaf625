"""The runtime that runs a shipped model: OpenVINO, or LiteRT (``ai-edge-litert``, the usual runtime on a Pi).

Every kiosk model ships as int8 ONNX, run by OpenVINO, and as int8 ``.tflite`` converted from that very file by
``models/recipes/litert`` (the manifest entry's ``litert`` block names the file, checked by sha256 like the
model). Every model in the kiosk opens through ``open_model`` and runs with its ONNX input and output names, so
``[inference] runtime`` switches them all at once:

- ``openvino``: every model on OpenVINO.
- ``litert``: every model that ships a ``.tflite`` on LiteRT; one that does not (an enrolled part's own bank is
  numpy; only its backbone is a network) stays on OpenVINO.
- ``auto`` (the default): LiteRT on ARM (Raspberry Pi, Jetson), where it is the runtime those boards are tuned
  for; OpenVINO on x86, where it is faster (``python -m bench.run --only litert`` measures both on one core).

The runtime is one per process, chosen once at start-up (``use_runtime``) from the settings: every layer below
the CLI opens models without having to carry the setting through.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from firmware_app.inference.manifest import LiteRtSpec, ModelEntry, verified_asset_path

Runtime = Literal["auto", "openvino", "litert"]
ARM_MACHINES = frozenset({"aarch64", "arm64", "armv7l", "armv8l"})

_selected: Runtime = "auto"


def use_runtime(runtime: Runtime) -> None:
    """Choose the runtime of every model this process opens from now on (the CLI calls it with the settings)."""
    global _selected
    if runtime not in ("auto", "openvino", "litert"):
        raise ValueError(f"unknown inference runtime {runtime!r} (auto, openvino or litert)")
    _selected = runtime


def selected_runtime() -> Runtime:
    return _selected


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int | None, ...]  # the shape the model was built for (``None`` where any size is accepted)
    dtype: np.dtype


class Model(Protocol):
    """A compiled model: named float or integer arrays in, named arrays out, in the ONNX model's layout."""

    runtime: str
    inputs: dict[str, InputSpec]  # by ONNX input name

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def runtime_for(entry: ModelEntry, onnx_path: Path, requested: Runtime | None = None) -> Literal["openvino", "litert"]:
    """The runtime that will run ``onnx_path`` of ``entry`` under ``requested`` (the process's choice if None)."""
    wanted = requested or _selected
    has_litert = onnx_path.name in entry.litert
    if wanted == "litert":
        return "litert" if has_litert else "openvino"
    if wanted == "openvino":
        return "openvino"
    on_arm = platform.machine().lower() in ARM_MACHINES
    return "litert" if on_arm and has_litert and find_spec("ai_edge_litert") is not None else "openvino"


def open_model(
    entry: ModelEntry,
    onnx_path: Path,
    *,
    threads: int = 1,
    shapes: Mapping[str, list[int]] | None = None,
    cache_dir: Path | None = None,
    runtime: Runtime | None = None,
) -> Model:
    """``onnx_path`` (the entry's model file or one of its ONNX assets, already checked by the caller) on the
    chosen runtime. ``shapes`` fixes input shapes on OpenVINO (LiteRT models have theirs from the converter);
    ``threads`` 0 lets the runtime choose; ``cache_dir`` keeps OpenVINO's compiled model between starts."""
    if runtime_for(entry, onnx_path, runtime) == "litert":
        spec = entry.litert[onnx_path.name]
        return LiteRtModel(verified_asset_path(onnx_path.parent, entry, spec.asset), spec, threads)
    return OpenVinoModel(onnx_path, threads, shapes, cache_dir)


class OpenVinoModel:
    """One model compiled by OpenVINO for the CPU, one inference at a time (thread-safe)."""

    runtime = "openvino"

    def __init__(
        self,
        path: Path,
        threads: int = 1,
        shapes: Mapping[str, list[int]] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        import openvino as ov

        core = ov.Core()
        # From the path unless a shape is fixed: with a CACHE_DIR, OpenVINO then loads the compiled model without
        # reading the ONNX file at all (0.2 s of CPU instead of 1.1 s for both intent models).
        model: Any = str(path)
        if shapes:
            model = core.read_model(str(path))
            model.reshape({name: ov.PartialShape(shape) for name, shape in shapes.items()})
        # f32: a CPU with bf16 units would otherwise run the float parts of the int8 graph in bf16.
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if cache_dir is not None:
            config["CACHE_DIR"] = str(cache_dir)
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()
        self.inputs = {
            port.get_any_name(): InputSpec(
                tuple(dim.get_length() if dim.is_static else None for dim in port.get_partial_shape()),
                np.dtype(port.get_element_type().to_dtype()),
            )
            for port in self._compiled.inputs
        }

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            results = self._request.infer(dict(inputs))
            return {port.get_any_name(): np.array(value) for port, value in results.items()}


class LiteRtModel:
    """One int8 ``.tflite`` on LiteRT's interpreter (XNNPACK), one inference at a time (thread-safe).

    The converter fixed the batch at one, so a batch runs row by row; and it may have turned image tensors
    channels-last, which ``spec`` records as transpositions, undone here so callers keep the ONNX layout.
    """

    runtime = "litert"

    def __init__(self, path: Path, spec: LiteRtSpec, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.spec = spec
        self._interpreter = Interpreter(model_path=str(path), num_threads=threads or None)
        self._runner: Any = self._interpreter.get_signature_runner()
        dtypes = {name: np.dtype(d["dtype"]) for name, d in self._runner.get_input_details().items()}
        self.inputs = {name: InputSpec(tuple(shape), dtypes[name]) for name, shape in spec.inputs.items()}
        self._lock = threading.Lock()

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = {len(value) for value in inputs.values()}
        if len(rows) != 1:
            raise ValueError(f"inputs of one batch must have as many rows, not {sorted(rows)}")
        batch = rows.pop()
        outputs = [
            self._infer_row({name: value[row : row + 1] for name, value in inputs.items()}) for row in range(batch)
        ]
        return {name: np.concatenate([output[name] for output in outputs]) for name in self.spec.outputs}

    def _infer_row(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = {}
        for name, value in inputs.items():
            order = self.spec.input_transpose.get(name)
            value = value if order is None else value.transpose(order)
            arrays[name] = np.ascontiguousarray(value, self.inputs[name].dtype)
        with self._lock:
            raw = self._runner(**arrays)
        outputs = {}
        for onnx_name, tflite_name in self.spec.outputs.items():
            order = self.spec.output_transpose.get(onnx_name)
            value = np.array(raw[tflite_name])
            outputs[onnx_name] = value if order is None else value.transpose(order)
        return outputs
