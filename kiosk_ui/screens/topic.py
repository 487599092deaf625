"""A topic's questions: the heading with a Back button, then every question as a big list button, paged."""

from __future__ import annotations

import pygame

from firmware_app.screen.actions import Back, ChooseEntry
from kiosk_ui.layout import grid, rows_that_fit, split_bottom, split_left, split_top
from kiosk_ui.render import line_height
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.screens.answer import button, page_controls, same_size
from kiosk_ui.text import font
from kiosk_ui.widgets import Widget


def back_button_width(ctx: BuildContext, key: str = "back") -> int:
    theme = ctx.theme
    text_w = font(theme.font_path, theme.text_px).size(ctx.t(key))[0]
    return max(round(theme.touch * 1.5), text_w + 2 * theme.pad)


def title_band(ctx: BuildContext, rect: pygame.Rect, title: str, id: str) -> tuple[list[Widget], pygame.Rect]:
    """Back on the left and the heading beside it, one touch high; returns the widgets and what is left."""
    theme = ctx.theme
    band, rest = split_top(rect, theme.touch, theme.gap * 2)
    back_rect, title_area = split_left(band, back_button_width(ctx), theme.gap * 2)
    title_h = line_height(theme.heading_px)
    title_rect = pygame.Rect(title_area.x, band.centery - title_h // 2, title_area.width, title_h)
    widgets = [
        button(back_rect, ctx.t("back"), "back", Back()),
        Widget("label", title_rect, title, id=id, style="heading", max_lines=1),
    ]
    return widgets, rest


@screen("topic")
def build(ctx: BuildContext) -> list[Widget]:
    theme, state = ctx.theme, ctx.state
    widgets, rest = title_band(ctx, ctx.body, state.topic_title, "topic:title")
    entries = state.topic_entries
    cols = 1 if theme.portrait or rest.width < theme.text_px * 20 else 2
    per_page = cols * rows_that_fit(rest.height, theme.touch, theme.gap)
    list_rect, controls = rest, rest
    if len(entries) > per_page:
        list_rect, controls = split_bottom(rest, theme.touch, theme.gap * 2)
        per_page = cols * rows_that_fit(list_rect.height, theme.touch, theme.gap)
    pages = max(1, -(-len(entries) // per_page))
    page = min(ctx.page, pages - 1)
    shown = entries[page * per_page : (page + 1) * per_page]
    # Rows share the height (up to a little over a touch target), and the list reads down the first column,
    # then the second.
    rows = per_page // cols
    row_h = min(round(theme.touch * 1.3), (list_rect.height - (rows - 1) * theme.gap) // rows)
    rows = -(-len(shown) // cols)
    cells = grid(list_rect, rows * cols, cols, row_h, theme.gap)
    order = [cells[(i % rows) * cols + i // rows] for i in range(len(shown))]
    entry_buttons = [
        Widget(
            "button",
            cell,
            entry.label,
            id=f"entry:{entry.value}",
            style="tile",
            action=ChooseEntry(entry.value),
            max_lines=2,
        )
        for entry, cell in zip(shown, order, strict=True)
    ]
    widgets += same_size(ctx, entry_buttons)
    if pages > 1:
        widgets += page_controls(ctx, controls, page, pages)
    return widgets
