"""A colleague is on the way: what the kiosk did, the reference in large type, and that the colleague can see
the conversation so nothing needs repeating. Once a colleague answers from the staff console, the heading says
so by name (on the way, looking into it, or the request closed)."""

from __future__ import annotations

import pygame

from firmware_app.screen.actions import Finish, GoHome
from kiosk_ui.layout import inset, split_bottom
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.screens.answer import action_bar, action_bar_height, fits_one_page
from kiosk_ui.screens.ticket import largest_fitting, reference_levels
from kiosk_ui.widgets import Style, TapAction, Widget

ITEMS: list[tuple[str, TapAction, Style]] = [
    ("ask_more", GoHome(), "secondary"),
    ("finish", Finish(), "primary"),
]


@screen("handoff")
def build(ctx: BuildContext) -> list[Widget]:
    theme, state = ctx.theme, ctx.state
    main, _ = split_bottom(ctx.body, action_bar_height(ctx, len(ITEMS)), theme.gap * 2)
    if state.card is not None:
        said = state.card.body
    else:  # a hand-off reply without a card: the kiosk's last words
        said = next((b.text for b in reversed(state.bubbles) if b.role == "assistant"), "")
    news = state.handoff.line(state.language) if state.handoff else None
    levels = reference_levels(ctx, news or ctx.t("handoff_title"), said, ctx.t("ticket_keep"), "handoff")
    # A column of comfortable reading width, unless the text would then have to shrink: then all the width.
    width = min(main.width, round(theme.text_px * 30))
    narrow = pygame.Rect(main.centerx - width // 2, main.y, width, main.height)
    if not any(fits_one_page(ctx, blocks, inset(narrow, theme.pad)) for blocks in levels[:2]):
        width = main.width
    card = pygame.Rect(main.centerx - width // 2, main.y, width, main.height)
    widgets = [Widget("panel", card, id="handoff:card", style="card")]
    widgets += largest_fitting(ctx, levels, inset(card, theme.pad), center=True)
    return widgets + action_bar(ctx, ctx.body, ITEMS)
