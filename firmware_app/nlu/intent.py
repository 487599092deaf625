"""Intent classification with out-of-scope rejection, on the shared int8 encoder.

``in_scope_score`` is the top in-scope probability of the model's 78-way softmax (77 intents + ``oos``).
Below the manifest's calibrated threshold the kiosk says it cannot help rather than guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware_app.inference.encoder import TextEncoder
from firmware_app.inference.manifest import verified_model_path

OOS = "oos"


@dataclass(frozen=True)
class IntentPrediction:
    intent: str  # an in-scope label or "oos"
    confidence: float  # probability of the returned intent (of "oos" when rejected)
    in_scope_score: float
    best_in_scope: str  # the top in-scope label even when rejected (for suggestions)
    embedding: np.ndarray


class IntentClassifier:
    def __init__(self, encoder: TextEncoder, labels: list[str], threshold: float, model_id: str = "") -> None:
        """``model_id`` names the weights (their sha256): what was embedded with them must be redone without them."""
        if labels[-1] != OOS:
            raise ValueError("the intent model's last label must be 'oos'")
        self.encoder = encoder
        self.labels = labels
        self.threshold = threshold
        self.model_id = model_id

    @classmethod
    def from_models_dir(
        cls, models_dir: Path, name: str, threads: int = 0, threshold: float | None = None
    ) -> IntentClassifier:
        entry, path = verified_model_path(models_dir, name)
        encoder = TextEncoder(path, models_dir / entry.assets["tokenizer"], threads=threads)
        threshold = entry.thresholds["in_scope"] if threshold is None else threshold
        return cls(encoder, entry.labels, threshold, model_id=f"{name}@{entry.sha256[:16]}")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit sentence vectors of ``texts`` (the knowledge store's semantic search)."""
        return self.encoder.encode(texts).embeddings

    def predict_many(self, texts: list[str]) -> list[IntentPrediction]:
        output = self.encoder.encode(texts)
        logits = output.logits - output.logits.max(axis=1, keepdims=True)
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        predictions = []
        for row, embedding in zip(probs, output.embeddings, strict=True):
            top = int(row[:-1].argmax())
            score = float(row[top])
            if score >= self.threshold:
                predictions.append(IntentPrediction(self.labels[top], score, score, self.labels[top], embedding))
            else:
                predictions.append(IntentPrediction(OOS, float(row[-1]), score, self.labels[top], embedding))
        return predictions

    def predict(self, text: str) -> IntentPrediction:
        return self.predict_many([text])[0]
