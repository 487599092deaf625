"""Text understanding for one utterance: language, intent (or out-of-scope), entities, sentiment, act.

Input is cleaned first (control characters dropped, Unicode normalised, cut at ``MAX_INPUT_CHARS``), so
empty, binary or very long input gives a normal result instead of an exception.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from firmware_app.events import Entity, Language, NluResult
from firmware_app.nlu.acts import ActMatcher
from firmware_app.nlu.degraded import IntentModels
from firmware_app.nlu.digits import spell_out_digits
from firmware_app.nlu.entities import ZH_CARD_ENDING_CUE, extract_entities
from firmware_app.nlu.intent import OOS, IntentPrediction, IntentReader
from firmware_app.nlu.language import detect_language
from firmware_app.nlu.sentiment import analyze_sentiment
from firmware_app.privacy import mask_card_last4, mask_card_numbers
from firmware_app.text import clean_text

# Entity kinds cut out of the text before the intent model reads it (see ``intent_text``).
MASKED_FOR_INTENT = frozenset({"card_last4"})
_ENDING_CUE = re.compile(
    r"(?:,\s*)?(?:(?:it\s+|which\s+|that\s+)?(?:ending|ends?)(?:\s+(?:in|with))?|last\s+(?:four|4)(?:\s+digits)?"
    rf"(?:\s+(?:are|is))?|{ZH_CARD_ENDING_CUE})\s*[:：]?\s*$",
    re.IGNORECASE,
)
# Kiosk-level intents a model may predict beside BANKING77's and the FAQ's, and the dialogue act each one is.
KIOSK_INTENT_ACTS = {
    "block_card": "block_card",
    "talk_to_human": "human",
    "thanks": "thanks",
    "greeting": "greeting",
    "goodbye": "goodbye",
}
NOTHING_TO_CLASSIFY = IntentPrediction(OOS, 1.0, 0.0, OOS, None)
MODEL_ACT_CONFIDENCE = 0.5
MODEL_COURTESY_CONFIDENCE = 0.8
# When several acts match, the first one in this order is the one reported.
ACT_PRIORITY = (
    "human",
    "cancel",
    "goodbye",
    "deny",
    "affirm",
    "block_card",
    "complaint",
    "book_appointment",
    "thanks",
    "greeting",
)


@dataclass(frozen=True)
class Understanding:
    result: NluResult
    embedding: np.ndarray | None  # sentence embedding of the language's model, for semantic FAQ search
    acts: frozenset[str]
    best_in_scope: str | None  # the model's top intent even when it said out-of-scope
    truncated: bool
    full_card_number: bool = False  # the customer gave a whole card number (kept: its last four digits only)


class NluEngine:
    """``classifiers`` reads each language with its model (both keys may hold the same multilingual model)."""

    def __init__(
        self,
        classifiers: Mapping[Language, IntentReader],
        acts: ActMatcher,
        *,
        region: str = "GB",
        currency: str = "GBP",
        today: Callable[[], datetime.date] = datetime.date.today,
        models: IntentModels | None = None,
    ) -> None:
        """``models``: where ``classifiers`` come from when they can fall back to keywords (``build_nlu``)."""
        self.classifiers = dict(classifiers)
        self.models = models
        self.acts = acts
        self.region = region
        self.currency = currency
        self.today = today

    @property
    def degraded(self) -> tuple[str, ...]:
        """The capabilities running without their model: ``("intent_model",)`` while questions are read by
        keywords because the intent model could not be loaded, else ``()``."""
        return self.models.degraded if self.models is not None else ()

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
        digits_text, endings = mask_card_numbers(spell_out_digits(cleaned))
        if endings:  # a full card number, typed or said: nothing after this line sees more than its last four
            cleaned = digits_text
        entities = tuple(
            extract_entities(digits_text, today=self.today(), region=self.region, currency=self.currency)
        ) + tuple(_card_endings(digits_text, endings))
        sentiment = analyze_sentiment(cleaned)
        model_text = intent_text(digits_text, entities)
        # "后四位是4812" is all card ending: nothing is left to classify (the model called the empty rest a goodbye)
        prediction = self.classifiers[language].predict(model_text) if model_text else NOTHING_TO_CLASSIFY
        intent, confidence = prediction.intent, prediction.confidence
        acts = self.acts.match(cleaned, language)
        if intent in KIOSK_INTENT_ACTS:  # "thanks", "block my card": steer the dialogue, answer nothing themselves
            if _model_act_counts(KIOSK_INTENT_ACTS[intent], confidence, acts):
                acts = acts | {KIOSK_INTENT_ACTS[intent]}
            intent = OOS
        act = next((a for a in ACT_PRIORITY if a in acts), None)
        result = NluResult(
            text=cleaned,
            intent=intent,
            confidence=round(confidence, 4),
            in_scope_score=round(prediction.in_scope_score, 4),
            entities=entities,
            sentiment=sentiment.label,
            sentiment_score=round(sentiment.score, 4),
            frustrated=sentiment.frustrated,
            dialogue_act=act,
            language=language,
        )
        return Understanding(result, prediction.embedding, acts, prediction.best_in_scope, truncated, bool(endings))


def _model_act_counts(act: str, confidence: float, pattern_acts: frozenset[str]) -> bool:
    """Whether the model's kiosk-level label becomes a dialogue act. Blocking a card and asking for a person
    are said in too many ways for patterns, so the model's word counts when it is fairly sure. Courtesies are
    closed phrases the patterns read exactly, while the model (trained on CLINC's goodbyes) calls a bare "对"
    (yes) a goodbye: it counts only when sure and when no pattern matched (dev conversations, zh)."""
    if act in ("block_card", "human"):
        return confidence >= MODEL_ACT_CONFIDENCE
    return not pattern_acts and confidence >= MODEL_COURTESY_CONFIDENCE


def intent_text(text: str, entities: tuple[Entity, ...]) -> str:
    """What the intent model reads: the utterance with card endings (and the words that introduce them) taken
    out, since "ending 7781" pulled "my debit card ending 7781 got nicked" towards direct debits."""
    for entity in sorted(entities, key=lambda e: e.start, reverse=True):
        if entity.kind in MASKED_FOR_INTENT:
            before = _ENDING_CUE.sub("", text[: entity.start])
            text = before + text[entity.end :]
    return " ".join(text.split())


def _card_endings(text: str, endings: list[str]) -> list[Entity]:
    """The card_last4 entity of each full card number that ``mask_card_numbers`` replaced."""
    found, position = [], 0
    for last4 in endings:
        masked = mask_card_last4(last4)
        start = text.find(masked, position)
        position = start + len(masked)
        found.append(Entity(kind="card_last4", text=masked, value=last4, start=start, end=position))
    return found
