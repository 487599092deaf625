"""The end of a flow that filed a ticket: "All done", what was done, the reference in very large type and a QR
code of it, so the customer can quote it later.

The text is set as large as the screen allows (three steps down to the body size); only if even the smallest
does not fit is it paged.
"""

from __future__ import annotations

from typing import Literal

import pygame

from firmware_app.screen.actions import Finish, GoHome
from kiosk_ui.layout import inset, split_bottom, split_left
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.screens.answer import (
    Block,
    action_bar,
    action_bar_height,
    document,
    fits_one_page,
    qr_column_width,
    qr_panel,
)
from kiosk_ui.widgets import Style, TapAction, Widget

ITEMS: list[tuple[str, TapAction, Style]] = [
    ("ask_more", GoHome(), "secondary"),
    ("finish", Finish(), "primary"),
]


def largest_fitting(ctx: BuildContext, levels: list[list[Block]], rect: pygame.Rect, center: bool) -> list[Widget]:
    """The first set of blocks (largest type first) that fits ``rect`` on one page; else the last, paged."""
    for blocks in levels:
        if fits_one_page(ctx, blocks, rect):
            return document(ctx, blocks, rect, center=center)
    return document(ctx, levels[-1], rect)


def reference_levels(ctx: BuildContext, title: str, body: str, note: str, prefix: str) -> list[list[Block]]:
    """Title, text, "Your reference", the reference and a note, from generous to compact type. The most
    compact puts the reference right under the title, so that if even it must be paged, page one has it."""
    theme, state = ctx.theme, ctx.state
    reference = state.reference or ""
    align: Literal["left", "center"] = "center" if prefix == "handoff" else "left"
    levels = []
    sizes = (
        (theme.title_px, theme.text_px, round(theme.title_px * 1.25), theme.text_px, theme.gap * 2),
        (theme.heading_px, theme.text_px, theme.title_px, theme.small_px, theme.gap * 2),
        (theme.heading_px, theme.text_px, round(theme.heading_px * 1.3), theme.small_px, theme.gap),
        (theme.heading_px, theme.small_px, theme.heading_px, theme.small_px, theme.gap),
        (theme.text_px, theme.small_px, theme.heading_px, theme.small_px, theme.gap // 2),
    )
    for title_px, text_px, ref_px, note_px, space in sizes:
        heading = Block(title, f"{prefix}:title", "title", title_px, align=align)
        said = [Block(body, f"{prefix}:body", size_px=text_px, space_before=space, align=align)] if body else []
        quoted = []
        if reference:
            quoted = [
                Block(
                    ctx.t("your_reference"), f"{prefix}:reference_label", "muted", note_px, space * 3 // 2, align=align
                ),
                Block(reference, f"{prefix}:reference", "title", ref_px, align=align),
            ]
        closing = [Block(note, f"{prefix}:note", "muted", note_px, space_before=space, align=align)]
        levels.append([heading, *said, *quoted, *closing])
    levels.append([heading, *quoted, *closing, *said])
    return levels


@screen("ticket")
def build(ctx: BuildContext) -> list[Widget]:
    theme, state = ctx.theme, ctx.state
    main, _ = split_bottom(ctx.body, action_bar_height(ctx, len(ITEMS)), theme.gap * 2)
    widgets: list[Widget] = []
    text_rect = main
    if state.qr_text and theme.portrait:
        side = min(round(main.width * 0.42), main.height // 3)
        text_rect, qr_rect = split_bottom(main, side + 2 * theme.pad, theme.gap * 2)
        widgets += qr_panel(ctx, qr_rect, state.qr_text, side_by_side=True)
    elif state.qr_text:
        text_rect, qr_rect = split_left(main, main.width - qr_column_width(ctx, main) - theme.gap * 2, theme.gap * 2)
        widgets += qr_panel(ctx, qr_rect, state.qr_text)
    widgets.insert(0, Widget("panel", text_rect, id="ticket:card", style="card"))
    body = state.card.body if state.card else ""
    levels = reference_levels(ctx, ctx.t("ticket_title"), body, ctx.t("ticket_keep"), "ticket")
    widgets += largest_fitting(ctx, levels, inset(text_rect, theme.pad), center=True)
    return widgets + action_bar(ctx, ctx.body, ITEMS)
