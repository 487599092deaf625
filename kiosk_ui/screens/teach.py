"""Teaching the kiosk a new part (behind the staff PIN), and the taught parts' thresholds on the staff screen.

The teach screen is laid out like the inspection screen: the picture on the left of a landscape screen (the top
of a portrait one), a card of text beside it, and the buttons along the bottom. While photos are taken the
picture is the live preview with the framing guide, and the card says how many photos are kept ("7 of at least
10 photos") and why the last one was not; while the part is learned it says "Learning…"; then what was
learned (photos used, those left out and why, the threshold), or why it could not be.

The parts screen lists each part taught on this kiosk by its title, with its threshold as a multiple of the
learned one and what that threshold does to the part's own good photos, and Stricter / Looser beside it.
"""

from __future__ import annotations

import pygame

from firmware_app.screen.actions import Back, LearnPart, OpenCamera, StepThreshold, TeachCapture, TeachMore
from firmware_app.screen.state import AdminState, PartView, TeachState
from firmware_app.screen.teach import MAX_TEACH_PHOTOS, MIN_TEACH_PHOTOS, left_out_reason
from kiosk_ui.layout import inset, split_bottom, split_left, split_top
from kiosk_ui.render import line_height
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.screens.answer import Block, action_bar, action_bar_height, document, same_size
from kiosk_ui.screens.camera import _preview, button, button_width, fit_size, photo_frame
from kiosk_ui.screens.home import pager
from kiosk_ui.widgets import Style, TapAction, Widget

PHOTO_SHARE_LANDSCAPE = 0.5
PHOTO_SHARE_PORTRAIT = 0.4


# --- teaching a part -------------------------------------------------------------------------------------------


@screen("teach")
def build_teach(ctx: BuildContext) -> list[Widget]:
    teach = ctx.state.teach
    if teach is None:
        return []
    theme = ctx.theme
    items = _items(teach)
    main = ctx.body
    if items:  # while it learns there is nothing to choose (taps wait for it anyway)
        main, _ = split_bottom(ctx.body, action_bar_height(ctx, len(items)), theme.gap * 2)
    if theme.portrait:
        photo_rect, text_rect = split_top(main, round(main.height * PHOTO_SHARE_PORTRAIT), theme.gap * 2)
    else:
        photo_rect, text_rect = split_left(main, round(main.width * PHOTO_SHARE_LANDSCAPE), theme.gap * 2)
    widgets = _picture(ctx, photo_rect, teach)
    widgets.append(Widget("panel", text_rect, id="teach:card", style="card"))
    inner = inset(text_rect, theme.pad)
    if teach.phase == "learning":
        spinner_rect, inner = split_top(inner, theme.touch, theme.gap)
        widgets.append(Widget("spinner", spinner_rect, id="teach:spinner", text="thinking"))
    widgets += document(ctx, _blocks(ctx, teach), inner)
    if items:
        widgets += action_bar(ctx, ctx.body, items)
    return widgets


def _picture(ctx: BuildContext, rect: pygame.Rect, teach: TeachState) -> list[Widget]:
    """The live preview while photos are taken; afterwards the last photo kept."""
    if teach.phase == "capture":
        return _preview(ctx, rect, teach.preview)
    if teach.photos:
        return [photo_frame(ctx, rect, teach.photos[-1])]
    return [Widget("panel", rect, id="photo:frame", style="header")]


def _items(teach: TeachState) -> list[tuple[str, TapAction, Style]]:
    """The buttons of each phase: Cancel, Take photo and (with enough photos) Learn this part; none while it
    learns; Photograph a part once learned; Cancel or Take more photos when it could not be learned."""
    if teach.phase == "capture":
        enough = teach.count >= MIN_TEACH_PHOTOS
        items: list[tuple[str, TapAction, Style]] = [("cancel", Back(), "secondary")]
        if teach.count < MAX_TEACH_PHOTOS:
            items.append(("take_photo", TeachCapture(), "secondary" if enough else "primary"))
        if enough:
            items.append(("learn_part", LearnPart(), "primary"))
        return items
    if teach.phase == "learned":
        return [("photograph_part", OpenCamera(), "primary")]
    if teach.phase == "failed":
        return [("cancel", Back(), "secondary"), ("teach_more", TeachMore(), "primary")]
    return []


