"""Convert every shipped int8 ONNX model to an int8 ``.tflite`` for LiteRT, from the very file the kiosk ships.

Steps, per model (CPU only, about 20 s for all seven):
1. ``graph.py``: shapes fixed (batch one, 64 tokens), shape arithmetic folded, erf-GELU fused to ``Gelu`` (TFLite
   has no ERF), int8 embedding tables read row by row so that they stay int8. In ``dynamic`` mode (``targets``)
   the QDQ pairs go and every int8 weight becomes the float value it stands for; in ``qdq`` mode they stay.
2. ``onnx2tf`` (its FlatBuffer backend, no TensorFlow) writes the ``.tflite``.
3. ``dynamic`` mode: ``ai-edge-quantizer`` quantizes it again: the weights of every fully connected, batched
   matmul and convolution layer int8 per channel, their activations quantized to int8 at run time from their
   actual range, so the heavy layers run in int8 with no calibration set to choose; the rest stays float.
   On the intent model's dev set this kept the top-1 of OpenVINO's int8 model on 1,001 of 1,003 sentences,
   where a static int8 model (every activation range calibrated on 100 training sentences) kept 988 and
   LayerNorm's int8 division failed outright without float islands. ``qdq`` mode keeps the ONNX model's own
   quantization (NNCF's scales; the arithmetic in float): the wake word's decision at its threshold then agreed
   with OpenVINO on 952 of 952 dev windows (905 in ``dynamic`` mode), the board crops on 849 of 849 (846). A
   transformer in ``qdq`` mode is 55 MB: onnx2tf folds its weights to float.
4. ``models/int8/<stem>.int8.tflite`` and ``build/litert/<stem>.spec.json``: how the signature's names and
   layouts map to the ONNX model's. ``parity.py`` (in the kiosk's environment) then measures LiteRT against
   OpenVINO and writes the manifest entries.

The converter's packages are pinned in ``requirements/litert-convert.txt`` and need Python 3.12 or newer
(onnx2tf 2.x); ``run.sh`` builds that environment and runs both steps:

    models/recipes/litert/run.sh            # every model
    models/recipes/litert/run.sh amelia     # one
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter
from ai_edge_quantizer import quantizer, recipe
from graph import dequantized, folded, with_gelu
from targets import TARGETS, Target, onnx_file

REPO = Path(__file__).resolve().parents[3]
# Layers whose weights go int8 and that compute in int8 (dynamic-range quantization).
INT8_LAYERS = ("FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D")
QUANTIZATION = {
    "dynamic": f"dynamic-range int8 (ai-edge-quantizer dynamic_wi8_afp32) on {', '.join(INT8_LAYERS)}",
    "qdq": "the ONNX model's int8 weights and activation scales (NNCF), as QUANTIZE / DEQUANTIZE around float layers",
}


def float_tflite(source: Path, target: Target, work: Path) -> Path:
    """Steps 1 and 2. onnx2tf rewrites the file it is given (it names every node), so it gets a copy."""
    model = dequantized(onnx.load(str(source)), keep_qdq=target.mode == "qdq")
    model = folded(model, target.input_shapes, work)
    if any(node.op_type == "Erf" for node in model.graph.node):
        model = with_gelu(model)
    prepared = work / f"{source.stem}.float.onnx"
    onnx.save(model, str(prepared))
    out = work / "onnx2tf"
    shutil.rmtree(out, ignore_errors=True)
    # -kat: image inputs keep ONNX's NCHW (no channels-last copy to make per call); -nuo: no onnxsim.
    keep = [name for name, shape in target.input_shapes.items() if len(shape) >= 3]
    command = [str(Path(sys.executable).with_name("onnx2tf")), "-i", str(prepared), "-o", str(out), "-nuo"]
    if keep:
        command += ["-kat", *keep]
    subprocess.run(command, check=True, capture_output=True)
    return out / f"{prepared.stem}_float32.tflite"


def quantized(float_path: Path, out: Path) -> None:
    """Step 3: dynamic-range int8 for ``INT8_LAYERS`` (ai-edge-quantizer's ``dynamic_wi8_afp32`` per layer)."""
    (rule,) = recipe.dynamic_wi8_afp32()
    present = {op["op_name"] for op in Interpreter(model_path=str(float_path))._get_ops_details()}
    rules = [dict(rule, operation=op) for op in INT8_LAYERS if op in present]
    engine = quantizer.Quantizer(str(float_path))
    engine.load_quantization_recipe(rules)
    engine.quantize().export_model(str(out), overwrite=True)


def spec(tflite: Path, prepared: Path, source: Path, target: Target) -> dict[str, object]:
    """Step 4: the ``LiteRtSpec`` of ``firmware_app.inference.manifest`` (names, shapes, layouts).

    Whether onnx2tf left an output channels-last cannot be told from its shape alone (a class activation map of
    7 classes at 7x7 reads the same both ways), so one random input runs through the ``.tflite`` and, on
    onnxruntime, through the float ONNX graph it came from: each output keeps the layout that matches."""
    runner = Interpreter(model_path=str(tflite)).get_signature_runner()
    inputs = {name: [int(d) for d in detail["shape"]] for name, detail in runner.get_input_details().items()}
    if inputs != target.input_shapes:
        raise RuntimeError(f"{tflite.name}: inputs {inputs} are not the ONNX model's {target.input_shapes}")
    session = ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"])
    feed = _random_inputs(inputs)
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed), strict=True))
    got = runner(**feed)
    transposes = {}
    for name, value in expected.items():
        if name not in got:
            raise RuntimeError(f"{tflite.name}: no output {name!r} in {sorted(got)}")
        if value.ndim == 4 and _error(got[name].transpose(0, 3, 1, 2), value) < _error(got[name], value):
            transposes[name] = [0, 3, 1, 2]
    return {
        "asset": target.litert_asset,
        "inputs": inputs,
        "outputs": {name: name for name in expected},
        "output_transpose": transposes,
        "converted_from": {"file": source.name, "sha256": hashlib.sha256(source.read_bytes()).hexdigest()},
        "quantization": QUANTIZATION[target.mode],
    }


