"""English or Simplified Chinese? The kiosk's two languages differ in script, so counting CJK characters
is exact enough and costs microseconds (no language-id model needed)."""

from __future__ import annotations

from firmware_app.events import Language


def is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def detect_language(text: str, default: Language = "en") -> Language:
    """``zh`` when Chinese characters carry the text (one character weighs about two Latin letters),
    ``en`` otherwise, ``default`` when there are no letters at all (digits, punctuation)."""
    cjk = sum(1 for c in text if is_cjk(c))
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    if cjk == 0 and latin == 0:
        return default
    if latin == 0:
        return "zh"
    return "zh" if cjk >= 2 and cjk * 2 >= latin else "en"