def _blocks(ctx: BuildContext, teach: TeachState) -> list[Block]:
    theme = ctx.theme
    if teach.phase == "capture":
        return _capture_blocks(ctx, teach)
    if teach.phase == "learning":
        return [
            _heading(ctx, ctx.t("learning", title=teach.title), "teach:learning"),
            Block(ctx.t("learning_hint"), "teach:hint", space_before=theme.gap),
        ]
    if teach.phase == "learned":
        return _learned_blocks(ctx, teach)
    blocks = [
        _heading(ctx, ctx.t("teach_failed"), "teach:failed"),
        Block(ctx.t(teach.error or "teach_failed_photos"), "teach:error", space_before=theme.gap),
    ]
    if teach.detail:
        blocks.append(Block(teach.detail, "teach:detail", "muted", theme.small_px, theme.gap))
    return blocks


def _heading(ctx: BuildContext, text: str, id: str) -> Block:
    return Block(text, id, "heading", ctx.theme.heading_px, keep_with_next=True)


def _capture_blocks(ctx: BuildContext, teach: TeachState) -> list[Block]:
    """The title, the count ("7 of at least 10 photos"), why the last photo was not kept, and the hint."""
    theme = ctx.theme
    count, least, most = str(teach.count), str(MIN_TEACH_PHOTOS), str(MAX_TEACH_PHOTOS)
    if teach.count >= MAX_TEACH_PHOTOS:
        counter = ctx.t("teach_count_full", count=count)
    elif teach.count >= MIN_TEACH_PHOTOS:
        counter = ctx.t("teach_count_enough", count=count, most=most)
    else:
        counter = ctx.t("teach_count", count=count, least=least)
    blocks = [
        _heading(ctx, ctx.t("teach_title", title=teach.title), "teach:title"),
        Block(counter, "teach:count", "heading", theme.text_px, space_before=theme.gap),
    ]
    if teach.refused is not None and teach.refused.reasons:
        reason = ctx.t(f"reason_{teach.refused.reasons[0]}")
        blocks.append(Block(ctx.t("teach_not_kept", reason=reason), "teach:refused", space_before=theme.gap))
    blocks.append(Block(ctx.t("teach_hint"), "teach:hint", "muted", theme.small_px, theme.gap))
    return blocks


