"""The technician's camera: the live preview with a framing guide, and the captured photo with the quality
gate's verdict (a note to send with it, or the reasons to take it again).

The preview is dark around the picture like a viewfinder; the guide's corners show where the part should be.
On a short screen (800x480) the note's keyboard needs most of the height, so the photo shrinks to a thumbnail
in a band above it, beside the text field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pygame

from firmware_app.screen.actions import Back, Capture, ChooseProfile, RequestStaff, Retake, TeachPart
from firmware_app.screen.state import FormState, PhotoState
from kiosk_ui.keypad import keyboard, keyboard_height
from kiosk_ui.layout import columns, grid, inset, split_bottom, split_left, split_top
from kiosk_ui.render import line_height
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.text import ellipsize, font
from kiosk_ui.widgets import Style, TapAction, Widget

GUIDE_MARGIN = 0.12  # the guide's corners sit this far inside the picture
GUIDE_ARM = 0.16  # each corner's arms, as a share of the picture's shorter side


# --- pieces shared with the staff screens --------------------------------------------------------------------


def fit_size(
    ctx: BuildContext, text: str, width: int, height: int, sizes: Sequence[int], bold: bool = False
) -> int | None:
    """The first of ``sizes`` at which ``text`` wraps into ``width`` x ``height``, or ``None``."""
    for size in sizes:
        if len(ctx.lines(text, size, width, bold)) * line_height(size) <= height:
            return size
    return None


def text_block(
    ctx: BuildContext, rect: pygame.Rect, text: str, id: str, size: int, style: Style = "plain", bold: bool = False
) -> tuple[Widget, pygame.Rect]:
    """A label as tall as ``text`` needs at ``size`` across ``rect``; returns it and the room left below it."""
    height = len(ctx.lines(text, size, rect.width, bold)) * line_height(size)
    label_rect, rest = split_top(rect, height, ctx.theme.gap)
    return Widget("label", label_rect, text, id=id, style=style, size_px=size), rest


def button(rect: pygame.Rect, text: str, id: str, action: TapAction, style: Style = "secondary") -> Widget:
    return Widget("button", rect, text, id=id, style=style, action=action, align="center", max_lines=2)


def button_width(ctx: BuildContext, text: str, least: int = 0) -> int:
    """Wide enough for ``text`` on one line at the body size (and at least ``least``, and a touch and a half)."""
    theme = ctx.theme
    text_w = font(theme.font_path, theme.text_px, True).size(text)[0]
    return max(least, round(theme.touch * 1.5), text_w + 2 * theme.pad)


def field(ctx: BuildContext, form: FormState, rect: pygame.Rect, placeholder: str, size_px: int = 0) -> Widget:
    """The text typed so far with any pinyin still waiting for its characters (dots for a secret), or a muted
    placeholder."""
    theme = ctx.theme
    size = size_px or theme.text_px
    draft = "•" * len(form.draft) if form.secret else form.draft + form.composing
    widget = Widget("field", rect, draft, id="form:draft", size_px=size)
    if not draft and placeholder:
        inner = inset(rect, theme.pad)
        hint_size = min(size, theme.text_px)
        if font(theme.font_path, hint_size).size(placeholder)[0] > inner.width:
            hint_size = min(hint_size, theme.small_px)
        face = font(theme.font_path, hint_size)
        step = line_height(hint_size)
        hint_rect = pygame.Rect(inner.x, rect.centery - step // 2, inner.width, step)
        hint = ellipsize(placeholder, face, inner.width)
        widget.children.append(
            Widget("label", hint_rect, hint, id="form:placeholder", style="muted", size_px=hint_size, max_lines=1)
        )
    return widget


def picture_rect(image: np.ndarray, rect: pygame.Rect) -> pygame.Rect:
    """Where the renderer draws ``image`` scaled to fit ``rect`` (centred, aspect kept)."""
    height, width = image.shape[:2]
    scale = min(rect.width / width, rect.height / height)
    shown = pygame.Rect(0, 0, max(1, round(width * scale)), max(1, round(height * scale)))
    shown.center = rect.center
    return shown


# --- the live preview ----------------------------------------------------------------------------------------


@screen("camera")
def build_camera(ctx: BuildContext) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    photo = ctx.state.photo
    image = photo.image if photo is not None else None
    take_h = round(theme.touch * 1.4)
    title, hint = ctx.t("camera_title"), ctx.t("camera_hint")
    teach = ctx.t("teach_part")
    if theme.portrait:
        buttons_rect, rest = _bottom_band(body, take_h, gap * 2)
        back_w = button_width(ctx, ctx.t("back"))
        back_rect, take_rect = split_left(buttons_rect, back_w, gap * 2)
        teach_band, rest = _bottom_band(rest, theme.touch, gap * 2)
        teach_w = min(teach_band.width, button_width(ctx, teach))
        teach_rect = pygame.Rect(teach_band.right - teach_w, teach_band.y, teach_w, theme.touch)
        words_h = _words_height(ctx, title, hint, rest.width, rest.height // 3)
        words_rect, preview_rect = split_top(rest, words_h, gap * 2)
    else:
        # The preview as wide as the words beside it allow: they get more width (and Take photo less height)
        # only on a short screen with large text.
        least = max(button_width(ctx, ctx.t("take_photo")), button_width(ctx, teach))
        big = take_h
        for share, take_h in ((0.3, big), (0.3, theme.touch), (0.38, theme.touch), (0.46, theme.touch)):
            side_w = max(round(body.width * share), least)
            words_h = body.height - 2 * theme.touch - take_h - gap * 4
            if heading_sizes(ctx, title, hint, side_w, words_h) is not None:
                break
        preview_rect, side = split_left(body, body.width - side_w - gap * 2, gap * 2)
        side, back_rect = split_bottom(side, theme.touch, gap)
        side, teach_rect = split_bottom(side, theme.touch, gap)
        words_rect, take_rect = split_bottom(side, take_h, gap * 2)
    widgets: list[Widget] = []
    if photo is not None and len(photo.profiles) > 1:
        chips, preview_rect = _profile_choice(ctx, preview_rect, photo)
        widgets += chips
    widgets += _preview(ctx, preview_rect, image)
    widgets += _words(ctx, words_rect, title, hint)
    widgets.append(button(take_rect, ctx.t("take_photo"), "take_photo", Capture(), "primary"))
    widgets.append(button(teach_rect, teach, "teach_part", TeachPart()))
    widgets.append(button(back_rect, ctx.t("back"), "back", Back()))
    return widgets


def _profile_choice(ctx: BuildContext, area: pygame.Rect, photo: PhotoState) -> tuple[list[Widget], pygame.Rect]:
    """ "Product" and one button per active profile across the top of ``area``, the chosen one highlighted: which
    model will judge the photo. Shown only when there is a choice. The label sits beside the buttons when their
    names fit on one line there, else above them (a narrow screen, large text), and the buttons grow to two
    lines when even the full width is not enough, and to more rows of buttons when two lines are not enough either
    (several taught parts with long titles). Returns the widgets and what is left of ``area``."""
    theme, gap = ctx.theme, ctx.theme.gap
    names = [name.get(ctx.state.language) for _, name in photo.profiles]
    label_text = ctx.t("product")
    label_w = font(theme.font_path, theme.text_px, True).size(label_text)[0] + gap

    def fit_in(width: int, lines: int, cols: int = len(names)) -> bool:
        cell_w = (width - gap * (cols - 1)) // cols - 2 * theme.pad
        return all(len(ctx.lines(name, theme.text_px, cell_w, True)) <= lines for name in names)

    label_h = line_height(theme.text_px)
    if fit_in(area.width - label_w - gap, 1):
        row, rest = split_top(area, theme.touch, gap * 2)
        label_rect, buttons_rect = split_left(row, label_w, gap)
        label_rect = pygame.Rect(label_rect.x, row.centery - label_h // 2, label_rect.width, label_h)
        cells = columns(buttons_rect, len(names), gap)
    else:
        cols, lines = len(names), 2
        while cols > 1 and not fit_in(area.width, 2, cols):
            cols -= 1
        lines = 1 if fit_in(area.width, 1, cols) else 2
        rows = -(-len(names) // cols)
        chip_h = max(theme.touch, lines * label_h + 2 * theme.pad)
        label_rect, rest = split_top(area, label_h, gap)
        buttons_rect, rest = split_top(rest, rows * chip_h + (rows - 1) * gap, gap * 2)
        cells = grid(buttons_rect, len(names), cols, chip_h, gap)
    label = Widget("label", label_rect, label_text, id="camera:product", style="heading", size_px=theme.text_px)
    chips = [
        button(
            cell,
            name,
            f"profile:{profile}",
            ChooseProfile(profile),
            "selected" if profile == photo.profile else "secondary",
        )
        for (profile, _), name, cell in zip(photo.profiles, names, cells, strict=True)
    ]
    return [label, *chips], rest


def _bottom_band(rect: pygame.Rect, height: int, gap: int) -> tuple[pygame.Rect, pygame.Rect]:
    rest, band = split_bottom(rect, height, gap)
    return band, rest


def _words_height(ctx: BuildContext, title: str, hint: str, width: int, most: int) -> int:
    theme = ctx.theme
    title_size = fit_size(ctx, title, width, most, (theme.heading_px, theme.text_px), bold=True) or theme.text_px
    hint_size = theme.text_px
    return (
        len(ctx.lines(title, title_size, width, True)) * line_height(title_size)
        + theme.gap
        + len(ctx.lines(hint, hint_size, width)) * line_height(hint_size)
    )


def heading_sizes(ctx: BuildContext, title: str, hint: str, width: int, height: int) -> tuple[int, int] | None:
    """The largest sizes for the heading and the hint at which both fit ``width`` x ``height``."""
    theme = ctx.theme
    for title_size, hint_size in (
        (theme.heading_px, theme.text_px),
        (theme.text_px, theme.text_px),
        (theme.text_px, theme.small_px),
        (theme.small_px, theme.small_px),
    ):
        title_h = len(ctx.lines(title, title_size, width, True)) * line_height(title_size)
        hint_h = len(ctx.lines(hint, hint_size, width)) * line_height(hint_size)
        if title_h + theme.gap + hint_h <= height:
            return title_size, hint_size
    return None


def _words(ctx: BuildContext, rect: pygame.Rect, title: str, hint: str) -> list[Widget]:
    """The heading and the hint, at the largest sizes at which both fit ``rect``; where even the small size
    does not fit (a short screen, large text and a banner), the heading alone."""
    theme = ctx.theme
    sizes = heading_sizes(ctx, title, hint, rect.width, rect.height)
    if sizes is None:
        size = fit_size(ctx, title, rect.width, rect.height, (theme.heading_px, theme.text_px), True)
        heading, _ = text_block(ctx, rect, title, "camera:title", size or theme.small_px, "heading", bold=True)
        return [heading]
    heading, rest = text_block(ctx, rect, title, "camera:title", sizes[0], "heading", bold=True)
    words, _ = text_block(ctx, rest, hint, "camera:hint", sizes[1])
    return [heading, words]


def _preview(ctx: BuildContext, rect: pygame.Rect, image: np.ndarray | None) -> list[Widget]:
    """The live picture on a dark viewfinder with the framing guide, or a framed "no camera picture"."""
    theme = ctx.theme
    if image is None:
        # The banner already says it after a failed Take photo; the frame then just names the problem.
        key = "no_preview" if ctx.state.notice == "no_camera" else "no_camera"
        text = ctx.t(key)
        inner = inset(rect, theme.pad * 2)
        size = fit_size(ctx, text, inner.width, inner.height, (theme.heading_px, theme.text_px, theme.small_px))
        size = size or theme.small_px
        height = len(ctx.lines(text, size, inner.width)) * line_height(size)
        label_rect = pygame.Rect(inner.x, inner.centery - height // 2, inner.width, height)
        label = Widget("label", label_rect, text, id="camera:no_picture", size_px=size, align="center")
        return [Widget("panel", rect, id="camera:preview", style="card", children=[label])]
    picture = Widget("image", inset(rect, theme.pad), id="camera:image", image=image)
    guide = _guide(ctx, picture_rect(image, picture.rect))
    return [Widget("panel", rect, id="camera:preview", style="header", children=[picture, *guide])]


def _guide(ctx: BuildContext, shown: pygame.Rect) -> list[Widget]:
    """Four corner brackets inside the picture: where the part should be."""
    margin_x, margin_y = round(shown.width * GUIDE_MARGIN), round(shown.height * GUIDE_MARGIN)
    box = shown.inflate(-2 * margin_x, -2 * margin_y)
    arm = max(8, round(min(box.size) * GUIDE_ARM))
    thick = max(4, ctx.theme.gap // 2)
    bars: list[Widget] = []
    for corner_x, step_x in ((box.left, 1), (box.right, -1)):
        for corner_y, step_y in ((box.top, 1), (box.bottom, -1)):
            x = corner_x if step_x > 0 else corner_x - arm
            y = corner_y if step_y > 0 else corner_y - thick
            bars.append(Widget("panel", pygame.Rect(x, y, arm, thick), style="badge"))
            x = corner_x if step_x > 0 else corner_x - thick
            y = corner_y if step_y > 0 else corner_y - arm
            bars.append(Widget("panel", pygame.Rect(x, y, thick, arm), style="badge"))
    return [Widget("panel", box, id="camera:guide", children=bars)]


# --- the captured photo --------------------------------------------------------------------------------------


@screen("photo_result")
def build_photo_result(ctx: BuildContext) -> list[Widget]:
    photo = ctx.state.photo
    if photo is None or photo.image is None:
        return []
    if photo.quality is not None and photo.quality.ok and ctx.state.form is not None:
        shown = photo.recognition.annotated if photo.recognition is not None else photo.image
        return _note(ctx, shown, ctx.state.form)
    return _retake(ctx, photo)


def photo_frame(ctx: BuildContext, rect: pygame.Rect, image: np.ndarray) -> Widget:
    """The photo on a dark frame, scaled to fit ``rect``."""
    picture = Widget("image", inset(rect, ctx.theme.pad // 2), id="photo:image", image=image)
    return Widget("panel", rect, id="photo:frame", style="header", children=[picture])


def _retake(ctx: BuildContext, photo: PhotoState) -> list[Widget]:
    """The photo, why it cannot be used, and Retake / Talk to a person."""
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    assert photo.image is not None
    reasons = [ctx.t(f"reason_{reason}") for reason in (photo.quality.reasons if photo.quality else ())]
    if theme.portrait:
        buttons_rect, rest = _bottom_band(body, theme.touch, gap * 2)
        retake_rect, staff_rect = columns(buttons_rect, 2, gap)
        words_h = _reasons_height(ctx, rest.width, reasons)
        photo_rect, words_rect = split_bottom(rest, words_h, gap * 2)
    else:
        side_w = round(body.width * 0.4)
        photo_rect, side = split_left(body, body.width - side_w - gap * 2, gap * 2)
        words_rect, buttons = split_bottom(side, 2 * theme.touch + gap, gap * 2)
        retake_rect, staff_rect = split_top(buttons, theme.touch, gap)
    widgets = [photo_frame(ctx, photo_rect, photo.image)]
    widgets += _reasons(ctx, words_rect, reasons)
    widgets.append(button(retake_rect, ctx.t("retake"), "retake", Retake(), "primary"))
    widgets.append(button(staff_rect, ctx.t("talk_to_person"), "talk_to_person", RequestStaff()))
    return widgets


def _reasons_height(ctx: BuildContext, width: int, reasons: list[str]) -> int:
    theme = ctx.theme
    indent = _reason_indent(ctx)
    height = len(ctx.lines(ctx.t("photo_retake"), theme.heading_px, width, True)) * line_height(theme.heading_px)
    for text in reasons:
        height += theme.gap * 2 + len(ctx.lines(text, theme.text_px, width - indent)) * line_height(theme.text_px)
    return height


def _reason_indent(ctx: BuildContext) -> int:
    return max(6, ctx.theme.gap // 2) + ctx.theme.gap


def _reasons(ctx: BuildContext, rect: pygame.Rect, reasons: list[str]) -> list[Widget]:
    """ "Please take the photo again" and each reason beside an accent bar, at sizes that fit ``rect``."""
    theme = ctx.theme
    indent = _reason_indent(ctx)
    heading_text = ctx.t("photo_retake")
    sizes = ((theme.heading_px, theme.text_px), (theme.text_px, theme.text_px), (theme.text_px, theme.small_px))
    for heading_size, size in sizes:
        total = len(ctx.lines(heading_text, heading_size, rect.width, True)) * line_height(heading_size)
        for text in reasons:
            total += theme.gap * 2 + len(ctx.lines(text, size, rect.width - indent)) * line_height(size)
        if total <= rect.height:
            break
    heading, rest = text_block(ctx, rect, heading_text, "photo:retake", heading_size, "heading", bold=True)
    widgets = [heading]
    for index, text in enumerate(reasons):
        _, rest = split_top(rest, theme.gap)
        column = pygame.Rect(rest.x + indent, rest.y, rest.width - indent, rest.height)
        label, below = text_block(ctx, column, text, f"photo:reason:{index}", size)
        bar = pygame.Rect(rest.x, label.rect.y, max(6, theme.gap // 2), label.rect.height)
        widgets += [Widget("panel", bar, style="badge"), label]
        rest = pygame.Rect(rest.x, below.y, rest.width, below.height)
    return widgets


def _note(ctx: BuildContext, image: np.ndarray, form: FormState) -> list[Widget]:
    """ "Photo is clear", the note's prompt, the field and the keyboard; the photo as large as the room allows:
    stacked above the rest where it can still be seen (a portrait screen), else a thumbnail in a band."""
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    tall = keyboard_height(ctx)
    short = 4 * theme.touch + 3 * gap
    prompt = form.prompt or ctx.t("photo_note")
    prompt_h = ctx.text_height(prompt, theme.text_px, body.width)
    head_h = max(theme.touch, line_height(theme.heading_px))
    photo_h = body.height - tall - theme.touch - prompt_h - head_h - 4 * gap * 2
    stacked_keys = tall if photo_h >= theme.touch else short
    photo_h += tall - stacked_keys
    if photo_h >= 3 * theme.touch or (theme.portrait and photo_h >= theme.touch):
        return _note_stacked(ctx, image, form, prompt, (photo_h, head_h, stacked_keys))
    return _note_band(ctx, image, form, prompt, (tall, short))


def _note_stacked(
    ctx: BuildContext, image: np.ndarray, form: FormState, prompt: str, heights: tuple[int, int, int]
) -> list[Widget]:
    """Roomy (portrait): the photo on top, then "Photo is clear" and Retake, the prompt, the field, the keyboard;
    ``heights`` are the photo's, the "Photo is clear" row's and the keyboard's."""
    theme, gap = ctx.theme, ctx.theme.gap
    photo_h, head_h, keys_h = heights
    retake_w = button_width(ctx, ctx.t("retake"))
    photo_rect, rest = split_top(ctx.body, photo_h, gap * 2)
    head, rest = split_top(rest, head_h, gap * 2)
    ok_rect, retake_rect = split_left(head, head.width - retake_w - gap * 2, gap * 2)
    prompt_label, rest = text_block(ctx, rest, prompt, "photo:prompt", theme.text_px)
    field_rect, rest = split_top(rest, theme.touch, gap * 2)
    keys_rect = pygame.Rect(rest.x, rest.bottom - keys_h, rest.width, keys_h)
    return [
        photo_frame(ctx, photo_rect, image),
        _ok_label(ctx, ok_rect, ctx.t("photo_ok")),
        button(retake_rect, ctx.t("retake"), "retake", Retake()),
        prompt_label,
        field(ctx, form, field_rect, ctx.t("photo_note")),
        *keyboard(ctx, keys_rect, ctx.t("send")),
    ]


