"""The end of a visit: "How did we do today?" with five big buttons, then a thank-you that says the
conversation has been cleared (a touch anywhere, or a few seconds, goes back to the start)."""

from __future__ import annotations

import pygame

from firmware_app.screen.actions import CloseAdmin, Rate, SkipRating
from kiosk_ui.layout import columns, split_top
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.screens.answer import button
from kiosk_ui.screens.topic import back_button_width
from kiosk_ui.widgets import Style, Widget

STAR = "★"  # WenQuanYi Micro Hei (the kiosk's font) has it; the digit says the same for any font


@screen("rating")
def build_rating(ctx: BuildContext) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    width = min(body.width, round(theme.touch * 9))
    question = ctx.t("rating_question")
    hint = ctx.t("rating_hint")
    question_h = ctx.text_height(question, theme.heading_px, width)
    hint_h = ctx.text_height(hint, theme.text_px, width)
    side = min(round(theme.touch * 1.6), (width - 4 * gap) // 5)
    if question_h + side + hint_h + theme.touch + gap * 9 > body.height:  # a short screen in large type
        gap = max(0, min(gap, (body.height - question_h - side - hint_h - theme.touch) // 9))
    total = question_h + side + hint_h + theme.touch + gap * 9
    column = pygame.Rect(body.centerx - width // 2, body.y + max(0, (body.height - total) // 2), width, total)
    question_rect, rest = split_top(column, question_h, gap * 3)
    stars_rect, rest = split_top(rest, side, gap * 2)
    hint_rect, rest = split_top(rest, hint_h, gap * 4)
    gap = theme.gap
    widgets = [
        Widget("label", question_rect, question, id="rating:question", style="heading", align="center"),
        Widget("label", hint_rect, hint, id="rating:hint", style="muted", size_px=theme.text_px, align="center"),
    ]
    row_w = 5 * side + 4 * gap
    row = pygame.Rect(stars_rect.centerx - row_w // 2, stars_rect.y, row_w, side)
    for stars, cell in enumerate(columns(row, 5, gap), 1):
        style: Style = "selected" if ctx.state.rating == stars else "tile"
        widgets.append(
            Widget(
                "button",
                cell,
                f"{stars} {STAR}",
                id=f"rate:{stars}",
                style=style,
                action=Rate(stars),
                size_px=theme.heading_px,
                align="center",
                max_lines=1,
            )
        )
    skip_w = back_button_width(ctx, "skip") * 2
    skip = pygame.Rect(column.centerx - skip_w // 2, rest.y, skip_w, theme.touch)
    widgets.append(button(skip, ctx.t("skip"), "skip", SkipRating()))
    return widgets


@screen("thanks")
def build_thanks(ctx: BuildContext) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    width = min(body.width, round(theme.text_px * 26))
    title = ctx.t("thanks_title")
    text = ctx.t("thanks_body")
    title_h = ctx.text_height(title, theme.title_px, width)
    text_h = ctx.text_height(text, theme.heading_px, width)
    total = title_h + theme.gap * 3 + text_h
    column = pygame.Rect(body.centerx - width // 2, body.y + max(0, (body.height - total) // 2), width, total)
    title_rect, rest = split_top(column, title_h, theme.gap * 3)
    text_rect = pygame.Rect(rest.x, rest.y, rest.width, text_h)
    return [
        # A touch anywhere goes back to the start (the screen also times out by itself).
        Widget("panel", ctx.screen.copy(), id="thanks:anywhere", action=CloseAdmin()),
        Widget("label", title_rect, title, id="thanks:title", style="title", align="center"),
        Widget("label", text_rect, text, id="thanks:body", size_px=theme.heading_px, align="center"),
    ]