def _random_inputs(shapes: dict[str, list[int]]) -> dict[str, np.ndarray]:
    """Token ids under every vocabulary's size with a full mask, or normal noise for features and images."""
    rng = np.random.default_rng(0)
    feed = {}
    for name, shape in shapes.items():
        if name == "input_ids":
            feed[name] = rng.integers(0, 1000, shape).astype(np.int64)
        elif name == "attention_mask":
            feed[name] = np.ones(shape, np.int64)
        else:
            feed[name] = rng.normal(size=shape).astype(np.float32)
    return feed


def _error(got: np.ndarray, expected: np.ndarray) -> float:
    """How far apart two outputs are; infinite when their shapes differ."""
    return float(np.abs(got - expected).mean()) if got.shape == expected.shape else float("inf")


def convert(name: str, models: Path, work: Path) -> Path:
    target = TARGETS[name]
    source = onnx_file(models, target)
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    out = source.with_suffix(".tflite")
    float_path = float_tflite(source, target, folder)
    if target.mode == "qdq":
        shutil.copyfile(float_path, out)
    else:
        quantized(float_path, out)
    out.chmod(0o644)
    prepared = folder / f"{source.stem}.float.onnx"
    (work / f"{name}.spec.json").write_text(json.dumps(spec(out, prepared, source, target), indent=1) + "\n")
    size_mb = out.stat().st_size / 1e6
    print(f"{name}: {out.relative_to(REPO)} ({size_mb:.1f} MB)", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(TARGETS), help=f"of {', '.join(TARGETS)}")
    parser.add_argument("--models", type=Path, default=REPO / "models" / "int8")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "litert")
    args = parser.parse_args()
    unknown = set(args.names) - set(TARGETS)
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}")
    for name in args.names:
        convert(name, args.models, args.work)


if __name__ == "__main__":
    main()
