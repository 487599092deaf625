"""Fonts and line wrapping for English and Chinese.

English wraps at spaces; Chinese has no spaces and may break between any two characters (but not before
closing punctuation such as "，" or "。"). A word longer than the line (a 300-character name, a URL) is
broken by characters rather than allowed to run off the screen.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import pygame

from kiosk_ui.theme import Theme

_NO_BREAK_BEFORE = set("，。、；：？！）》」』】,.;:?!)%")


@lru_cache(maxsize=64)
def font(path: str | None, size_px: int, bold: bool = False) -> pygame.font.Font:
    face = pygame.font.Font(path, size_px)
    face.set_bold(bold)
    return face


def theme_font(theme: Theme, size_px: int, bold: bool = False) -> pygame.font.Font:
    return font(theme.font_path, size_px, bold)


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _tokens(text: str) -> list[str]:
    """Break opportunities: each wide (CJK) character alone, Latin words with their trailing spaces, and
    closing punctuation glued to what it follows."""
    tokens: list[str] = []
    for char in text:
        previous = tokens[-1] if tokens else ""
        continues_word = not _is_wide(char) and previous and not _is_wide(previous[-1]) and previous[-1] != " "
        if previous and (char in _NO_BREAK_BEFORE or char == " " or continues_word):
            tokens[-1] += char
        else:
            tokens.append(char)
    return tokens


def wrap(text: str, face: pygame.font.Font, width_px: int) -> list[str]:
    """Lines of ``text`` that each fit ``width_px``; explicit newlines are kept. Cached: screens are rebuilt
    from the same texts many times (and measuring a long Chinese answer costs milliseconds on a Pi)."""
    return list(_wrap(text, face, width_px))


@lru_cache(maxsize=4096)
def _wrap(text: str, face: pygame.font.Font, width_px: int) -> tuple[str, ...]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for token in _tokens(paragraph):
            candidate = line + token
            if face.size(candidate.rstrip())[0] <= width_px:
                line = candidate
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = token.lstrip() if not _is_wide(token[:1]) else token
            while face.size(line.rstrip())[0] > width_px and len(line) > 1:  # a word wider than the line
                cut = _longest_prefix(line, face, width_px)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line.rstrip())
    return tuple(lines)


def _longest_prefix(text: str, face: pygame.font.Font, width_px: int) -> int:
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if face.size(text[:middle])[0] <= width_px:
            low = middle
        else:
            high = middle - 1
    return low


def ellipsize(text: str, face: pygame.font.Font, width_px: int) -> str:
    """One line that fits, ending in "…" when something had to go."""
    if face.size(text)[0] <= width_px:
        return text
    return text[: _longest_prefix(text + "…", face, width_px - face.size("…")[0])].rstrip() + "…"
