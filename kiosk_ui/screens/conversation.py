"""The conversation: chat bubbles (newest at the bottom), suggested questions, and the ways to go on.

The customer's bubbles sit on the right, the assistant's on the left. When the conversation is longer than
the screen, the newest bubbles that fit are shown with an "Earlier messages" button; a bubble taller than the
screen (a very long typed question) is split into pieces rather than cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

from firmware_app.events import Role
from firmware_app.screen.actions import Ask, Finish, PushToTalk, RequestStaff, StartTyping
from kiosk_ui.layout import rows_that_fit, split_bottom, split_left, split_top
from kiosk_ui.render import line_height
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.screens.answer import action_bar, action_bar_height, button
from kiosk_ui.text import font
from kiosk_ui.widgets import Page, Style, TapAction, Widget

MAX_SUGGESTIONS = 3


@dataclass(frozen=True)
class _Piece:
    """A bubble, or the part of one that fits on a screen."""

    index: int
    role: Role
    lines: tuple[str, ...]


@screen("conversation")
def build(ctx: BuildContext) -> list[Widget]:
    theme, state = ctx.theme, ctx.state
    items: list[tuple[str, TapAction, Style]] = [
        ("type_question", StartTyping(), "secondary"),
        ("speak", PushToTalk(), "secondary"),
        ("talk_to_person", RequestStaff(), "secondary"),
        ("finish", Finish(), "primary"),
    ]
    main, _ = split_bottom(ctx.body, action_bar_height(ctx, len(items)), theme.gap * 2)
    widgets: list[Widget] = []
    chat = main
    suggestions = state.suggestions[:MAX_SUGGESTIONS]
    if suggestions:
        label_h = line_height(theme.small_px)
        if theme.portrait:
            height = label_h + theme.gap + len(suggestions) * (theme.touch + theme.gap) - theme.gap
            chat, column = split_bottom(main, height, theme.gap * 2)
        else:
            chat, column = split_left(main, round(main.width * 0.62), theme.gap * 2)
        widgets += _suggestions(ctx, column)
    return _chat(ctx, chat) + widgets + action_bar(ctx, ctx.body, items)


def _suggestions(ctx: BuildContext, rect: pygame.Rect) -> list[Widget]:
    """ "You can also tap:" and the suggested questions, one under another."""
    theme = ctx.theme
    label_rect, rest = split_top(rect, line_height(theme.small_px), theme.gap)
    widgets = [Widget("label", label_rect, ctx.t("suggestions"), id="suggestions", style="muted", max_lines=1)]
    row_h = theme.touch
    count = min(len(ctx.state.suggestions), MAX_SUGGESTIONS, rows_that_fit(rest.height, row_h, theme.gap))
    for index, choice in enumerate(ctx.state.suggestions[:count]):
        cell = pygame.Rect(rest.x, rest.y + index * (row_h + theme.gap), rest.width, row_h)
        widgets.append(
            Widget(
                "button",
                cell,
                choice.label,
                id=f"suggestion:{index}",
                style="tile",
                action=Ask(choice.value, "touch"),
                max_lines=2,
            )
        )
    return widgets


def _chat(ctx: BuildContext, rect: pygame.Rect) -> list[Widget]:
    theme = ctx.theme
    pad, gap = theme.pad, theme.gap
    size = theme.text_px
    step = line_height(size)
    max_w = round(rect.width * (0.85 if theme.portrait else 0.8))
    controls_h = theme.touch + gap
    wrapped = [ctx.lines(bubble.text, size, max_w - 2 * pad) for bubble in ctx.state.bubbles]
    total = sum(len(lines) * step + 2 * pad for lines in wrapped) + gap * (len(wrapped) - 1)
    pages: list[list[_Piece]] = [[]]
    if total <= rect.height:
        bubbles = zip(ctx.state.bubbles, wrapped, strict=True)
        pages = [[_Piece(index, bubble.role, tuple(lines)) for index, (bubble, lines) in enumerate(bubbles)]]
    else:
        # From the newest bubble back: fill a page, splitting a bubble where the page ends (its newest lines
        # stay on this page, the rest starts the next one), as a scrolled chat would show it.
        room = rect.height - controls_h
        for index in reversed(range(len(wrapped))):
            role, lines = ctx.state.bubbles[index].role, wrapped[index]
            while lines:
                used = sum(len(p.lines) * step + 2 * pad + gap for p in pages[-1])
                fits = min(len(lines), (room - used - 2 * pad) // step)
                if not pages[-1]:
                    fits = max(1, fits)  # a page always shows something
                elif fits < min(2, len(lines)):
                    fits = 0  # no lone line of a bubble at the top of a page
                if fits:
                    pages[-1].insert(0, _Piece(index, role, tuple(lines[-fits:])))
                    lines = lines[:-fits]
                if lines:
                    pages.append([])
                    room = rect.height - 2 * controls_h
        pages = [page for page in pages if page]
    page = min(ctx.page, len(pages) - 1)
    area = rect
    widgets: list[Widget] = []
    if page < len(pages) - 1:
        band, area = split_top(area, theme.touch, gap)
        widgets.append(button(_centred(ctx, band, "earlier"), ctx.t("earlier"), "chat:earlier", Page(1)))
    if page > 0:
        area, band = split_bottom(area, theme.touch, gap)
        widgets.append(button(_centred(ctx, band, "later"), ctx.t("later"), "chat:later", Page(-1)))
    face = font(theme.font_path, size)
    y = area.bottom
    shown: list[Widget] = []  # built from the bottom up, returned oldest first
    for piece in reversed(pages[page]):
        text_w = max((face.size(line)[0] for line in piece.lines), default=0)
        width = min(max_w, text_w + 2 + 2 * pad)
        height = len(piece.lines) * step + 2 * pad
        y -= height
        x = area.right - width if piece.role == "customer" else area.x
        bubble = pygame.Rect(x, y, width, height)
        label = pygame.Rect(x + pad, y + pad, width - 2 * pad, height - 2 * pad)
        text = "\n".join(piece.lines)
        style: Style = "bubble_customer" if piece.role == "customer" else "bubble_assistant"
        child = Widget("label", label, text, id=f"bubble:{piece.index}:text", size_px=size)
        shown.insert(0, Widget("panel", bubble, id=f"bubble:{piece.index}", style=style, children=[child]))
        y -= gap
    return shown + widgets


def _centred(ctx: BuildContext, band: pygame.Rect, key: str) -> pygame.Rect:
    theme = ctx.theme
    width = font(theme.font_path, theme.text_px).size(ctx.t(key))[0] + 4 * theme.pad
    rect = pygame.Rect(0, band.y, min(band.width, max(width, theme.touch * 3)), band.height)
    rect.centerx = band.centerx
    return rect
