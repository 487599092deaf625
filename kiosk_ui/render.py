"""Draws a widget tree with the theme, and reports every line of text it drew and where.

The report is what tests and the layout checker read: the text actually on screen, each line's rectangle, size,
weight, colour and the colour it was drawn on (read back from the surface under the line just before it is drawn,
so whatever panel, button or card is behind it counts), and any widget whose text did not fit its box (which a
finished screen must not have).

A selected choice (style "selected") is never shown by colour alone: its label starts with ``SELECTED_MARK`` and
it gets a thick border in its text colour (WCAG 1.4.1, MIIT 适老化).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pygame
import segno

from kiosk_ui.text import ellipsize, font, wrap
from kiosk_ui.theme import Color, Theme
from kiosk_ui.widgets import Widget

LINE_SPACING = 1.25
ELDERLY_LINE_SPACING = 1.3  # >= theme.ELDERLY_MIN_LINE_SPACING
# The spacing ``line_height`` uses: the theme's, while a screen is built (``build_screen``) and drawn (``draw``), so
# builders and the renderer agree without passing the theme to every measurement.
_spacing: ContextVar[float] = ContextVar("line_spacing", default=LINE_SPACING)
SELECTED_MARK = "✓ "
FOCUS_RING_PX = 4
FOCUS_GAP_PX = 2


@dataclass(frozen=True)
class TextRun:
    widget_id: str
    text: str
    rect: pygame.Rect
    size_px: int = 0  # the font size it was drawn in
    bold: bool = False
    color: Color = (0, 0, 0)
    background: Color = (255, 255, 255)  # the colour under the line before it was drawn


@dataclass
class RenderReport:
    runs: list[TextRun] = field(default_factory=list)
    overflowing: list[str] = field(default_factory=list)  # ids of widgets whose text was cut
    elderly: bool = False  # drawn in elderly mode: the checker applies its minimum sizes
    line_spacing: float = LINE_SPACING

    def text(self) -> str:
        return "\n".join(run.text for run in self.runs)


@lru_cache(maxsize=2048)
def _text_surface(path: str | None, size_px: int, bold: bool, text: str, color: Color) -> pygame.Surface:
    return font(path, size_px, bold).render(text, True, color)


def text_size(theme: Theme, widget: Widget) -> int:
    if widget.size_px:
        return widget.size_px
    return {
        "title": theme.title_px,
        "heading": theme.heading_px,
        "muted": theme.small_px,
        "caption": theme.text_px,
        "badge": theme.small_px,
        "key": theme.heading_px,
    }.get(widget.style, theme.text_px)


def line_height(size_px: int) -> int:
    return round(size_px * _spacing.get())


def theme_line_spacing(theme: Theme) -> float:
    return ELDERLY_LINE_SPACING if theme.elderly else LINE_SPACING


@contextmanager
def line_spacing_of(theme: Theme) -> Iterator[None]:
    """Measure and draw lines with ``theme``'s spacing inside the block."""
    token = _spacing.set(theme_line_spacing(theme))
    try:
        yield
    finally:
        _spacing.reset(token)


def measure_lines(theme: Theme, text: str, size_px: int, width_px: int, bold: bool = False) -> list[str]:
    """How ``text`` wraps in a box ``width_px`` wide (builders use this to size bubbles and cards)."""
    return wrap(text, font(theme.font_path, size_px, bold), width_px)


