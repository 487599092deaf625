"""Trim e5's 250k-piece vocabulary to what an English/Chinese bank kiosk needs.

Why: the word-embedding table is 96M of e5-small's 118M parameters; even in int8 it alone would be 96 MB. We keep

1. every piece the original tokenizer produces on the recipe's texts (train, dev, negatives, pack, augmented
   copies): for those texts the trimmed tokenizer gives exactly the original pieces, because a Unigram
   Viterbi over a subset of pieces that still contains the original best segmentation finds that same one;
2. every single-character piece (with or without the ``▁`` word marker) that is ASCII or CJK (ideographs,
   CJK punctuation, full-width forms), so any unseen en/zh text still tokenizes without ``<unk>``;
3. the highest-scoring remaining ASCII and CJK pieces up to ``--budget`` (common words not in our data).

The trimmed tokenizer.json is the same SentencePiece Unigram model (same normaliser, pre-tokenizer, scores,
post-processor) with ids renumbered in original order; ``<s>``, ``<pad>``, ``</s>``, ``<unk>`` keep ids 0-3.

    python models/recipes/intent_multilingual/trim_vocab.py --out build/intent_e5
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from load_e5 import tokenizer_path
from ml_data import augmented, load_multilingual_data
from tokenizers import Tokenizer

SPECIAL_IDS = (0, 1, 2, 3)
MASK_ID = 250001
# Sentences not in the training texts (hand-written here) for the round-trip check of the trimmed tokenizer.
CHECK_SENTENCES = [
    "Why was my contactless payment at the bakery declined yesterday?",
    "I'd like to reschedule my mortgage appointment to next Thursday afternoon.",
    "How long does an international SWIFT transfer to Germany take?",
    "我的信用卡在国外刷不了怎么办？",
    "请问办理房贷需要带哪些材料",
    "我想把尾号4812的卡挂失，昨天在超市丢了",
    "ATM吞了我的卡，卡号尾号七七八一",
    "我要转账5000元给我妈妈",
    "Can I pay in 300 euros in coins here?",
]


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0x3000 <= o <= 0x303F
        or 0xFF00 <= o <= 0xFFEF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x2FFFF
    )


def _body(piece: str) -> str:
    return piece[1:] if piece.startswith("▁") else piece


def keep_ids_for(texts: list[str], vocab: list[tuple[str, float]], tokenizer: Tokenizer, budget: int) -> np.ndarray:
    """Sorted original ids to keep (see the module docstring for the three groups)."""
    keep = set(SPECIAL_IDS) | {MASK_ID}
    for enc in tokenizer.encode_batch(texts, add_special_tokens=False):
        keep.update(enc.ids)
    ascii_or_cjk = []
    for i, (piece, score) in enumerate(vocab):
        body = _body(piece)
        if not body:
            keep.add(i)  # the bare "▁"
            continue
        if all(32 < ord(c) < 127 for c in body) or all(is_cjk(c) for c in body):
            if len(body) == 1:
                keep.add(i)
            else:
                ascii_or_cjk.append((score, i))
    for _, i in sorted(ascii_or_cjk, reverse=True):
        if len(keep) >= budget:
            break
        keep.add(i)
    return np.array(sorted(keep), dtype=np.int64)


def trimmed_tokenizer_json(original: dict, keep_ids: np.ndarray) -> dict:
    """The same tokenizer.json with only ``keep_ids`` in the Unigram vocabulary, ids renumbered."""
    new_id = {int(old): new for new, old in enumerate(keep_ids)}
    out = json.loads(json.dumps(original))
    out["model"]["vocab"] = [original["model"]["vocab"][int(i)] for i in keep_ids]
    out["model"]["unk_id"] = new_id[original["model"]["unk_id"]]
    out["added_tokens"] = [dict(t, id=new_id[t["id"]]) for t in original["added_tokens"] if t["id"] in new_id]
    for special in out["post_processor"]["special_tokens"].values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    out["truncation"] = None
    out["padding"] = None
    return out


def round_trip(original: Tokenizer, trimmed: Tokenizer, texts: list[str]) -> dict[str, float]:
    """Share of texts whose pieces are identical, and share of trimmed pieces that are ``<unk>``."""
    same = unk = total = 0
    for a, b in zip(original.encode_batch(texts), trimmed.encode_batch(texts), strict=True):
        same += a.tokens == b.tokens
        unk += sum(t == "<unk>" for t in b.tokens)
        total += len(b.tokens)
    return {"texts": len(texts), "identical_pieces": same / len(texts), "unk_rate": unk / max(total, 1)}


def corpus_texts(seed: int = 13) -> list[str]:
    """Every text the recipe trains or selects models on, augmented copies included."""
    data = load_multilingual_data()
    texts = [e.text for e in data.train] + [e.text for e in augmented(data.train, 0.3, 2, seed)]
    texts += [t for t, _ in data.dev_en + data.dev_zh] + data.negatives_train + data.negatives_dev
    return texts + data.oos_calibration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("build/intent_e5"))
    parser.add_argument("--budget", type=int, default=24000, help="vocabulary size to fill up to")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    original_json = json.loads(tokenizer_path().read_text(encoding="utf-8"))
    original = Tokenizer.from_file(str(tokenizer_path()))
    texts = corpus_texts()
    keep = keep_ids_for(texts, original_json["model"]["vocab"], original, args.budget)
    np.save(args.out / "keep_ids.npy", keep)
    path = args.out / "tokenizer.json"
    path.write_text(json.dumps(trimmed_tokenizer_json(original_json, keep), ensure_ascii=False), encoding="utf-8")
    trimmed = Tokenizer.from_file(str(path))
    sample = random.Random(0).sample(texts, 3000)
    pairs = zip(
        CHECK_SENTENCES, original.encode_batch(CHECK_SENTENCES), trimmed.encode_batch(CHECK_SENTENCES), strict=True
    )
    report = {
        "vocab_original": len(original_json["model"]["vocab"]),
        "vocab_trimmed": len(keep),
        "corpus_texts": len(texts),
        "round_trip_corpus_sample": round_trip(original, trimmed, sample),
        "round_trip_unseen_sentences": round_trip(original, trimmed, CHECK_SENTENCES),
        "unseen_sentences": [
            {"text": t, "original": a.tokens, "trimmed": b.tokens} for t, a, b in pairs if a.tokens != b.tokens
        ],
    }
    (args.out / "trim_report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(json.dumps({k: v for k, v in report.items() if k != "unseen_sentences"}, indent=1))
    for row in report["unseen_sentences"]:
        print(row)


if __name__ == "__main__":
    main()