def _learned_blocks(ctx: BuildContext, teach: TeachState) -> list[Block]:
    """What was learned: from how many photos, the threshold and its effect on them, the photos left out."""
    theme = ctx.theme
    result = teach.result
    assert result is not None
    threshold = ctx.t("learned_threshold", threshold=f"{result.threshold:.3g}")
    flags = ctx.t("part_flags", flagged=str(result.flagged), photos=str(result.photos))
    blocks = [
        _heading(ctx, ctx.t("learned_title", title=teach.title), "teach:learned"),
        Block(ctx.t("learned_photos", count=str(result.photos)), "teach:photos", space_before=theme.gap),
        Block(threshold, "teach:threshold", space_before=theme.gap // 2),
        Block(flags, "teach:flags", "muted", theme.small_px),
    ]
    if result.left_out:
        blocks.append(Block(ctx.t("learned_left_out"), "teach:left_out", space_before=theme.gap, keep_with_next=True))
    for index, (number, reason) in enumerate(result.left_out):
        key = left_out_reason(reason)
        text = ctx.t("left_out_photo", number=str(number), reason=ctx.t(key) if key != reason else reason)
        blocks.append(Block(text, f"teach:left_out:{index}", size_px=theme.small_px, space_before=theme.gap // 2))
    blocks.append(Block(ctx.t("learned_hint"), "teach:hint", "muted", theme.small_px, theme.gap))
    return blocks


# --- the taught parts' thresholds (staff) ----------------------------------------------------------------------


@screen("parts")
def build_parts(ctx: BuildContext) -> list[Widget]:
    """Back and the heading on top; a row per taught part (its title, threshold and effect; Stricter, Looser),
    paged when they do not all fit; or a line saying none has been taught."""
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    admin = ctx.state.admin or AdminState()
    back_text, title = ctx.t("back"), ctx.t("parts_title")
    top, rest = split_top(body, theme.touch, gap * 2)
    back_rect, title_area = split_left(top, button_width(ctx, back_text), gap * 2)
    sizes = (theme.heading_px, theme.text_px, theme.small_px)
    title_size = fit_size(ctx, title, title_area.width, theme.touch, sizes, True) or theme.small_px
    title_h = min(theme.touch, len(ctx.lines(title, title_size, title_area.width, True)) * line_height(title_size))
    title_rect = pygame.Rect(title_area.x, top.centery - title_h // 2, title_area.width, title_h)
    widgets = [
        button(back_rect, back_text, "back", Back()),
        Widget("label", title_rect, title, id="parts:title", style="heading", size_px=title_size),
    ]
    if not admin.parts:
        return widgets + document(ctx, [Block(ctx.t("parts_none"), "parts:none")], rest)
    row_h = max(_row_height(ctx, part, rest.width) for part in admin.parts)
    per_page = max(1, (rest.height + gap) // (row_h + gap))
    pages = -(-len(admin.parts) // per_page)
    list_rect = rest
    if pages > 1:
        list_rect, _ = split_bottom(rest, theme.touch, gap * 2)
        per_page = max(1, (list_rect.height + gap) // (row_h + gap))
        pages = -(-len(admin.parts) // per_page)
    page = min(ctx.page, pages - 1)
    y = list_rect.y
    for part in admin.parts[page * per_page : (page + 1) * per_page]:
        widgets += _part_row(ctx, pygame.Rect(list_rect.x, y, list_rect.width, row_h), part)
        y += row_h + gap
    if pages > 1:
        widgets += pager(ctx, rest, page, pages)
    return widgets


def _part_lines(ctx: BuildContext, part: PartView) -> list[tuple[str, str, Style, int]]:
    """The row's words: the title, the threshold, and what it does to the part's own good photos."""
    theme = ctx.theme
    factor = f"{part.factor:.2f}".rstrip("0").rstrip(".") if part.factor != 1 else "1"
    return [
        (part.title, "title", "heading", theme.text_px),
        (ctx.t("part_threshold", factor=factor), "threshold", "plain", theme.small_px),
        (ctx.t("part_flags", flagged=str(part.flagged), photos=str(part.photos)), "flags", "plain", theme.small_px),
    ]


def _buttons_width(ctx: BuildContext) -> int:
    return button_width(ctx, ctx.t("stricter")) + button_width(ctx, ctx.t("looser")) + ctx.theme.gap


def _row_height(ctx: BuildContext, part: PartView, width: int) -> int:
    theme = ctx.theme
    text_w = width - 2 * theme.pad - _buttons_width(ctx) - theme.gap * 2
    words = sum(
        len(ctx.lines(text, size, text_w, style == "heading")) * line_height(size)
        for text, _, style, size in _part_lines(ctx, part)
    )
    return max(theme.touch, words) + 2 * theme.pad


def _part_row(ctx: BuildContext, rect: pygame.Rect, part: PartView) -> list[Widget]:
    theme = ctx.theme
    inner = inset(rect, theme.pad)
    words_rect, buttons_rect = split_left(inner, inner.width - _buttons_width(ctx) - theme.gap * 2, theme.gap * 2)
    widgets = [Widget("panel", rect, id=f"part:{part.name}", style="card")]
    y = words_rect.y
    for text, key, style, size in _part_lines(ctx, part):
        height = len(ctx.lines(text, size, words_rect.width, style == "heading")) * line_height(size)
        label_rect = pygame.Rect(words_rect.x, y, words_rect.width, height)
        widgets.append(Widget("label", label_rect, text, id=f"part:{part.name}:{key}", style=style, size_px=size))
        y += height
    band = pygame.Rect(buttons_rect.x, buttons_rect.centery - theme.touch // 2, buttons_rect.width, theme.touch)
    stricter_rect, looser_rect = split_left(band, button_width(ctx, ctx.t("stricter")), theme.gap)
    widgets += same_size(
        ctx,
        [
            button(stricter_rect, ctx.t("stricter"), f"part:{part.name}:stricter", StepThreshold(part.name, -1)),
            button(looser_rect, ctx.t("looser"), f"part:{part.name}:looser", StepThreshold(part.name, 1)),
        ],
    )
    return widgets
