"""The attract screen: what a passer-by sees; one touch anywhere (or the wake word) starts a visit."""

from __future__ import annotations

import pygame

from firmware_app.screen.actions import OpenAdmin, TouchStart
from kiosk_ui.layout import split_top
from kiosk_ui.render import line_height
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.widgets import Widget


@screen("attract", caption=False)
def build(ctx: BuildContext) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    state = ctx.state
    width = min(body.width, round(theme.text_px * 30))
    column = pygame.Rect(0, 0, width, body.height)
    column.centerx = body.centerx
    column.y = body.y
    title = ctx.t("attract_welcome", brand=state.brand)
    offer = ctx.t("attract_offer")
    title_h = ctx.text_height(title, theme.title_px, width)
    offer_h = ctx.text_height(offer, theme.heading_px, width)
    invite_h = line_height(theme.text_px)  # the wake-word invitation, or the pulsing dots
    button_h = round(theme.touch * 1.4)
    space = theme.gap * 2
    if title_h + offer_h + button_h + invite_h + 3 * space > column.height:  # a short screen in large type
        button_h = theme.touch
        space = max(0, min(space, (column.height - title_h - offer_h - button_h - invite_h) // 3))
    total = title_h + offer_h + button_h + invite_h + 3 * space
    top = pygame.Rect(column.x, column.y + max(0, (column.height - total) // 2), width, total)
    title_rect, rest = split_top(top, title_h, space)
    offer_rect, rest = split_top(rest, offer_h, space)
    button_rect, rest = split_top(rest, button_h, space)
    widgets = [
        # The whole screen is the button: a touch anywhere starts.
        Widget("panel", ctx.screen.copy(), id="attract:anywhere", action=TouchStart()),
        Widget("label", title_rect, title, id="attract:title", style="title", align="center"),
        Widget("label", offer_rect, offer, id="attract:offer", style="heading", align="center"),
        Widget(
            "button",
            button_rect,
            ctx.t("touch_to_start"),
            id="touch_to_start",
            style="primary",
            action=TouchStart(),
            align="center",
        ),
    ]
    if state.wake_words:
        invite = ctx.t("or_say", wake_word=state.wake_words[0])
        widgets.append(Widget("label", rest.copy(), invite, id="attract:wake_word", style="muted", align="center"))
    else:
        dots = pygame.Rect(0, rest.y, invite_h * 2, invite_h)
        dots.centerx = rest.centerx
        widgets.append(Widget("spinner", dots, text="attract"))
    corner = pygame.Rect(body.x, body.bottom - theme.touch, theme.touch * 2, theme.touch)
    widgets.append(
        Widget("button", corner, ctx.t("staff"), id="staff", style="plain", action=OpenAdmin(), align="center")
    )
    return widgets
