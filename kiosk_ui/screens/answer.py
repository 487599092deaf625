"""The answer screen: the card (heading, text, numbered steps) and a QR code to take it away.

Also the pieces the other result screens (ticket, hand-off, conversation) share: a flowing document of text
blocks that pages itself instead of cutting anything off, the Previous / "2 / 3" / Next page controls, the
take-away QR panel, and the row of big action buttons along the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import pygame
import segno

from firmware_app.screen.actions import Finish, GoHome, RequestStaff, ShowConversation
from kiosk_ui.layout import columns, grid, inset, split_bottom, split_left, split_top
from kiosk_ui.render import line_height
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.text import font
from kiosk_ui.widgets import Page, Style, TapAction, Widget

BOLD_STYLES = ("title", "heading")


@dataclass(frozen=True)
class Block:
    """A paragraph of a document: wrapped to the column, kept whole where it can, paged where it cannot."""

    text: str
    id: str
    style: Style = "plain"
    size_px: int = 0  # 0: the theme's body size
    space_before: int = 0  # extra room above (dropped at the top of a page)
    number: str = ""  # a hanging number ("1.") to the left of the text
    align: Literal["left", "center"] = "left"
    keep_with_next: bool = False  # a heading never ends a page


@dataclass(frozen=True)
class _Line:
    block: Block
    text: str
    first: bool  # the block's first line (where its number goes)
    height: int


def document_pages(ctx: BuildContext, blocks: list[Block], width: int, height: int) -> list[list[_Line]]:
    """Split the blocks' wrapped lines into pages of at most ``height`` pixels."""
    lines: list[_Line] = []
    for block in blocks:
        size = block.size_px or ctx.theme.text_px
        indent = _indent(ctx, block)
        wrapped = [line for line in ctx.lines(block.text, size, width - indent, block.style in BOLD_STYLES)]
        step = line_height(size)
        lines += [_Line(block, text, index == 0, step) for index, text in enumerate(wrapped)]
    pages: list[list[_Line]] = [[]]
    used = 0
    index = 0
    while index < len(lines):
        line = lines[index]
        page = pages[-1]
        extra = line.block.space_before if line.first and page else 0
        needed = extra + line.height
        if line.block.keep_with_next and index + 1 < len(lines):
            following = lines[index + 1]
            needed += following.height + (following.block.space_before if following.first else 0)
        if page and used + needed > height:
            pages.append([])
            used = 0
            continue
        page.append(line)
        used += extra + line.height
        index += 1
    return pages


def document_height(lines: list[_Line]) -> int:
    total = 0
    for position, line in enumerate(lines):
        total += line.height + (line.block.space_before if line.first and position else 0)
    return total


def place_lines(ctx: BuildContext, lines: list[_Line], rect: pygame.Rect) -> list[Widget]:
    """Labels for one page: consecutive lines of a block become one label (its lines re-wrap identically)."""
    widgets: list[Widget] = []
    y = rect.y
    position = 0
    while position < len(lines):
        block = lines[position].block
        first = lines[position].first
        run = [lines[position]]
        position += 1
        while position < len(lines) and lines[position].block is block and not lines[position].first:
            run.append(lines[position])
            position += 1
        if first and widgets:
            y += block.space_before
        indent = _indent(ctx, block)
        size = block.size_px or ctx.theme.text_px
        height = sum(line.height for line in run)
        if block.number and first:
            number_rect = pygame.Rect(rect.x, y, indent, run[0].height)
            widgets.append(
                Widget("label", number_rect, block.number, id=f"{block.id}:number", style=block.style, size_px=size)
            )
        label_rect = pygame.Rect(rect.x + indent, y, rect.width - indent, height)
        text = "\n".join(line.text for line in run)
        widgets.append(
            Widget("label", label_rect, text, id=block.id, style=block.style, size_px=size, align=block.align)
        )
        y += height
    return widgets


def _indent(ctx: BuildContext, block: Block) -> int:
    if not block.number:
        return 0
    size = block.size_px or ctx.theme.text_px
    face = font(ctx.theme.font_path, size, block.style in BOLD_STYLES)
    return face.size("00.")[0] + ctx.theme.gap


