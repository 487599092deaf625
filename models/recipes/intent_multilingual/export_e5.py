"""Export the fine-tuned multilingual intent model to ONNX and quantize it to int8 with NNCF.

Same steps as the MiniLM recipe's ``export_int8.py`` (opset 17, dynamic batch and tokens, outputs ``logits``
and ``embedding``; NNCF transformer preset over 300 calibration utterances), with the trimmed e5 vocabulary
and a calibration set that mixes English, Chinese and out-of-scope text so that activation ranges cover both
scripts. The int8 embedding table and the trimmed vocabulary are what keep the file near 30 MB.

    python models/recipes/intent_multilingual/export_e5.py --work build/intent_e5 --out models/int8
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
from load_e5 import load_e5
from ml_data import HAS_CJK, load_multilingual_data  # (puts ../intent on sys.path)
from tokenizers import Tokenizer
from train_e5 import MAX_TOKENS, IntentE5Net

MODEL_STEM = "intent-e5-multilingual"
CALIBRATION_SIZE = 300


def load_trained(work: Path) -> tuple[IntentE5Net, list[str]]:
    """The float model of ``best.pt`` (eager attention: the plainest graph for ONNX and OpenVINO)."""
    labels = json.loads((work / "labels.json").read_text())
    encoder = load_e5(keep_ids=np.load(work / "keep_ids.npy"))
    encoder.config._attn_implementation = "eager"
    model = IntentE5Net(encoder, len(labels))
    model.load_state_dict(torch.load(work / "best.pt", map_location="cpu"))
    return model.eval(), labels


def calibration_texts(seed: int) -> list[str]:
    """150 English in-scope, 100 Chinese / mixed in-scope and 50 out-of-scope training utterances."""
    data = load_multilingual_data()
    rng = random.Random(seed)
    zh = [e.text for e in data.train if HAS_CJK.search(e.text)]
    en = [e.text for e in data.train if not HAS_CJK.search(e.text)]
    return rng.sample(en, 150) + rng.sample(zh, 100) + rng.sample(data.negatives_train, 50)


def calibration_inputs(tokenizer: Tokenizer, texts: list[str]) -> list[dict[str, np.ndarray]]:
    out = []
    for enc in tokenizer.encode_batch(texts):
        ids = np.array([enc.ids[:MAX_TOKENS]], dtype=np.int64)
        out.append({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("build/intent_e5"))
    parser.add_argument("--out", type=Path, default=Path("models/int8"))
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    torch.set_num_threads(2)

    model, _ = load_trained(args.work)
    float_path = args.work / f"{MODEL_STEM}.float.onnx"
    from export_int8 import export_onnx  # the MiniLM recipe's (ml_data put ../intent on sys.path)

    export_onnx(model, float_path)
    tokenizer = Tokenizer.from_file(str(args.work / "tokenizer.json"))
    dataset = nncf.Dataset(calibration_inputs(tokenizer, calibration_texts(args.seed)))
    quantized = nncf.quantize(
        onnx.load(str(float_path)), dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=CALIBRATION_SIZE
    )
    args.out.mkdir(parents=True, exist_ok=True)
    int8_path = args.out / f"{MODEL_STEM}.int8.onnx"
    onnx.save(quantized, str(int8_path))
    shutil.copy(args.work / "tokenizer.json", args.out / f"{MODEL_STEM}.tokenizer.json")
    print(
        json.dumps(
            {
                "float": str(float_path),
                "float_mb": round(float_path.stat().st_size / 1e6, 2),
                "int8": str(int8_path),
                "int8_mb": round(int8_path.stat().st_size / 1e6, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
