"""Digits however a customer says or types them, rewritten as ASCII digits before entities are read.

Card endings arrive as "4812", "four eight one two", "4 8 1 2", "double seven eight one", 四八一二 or 幺二八八
(幺 is how Mandarin speakers read a 1 in a string of digits); full-width ４８１２ is already ASCII after NFKC.
"oh" for zero is left alone: in "oh, four eight one two" it is a sigh, and reading it as 0 breaks the ending.
Only runs of digit words are rewritten, so "one card" or "三天" keep their words: a run needs at least two
English digit words, or three Chinese ones (两 and 十/百 are numbers, not digits, and are never touched).
"""

from __future__ import annotations

import re

_EN_DIGITS = {
    "zero": "0", "nought": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_EN_REPEAT = {"double": 2, "triple": 3}
_ZH_DIGITS = {"零": "0", "〇": "0", "幺": "1", "一": "1", "二": "2", "三": "3", "四": "4", "五": "5", "六": "6",
              "七": "7", "八": "8", "九": "9"}  # fmt: skip

_EN_WORD = rf"(?:(?:{'|'.join(_EN_REPEAT)})\s+)?(?:{'|'.join(_EN_DIGITS)}|\d)"
# Two or more digit words (or single digits) in a row, separated by spaces, commas or dashes.
_EN_RUN = re.compile(rf"\b{_EN_WORD}(?:[\s,-]+{_EN_WORD})+\b", re.IGNORECASE)
_ZH_RUN = re.compile(rf"[{''.join(_ZH_DIGITS)}]{{3,}}")
# Single digits typed or said with gaps: "4 8 1 2".
_SPACED_DIGITS = re.compile(r"(?<![\d.,])\d(?:[ -]\d){2,}(?![\d.,]|[ -]\d)")


def _english_run(match: re.Match[str]) -> str:
    digits = []
    repeat = 1
    for word in re.findall(r"[a-z]+|\d", match.group().lower()):
        if word in _EN_REPEAT:
            repeat = _EN_REPEAT[word]
            continue
        digits.append((_EN_DIGITS.get(word) or word) * repeat)
        repeat = 1
    return "".join(digits)


def spell_out_digits(text: str) -> str:
    """``text`` with spoken or written-out digit strings replaced by ASCII digits."""
    text = _ZH_RUN.sub(lambda m: "".join(_ZH_DIGITS[c] for c in m.group()), text)
    text = _EN_RUN.sub(_english_run, text)
    return _SPACED_DIGITS.sub(lambda m: re.sub(r"\D", "", m.group()), text)
