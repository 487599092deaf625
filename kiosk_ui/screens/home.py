"""The home screen: the big ways in (speak, type, a person) and the pack's topics. It is the customer's: the
technician's camera is on the staff screen, behind the staff PIN."""

from __future__ import annotations

import pygame

from firmware_app.screen.actions import OpenTopic, PushToTalk, RequestStaff, StartTyping
from kiosk_ui.layout import columns, grid, rows_that_fit, split_left, split_top
from kiosk_ui.render import line_height
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.widgets import Page, Style, TapAction, Widget


@screen("home")
def build(ctx: BuildContext) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    title_rect, rest = split_top(body, line_height(theme.heading_px), gap)
    widgets = [Widget("label", title_rect, ctx.t("how_can_i_help"), id="home:title", style="heading", max_lines=1)]
    actions: list[tuple[str, TapAction, Style]] = [
        ("speak", PushToTalk(), "primary"),
        ("type_question", StartTyping(), "secondary"),
        ("talk_to_person", RequestStaff(), "secondary"),
    ]
    others_n = len(actions) - 1  # the ways in below the microphone
    column_h = len(actions) * theme.touch + others_n * gap  # the ways in, one above the other
    if theme.portrait or rest.height < column_h:  # tall screens, or a short one with a notice above
        # the microphone across the top, the others side by side below it
        actions_rect, tiles_rect = split_top(rest, theme.touch * 2 + gap, gap * 2)
        mic_rect, others = split_top(actions_rect, theme.touch, gap)
        cells = [mic_rect, *grid(others, others_n, others_n, theme.touch, gap)]
        cols = 2
        if tiles_rect.height < theme.touch:  # no room left for a row of topics: the ways in go side by side
            actions_rect, tiles_rect = split_top(rest, theme.touch, gap * 2)
            cells = grid(actions_rect, len(actions), len(actions), theme.touch, gap)
    else:
        actions_rect, tiles_rect = split_left(rest, round(rest.width * 0.34), gap * 2)
        mic_h = max(theme.touch, min(actions_rect.height - others_n * (theme.touch + gap), round(theme.touch * 2.2)))
        mic_rect, others = split_top(actions_rect, mic_h, gap)
        cells = [mic_rect, *grid(others, others_n, 1, theme.touch, gap)]
        cols = 3 if tiles_rect.width > theme.text_px * 18 else 2
    for (key, action, style), cell in zip(actions, cells, strict=True):
        widgets.append(Widget("button", cell, ctx.t(key), id=f"home:{key}", style=style, action=action, align="center"))
    widgets += _topic_tiles(ctx, tiles_rect, cols)
    return widgets


def _topic_tiles(ctx: BuildContext, rect: pygame.Rect, cols: int) -> list[Widget]:
    """The pack's topics as tiles; if they do not all fit, a page of them with Previous / Next."""
    theme, topics = ctx.theme, ctx.state.topics
    tile_h = max(theme.touch, round(theme.touch * 1.15))
    per_page = cols * rows_that_fit(rect.height, tile_h, theme.gap)
    one_row = rect.height < 2 * theme.touch + theme.gap  # no room for a pager band: "More" takes a cell
    if len(topics) > per_page:
        per_page = (
            cols - 1 if one_row else cols * rows_that_fit(rect.height - theme.touch - theme.gap, tile_h, theme.gap)
        )
    if one_row:
        tile_h = theme.touch
    pages = max(1, -(-len(topics) // per_page))
    page = min(ctx.page, pages - 1)
    shown = topics[page * per_page : (page + 1) * per_page]
    cells = grid(rect, len(shown) + (pages > 1 and one_row), cols, tile_h, theme.gap)
    widgets = [
        Widget(
            "button",
            cell,
            topic.label,
            id=f"topic:{topic.value}",
            style="tile",
            action=OpenTopic(topic.value),
            align="center",
            max_lines=2,
        )
        for topic, cell in zip(shown, cells, strict=False)
    ]
    if pages > 1 and one_row:  # round and round: the last page's "More" goes back to the first
        step = 1 if page < pages - 1 else -page
        widgets.append(
            Widget(
                "button",
                cells[-1],
                ctx.t("more"),
                id="page:more",
                style="secondary",
                action=Page(step),
                align="center",
            )
        )
    elif pages > 1:
        widgets += pager(ctx, rect, page, pages)
    return widgets


def pager(ctx: BuildContext, rect: pygame.Rect, page: int, pages: int) -> list[Widget]:
    """Previous / Next buttons along the bottom of ``rect`` (the page number lives in the UI)."""
    theme = ctx.theme
    band = pygame.Rect(rect.x, rect.bottom - theme.touch, rect.width, theme.touch)
    left, right = columns(band, 2, theme.gap)
    widgets = []
    if page > 0:
        widgets.append(
            Widget(
                "button",
                left,
                ctx.t("previous"),
                id="page:previous",
                style="secondary",
                action=Page(-1),
                align="center",
            )
        )
    if page < pages - 1:
        widgets.append(
            Widget("button", right, ctx.t("next"), id="page:next", style="secondary", action=Page(1), align="center")
        )
    return widgets
