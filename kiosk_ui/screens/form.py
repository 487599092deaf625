"""The on-screen input: a typed question, a flow's answer (digits, a day, a time, a choice, yes or no), the
technician's note.

The prompt is never cut: it takes the largest type size that fits, and on a short screen (800x480) it shares
one band with the text field so that the keyboard keeps its rows. If even then a flow's long prompt does not
fit, its closing sentences (the question itself) are shown; the whole text is in the conversation. Days,
times and choices are big buttons instead of a keyboard. Back goes where the customer came from; Cancel (in a
flow) abandons the flow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pygame

from firmware_app.screen.actions import Ask, Back, Submit
from firmware_app.screen.state import FormState
from kiosk_ui.keypad import candidate_bar, keyboard, keyboard_height, numpad, numpad_height
from kiosk_ui.layout import columns, grid, inset, rows_that_fit, split_bottom, split_left, split_top
from kiosk_ui.render import line_height
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.screens.answer import button, page_controls, same_size
from kiosk_ui.screens.topic import back_button_width
from kiosk_ui.widgets import Style, Widget

SECRET_DOT = "•"
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


@screen("form")
def build(ctx: BuildContext) -> list[Widget]:
    form = ctx.state.form
    if form is None:
        return []
    if form.hint == "keyboard":
        return _keyboard_form(ctx, form)
    if form.hint == "numpad":
        return _numpad_form(ctx, form)
    return _choice_form(ctx, form)


def prompt_text(ctx: BuildContext, form: FormState) -> str:
    if form.prompt:
        return form.prompt
    return ctx.t("how_can_i_help") if form.purpose == "question" else ""


# --- the prompt ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fit:
    text: str
    size: int
    bold: bool
    height: int


def _fit_prompt(ctx: BuildContext, text: str, width: int, height: int, shorten: bool = True) -> _Fit | None:
    """The largest type that shows ``text`` in ``width`` x ``height``; failing that (with ``shorten``), the
    most closing sentences that fit."""
    theme = ctx.theme
    options = ((theme.heading_px, True), (theme.text_px, True), (theme.text_px, False), (theme.small_px, False))
    candidates = [text]
    if shorten:
        sentences = [part for part in _SENTENCE_END.split(text) if part]
        joiner = "" if any("\u4e00" <= char <= "\u9fff" for char in text) else " "
        candidates += [joiner.join(sentences[start:]) for start in range(1, len(sentences))]
    for candidate in candidates:
        for size, bold in options:
            used = len(ctx.lines(candidate, size, width, bold)) * line_height(size)
            if used <= height:
                return _Fit(candidate, size, bold, used)
    return None


def _fit_or_smallest(ctx: BuildContext, text: str, width: int, height: int) -> _Fit:
    """As ``_fit_prompt``, but always an answer (the last sentence at the small size, which the layout
    checker reports if even that is cut)."""
    found = _fit_prompt(ctx, text, width, height)
    if found is not None:
        return found
    last = [part for part in _SENTENCE_END.split(text) if part][-1:] or [text]
    size = ctx.theme.small_px
    return _Fit(last[0], size, False, len(ctx.lines(last[0], size, width)) * line_height(size))


def _prompt(rect: pygame.Rect, fit: _Fit) -> Widget:
    """The prompt, vertically centred in ``rect``."""
    label = pygame.Rect(rect.x, rect.centery - min(rect.height, fit.height) // 2, rect.width, fit.height)
    label.height = min(label.height, rect.height)
    style: Style = "heading" if fit.bold else "plain"
    return Widget("label", label, fit.text, id="form:prompt", style=style, size_px=fit.size)


def _field(ctx: BuildContext, form: FormState, rect: pygame.Rect, size_px: int = 0) -> Widget:
    """The text typed so far (dots for a secret) and any pinyin letters still waiting, or a muted "Type here"."""
    theme = ctx.theme
    size = size_px or theme.text_px
    draft = SECRET_DOT * len(form.draft) if form.secret else form.draft + form.composing
    field = Widget("field", rect, draft, id="form:draft", size_px=size)
    if not draft:
        inner = inset(rect, theme.pad)
        step = line_height(size)
        hint = pygame.Rect(inner.x, rect.centery - step // 2, inner.width, step)
        field.children.append(
            Widget("label", hint, ctx.t("type_here"), id="form:placeholder", style="muted", size_px=size, max_lines=1)
        )
    return field


def _side_buttons(ctx: BuildContext, form: FormState, band: pygame.Rect) -> tuple[list[Widget], pygame.Rect]:
    """Back at the left of ``band`` and, in a flow, Cancel at the right (both a touch high, at the band's
    top); returns them and the room between."""
    theme = ctx.theme
    back_w = back_button_width(ctx)
    widgets = [button(pygame.Rect(band.x, band.y, back_w, theme.touch), ctx.t("back"), "back", Back())]
    middle = pygame.Rect(band.x + back_w + theme.gap * 2, band.y, band.width - back_w - theme.gap * 2, band.height)
    if form.purpose == "flow":
        cancel_w = back_button_width(ctx, "cancel")
        cancel = pygame.Rect(band.right - cancel_w, band.y, cancel_w, theme.touch)
        widgets.append(button(cancel, ctx.t("cancel"), "cancel", Ask("cancel", "touch")))
        middle.width -= cancel_w + theme.gap * 2
    return widgets, middle


def _head(ctx: BuildContext, form: FormState, rect: pygame.Rect, fit: _Fit) -> list[Widget]:
    widgets, middle = _side_buttons(ctx, form, rect)
    return [*widgets, _prompt(middle, fit)]


def _middle_width(ctx: BuildContext, form: FormState, width: int) -> int:
    return _side_buttons(ctx, form, pygame.Rect(0, 0, width, ctx.theme.touch))[1].width


# --- keyboard ------------------------------------------------------------------------------------------------


def _keyboard_form(ctx: BuildContext, form: FormState) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    if theme.portrait:
        return _portrait_form(ctx, form, numeric=False)
    gap = theme.gap
    text = prompt_text(ctx, form)
    tall, short = keyboard_height(ctx), 4 * theme.touch + 3 * gap
    middle_w = _middle_width(ctx, form, body.width)
    submit = ctx.t("send")
    # Roomy: the prompt band, the field under it, the keyboard (five rows if they fit, else four).
    for need in (tall, short):
        head_room = body.height - need - theme.touch - 4 * gap
        fit = _fit_prompt(ctx, text, middle_w, head_room, shorten=False) if head_room >= theme.touch else None
        if fit is None:
            continue
        head_rect, rest = split_top(body, max(theme.touch, fit.height), gap * 2)
        field_rect, rest = split_top(rest, theme.touch, gap * 2)
        keys_h = min(rest.height, round(need * 1.3))
        if need < tall:
            keys_h = min(keys_h, tall - 1)  # the four-row keyboard stays four rows
        keys_rect = pygame.Rect(rest.x, rest.bottom - keys_h, rest.width, keys_h)
        return [*_head(ctx, form, head_rect, fit), _field(ctx, form, field_rect), *keyboard(ctx, keys_rect, submit)]
    band_h = body.height - short - 2 * gap
    if band_h >= theme.touch:
        # Tight (800x480): Back, prompt, field (and Cancel) share one band above a four-row keyboard; the
        # field keeps room for a few words and the prompt gets the rest.
        band, keys_rect = split_top(body, band_h, gap * 2)
        widgets, middle = _side_buttons(ctx, form, band)
        keys = keyboard(ctx, pygame.Rect(body.x, body.bottom - short, body.width, short), submit)
    else:
        # Tighter still (a caption bar on 800x480): Back and Cancel join the keyboard's bottom row, and a slim
        # field (with the prompt beside it if it fits) takes what is left above it.
        keys = keyboard(ctx, pygame.Rect(body.x, body.bottom - short, body.width, short), submit)
        widgets, keys = [], _with_side_keys(ctx, form, keys)
        band = pygame.Rect(body.x, body.y, body.width, max(0, body.height - short - gap))
        step = line_height(theme.small_px)
        if band.height < step + theme.pad // 2:
            return keys  # no room at all (a notice over the form on 800x480): the keys still work
        prompt_rect, field_rect = split_left(band, round(band.width * 0.55), gap * 2)
        fit = _fit_prompt(ctx, text, prompt_rect.width, band.height)
        if fit is None:
            field_rect = band
        size = theme.text_px if band.height >= line_height(theme.text_px) + theme.pad else theme.small_px
        prompt = [_prompt(prompt_rect, fit)] if fit is not None else []
        return [*prompt, _field(ctx, form, field_rect, size), *keys]
    field_w = max(round(theme.touch * 2.5), round(middle.width * 0.3))
    prompt_rect, field_area = split_left(middle, middle.width - field_w - gap * 2, gap * 2)
    fit = _fit_or_smallest(ctx, text, prompt_rect.width, band.height)
    field_rect = pygame.Rect(field_area.x, band.y, field_area.width, theme.touch)
    for rect in (field_rect, *(widget.rect for widget in widgets)):
        rect.centery = band.centery
    return [*widgets, _prompt(prompt_rect, fit), _field(ctx, form, field_rect), *keys]


def _with_side_keys(ctx: BuildContext, form: FormState, keys: list[Widget]) -> list[Widget]:
    """The keyboard with Back (and, in a flow, Cancel) at the start of its bottom row; while pinyin waits,
    the candidate bar keeps three keys' room in it."""
    row_ids = ("key:backspace", "key:mode", "key:space", "key:submit")
    row = [key for key in keys if key.id in row_ids or key.id.startswith("candidate:")]
    band = row[0].rect.unionall([key.rect for key in row[1:]])
    extra = [button(band.copy(), ctx.t("back"), "back", Back())]
    if form.purpose == "flow":
        extra.append(button(band.copy(), ctx.t("cancel"), "cancel", Ask("cancel", "touch")))
    order = [*extra, *(key for key in row if key.id in row_ids)]
    bar_span = 3 if len(order) < len(extra) + len(row) else 0  # the keypad put a candidate bar in the row
    spans = [2 if widget.id == "key:space" else 1 for widget in order]  # the space bar is two keys wide
    cells = columns(band, sum(spans) + bar_span, ctx.theme.gap)
    index, bar = 0, []
    for widget, span in zip(order, spans, strict=True):
        if bar_span and widget.id == "key:submit":
            bar = candidate_bar(ctx, cells[index].unionall(cells[index : index + bar_span]))
            index += bar_span
        widget.rect = cells[index].unionall(cells[index : index + span])
        index += span
    moved = {key.id for key in row}
    return [*(key for key in keys if key.id not in moved), *same_size(ctx, order), *bar]


