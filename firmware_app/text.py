"""Text from outside (keyboard, speech, command line, files) made safe before any part of the kiosk reads it.

Command-line arguments with invalid UTF-8 arrive as lone surrogates (Python's surrogateescape), JSON may carry
``\\ud800``, and keyboards and scanners send control characters: none of that may reach SQLite, the tokenizer or
a log line, where it raises instead of being read.
"""

from __future__ import annotations

import unicodedata

MAX_INPUT_CHARS = 1000


def valid_unicode(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so it can always be encoded as UTF-8."""
    if text.isascii():
        return text
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def clean_text(text: str) -> tuple[str, bool]:
    """Printable, NFKC-normalised, single-spaced text, and whether it had to be cut at ``MAX_INPUT_CHARS``."""
    text = unicodedata.normalize("NFKC", valid_unicode(text))
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return (text[:MAX_INPUT_CHARS], True) if len(text) > MAX_INPUT_CHARS else (text, False)
