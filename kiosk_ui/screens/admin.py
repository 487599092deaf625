"""The staff screens: the PIN pad behind the hidden "Staff" corner, and the kiosk's status (device, pack,
models, the installed release and the updater's latest report, sync, tickets, recent problems) with Restart
pipeline, Taught parts, the technician's camera ("Technician: photo of a part", kept off the customer's home
screen) and Close.

Wrong PINs and the lockout are shown by the standard notice banner; the PIN itself is only ever dots.
"""

from __future__ import annotations

import re

import pygame

from firmware_app.screen.actions import CloseAdmin, OpenCamera, OpenParts, RestartPipeline
from firmware_app.screen.state import AdminState, FormState, UpdateView
from kiosk_ui.keypad import numpad, numpad_height
from kiosk_ui.layout import columns, inset, split_bottom, split_left, split_top
from kiosk_ui.render import line_height
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.screens.camera import button, button_width, field, fit_size, heading_sizes, text_block
from kiosk_ui.text import ellipsize, font
from kiosk_ui.widgets import Widget

ERROR_LINES = 2  # each recent problem gets at most two lines
# RecentErrors lines read "12:34:56 WARNING firmware_app.screen.staff: wrong staff PIN".
_LOG_LINE = re.compile(r"^(?P<time>\d\d:\d\d:\d\d) (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<message>.*)$")


# --- the PIN -------------------------------------------------------------------------------------------------