# --- numpad --------------------------------------------------------------------------------------------------


def _numpad_form(ctx: BuildContext, form: FormState) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    text = prompt_text(ctx, form)
    if theme.portrait:
        return _portrait_form(ctx, form, numeric=True)
    submit = ctx.t("send")
    field_h = round(theme.touch * 1.2)
    # Landscape: Back and Cancel, the question and the field on the left; the numpad on the right.
    pad_w = min(round(body.width * 0.42), round(theme.touch * 5))
    left, keys_area = split_left(body, body.width - pad_w - gap * 2, gap * 2)
    keys_h = min(body.height, round(numpad_height(ctx) * 1.35))
    keys_rect = pygame.Rect(keys_area.x, keys_area.bottom - keys_h, keys_area.width, keys_h)
    buttons_rect, rest = split_top(left, theme.touch, gap * 2)
    widgets, _ = _side_buttons(ctx, form, buttons_rect)
    prompt_rect, field_rect = split_bottom(rest, field_h, gap * 2)
    fit = _fit_or_smallest(ctx, text, prompt_rect.width, prompt_rect.height)
    field_rect.width = min(field_rect.width, round(theme.touch * 5))
    return [
        *widgets,
        _prompt(prompt_rect, fit),
        _field(ctx, form, field_rect, theme.title_px),
        *numpad(ctx, keys_rect, submit),
    ]


