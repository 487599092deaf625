"""Dialogue acts (yes, no, cancel, ask for a person, book an appointment...) from the pack's patterns."""

from __future__ import annotations

import re

from firmware_app.events import LANGUAGES, Language
from firmware_app.packs import Acts


class ActMatcher:
    """Compiles the pack's regular expressions once; ``match`` returns every act that fits."""

    def __init__(self, acts: Acts) -> None:
        self._patterns: dict[Language, list[tuple[str, re.Pattern[str]]]] = {"en": [], "zh": []}
        for act, texts in acts.patterns.items():
            for language in LANGUAGES:
                for pattern in texts.get(language):
                    self._patterns[language].append((act, re.compile(pattern, re.IGNORECASE)))

    def match(self, text: str, language: Language) -> frozenset[str]:
        found = {act for act, pattern in self._patterns[language] if pattern.search(text)}
        if language == "zh":  # Chinese customers mix in English words ("OK", "cancel")
            found |= {act for act, pattern in self._patterns["en"] if pattern.search(text)}
        return frozenset(found)
