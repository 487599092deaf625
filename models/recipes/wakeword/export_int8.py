"""Export the "Amelia" model to ONNX, quantize it to int8 and compare it with the float model.

1. The best checkpoints of the seeds trained (``best_seed{13,14,15}.pt``), averaged in logit space as one
   ensemble (an outlier score of one net no longer fires on its own), -> float ONNX (opset 17): input
   ``features`` float32 ``[batch, 120, 40]`` (dynamic batch; the kiosk fixes it to 1), output ``logit``
   float32 ``[batch, 1]`` (the kiosk applies the sigmoid).
2. NNCF post-training quantization (weights and activations int8, QDQ ONNX) calibrated on 2,000 training
   windows (a quarter of them positive), then the int8 file goes to ``models/int8/amelia.int8.onnx``.
3. Float (onnxruntime) vs int8 (probabilities) (onnxruntime and OpenVINO at 1 thread, as the kiosk runs it) on 4,000
   validation windows: the largest score difference and the agreement at 0.5.

    python models/recipes/wakeword/export_int8.py [--work build/wakeword] [--out models/int8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nncf
import numpy as np
import onnx
import onnxruntime as ort
import torch
from data import DEFAULT_OUT, FEATURES, WINDOW_FRAMES
from train import AmeliaNet, windows

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from firmware_app.audio.amelia import compile_model, sigmoid  # noqa: E402

MODEL_FILE = "amelia.int8.onnx"
CPU = ["CPUExecutionProvider"]
CALIBRATION_WINDOWS = 2000


class EnsembleLogit(torch.nn.Module):
    """The mean logit of the trained nets, without the final sigmoid: int8 logits keep their resolution near
    probability 1, where the threshold lies (an int8 probability has steps of 1/256); the kiosk applies the
    sigmoid in float."""

    def __init__(self, nets: list[AmeliaNet]) -> None:
        super().__init__()
        self.nets = torch.nn.ModuleList(nets)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.stack([net.logits(features) for net in self.nets]).mean(0)


def load_net(checkpoint: Path) -> AmeliaNet:
    net = AmeliaNet()
    net.load_state_dict(torch.load(checkpoint, map_location="cpu"))
    return net


def export_float(checkpoints: list[Path], path: Path) -> None:
    model = EnsembleLogit([load_net(c) for c in checkpoints]).eval()
    torch.onnx.export(
        model,
        (torch.zeros(2, WINDOW_FRAMES, FEATURES),),
        str(path),
        input_names=["features"],
        output_names=["logit"],
        dynamic_axes={"features": {0: "batch"}, "logit": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def sample_windows(work: Path, split: str, n: int, seed: int) -> np.ndarray:
    feats = np.load(work / f"{split}_features.npy")
    labels = np.load(work / f"{split}_labels.npy")
    rng = np.random.default_rng(seed)
    pos = rng.choice(np.where(labels == 1)[0], n // 4, replace=False)
    neg = rng.choice(np.where(labels == 0)[0], n - n // 4, replace=False)
    return windows(feats, np.concatenate([pos, neg])).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 14, 15], help="WORK/best_seed{N}.pt")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "int8")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    float_path = args.work / "amelia.float.onnx"
    export_float([args.work / f"best_seed{seed}.pt" for seed in args.seeds], float_path)
    calib = sample_windows(args.work, "train", CALIBRATION_WINDOWS, args.seed)
    dataset = nncf.Dataset([{"features": calib[i : i + 1]} for i in range(len(calib))])
    quantized = nncf.quantize(onnx.load(str(float_path)), dataset, subset_size=len(calib))
    args.out.mkdir(parents=True, exist_ok=True)
    int8_path = args.out / MODEL_FILE
    onnx.save(quantized, str(int8_path))

    check = sample_windows(args.work, "val", 4000, args.seed + 1)
    ref = sigmoid(ort.InferenceSession(str(float_path), providers=CPU).run(None, {"features": check})[0])
    q_ort = sigmoid(ort.InferenceSession(str(int8_path), providers=CPU).run(None, {"features": check})[0])
    compiled = compile_model(int8_path, batch=len(check), threads=1)
    q_ov = sigmoid(compiled({0: check})[0])
    report = {
        "ensemble_seeds": args.seeds,
        "float_onnx": str(float_path),
        "int8": str(int8_path),
        "int8_kb": round(int8_path.stat().st_size / 1024, 1),
        "float_vs_int8_onnxruntime_max_abs": float(np.abs(ref - q_ort).max()),
        "float_vs_int8_onnxruntime_agree_at_0.5": float(((ref > 0.5) == (q_ort > 0.5)).mean()),
        "int8_openvino_vs_onnxruntime_max_abs": float(np.abs(q_ov - q_ort).max()),
        "float_vs_int8_openvino_agree_at_0.5": float(((ref > 0.5) == (q_ov > 0.5)).mean()),
    }
    (args.work / "export_summary.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