def _portrait_form(ctx: BuildContext, form: FormState, numeric: bool) -> list[Widget]:
    """A tall screen: Back and Cancel at the top; the prompt, the field and the keys together at the bottom,
    within reach, the numpad no wider than a hand."""
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    widgets, _ = _side_buttons(ctx, form, pygame.Rect(body.x, body.y, body.width, theme.touch))
    least = numpad_height(ctx) if numeric else keyboard_height(ctx)
    keys_w = min(body.width, round(theme.touch * 6)) if numeric else body.width
    field_h = round(theme.touch * 1.2) if numeric else theme.touch
    text = prompt_text(ctx, form)
    room = body.height - theme.touch - field_h - 6 * gap
    keys_h = round(least * 1.3)
    fit = _fit_prompt(ctx, text, keys_w, room - keys_h, shorten=False)
    if fit is None:
        keys_h = least
        fit = _fit_or_smallest(ctx, text, keys_w, room - keys_h)
    keys_rect = pygame.Rect(body.centerx - keys_w // 2, body.bottom - keys_h, keys_w, keys_h)
    field_rect = pygame.Rect(keys_rect.x, keys_rect.y - gap * 2 - field_h, keys_w, field_h)
    prompt_rect = pygame.Rect(keys_rect.x, field_rect.y - gap * 2 - fit.height, keys_w, fit.height)
    keys = numpad(ctx, keys_rect, ctx.t("send")) if numeric else keyboard(ctx, keys_rect, ctx.t("send"))
    field = _field(ctx, form, field_rect, theme.title_px if numeric else 0)
    return [*widgets, _prompt(prompt_rect, fit), field, *keys]


# --- days, times, choices, yes / no --------------------------------------------------------------------------


def _choice_form(ctx: BuildContext, form: FormState) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    text = prompt_text(ctx, form)
    if theme.portrait:  # Back and Cancel above the prompt, which gets the whole width
        widgets, _ = _side_buttons(ctx, form, pygame.Rect(body.x, body.y, body.width, theme.touch))
        _, rest = split_top(body, theme.touch, gap * 2)
        fit = _fit_or_smallest(ctx, text, body.width, rest.height // 3)
        prompt_rect, rest = split_top(rest, fit.height, gap * 2)
        widgets.append(_prompt(prompt_rect, fit))
    else:
        fit = _fit_or_smallest(ctx, text, _middle_width(ctx, form, body.width), max(theme.touch, body.height // 3))
        head_rect, rest = split_top(body, max(theme.touch, fit.height), gap * 2)
        widgets = _head(ctx, form, head_rect, fit)
    choices = form.choices
    if not choices:
        return widgets
    cols = _choice_columns(ctx, form, rest)
    rows = -(-len(choices) // cols)
    yes_no = form.hint == "yes_no"
    tallest = round(theme.touch * (2.0 if yes_no else 1.4))
    area, controls = rest, None
    per_page = len(choices)
    if rows_that_fit(rest.height, theme.touch, gap) < rows:
        area, controls = split_bottom(rest, theme.touch, gap * 2)
        rows = rows_that_fit(area.height, theme.touch, gap)
        per_page = cols * rows
    row_h = max(theme.touch, min(tallest, (area.height - (rows - 1) * gap) // rows))
    pages = -(-len(choices) // per_page)
    page = min(ctx.page, pages - 1)
    shown = choices[page * per_page : (page + 1) * per_page]
    if yes_no:  # two big buttons, not two slabs as wide as the screen
        width = min(area.width, round(theme.touch * 8))
        area = pygame.Rect(area.centerx - width // 2, area.y, width, area.height)
    cells = grid(area, len(shown), cols, row_h, gap)
    tiles = [
        Widget(
            "button",
            cell,
            choice.label,
            id=f"choice:{choice.value}",
            style="tile",
            action=Submit(choice.value),
            align="center",
            max_lines=2,
        )
        for choice, cell in zip(shown, cells, strict=True)
    ]
    widgets += same_size(ctx, tiles, theme.heading_px if yes_no else 0)
    if controls is not None:
        widgets += page_controls(ctx, controls, page, pages)
    return widgets


def _choice_columns(ctx: BuildContext, form: FormState, rect: pygame.Rect) -> int:
    """Yes / No side by side; otherwise as many columns (up to four) as keep every label on one line at the
    body size, or, if that needs more than one page, as keep them on two lines at the small size."""
    theme = ctx.theme
    count = len(form.choices)
    if form.hint == "yes_no":
        return min(2, count)

    def widest(size: int, lines: int) -> int:
        for cols in range(min(count, 4), 1, -1):
            width = (rect.width - (cols - 1) * theme.gap) // cols - 2 * theme.pad
            if all(len(ctx.lines(choice.label, size, width)) <= lines for choice in form.choices):
                return cols
        return 1

    fit_rows = rows_that_fit(rect.height, theme.touch, theme.gap)
    one_line = widest(theme.text_px, 1)
    if -(-count // one_line) <= fit_rows:
        return one_line
    two_lines = widest(theme.small_px, max(1, min(2, (theme.touch - theme.pad) // line_height(theme.small_px))))
    return next((cols for cols in range(one_line, two_lines + 1) if -(-count // cols) <= fit_rows), two_lines)
