"""How the speech benchmark scores a transcript against what was said: text normalisation, word errors (WER) and
spoken digits. Kept apart from the measuring so that the arithmetic is tested on its own."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# British and American spellings (and sound-alike spellings of one word) count as the same word.
SAME_WORD = {
    "metre": "meter",
    "metres": "meters",
    "centre": "center",
    "colour": "color",
    "favourite": "favorite",
    "cancelled": "canceled",
    "cancelling": "canceling",
    "travelling": "traveling",
    "traveller": "traveler",
    "licence": "license",
    "cheque": "check",
    "cheques": "checks",
    "programme": "program",
    "jewellery": "jewelry",
    "enrol": "enroll",
    "okay": "ok",
    "e-mail": "email",
}
_BRITISH_ISE = re.compile(r"^(\w{3,}i)s(e|ed|es|ing|ation|ations)$")  # organise -> organize, authorised -> ...
# Contractions are written out ("I'm" and "I am" are one answer), as Whisper's own English normaliser does.
CONTRACTIONS = {"can't": "can not", "won't": "will not", "let's": "let us"}
_CONTRACTED = (
    (re.compile(r"n't$"), " not"),
    (re.compile(r"'m$"), " am"),
    (re.compile(r"'re$"), " are"),
    (re.compile(r"'ve$"), " have"),
    (re.compile(r"'ll$"), " will"),
    (re.compile(r"'d$"), " would"),
    (re.compile(r"^(it|that|what|there|here|he|she|where|who|how)'s$"), r"\1 is"),
)


def normalise_words(text: str) -> list[str]:
    """``text`` as comparable words: lowercase, no punctuation, contractions written out, one spelling per word,
    numbers as numerals.

    Numbers go through words and back ("10", "ten" -> "10"; "four three two one", "4321" -> "4321"; "£5" ->
    "5 pounds"), the same way for the reference and the hypothesis, so a numeral is never an error by itself.
    """
    from firmware_app.asr.language_model import normalise, spoken_numbers

    words = [part for word in normalise(text) for part in _expanded(word).replace("-", " ").split()]
    return spoken_numbers([_one_spelling(w) for w in words]).split()


def _expanded(word: str) -> str:
    word = SAME_WORD.get(word, word)
    if word in CONTRACTIONS:
        return CONTRACTIONS[word]
    for pattern, replacement in _CONTRACTED:
        word = pattern.sub(replacement, word)
    return word


def _one_spelling(word: str) -> str:
    word = SAME_WORD.get(word, word)
    return _BRITISH_ISE.sub(r"\1z\2", word)


@dataclass(frozen=True)
class EditCounts:
    """Word errors of one hypothesis against its reference."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def edit_counts(reference: list[str], hypothesis: list[str]) -> EditCounts:
    """Levenshtein alignment of two word lists, split into substitutions, deletions and insertions."""
    # Each cell: (total, substitutions, deletions, insertions); ties prefer substitutions, as sclite does.
    previous = [(j, 0, 0, j) for j in range(len(hypothesis) + 1)]
    for i, ref_word in enumerate(reference, 1):
        current = [(i, 0, i, 0)]
        for j, hyp_word in enumerate(hypothesis, 1):
            diagonal = previous[j - 1]
            same = ref_word == hyp_word
            options = [
                (diagonal[0] + (not same), diagonal[1] + (not same), diagonal[2], diagonal[3]),
                (previous[j][0] + 1, previous[j][1], previous[j][2] + 1, previous[j][3]),
                (current[j - 1][0] + 1, current[j - 1][1], current[j - 1][2], current[j - 1][3] + 1),
            ]
            current.append(min(options, key=lambda cell: cell[0]))
        previous = current
    _, s, d, n = previous[-1]
    return EditCounts(s, d, n, len(reference))


def wer(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Corpus WER of (reference, hypothesis) texts: all word errors over all reference words."""
    counts = [edit_counts(normalise_words(ref), normalise_words(hyp)) for ref, hyp in pairs]
    words = sum(c.reference_words for c in counts)
    return {
        "wer": round(sum(c.errors for c in counts) / words, 4) if words else None,
        "utterances": len(counts),
        "reference_words": words,
        "substitutions": sum(c.substitutions for c in counts),
        "deletions": sum(c.deletions for c in counts),
        "insertions": sum(c.insertions for c in counts),
        "exact": sum(c.errors == 0 for c in counts),
    }


def digit_correct(hypothesis: str, digit: str) -> bool:
    """The reply names exactly this digit ("3", "it's 3"); "33" or "3 4" is wrong."""
    return re.sub(r"\D", "", hypothesis) == digit