def _note_band(
    ctx: BuildContext, image: np.ndarray, form: FormState, prompt: str, keyboards: tuple[int, int]
) -> list[Widget]:
    """A band above the keyboard: thumbnail | prompt over the field | "Photo is clear" over Retake; the full
    keyboard's height and the short one's are ``keyboards``. What does not fit in the band moves or goes."""
    theme, body, gap = ctx.theme, ctx.body, ctx.theme.gap
    tall, short = keyboards
    ok_text = ctx.t("photo_ok")
    retake_w = button_width(ctx, ctx.t("retake"))
    keys_h = tall if body.height - tall - 2 * gap >= 2 * theme.touch + gap else short
    band, keys_rect = split_top(body, body.height - keys_h - 2 * gap, 2 * gap)
    thumb_w = min(round(band.height * image.shape[1] / image.shape[0]), band.width // 4)
    thumb_rect, rest = split_left(band, thumb_w, gap * 2)
    middle, side = split_left(rest, rest.width - retake_w - gap * 2, gap * 2)
    widgets = [photo_frame(ctx, thumb_rect, image)]
    retake_rect = pygame.Rect(side.x, side.bottom - theme.touch, side.width, theme.touch)
    ok_room = side.height - theme.touch - gap
    ok_size = fit_size(ctx, ok_text, side.width, ok_room, (theme.heading_px, theme.text_px, theme.small_px), True)
    if ok_size is None:  # too short for it above Retake: it goes left of the field, all centred in the band
        ok_label, middle = _ok_beside(ctx, middle, ok_text)
        widgets.append(ok_label)
        retake_rect.centery = band.centery
    else:
        ok_rect = pygame.Rect(side.x, side.y, side.width, ok_room)
        widgets.append(_ok_label(ctx, ok_rect, ok_text, ok_size))
    field_rect = pygame.Rect(middle.x, middle.bottom - theme.touch, middle.width, theme.touch)
    prompt_room = middle.height - theme.touch - gap
    prompt_size = fit_size(ctx, prompt, middle.width, prompt_room, (theme.text_px, theme.small_px))
    if prompt_size is None:  # no room: the field's placeholder says what it is for
        field_rect.centery = band.centery
    else:
        prompt_rect = pygame.Rect(middle.x, middle.y, middle.width, prompt_room)
        widgets.append(Widget("label", prompt_rect, prompt, id="photo:prompt", size_px=prompt_size))
    keys_rect.height = min(keys_rect.height, keys_h if keys_h == tall else tall - 1)
    keys_rect.bottom = body.bottom
    return [
        *widgets,
        button(retake_rect, ctx.t("retake"), "retake", Retake()),
        field(ctx, form, field_rect, ctx.t("photo_note")),
        *keyboard(ctx, keys_rect, ctx.t("send")),
    ]


def _ok_beside(ctx: BuildContext, middle: pygame.Rect, text: str) -> tuple[Widget, pygame.Rect]:
    """ "Photo is clear" left of the field, at the largest size that needs at most a third of ``middle``;
    returns it and what is left of ``middle``."""
    theme = ctx.theme
    most = middle.width // 3
    ok_size = theme.small_px
    for size in (theme.heading_px, theme.text_px):
        if font(theme.font_path, size, True).size(text)[0] <= most:
            ok_size = size
            break
    ok_w = min(most, font(theme.font_path, ok_size, True).size(text)[0] + 2)
    ok_rect, rest = split_left(middle, ok_w, theme.gap * 2)
    return _ok_label(ctx, ok_rect, text, ok_size), rest


def _ok_label(ctx: BuildContext, rect: pygame.Rect, text: str, size: int = 0) -> Widget:
    """ "Photo is clear", vertically centred in ``rect`` at the largest size that fits."""
    theme = ctx.theme
    sizes = (theme.heading_px, theme.text_px, theme.small_px)
    size = size or fit_size(ctx, text, rect.width, rect.height, sizes, bold=True) or theme.small_px
    height = min(rect.height, len(ctx.lines(text, size, rect.width, True)) * line_height(size))
    label_rect = pygame.Rect(rect.x, rect.centery - height // 2, rect.width, height)
    return Widget("label", label_rect, text, id="photo:ok", style="heading", size_px=size)
