"""The on-screen keyboard and numpad, shared by flow forms, the technician's note and the staff PIN.

Keys send ``TypeKey``; Delete sends ``Backspace``; the wide key sends ``Submit``. Widget ids are
``key:<char>``, ``key:space``, ``key:backspace``, ``key:mode`` and ``key:submit`` so tests and scripts can
press them.
The English layout is QWERTY. On the Chinese screen the same letters spell pinyin: the controller keeps them
as a composition and offers the words they may stand for (``firmware_app.screen.pinyin``), shown on a
candidate bar one key row high. The bar takes the digit row's place (digits have nothing to do while pinyin
waits); a short keyboard has no digit row, so there it takes the place of the 123 and space keys (space
would only pick the first candidate). The bar starts with the letters themselves, which keep them as typed
(``candidate:letters``); the candidates are ``candidate:0``, ``candidate:1``... as many as fit.
"""

from __future__ import annotations

import pygame

from firmware_app.screen.actions import Backspace, PickCandidate, Submit, TypeKey
from kiosk_ui.layout import columns, split_top
from kiosk_ui.screens import BuildContext
from kiosk_ui.text import theme_font
from kiosk_ui.theme import MIN_TOUCH_PX
from kiosk_ui.widgets import Style, SwitchKeyboard, TapAction, Widget

DIGIT_ROW = "1234567890"
LETTER_ROWS = ("qwertyuiop", "asdfghjkl'", "zxcvbnm,.?")
SYMBOL_ROWS = (DIGIT_ROW, '-/:;()£&@"', "+=#%*_!?,.")
NUMPAD_ROWS = ("123", "456", "789")


def _key(rect: pygame.Rect, char: str) -> Widget:
    return Widget("button", rect, char, id=f"key:{char}", style="key", action=TypeKey(char), align="center")


def _function_row(ctx: BuildContext, rect: pygame.Rect, submit_label: str, toggle: bool) -> list[Widget]:
    """Delete, (123/abc), space and submit; on a short keyboard while pinyin waits, Delete, the candidate bar
    and submit."""
    cells = columns(rect, 5 if toggle else 4, ctx.theme.gap)
    row = [_button(cells[0], ctx.t("delete"), "key:backspace", "secondary", Backspace())]
    submit = _button(cells[-1], submit_label, "key:submit", "primary", Submit())
    if toggle and _composing(ctx):
        return [*row, *candidate_bar(ctx, cells[1].union(cells[-2])), submit]
    if toggle:
        label = "abc" if ctx.keyboard_symbols else "123"
        row.append(_button(cells[1], label, "key:mode", "secondary", SwitchKeyboard()))
    space_rect = cells[-3].union(cells[-2])
    row.append(_button(space_rect, ctx.t("space"), "key:space", "key", TypeKey(" ")))
    row.append(submit)
    return row


def _button(rect: pygame.Rect, label: str, id: str, style: Style, action: TapAction) -> Widget:
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
        if tall and row == DIGIT_ROW and _composing(ctx):
            widgets += candidate_bar(ctx, band)
            continue
        widgets += [_key(cell, char) for char, cell in zip(row, columns(band, len(row), gap), strict=True)]
    band, _ = split_top(rest, row_h)
    return widgets + _function_row(ctx, band, submit_label or ctx.t("send"), toggle=not tall)


def _composing(ctx: BuildContext) -> bool:
    form = ctx.state.form
    return form is not None and bool(form.composing)


def candidate_bar(ctx: BuildContext, rect: pygame.Rect) -> list[Widget]:
    """The pinyin letters typed, then the candidates that fit in ``rect`` (at least a touch target each,
    wide enough for their characters; what is left of the row is shared among them)."""
    form = ctx.state.form
    if form is None or not form.composing:
        return []
    theme = ctx.theme
    gap, pad = theme.gap, theme.pad
    height = min(rect.height, max(theme.touch, MIN_TOUCH_PX))
    row = pygame.Rect(rect.x, rect.centery - height // 2, rect.width, height)
    letters_face = theme_font(theme, theme.text_px)
    letters_w = min(row.width // 3, max(MIN_TOUCH_PX, letters_face.size(form.composing)[0] + 2 * pad))
    shown = form.composing  # a long run of letters shows its end, as the field does
    while len(shown) > 1 and letters_face.size(shown)[0] > letters_w - 2 * pad:
        shown = "…" + shown[2:]
    least = max(MIN_TOUCH_PX, round(theme.touch * 1.2))
    face = theme_font(theme, theme.heading_px)
    widths: list[int] = []
    x = row.x + letters_w + gap
    for text in form.candidates:
        width = max(least, face.size(text)[0] + 2 * pad)
        if x + width > row.right:
            break
        widths.append(width)
        x += width + gap
    if widths:  # share the rest of the row, so the bar looks like a row of keys rather than a few stray ones
        spare = (row.right - x + gap) // len(widths)
        widths = [width + spare for width in widths]
    letters = pygame.Rect(row.x, row.y, letters_w, height)
    widgets = [
        Widget(
            "button",
            letters,
            shown,
            id="candidate:letters",
            style="secondary",
            action=PickCandidate(form.composing),
            align="center",
            size_px=theme.text_px,
            max_lines=1,
        )
    ]
    x = letters.right + gap
    for index, (text, width) in enumerate(zip(form.candidates, widths, strict=False)):
        cell = pygame.Rect(x, row.y, width, height)
        widgets.append(
            Widget(
                "button",
                cell,
                text,
                id=f"candidate:{index}",
                style="key",
                action=PickCandidate(text),
                align="center",
                max_lines=1,
            )
        )
        x = cell.right + gap
    return widgets


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
        _button(delete, ctx.t("delete"), "key:backspace", "secondary", Backspace()),
        _key(zero, "0"),
        _button(submit, submit_label or ctx.t("send"), "key:submit", "primary", Submit()),
    ]


def keyboard_height(ctx: BuildContext) -> int:
    """Room the full five-row keyboard needs at this theme's touch size (a short screen gets four rows)."""
    return 5 * ctx.theme.touch + 4 * ctx.theme.gap


def numpad_height(ctx: BuildContext) -> int:
    return 4 * ctx.theme.touch + 3 * ctx.theme.gap