def document(ctx: BuildContext, blocks: list[Block], rect: pygame.Rect, center: bool = False) -> list[Widget]:
    """The blocks laid out in ``rect``: one page if they fit, else the UI's page of them with page controls."""
    pages = document_pages(ctx, blocks, rect.width, rect.height)
    if len(pages) == 1:
        lines = pages[0]
        top = rect.y + ((rect.height - document_height(lines)) // 2 if center else 0)
        return place_lines(ctx, lines, pygame.Rect(rect.x, top, rect.width, rect.height))
    controls_h = ctx.theme.touch
    text_rect, controls_rect = split_bottom(rect, controls_h, ctx.theme.gap)
    pages = document_pages(ctx, blocks, text_rect.width, text_rect.height)
    page = min(ctx.page, len(pages) - 1)
    return place_lines(ctx, pages[page], text_rect) + page_controls(ctx, controls_rect, page, len(pages))


def fits_one_page(ctx: BuildContext, blocks: list[Block], rect: pygame.Rect) -> bool:
    return len(document_pages(ctx, blocks, rect.width, rect.height)) == 1


def page_controls(ctx: BuildContext, rect: pygame.Rect, page: int, pages: int) -> list[Widget]:
    """Previous, "2 / 3" and Next along ``rect`` (the page number itself lives in the UI)."""
    theme = ctx.theme
    band = pygame.Rect(rect.x, rect.bottom - theme.touch, rect.width, theme.touch)
    face = font(theme.font_path, theme.text_px)
    button_w = max(face.size(ctx.t(key))[0] for key in ("previous", "next")) + 2 * theme.pad
    button_w = min(max(button_w, theme.touch * 2), (band.width - theme.gap * 2) // 3)
    left = pygame.Rect(band.x, band.y, button_w, band.height)
    right = pygame.Rect(band.right - button_w, band.y, button_w, band.height)
    count_h = line_height(theme.text_px)
    count = pygame.Rect(
        left.right + theme.gap, band.centery - count_h // 2, right.x - left.right - 2 * theme.gap, count_h
    )
    widgets = [Widget("label", count, f"{page + 1} / {pages}", id="page:count", style="muted", align="center")]
    if page > 0:
        widgets.append(button(left, ctx.t("previous"), "page:previous", Page(-1)))
    if page < pages - 1:
        widgets.append(button(right, ctx.t("next"), "page:next", Page(1)))
    return widgets


def button(rect: pygame.Rect, text: str, id: str, action: TapAction, style: Style = "secondary") -> Widget:
    return Widget("button", rect, text, id=id, style=style, action=action, align="center", max_lines=2)


def action_bar_height(ctx: BuildContext, count: int) -> int:
    """Landscape: one row of buttons; portrait: two per row."""
    rows = -(-count // 2) if ctx.theme.portrait and count > 2 else 1
    return rows * ctx.theme.touch + (rows - 1) * ctx.theme.gap


def action_bar(ctx: BuildContext, rect: pygame.Rect, items: list[tuple[str, TapAction, Style]]) -> list[Widget]:
    """Big buttons along the bottom of ``rect``: (string key, action, style); the key is also the id."""
    theme = ctx.theme
    height = action_bar_height(ctx, len(items))
    band = pygame.Rect(rect.x, rect.bottom - height, rect.width, height)
    cols = 2 if theme.portrait and len(items) > 2 else len(items)
    cells = grid(band, len(items), cols, theme.touch, theme.gap)
    return same_size(
        ctx,
        [button(cell, ctx.t(key), key, action, style) for (key, action, style), cell in zip(items, cells, strict=True)],
    )


def qr_panel(ctx: BuildContext, rect: pygame.Rect, text: str, side_by_side: bool = False) -> list[Widget]:
    """The take-away QR code with "Scan to take this with you": under the code, or beside it."""
    theme = ctx.theme
    inner = inset(rect, theme.pad)
    caption = ctx.t("take_away")
    widgets = [Widget("panel", rect, id="qr:panel", style="card")]
    if side_by_side:
        side = qr_side(text, min(inner.height, round(inner.width * 0.5)))
        label_w = inner.width - side - theme.gap * 2
        label_h = ctx.text_height(caption, theme.text_px, label_w)
        code_rect = pygame.Rect(inner.x, inner.centery - side // 2, side, side)
        label_rect = pygame.Rect(code_rect.right + theme.gap * 2, inner.centery - label_h // 2, label_w, label_h)
        widgets.append(Widget("qr", code_rect, text, id="qr"))
        widgets.append(Widget("label", label_rect, caption, id="qr:label", size_px=theme.text_px))
        return widgets
    label_h = ctx.text_height(caption, theme.small_px, inner.width)
    side = qr_side(text, min(inner.width, inner.height - label_h - theme.gap))
    top = inner.y + (inner.height - side - theme.gap - label_h) // 2
    code_rect = pygame.Rect(inner.x + (inner.width - side) // 2, top, side, side)
    label_rect = pygame.Rect(inner.x, code_rect.bottom + theme.gap, inner.width, label_h)
    widgets.append(Widget("qr", code_rect, text, id="qr"))
    widgets.append(Widget("label", label_rect, caption, id="qr:label", style="muted", align="center"))
    return widgets


def qr_module_px(ctx: BuildContext, rect: pygame.Rect, text: str) -> int:
    """How many pixels each module of the code gets in ``qr_panel(ctx, rect, text)`` (under 2: unreadable)."""
    theme = ctx.theme
    inner = inset(rect, theme.pad)
    label_h = ctx.text_height(ctx.t("take_away"), theme.small_px, inner.width)
    room = min(inner.width, inner.height - label_h - theme.gap)
    return room // _qr_modules(text)


def qr_side(text: str, room: int) -> int:
    """The side of the code as drawn: whole pixels per module (with the quiet zone), at most ``room``."""
    modules = _qr_modules(text)
    return max(1, room // modules) * modules


@lru_cache(maxsize=32)
def _qr_modules(text: str) -> int:
    return int(segno.make(text, error="m", micro=False).symbol_size(scale=1, border=4)[0])


def qr_column_width(ctx: BuildContext, area: pygame.Rect) -> int:
    """A square code plus its caption in a column about a third of the width, never taller than the area."""
    theme = ctx.theme
    width = round(area.width * 0.3)
    caption_h = ctx.text_height(ctx.t("take_away"), theme.small_px, width - 2 * theme.pad)
    tallest_square = area.height - 2 * theme.pad - caption_h - theme.gap
    return min(width, tallest_square + 2 * theme.pad)


def card_blocks(ctx: BuildContext) -> list[Block]:
    theme, card = ctx.theme, ctx.state.card
    if card is None:
        return []
    heading = theme.heading_px
    blocks = [Block(card.title, "answer:title", "heading", heading, keep_with_next=True)]
    if card.body:
        blocks.append(Block(card.body, "answer:body", size_px=theme.text_px, space_before=theme.gap))
    if card.steps:
        steps_px = round(theme.text_px * 1.1)
        blocks.append(
            Block(ctx.t("steps"), "answer:steps", "heading", steps_px, space_before=theme.gap * 2, keep_with_next=True)
        )
        blocks += [
            Block(step, f"answer:step:{n}", size_px=theme.text_px, space_before=theme.gap // 2, number=f"{n}.")
            for n, step in enumerate(card.steps, 1)
        ]
    return blocks


@screen("answer")
def build(ctx: BuildContext) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    items: list[tuple[str, TapAction, Style]] = [
        ("ask_more", GoHome(), "secondary"),
        ("conversation", ShowConversation(), "secondary"),
        ("talk_to_person", RequestStaff(), "secondary"),
        ("finish", Finish(), "primary"),
    ]
    main, _ = split_bottom(body, action_bar_height(ctx, len(items)), theme.gap * 2)
    widgets: list[Widget] = []
    qr_text = ctx.state.qr_text
    card_rect = main
    if qr_text and theme.portrait:
        side = min(round(main.width * 0.42), main.height // 3)
        card_rect, qr_rect = split_bottom(main, side + 2 * theme.pad, theme.gap * 2)
        widgets += qr_panel(ctx, qr_rect, qr_text, side_by_side=True)
    elif qr_text:
        column_w = max(qr_column_width(ctx, main), 2 * theme.touch + theme.gap)
        card_rect, qr_rect = split_left(main, main.width - column_w - theme.gap * 2, theme.gap * 2)
        text_rect = inset(card_rect, theme.pad)
        blocks = card_blocks(ctx)
        short_qr, controls = split_bottom(qr_rect, page_buttons_height(ctx), theme.gap * 2)
        if qr_module_px(ctx, qr_rect, qr_text) < 2:  # no room for a code a phone could read
            card_rect = main
        elif qr_module_px(ctx, short_qr, qr_text) >= 2 and not fits_one_page(ctx, blocks, text_rect):
            # A long answer on a wide screen: the page buttons go under the code (as long as a phone can still
            # read it), so that the text keeps the card's whole height.
            pages = document_pages(ctx, blocks, text_rect.width, text_rect.height)
            page = min(ctx.page, len(pages) - 1)
            widgets += qr_panel(ctx, short_qr, qr_text)
            widgets += place_lines(ctx, pages[page], text_rect) + page_buttons(ctx, controls, page, len(pages))
            widgets.insert(0, Widget("panel", card_rect, id="answer:card", style="card"))
            return widgets + action_bar(ctx, body, items)
        else:
            widgets += qr_panel(ctx, qr_rect, qr_text)
    widgets.insert(0, Widget("panel", card_rect, id="answer:card", style="card"))
    widgets += document(ctx, card_blocks(ctx), inset(card_rect, theme.pad))
    return widgets + action_bar(ctx, body, items)


def page_buttons_height(ctx: BuildContext) -> int:
    return line_height(ctx.theme.small_px) + ctx.theme.gap + ctx.theme.touch


def page_buttons(ctx: BuildContext, rect: pygame.Rect, page: int, pages: int) -> list[Widget]:
    """ "2 / 3" over Previous and Next, for a narrow column."""
    theme = ctx.theme
    count_rect, band = split_top(rect, line_height(theme.small_px), theme.gap)
    left, right = columns(pygame.Rect(band.x, band.y, band.width, theme.touch), 2, theme.gap)
    widgets = [Widget("label", count_rect, f"{page + 1} / {pages}", id="page:count", style="muted", align="center")]
    if page > 0:
        widgets.append(button(left, ctx.t("previous"), "page:previous", Page(-1)))
    if page < pages - 1:
        widgets.append(button(right, ctx.t("next"), "page:next", Page(1)))
    same_size(ctx, widgets[1:])
    return widgets


def same_size(ctx: BuildContext, buttons: list[Widget], largest: int = 0) -> list[Widget]:
    """One type size for a group of buttons: the largest (up to ``largest``, else the body size) at which
    every label fits; the renderer would otherwise shrink only the long ones, and mixed sizes look unfinished."""
    theme = ctx.theme
    sizes = [*range(largest or theme.text_px, theme.small_px, -2), theme.small_px]
    chosen = sizes[-1]
    for size in sizes:
        step = line_height(size)
        if all(_fits(ctx, widget, size, step) for widget in buttons):
            chosen = size
            break
    for widget in buttons:
        widget.size_px = chosen
    return buttons


def _fits(ctx: BuildContext, widget: Widget, size: int, step: int) -> bool:
    pad = ctx.theme.pad
    box = widget.rect.inflate(-2 * pad, -pad)
    room = max(1, box.height // step)
    if widget.max_lines:
        room = min(room, widget.max_lines)
    bold = widget.style == "primary"
    face = font(ctx.theme.font_path, size, bold)
    if any(word.isascii() and face.size(word)[0] > box.width for word in widget.text.split()):
        return False  # a word would be broken in two ("Dele/te"): smaller type instead
    return len(ctx.lines(widget.text, size, box.width, bold)) <= room
