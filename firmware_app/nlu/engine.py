"""Text understanding for one utterance: language, intent (or out-of-scope), entities, sentiment, act.

Input is cleaned first (control characters dropped, Unicode normalised, cut at ``MAX_INPUT_CHARS``), so
empty, binary or very long input gives a normal result instead of an exception.
"""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from firmware_app.events import Language, NluResult
from firmware_app.nlu.acts import ActMatcher
from firmware_app.nlu.entities import extract_entities
from firmware_app.nlu.intent import OOS, IntentClassifier
from firmware_app.nlu.language import detect_language
from firmware_app.nlu.sentiment import analyze_sentiment

MAX_INPUT_CHARS = 1000
# When several acts match, the first one in this order is the one reported.
ACT_PRIORITY = ("human", "cancel", "goodbye", "deny", "affirm", "complaint", "book_appointment", "thanks", "greeting")


@dataclass(frozen=True)
class Understanding:
    result: NluResult
    embedding: np.ndarray | None  # sentence embedding, for semantic FAQ search (None for empty/Chinese input)
    acts: frozenset[str]
    best_in_scope: str | None  # the model's top intent even when it said out-of-scope
    truncated: bool


def clean_text(text: str) -> tuple[str, bool]:
    """Printable, NFKC-normalised, single-spaced text, and whether it had to be cut."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return (text[:MAX_INPUT_CHARS], True) if len(text) > MAX_INPUT_CHARS else (text, False)


class NluEngine:
    def __init__(
        self,
        classifier: IntentClassifier,
        acts: ActMatcher,
        *,
        region: str = "GB",
        currency: str = "GBP",
        today: Callable[[], datetime.date] = datetime.date.today,
    ) -> None:
        self.classifier = classifier
        self.acts = acts
        self.region = region
        self.currency = currency
        self.today = today

    def understand(self, text: str, default_language: Language = "en") -> Understanding:
        cleaned, truncated = clean_text(text)
        language = detect_language(cleaned, default_language)
        if not cleaned:
            return Understanding(
                NluResult(text="", intent=OOS, confidence=0.0, in_scope_score=0.0, language=language),
                None,
                frozenset(),
                None,
                truncated,
            )
        entities = tuple(extract_entities(cleaned, today=self.today(), region=self.region, currency=self.currency))
        sentiment = analyze_sentiment(cleaned)
        acts = self.acts.match(cleaned, language)
        act = next((a for a in ACT_PRIORITY if a in acts), None)
        intent, confidence, in_scope, embedding, best = OOS, 0.0, 0.0, None, None
        if language == "en":  # the intent model is English-only; Chinese goes to the trigram FAQ search
            prediction = self.classifier.predict(cleaned)
            intent, confidence, in_scope = prediction.intent, prediction.confidence, prediction.in_scope_score
            embedding, best = prediction.embedding, prediction.best_in_scope
        result = NluResult(
            text=cleaned,
            intent=intent,
            confidence=round(confidence, 4),
            in_scope_score=round(in_scope, 4),
            entities=entities,
            sentiment=sentiment.label,
            sentiment_score=round(sentiment.score, 4),
            frustrated=sentiment.frustrated,
            dialogue_act=act,
            language=language,
        )
        return Understanding(result, embedding, acts, best, truncated)
