"""The ONNX files the LiteRT recipe converts, and the fixed input shapes their ``.tflite`` is built for.

Shared by ``convert.py`` (the converter's environment) and ``parity.py`` (the kiosk's), so it imports nothing
but the standard library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TOKENS = 64  # the kiosk's longest token bucket; LiteRT pads every text to it
IMAGE = [1, 3, 224, 224]


@dataclass(frozen=True)
class Target:
    """One ONNX file to convert: a manifest entry's model file, or (``asset``) one of its ONNX assets."""

    entry: str
    input_shapes: dict[str, list[int]]
    asset: str | None = None
    # "dynamic": the float graph quantized again by ai-edge-quantizer (int8 weights, int8 compute, activations
    # scaled at run time); "qdq": the ONNX model's own int8 weights and activation scales kept (activations rounded
    # to NNCF's int8 grid, weights stored int8), the arithmetic in float. "qdq" reproduces OpenVINO's results where
    # a decision sits on a knife's edge and costs little on a small model: the wake word (952 of 952 dev windows
    # against 905) and the board crop network (849 of 849 dev crops against 846, at OpenVINO's speed).
    mode: Literal["dynamic", "qdq"] = "dynamic"

    @property
    def litert_asset(self) -> str:
        """The key of the ``.tflite`` in the entry's ``assets``."""
        return f"{self.asset}.litert" if self.asset else "litert"


TEXT = {"input_ids": [1, TOKENS], "attention_mask": [1, TOKENS]}
TARGETS = {
    "amelia": Target("amelia", {"features": [1, 120, 40]}, mode="qdq"),
    "intent-minilm-bank": Target("intent-minilm-bank", TEXT),
    "intent-e5-multilingual": Target("intent-e5-multilingual", TEXT),
    "magnetic_tile": Target("magnetic_tile", {"image": IMAGE}),
    "steel_surface": Target("steel_surface", {"image": IMAGE}),
    "patch-features": Target("patch-features", {"image": IMAGE}),
    "pcb-crops": Target("pcb", {"crops": [1, 3, 32, 32]}, asset="crop_net", mode="qdq"),
}


def onnx_file(models: Path, target: Target) -> Path:
    entry = next(e for e in json.loads((models / "manifest.json").read_text())["models"] if e["name"] == target.entry)
    return models / (entry["assets"][target.asset] if target.asset else entry["file"])
