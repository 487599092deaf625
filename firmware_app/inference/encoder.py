"""The int8 sentence encoder with its intent head, run with a ``tokenizers`` tokenizer.

One forward pass gives both the intent logits and an L2-normalised sentence embedding, so intent,
out-of-scope detection and semantic FAQ search share one model and one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from firmware_app.inference.runtime import Model, OpenVinoModel

MAX_TOKENS = 64
# Inputs are padded to a few fixed shapes: OpenVINO's CPU plugin keeps compiled kernels and buffers for every
# input shape it has seen, for as long as the model lives, so free-length inputs grew the process by 170 MB over
# 200 questions. Buckets cap that at three shapes and are faster too (bench: p50 3.9 -> 2.2 ms on one core).
# Batches are shapes too: with two intent models a whole kiosk peaked at 477 MB when the pack's FAQ phrasings
# were embedded 32 at a time at install, 420 MB 4 at a time, and 394 MB one at a time (bench_intent
# --kiosk-rss), which made the install 0.45 s slower. So every text runs alone.
TOKEN_BUCKETS = (16, 32, MAX_TOKENS)


@dataclass(frozen=True)
class EncoderOutput:
    logits: np.ndarray  # (batch, labels) float32
    embeddings: np.ndarray  # (batch, dim) float32, unit length


class TextEncoder:
    """The sentence encoder and its tokenizer; thread-safe, one text at a time.

    ``model`` is the ONNX model on OpenVINO or its ``.tflite`` on LiteRT (``firmware_app.inference.runtime``);
    a model converted for one fixed token count gets every text padded to it (the mask hides the padding).
    """

    def __init__(self, model: Model, tokenizer_path: Path) -> None:
        self.model = model
        fixed_tokens = model.inputs["input_ids"].shape[-1]
        self._buckets = TOKEN_BUCKETS if fixed_tokens is None else (fixed_tokens,)
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(self._buckets[-1])
        self._tokenizer.no_padding()

    @classmethod
    def from_onnx(
        cls, model_path: Path, tokenizer_path: Path, threads: int = 0, cache_dir: Path | None = None
    ) -> TextEncoder:
        """The ONNX file on OpenVINO (recipes and tests measure files the manifest does not list yet).

        ``threads=0`` lets OpenVINO choose; a fixed thread count is only safe for models that pass the
        runtime parity test at that count (see PLATFORM_NOTES: single-thread int8 garbage on some CPUs).
        ``cache_dir`` keeps OpenVINO's compiled model between starts: loading both intent models takes 0.2 s of
        CPU instead of 1.1 s. OpenVINO keys the cache on the model's content and the settings, so an updated
        model is compiled afresh.
        """
        return cls(OpenVinoModel(model_path, threads, cache_dir=cache_dir), tokenizer_path)

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask, padded to the smallest token bucket that fits the longest text."""
        encodings = self._tokenizer.encode_batch(list(texts))
        longest = max(len(e.ids) for e in encodings)
        length = next(b for b in self._buckets if b >= longest)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask = np.zeros((len(encodings), length), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        return ids, mask

    def encode(self, texts: Sequence[str]) -> EncoderOutput:
        """Run the model over ``texts``, one at a time (see ``TOKEN_BUCKETS``)."""
        if not texts:
            raise ValueError("encode() needs at least one text")
        logits, embeddings = [], []
        for text in texts:
            ids, mask = self.tokenize([text])
            result = self.model.infer({"input_ids": ids, "attention_mask": mask})
            logits.append(np.asarray(result["logits"], dtype=np.float32))
            embeddings.append(np.asarray(result["embedding"], dtype=np.float32))
        return EncoderOutput(np.concatenate(logits), np.concatenate(embeddings))