class Renderer:
    def __init__(self, theme: Theme) -> None:
        self.theme = theme
        self.report = RenderReport()

    def draw(self, surface: pygame.Surface, widgets: list[Widget], pressed: Widget | None = None) -> RenderReport:
        self.report = RenderReport(elderly=self.theme.elderly, line_spacing=theme_line_spacing(self.theme))
        surface.fill(self.theme.palette.background)
        with line_spacing_of(self.theme):
            for widget in widgets:
                self._draw(surface, widget, pressed)
        return self.report

    def draw_pressed(self, surface: pygame.Surface, widget: Widget) -> None:
        """Touch feedback: redraw just the pressed widget in its pressed colours."""
        with line_spacing_of(self.theme):
            self._draw(surface, widget, widget, record=False)

    def draw_focus(self, surface: pygame.Surface, rect: pygame.Rect) -> None:
        """Speech mode's focus: a thick outline in the accent colour, with a gap, around what is being read (for
        those who can see a little; the colour of the widget under it is left as it is)."""
        ring = rect.inflate(2 * FOCUS_GAP_PX + 2 * FOCUS_RING_PX, 2 * FOCUS_GAP_PX + 2 * FOCUS_RING_PX)
        ring.clamp_ip(surface.get_rect())
        radius = self.theme.radius + FOCUS_GAP_PX
        pygame.draw.rect(surface, self.theme.palette.accent, ring, width=FOCUS_RING_PX, border_radius=radius)

    def _draw(self, surface: pygame.Surface, widget: Widget, pressed: Widget | None, record: bool = True) -> None:
        palette, theme = self.theme.palette, self.theme
        kind = widget.kind
        if kind == "panel":
            self._panel(surface, widget)
        elif kind == "button":
            self._button(surface, widget, widget is pressed, record)
        elif kind == "label":
            self._label(surface, widget, self._text_color(widget.style), record)
        elif kind == "field":
            pygame.draw.rect(surface, palette.surface, widget.rect, border_radius=theme.radius)
            pygame.draw.rect(surface, palette.accent, widget.rect, width=3, border_radius=theme.radius)
            self._label(surface, widget, palette.text, record, field_text=True)
        elif kind == "image" and widget.image is not None:
            self._image(surface, widget.rect, widget.image)
        elif kind == "qr":
            self._qr(surface, widget.rect, widget.text)
        for child in widget.children:
            self._draw(surface, child, pressed, record)

    # --- pieces ------------------------------------------------------------------------------------------

    def _panel(self, surface: pygame.Surface, widget: Widget) -> None:
        palette, radius = self.theme.palette, self.theme.radius
        if widget.style == "overlay":
            shade = pygame.Surface(widget.rect.size, pygame.SRCALPHA)
            shade.fill((0, 0, 0, 170))
            surface.blit(shade, widget.rect)
            return
        colors = {
            "header": palette.header,
            "card": palette.surface,
            "bubble_assistant": palette.surface,
            "bubble_customer": palette.surface_alt,
            "notice": palette.surface,
            "badge": palette.accent,
        }
        color = colors.get(widget.style)
        if color is None:
            return
        corner = 0 if widget.style == "header" else radius
        pygame.draw.rect(surface, color, widget.rect, border_radius=corner)
        if widget.style in ("card", "notice", "bubble_assistant") or self.theme.large_text:
            outline = palette.accent if widget.style == "notice" else palette.outline
            pygame.draw.rect(surface, outline, widget.rect, width=2, border_radius=corner)

    def _button(self, surface: pygame.Surface, widget: Widget, pressed: bool, record: bool) -> None:
        palette, radius = self.theme.palette, self.theme.radius
        fill, ink = {
            "primary": (palette.accent, palette.on_accent),
            "danger": (palette.danger, palette.on_accent),
            "selected": (palette.accent, palette.on_accent),
            "header": (palette.header, palette.on_header),
            "secondary": (palette.surface_alt, palette.text),
        }.get(widget.style, (palette.surface, palette.text))
        if pressed:
            fill, ink = palette.pressed, (0, 0, 0)
        pygame.draw.rect(surface, fill, widget.rect, border_radius=radius)
        if widget.style == "selected" and not pressed:  # not colour alone: a border and a check mark too
            pygame.draw.rect(surface, ink, widget.rect.inflate(-4, -4), width=4, border_radius=radius)
        if widget.style in ("tile", "key", "plain") or self.theme.large_text or pressed:
            pygame.draw.rect(
                surface, palette.outline if not pressed else ink, widget.rect, width=2, border_radius=radius
            )
        self._label(surface, widget, ink, record, button=True)

    def _text_color(self, style: str) -> Color:
        palette = self.theme.palette
        return {
            "muted": palette.muted,
            "header": palette.on_header,
            "badge": palette.on_accent,
            "title": palette.text,
        }.get(style, palette.text)

    def _label(
        self,
        surface: pygame.Surface,
        widget: Widget,
        color: Color,
        record: bool,
        button: bool = False,
        field_text: bool = False,
    ) -> None:
        if not widget.text:
            return
        if widget.style == "selected" and not widget.text.startswith(SELECTED_MARK):
            widget = dataclasses.replace(widget, text=SELECTED_MARK + widget.text)
        theme = self.theme
        # Keys are narrow (ten across a portrait screen): a smaller margin keeps every letter the same size.
        pad = (theme.gap // 2 if widget.style == "key" else theme.pad) if (button or field_text) else 0
        box = widget.rect.inflate(-2 * pad, -pad) if pad else widget.rect
        bold = widget.style in ("title", "heading", "primary", "badge")
        size = text_size(theme, widget)
        lines, size, cut = self._fit(widget, box, size, bold, shrink=button or widget.max_lines > 0)
        if field_text:  # a text field shows the end of what was typed
            face = font(theme.font_path, size, bold)
            lines = [_tail(widget.text, face, box.width)]
            cut = False
        step = line_height(size)
        total = step * len(lines)
        y = box.centery - total // 2 if (button or field_text) else box.y
        for line in lines:
            image = _text_surface(theme.font_path, size, bold, line, color)
            x = box.centerx - image.get_width() // 2 if widget.align == "center" else box.x
            where = pygame.Rect(x, y + (step - image.get_height()) // 2, image.get_width(), image.get_height())
            if record:
                under = _background_under(surface, where)
                self.report.runs.append(TextRun(widget.id, line, where, size, bold, color, under))
            surface.blit(image, where)
            y += step
        if cut and record:
            self.report.overflowing.append(widget.id or widget.text[:40])

    def _fit(
        self, widget: Widget, box: pygame.Rect, size: int, bold: bool, shrink: bool
    ) -> tuple[list[str], int, bool]:
        """Lines that fit ``box``; buttons first shrink their type (down to the small size), then ellipsize.
        The flag says whether text had to be cut, which a finished screen never needs."""
        smallest = min(size, self.theme.small_px) if shrink else size
        while True:
            face = font(self.theme.font_path, size, bold)
            lines = wrap(widget.text, face, box.width)
            room = max(1, box.height // line_height(size))
            if widget.max_lines:
                room = min(room, widget.max_lines)
            if len(lines) <= room and not (shrink and size > smallest and _splits_a_word(widget.text, face, box.width)):
                return lines, size, False
            if size <= smallest:
                if widget.overflow == "end":
                    kept = _last_lines(widget.text, face, box.width, room)
                else:
                    kept = lines[:room]
                    kept[-1] = ellipsize(kept[-1] + "…", face, box.width)
                return kept, size, widget.overflow == "fault"
            size = max(smallest, size - 2)

    def _image(self, surface: pygame.Surface, rect: pygame.Rect, image: np.ndarray) -> None:
        height, width = image.shape[:2]
        scale = min(rect.width / width, rect.height / height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        picture = pygame.transform.smoothscale(pygame.surfarray.make_surface(image.swapaxes(0, 1)), size)
        surface.blit(picture, picture.get_rect(center=rect.center))

    def _qr(self, surface: pygame.Surface, rect: pygame.Rect, text: str) -> None:
        """Black on white with a quiet zone in every theme: phones read that best."""
        matrix = _qr_matrix(text)
        modules = len(matrix) + 8  # 4 modules of quiet zone on each side
        cell = max(1, min(rect.width, rect.height) // modules)
        side = cell * modules
        box = pygame.Rect(0, 0, side, side)
        box.center = rect.center
        pygame.draw.rect(surface, (255, 255, 255), box)
        for row_index, row in enumerate(matrix):
            for col_index, dark in enumerate(row):
                if dark:
                    cell_rect = (box.x + (col_index + 4) * cell, box.y + (row_index + 4) * cell, cell, cell)
                    pygame.draw.rect(surface, (0, 0, 0), cell_rect)


def _background_under(surface: pygame.Surface, rect: pygame.Rect) -> Color:
    """The commonest colour in ``rect`` (what a line of text is about to be drawn on), from every other pixel
    each way (a few hundred microseconds a line)."""
    area = rect.clip(surface.get_rect())
    if area.width == 0 or area.height == 0:
        return (0, 0, 0)
    pixels = pygame.surfarray.array3d(surface.subsurface(area))[::2, ::2].reshape(-1, 3).astype(np.int32)
    packed = (pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    common = int(values[counts.argmax()])
    return (common >> 16) & 255, (common >> 8) & 255, common & 255


@lru_cache(maxsize=32)
def _qr_matrix(text: str) -> tuple[tuple[bool, ...], ...]:
    code = segno.make(text, error="m", micro=False)
    return tuple(tuple(bool(value) for value in row) for row in code.matrix)


def _splits_a_word(text: str, face: pygame.font.Font, width_px: int) -> bool:
    """Whether an English word is wider than the box (so wrapping would cut it: "Dele/te")."""
    return any(word.isascii() and face.size(word)[0] > width_px for word in text.split())


def _last_lines(text: str, face: pygame.font.Font, width_px: int, lines: int) -> list[str]:
    """As much of the end of ``text`` as fills ``lines`` lines, with "…" in front (live captions)."""
    start = bisect.bisect_left(range(len(text)), True, key=lambda i: len(wrap("…" + text[i:], face, width_px)) <= lines)
    return wrap("…" + text[start:].lstrip(), face, width_px)


def _tail(text: str, face: pygame.font.Font, width_px: int) -> str:
    """The end of ``text`` that fits, with "…" in front when the beginning had to go."""
    if face.size(text)[0] <= width_px:
        return text
    start = 0
    while start < len(text) and face.size("…" + text[start:])[0] > width_px:
        start += 1
    return "…" + text[start:]
