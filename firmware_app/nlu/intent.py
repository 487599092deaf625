"""Intent classification with out-of-scope rejection, on the shared int8 encoder.

``in_scope_score`` is the top in-scope probability of the model's 78-way softmax (77 intents + ``oos``).
Below the manifest's calibrated threshold the kiosk says it cannot help rather than guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from firmware_app.inference.encoder import TextEncoder
from firmware_app.inference.manifest import verified_model_path
from firmware_app.inference.runtime import open_model

OOS = "oos"


@dataclass(frozen=True)
class IntentPrediction:
    intent: str  # an in-scope label or "oos"
    confidence: float  # probability of the returned intent (of "oos" when rejected)
    in_scope_score: float
    best_in_scope: str  # the top in-scope label even when rejected (for suggestions)
    embedding: np.ndarray | None  # None when there was nothing to read


class IntentReader(Protocol):
    """What the understanding step needs of a language's intent model."""

    @property
    def threshold(self) -> float: ...

    @property
    def model_id(self) -> str: ...

    def predict(self, text: str) -> IntentPrediction: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


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
        cls,
        models_dir: Path,
        name: str,
        threads: int = 0,
        threshold: float | None = None,
        cache_dir: Path | None = None,
    ) -> IntentClassifier:
        entry, path = verified_model_path(models_dir, name)
        model = open_model(entry, path, threads=threads, cache_dir=cache_dir)
        encoder = TextEncoder(model, models_dir / entry.assets["tokenizer"])
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


class SecondOpinion:
    """A primary classifier with a second model consulted for the labels only the second one has.

    English reads with MiniLM, the most accurate on BANKING77 (94.0% dev vs 92.3% for the multilingual model),
    but MiniLM has no label for the FAQ's questions ("what time do you shut?") or the kiosk's own intents
    ("block my card", "is there a lady I could talk to?"). The multilingual model has both: when its answer is
    one of those labels and it is at least ``min_confidence`` sure, its answer wins. At 0.65 it gives no
    BANKING77 dev question such a label (at 0.5 one: "Do you accept cash?" got the branch's cash-deposits FAQ),
    so BANKING77 accuracy is MiniLM's, and the dev visits fare as well as at 0.5. Everything else,
    ``in_scope_score``, the sentence embedding (the English FAQ vectors come from the primary) and the
    threshold stay the primary's.
    """

    def __init__(self, primary: IntentClassifier, second: IntentClassifier, min_confidence: float) -> None:
        self.primary = primary
        self.second = second
        self.min_confidence = min_confidence
        self._only_second = frozenset(second.labels) - frozenset(primary.labels)
        self.threshold = primary.threshold
        self.model_id = primary.model_id

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.primary.embed(texts)

    def predict(self, text: str) -> IntentPrediction:
        first, other = self.primary.predict(text), self.second.predict(text)
        if other.intent in self._only_second and other.confidence >= self.min_confidence:
            # in_scope_score stays the primary's: the threshold and the out-of-scope AUROC are calibrated on it
            return IntentPrediction(
                other.intent, other.confidence, first.in_scope_score, other.best_in_scope, first.embedding
            )
        return first