@screen("admin_pin")
def build_pin(ctx: BuildContext) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    form = ctx.state.form or FormState("pin", "", "numpad", secret=True)
    title, prompt = ctx.t("pin_title"), ctx.t("pin_prompt")
    keys_h = min(round(numpad_height(ctx) * 1.2), body.height)
    if keys_h < numpad_height(ctx):  # a short screen with the banner up: use the bottom margin too
        keys_h = min(numpad_height(ctx), body.height + gap)
    field_h = round(theme.touch * 1.2)
    close_w = button_width(ctx, ctx.t("close"))
    if theme.portrait:
        pad_w = min(body.width, round(theme.touch * 6))
        words_h = _title_height(ctx, title, prompt, pad_w)
        total = words_h + field_h + keys_h + theme.touch + 3 * gap * 2
        column = pygame.Rect(0, body.y + max(0, (body.height - total) // 2), pad_w, min(total, body.height))
        column.centerx = body.centerx
        words_rect, rest = split_top(column, words_h, gap * 2)
        field_rect, rest = split_top(rest, field_h, gap * 2)
        keys_rect, rest = split_top(rest, keys_h, gap * 2)
        close_rect = pygame.Rect(rest.x, rest.y, rest.width, theme.touch)
    else:
        pad_w = min(round(body.width * 0.45), round(theme.touch * 5))
        left, keys_area = split_left(body, body.width - pad_w - gap * 3, gap * 3)
        keys_rect = pygame.Rect(keys_area.x, body.bottom - keys_h, keys_area.width, keys_h)
        if keys_h <= body.height:
            keys_rect.centery = body.centery
        words_area, close_band = split_bottom(left, theme.touch, gap * 2)
        close_rect = pygame.Rect(close_band.x, close_band.y, close_w, theme.touch)
        words_h = min(_title_height(ctx, title, prompt, words_area.width), words_area.height - field_h - gap * 2)
        words_rect, rest = split_top(words_area, words_h, gap * 2)
        field_rect = pygame.Rect(rest.x, rest.y, min(rest.width, round(theme.touch * 4)), field_h)
    widgets = _title(ctx, words_rect, title, prompt)
    widgets.append(field(ctx, form, field_rect, "", theme.title_px))
    widgets += numpad(ctx, keys_rect, ctx.t("ok"))
    widgets.append(button(close_rect, ctx.t("close"), "close", CloseAdmin()))
    return widgets


def _title_height(ctx: BuildContext, title: str, prompt: str, width: int) -> int:
    theme = ctx.theme
    return (
        ctx.text_height(title, theme.heading_px, width)
        + theme.gap
        + len(ctx.lines(prompt, theme.text_px, width)) * line_height(theme.text_px)
    )


def _title(ctx: BuildContext, rect: pygame.Rect, title: str, prompt: str) -> list[Widget]:
    """ "Staff only" and "Enter the staff PIN", as large as ``rect`` allows."""
    theme = ctx.theme
    title_size, prompt_size = heading_sizes(ctx, title, prompt, rect.width, rect.height) or (theme.small_px,) * 2
    heading, rest = text_block(ctx, rect, title, "pin:title", title_size, "heading", bold=True)
    words, _ = text_block(ctx, rest, prompt, "pin:prompt", prompt_size)
    return [heading, words]


# --- the status ----------------------------------------------------------------------------------------------


@screen("admin")
def build_admin(ctx: BuildContext) -> list[Widget]:
    theme, body = ctx.theme, ctx.body
    gap = theme.gap
    admin = ctx.state.admin or AdminState()
    restart, close = ctx.t("restart"), ctx.t("close")
    if theme.portrait:
        title_rect, rest = split_top(body, line_height(theme.heading_px), gap * 2)
        rest, buttons = split_bottom(rest, theme.touch, gap * 2)
        rest, camera_rect = split_bottom(rest, theme.touch, gap * 2)
        restart_rect, parts_rect, close_rect = columns(buttons, 3, gap * 2)
        table_h = _table_height(ctx, admin, rest.width - 2 * theme.pad, theme.text_px) + 2 * theme.pad
        # the status takes what it needs, down to half the room; the recent problems keep room for a few lines
        errors_least = 2 * theme.pad + 4 * line_height(theme.small_px) + gap
        table_rect, errors_rect = split_top(
            rest, min(table_h, max(rest.height // 2, rest.height - errors_least)), gap * 2
        )
    else:
        top, rest = split_top(body, theme.touch, gap * 2)
        close_w = button_width(ctx, close)
        restart_w = button_width(ctx, restart)
        title_rect, top = split_left(top, top.width - restart_w - close_w - gap * 4, gap * 2)
        restart_rect, close_rect = split_left(top, restart_w, gap * 2)
        table_w = _landscape_table_width(ctx, admin, rest)
        table_rect, errors_rect = split_left(rest, table_w, gap * 2)
        errors_rect, parts_rect = split_bottom(errors_rect, theme.touch, gap * 2)
        errors_rect, camera_rect = split_bottom(errors_rect, theme.touch, gap * 2)
    title_h = line_height(theme.heading_px)
    title_label = pygame.Rect(title_rect.x, title_rect.centery - title_h // 2, title_rect.width, title_h)
    widgets = [Widget("label", title_label, ctx.t("admin_title"), id="admin:title", style="heading", max_lines=1)]
    widgets += _table(ctx, admin, table_rect)
    widgets += _errors(ctx, admin, errors_rect)
    widgets.append(button(restart_rect, restart, "admin:restart", RestartPipeline(), "primary"))
    widgets.append(button(parts_rect, ctx.t("parts_button"), "admin:parts", OpenParts()))
    widgets.append(button(camera_rect, ctx.t("camera"), "admin:camera", OpenCamera()))
    widgets.append(button(close_rect, close, "admin:close", CloseAdmin()))
    return widgets


def _landscape_table_width(ctx: BuildContext, admin: AdminState, rest: pygame.Rect) -> int:
    """The status's width beside the recent problems: the narrowest share where it fits in the small size, else
    (a long list, a degraded part or two, large text) in the smallest size; the widest share if neither does."""
    pad = ctx.theme.pad
    for size in _table_sizes(ctx)[1:]:
        for share in (0.56, 0.64, 0.72):  # the errors give way (no further: the buttons below them need room)
            table_w = round(rest.width * share)
            if _table_height(ctx, admin, table_w - 2 * pad, size) <= rest.height - 2 * pad:
                return table_w
    return table_w


def _update_text(ctx: BuildContext, update: UpdateView | None) -> str:
    """ "downloading r-12: 45%", "r-12 rolled back: self-test failed", "refused a release: bad signature"..."""
    if update is None:
        return ctx.t("update_none")
    release = update.release_id or ctx.t("a_release")
    reason = ctx.t(f"reason_{update.reason}") if update.reason else "—"
    return ctx.t(f"update_{update.state}", release=release, percent=str(update.percent or 0), reason=reason)


def _degraded_rows(ctx: BuildContext, admin: AdminState) -> list[tuple[str, str, str]]:
    """ "Service", only while a part runs on its fallback: "Understanding questions: answering by keyword search
    (since 10:42); Link to the office: tickets wait on the kiosk (since 10:40)"."""
    degraded = admin.degraded
    if not degraded:
        return []
    text = "; ".join(
        ctx.t(
            "health_degraded",
            capability=ctx.t(f"health_{d.capability}"),
            fallback=ctx.t(f"health_fallback_{d.fallback}"),
            since=d.since,
        )
        for d in degraded
    )
    return [("degraded", ctx.t("health"), text)]


def _rows(ctx: BuildContext, admin: AdminState) -> list[tuple[str, str, str]]:
    sync = ctx.t(f"sync_{admin.sync}")
    return [
        ("device_id", ctx.t("device_id"), admin.device_id or "—"),
        *_degraded_rows(ctx, admin),  # near the top: what staff must act on
        ("pack", ctx.t("pack"), admin.pack or "—"),
        # one run of text, wrapped where it must: a line per model pushed the last rows off an 800x480 screen
        ("models", ctx.t("models"), ", ".join(admin.models) or "—"),
        ("releases", ctx.t("releases"), ", ".join(admin.releases) or ctx.t("as_shipped")),
        ("update", ctx.t("update"), _update_text(ctx, admin.update)),
        ("sync", ctx.t("sync"), sync),
        ("queue_depth", ctx.t("queue_depth"), str(admin.queue_depth)),
        ("tickets_today", ctx.t("tickets_today"), str(admin.tickets_today)),
    ]


def _label_width(ctx: BuildContext, rows: list[tuple[str, str, str]], width: int, size: int) -> int:
    face = font(ctx.theme.font_path, size)
    return min(max(face.size(label)[0] for _, label, _ in rows) + ctx.theme.gap * 2, width * 45 // 100)


def _row_gap(ctx: BuildContext) -> int:
    return ctx.theme.gap // 2


def _table_sizes(ctx: BuildContext) -> tuple[int, ...]:
    """The status's type sizes, largest first: body, small, and smaller still for large text on a small screen
    (staff read it at arm's length, and every row must show, a degraded part's row above all)."""
    theme = ctx.theme
    return theme.text_px, theme.small_px, max(16, round(theme.small_px * 0.8)), max(14, round(theme.small_px * 0.7))


def _table_height(ctx: BuildContext, admin: AdminState, width: int, size: int) -> int:
    rows = _rows(ctx, admin)
    label_w = _label_width(ctx, rows, width, size)
    step = line_height(size)
    height = 0
    for _, label, value in rows:
        lines = max(len(ctx.lines(label, size, label_w - ctx.theme.gap)), len(ctx.lines(value, size, width - label_w)))
        height += lines * step + _row_gap(ctx)
    return height - _row_gap(ctx)


def _table(ctx: BuildContext, admin: AdminState, rect: pygame.Rect) -> list[Widget]:
    """Label and value, one row each, in the body size (or the small size where the body size does not fit)."""
    theme = ctx.theme
    inner = inset(rect, theme.pad)
    sizes = _table_sizes(ctx)
    size = next((s for s in sizes if _table_height(ctx, admin, inner.width, s) <= inner.height), sizes[-1])
    rows = _rows(ctx, admin)
    label_w = _label_width(ctx, rows, inner.width, size)
    step = line_height(size)
    widgets: list[Widget] = [Widget("panel", rect, id="admin:status", style="card")]
    y = inner.y
    for key, label, value in rows:
        label_lines = ctx.lines(label, size, label_w - theme.gap)
        height = max(len(label_lines), len(ctx.lines(value, size, inner.width - label_w))) * step
        label_rect = pygame.Rect(inner.x, y, label_w - theme.gap, height)
        value_rect = pygame.Rect(inner.x + label_w, y, inner.width - label_w, height)
        widgets.append(Widget("label", label_rect, label, id=f"admin:{key}:label", style="muted", size_px=size))
        widgets.append(Widget("label", value_rect, value, id=f"admin:{key}", size_px=size))
        y += height + _row_gap(ctx)
    return widgets


def _errors(ctx: BuildContext, admin: AdminState, rect: pygame.Rect) -> list[Widget]:
    """ "Recent problems", newest first: each at most two lines, as many as fit; or "None"."""
    theme = ctx.theme
    inner = inset(rect, theme.pad)
    title = ctx.t("recent_errors")
    heading_size = fit_size(ctx, title, inner.width, line_height(theme.text_px) * 2, (theme.text_px,), True)
    heading, rest = text_block(ctx, inner, title, "admin:errors:title", heading_size or theme.small_px, "heading", True)
    widgets = [Widget("panel", rect, id="admin:errors", style="card"), heading]
    if not admin.recent_errors:
        none, _ = text_block(ctx, rest, ctx.t("no_errors"), "admin:errors:none", theme.text_px, "muted")
        return [*widgets, none]
    size = theme.small_px
    step = line_height(size)
    face = font(theme.font_path, size)
    y = rest.y
    for index, line in enumerate(admin.recent_errors):
        lines = ctx.lines(_readable(line), size, rest.width)
        if len(lines) > ERROR_LINES:
            lines = [*lines[: ERROR_LINES - 1], ellipsize(" ".join(lines[ERROR_LINES - 1 :]), face, rest.width)]
        height = len(lines) * step
        if y + height > rest.bottom:
            break
        label_rect = pygame.Rect(rest.x, y, rest.width, height)
        widgets.append(Widget("label", label_rect, "\n".join(lines), id=f"admin:error:{index}", size_px=size))
        y += height + theme.gap
    return widgets


def _readable(line: str) -> str:
    """ "12:34:56 WARNING firmware_app.screen.staff: wrong staff PIN" -> "12:34:56 wrong staff PIN" (errors
    keep their level: they matter more than warnings)."""
    match = _LOG_LINE.match(line)
    if match is None:
        return line
    level = match["level"]
    prefix = f"{match['time']} {level}" if level in ("ERROR", "CRITICAL") else match["time"]
    return f"{prefix} {match['message']}"
