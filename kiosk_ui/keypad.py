"""The on-screen keyboard and numpad, shared by flow forms, the technician's note and the staff PIN.

Keys send ``type_key``; Delete sends ``backspace``; the wide key sends ``submit``. Widget ids are
``key:<char>``, ``key:space``, ``key:backspace``, ``key:mode`` and ``key:submit`` so tests and scripts can
press them.
The English layout is QWERTY; Chinese customers type pinyin with a system IME on a physical keyboard or, more
often, speak or tap choices, so the Chinese screen shows the same letters with Chinese labels on the
function keys.
"""

from __future__ import annotations

import pygame

from kiosk_ui.layout import columns, split_top
from kiosk_ui.screens import BuildContext
from kiosk_ui.widgets import Style, Widget

DIGIT_ROW = "1234567890"
LETTER_ROWS = ("qwertyuiop", "asdfghjkl'", "zxcvbnm,.?")
SYMBOL_ROWS = (DIGIT_ROW, '-/:;()£&@"', "+=#%*_!?,.")
NUMPAD_ROWS = ("123", "456", "789")


def _key(rect: pygame.Rect, char: str) -> Widget:
    return Widget("button", rect, char, id=f"key:{char}", style="key", action=("type_key", char), align="center")


def _function_row(ctx: BuildContext, rect: pygame.Rect, submit_label: str, toggle: bool) -> list[Widget]:
    """Delete, (123/abc), space and submit."""
    cells = columns(rect, 5 if toggle else 4, ctx.theme.gap)
    row = [_button(cells[0], ctx.t("delete"), "key:backspace", "secondary", ("backspace",))]
    if toggle:
        label = "abc" if ctx.keyboard_symbols else "123"
        row.append(_button(cells[1], label, "key:mode", "secondary", ("ui:keyboard",)))
    space_rect = cells[-3].union(cells[-2])
    row.append(_button(space_rect, ctx.t("space"), "key:space", "key", ("type_key", " ")))
    row.append(_button(cells[-1], submit_label, "key:submit", "primary", ("submit",)))
    return row


def _button(rect: pygame.Rect, label: str, id: str, style: Style, action: tuple[object, ...]) -> Widget:
    return Widget("button", rect, label, id=id, style=style, action=action, align="center")


def keyboard(ctx: BuildContext, rect: pygame.Rect, submit_label: str = "") -> list[Widget]:
    """Letters with a digit row when there is room for five rows of keys; on a short screen (800x480) four
    rows, with a 123/abc key that swaps the letters for digits and marks."""
    gap = ctx.theme.gap
    tall = rect.height >= keyboard_height(ctx)
    rows = (DIGIT_ROW, *LETTER_ROWS) if tall else SYMBOL_ROWS if ctx.keyboard_symbols else LETTER_ROWS
    row_h = max(ctx.theme.touch, (rect.height - len(rows) * gap) // (len(rows) + 1))
    widgets: list[Widget] = []
    rest = rect
    for row in rows:
        band, rest = split_top(rest, row_h, gap)
        widgets += [_key(cell, char) for char, cell in zip(row, columns(band, len(row), gap), strict=True)]
    band, _ = split_top(rest, row_h)
    return widgets + _function_row(ctx, band, submit_label or ctx.t("send"), toggle=not tall)


def numpad(ctx: BuildContext, rect: pygame.Rect, submit_label: str = "") -> list[Widget]:
    """A phone-style numpad: 1-9, then Delete, 0 and the submit key."""
    gap = ctx.theme.gap
    row_h = max(ctx.theme.touch, (rect.height - 3 * gap) // 4)
    widgets: list[Widget] = []
    rest = rect
    for row in NUMPAD_ROWS:
        band, rest = split_top(rest, row_h, gap)
        widgets += [_key(cell, char) for char, cell in zip(row, columns(band, 3, gap), strict=True)]
    band, _ = split_top(rest, row_h)
    delete, zero, submit = columns(band, 3, gap)
    return [
        *widgets,
        _button(delete, ctx.t("delete"), "key:backspace", "secondary", ("backspace",)),
        _key(zero, "0"),
        _button(submit, submit_label or ctx.t("send"), "key:submit", "primary", ("submit",)),
    ]


def keyboard_height(ctx: BuildContext) -> int:
    """Room the full five-row keyboard needs at this theme's touch size (a short screen gets four rows)."""
    return 5 * ctx.theme.touch + 4 * ctx.theme.gap


def numpad_height(ctx: BuildContext) -> int:
    return 4 * ctx.theme.touch + 3 * ctx.theme.gap
