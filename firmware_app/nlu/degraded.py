"""Understanding without the intent model: a keyword reader, and the loader that brings the model back.

One damaged byte range of an intent model (a sha256 mismatch), a missing file or a model OpenVINO cannot load must
not take the counter down: the knowledge store, the topic tiles and "talk to a person" need no model. While the
models cannot be loaded, each language is read by a ``KeywordReader`` (the knowledge store's word / character
index names the entry the question is about, or "oos"), the dialogue acts (hand-off, yes, no...) still come from
the pack's patterns, and the kiosk reports ``degraded == ("intent_model",)``. ``IntentModels`` tries the models
again at most every ``retry_interval_s`` when a request comes, so a repaired file (or an update that replaces it)
brings full service back without a restart.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import numpy as np

from firmware_app.events import Language
from firmware_app.health import Health
from firmware_app.nlu.intent import OOS, IntentPrediction, IntentReader

log = logging.getLogger(__name__)

INTENT_MODEL: Final = "intent_model"  # the capability named in ``degraded`` while the kiosk reads by keywords
KEYWORD_MODEL_ID = "keywords"
DEFAULT_RETRY_INTERVAL_S = 10.0
# A knowledge entry answers when its best phrasing shares this much with the question (Dice overlap of content
# words in English, of character pairs in Chinese): "what are your opening hours" and the entry's own question
# score 1.0, while a question about something else shares a word or two at most.
KEYWORD_MATCH = 0.5
LANGUAGES: tuple[Language, ...] = ("en", "zh")

# Knowledge entries that match a question by its words, best first, each with its overlap score (0..1).
KeywordSearch = Callable[[str, Language], Sequence[tuple[str, float]]]
# What a failing model load raises: ModelIntegrityError (a RuntimeError) for a sha256 mismatch or a file missing
# from the manifest, OSError for an unreadable file, RuntimeError for OpenVINO's "cannot read the model".
LOAD_ERRORS: tuple[type[Exception], ...] = (OSError, RuntimeError, ValueError)


class ModelUnavailable(RuntimeError):
    """Asked for a sentence embedding while the kiosk runs without its intent model."""


class KeywordReader:
    """An ``IntentReader`` with no model: the best knowledge entry by words is the intent, or "oos" below
    ``threshold``. It has no sentence embeddings (``embed`` raises ``ModelUnavailable``): semantic search waits for
    the model."""

    model_id = KEYWORD_MODEL_ID

    def __init__(self, search: KeywordSearch, language: Language, threshold: float = KEYWORD_MATCH) -> None:
        self.search = search
        self.language = language
        self.threshold = threshold

    def predict(self, text: str) -> IntentPrediction:
        matches = self.search(text, self.language)
        if not matches:
            return IntentPrediction(OOS, 1.0, 0.0, OOS, None)
        entry_id, score = matches[0]
        if score >= self.threshold:
            return IntentPrediction(entry_id, score, score, entry_id, None)
        return IntentPrediction(OOS, 1.0 - score, score, entry_id, None)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise ModelUnavailable("no sentence embeddings while the intent model is unavailable")


class IntentModels:
    """The languages' intent readers, loaded by ``load`` when first needed; while loading fails, the readers of
    ``fallback`` serve, and loading is tried again when ``retry_interval_s`` has passed since the last try.

    ``reader(language)`` is a reader that always reads with what is current, so the understanding step keeps one
    object per language across an outage and a recovery."""

    def __init__(
        self,
        load: Callable[[], Mapping[Language, IntentReader]],
        fallback: Callable[[], Mapping[Language, IntentReader]],
        retry_interval_s: float = DEFAULT_RETRY_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        health: Health | None = None,
    ) -> None:
        self._load = load
        self.health = health  # told each failed load ("keywords" serve) and the load that brings the models back
        self._make_fallback = fallback
        self.retry_interval_s = retry_interval_s
        self._clock = clock
        self._models: dict[Language, IntentReader] | None = None
        self._fallback: dict[Language, IntentReader] | None = None
        self._next_try = -math.inf
        self._lock = threading.Lock()
        self.error: str | None = None  # why the models could not be loaded (None while they serve)

    def current(self) -> Mapping[Language, IntentReader]:
        """The model readers, loading them if they are not yet loaded and a try is due; else the fallback."""
        with self._lock:
            if self._models is None and self._clock() >= self._next_try:
                self._try_load()
            if self._models is not None:
                return self._models
            if self._fallback is None:
                self._fallback = dict(self._make_fallback())
            return self._fallback

    def _try_load(self) -> None:
        try:
            self._models = dict(self._load())
        except LOAD_ERRORS as error:
            self._next_try = self._clock() + self.retry_interval_s
            if self.error is None:  # once per outage: the retries would fill the log
                log.warning(
                    "intent model unavailable: answering by keyword search until it loads",
                    extra={"error": str(error), "retry_s": self.retry_interval_s},
                )
            self.error = str(error)
            if self.health is not None:
                self.health.degraded(INTENT_MODEL, self.error, "keywords")
            return
        if self.error is not None:
            log.warning("intent model loaded again: full service restored")
        self.error = None
        if self.health is not None:
            self.health.ok(INTENT_MODEL)

    @property
    def degraded(self) -> tuple[str, ...]:
        """``("intent_model",)`` while the fallback serves (as of the last request), else ``()``."""
        return () if self._models is not None else (INTENT_MODEL,)

    def reader(self, language: Language) -> IntentReader:
        return CurrentReader(self, language)


class CurrentReader:
    """The reader of one language that ``IntentModels`` currently serves (the model's, or the fallback's)."""

    def __init__(self, models: IntentModels, language: Language) -> None:
        self.models = models
        self.language = language

    @property
    def threshold(self) -> float:
        return self.models.current()[self.language].threshold

    @property
    def model_id(self) -> str:
        return self.models.current()[self.language].model_id

    def predict(self, text: str) -> IntentPrediction:
        return self.models.current()[self.language].predict(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.models.current()[self.language].embed(texts)
