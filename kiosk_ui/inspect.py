"""Checks that a drawn screen looks finished and meets the written accessibility rules. Tests run it on every
screen they visit; the bench runs it on every screenshot.

Layout: nothing off screen, no text cut off or drawn over other text.

Accessibility (issue 20 part 4), in every mode (normal, large text / high contrast, elderly):

* **Contrast** (WCAG 2.x 1.4.3): each line of text against the colour it was drawn on (``TextRun.background``),
  by the relative-luminance formula, >= ``BODY_CONTRAST`` (4.5:1); large text >= ``LARGE_CONTRAST`` (3:1).
  "Large" is WCAG's 18 pt regular or 14 pt bold, in px at the kiosk's render scale (1 pt = 4/3 px, the CSS
  reference, with ``theme.PX_PER_DP`` = 1): a font size >= ``LARGE_TEXT_PX`` (24 px) or a bold one >=
  ``LARGE_BOLD_TEXT_PX`` (18.66 px).
* **Target size**: every tappable widget >= ``MIN_TOUCH_PX`` (64 px) each side; in elderly mode also >= 60 dp
  (``theme.ELDERLY_MIN_TOUCH_DP``). A whole-screen tap target (the attract screen) is exempt.
* **Elderly text size** (MIIT 适老化), elderly mode only: every line >= 18 dp, the largest line on the screen
  >= 30 dp, line spacing >= 1.3.
* **Not colour alone** (WCAG 1.4.1): a selected choice's label starts with ``render.SELECTED_MARK``.

``ALLOWED`` lists known findings that are accepted, each with the screen and why; it is empty.
"""

from __future__ import annotations

import itertools

import pygame

from kiosk_ui.render import SELECTED_MARK, RenderReport
from kiosk_ui.theme import (
    ELDERLY_MIN_LARGEST_DP,
    ELDERLY_MIN_LINE_SPACING,
    ELDERLY_MIN_TEXT_DP,
    ELDERLY_MIN_TOUCH_DP,
    MIN_TOUCH_PX,
    Color,
    dp,
)
from kiosk_ui.widgets import Widget, walk_all

BODY_CONTRAST = 4.5
LARGE_CONTRAST = 3.0
LARGE_TEXT_PX = 24.0  # 18 pt
LARGE_BOLD_TEXT_PX = 18.66  # 14 pt bold

# Accepted findings: (the start of the problem's text, why). None today; an entry must name its screen.
ALLOWED: dict[str, str] = {}


def relative_luminance(color: Color) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: Color, second: Color) -> float:
    """(L1 + 0.05) / (L2 + 0.05), the lighter over the darker: 1 to 21."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def is_large_text(size_px: int, bold: bool) -> bool:
    return size_px >= LARGE_TEXT_PX or (bold and size_px >= LARGE_BOLD_TEXT_PX)


def min_touch_px(elderly: bool) -> int:
    return max(MIN_TOUCH_PX, dp(ELDERLY_MIN_TOUCH_DP)) if elderly else MIN_TOUCH_PX


def layout_problems(widgets: list[Widget], report: RenderReport, size: tuple[int, int]) -> list[str]:
    """Human-readable problems; an empty list means the screen passes."""
    screen = pygame.Rect((0, 0), size)
    problems: list[str] = []
    smallest_target = min_touch_px(report.elderly)
    for widget in walk_all(widgets):
        name = widget.id or widget.text[:30] or widget.kind
        if widget.action is not None and min(widget.rect.size) < smallest_target and widget.rect != screen:
            problems.append(
                f"touch target {name!r} is {widget.rect.width}x{widget.rect.height} px (< {smallest_target})"
            )
        if widget.kind != "panel" and not screen.contains(widget.rect):
            problems.append(f"{name!r} at {tuple(widget.rect)} is not fully on the {size[0]}x{size[1]} screen")
    problems += [f"text cut off in {name!r}" for name in report.overflowing]
    overlay = any(w.style == "overlay" for w in walk_all(widgets))
    if not overlay:  # a modal overlay sits over the screen's text on purpose
        for first, second in itertools.combinations(report.runs, 2):
            if first.rect.colliderect(second.rect) and _overlap_px(first.rect, second.rect) > 4:
                problems.append(f"text {first.text[:25]!r} overlaps {second.text[:25]!r}")
    problems += accessibility_problems(widgets, report)
    return [problem for problem in problems if not any(problem.startswith(known) for known in ALLOWED)]


def accessibility_problems(widgets: list[Widget], report: RenderReport) -> list[str]:
    """Contrast, not-colour-alone and (in elderly mode) text sizes; target sizes are in ``layout_problems``."""
    problems: list[str] = []
    for run in report.runs:
        if run.size_px == 0:  # a run from an older report, without its colours
            continue
        ratio = contrast_ratio(run.color, run.background)
        needed = LARGE_CONTRAST if is_large_text(run.size_px, run.bold) else BODY_CONTRAST
        if ratio < needed:
            problems.append(
                f"contrast of {run.text[:25]!r} in {run.widget_id!r} is {ratio:.2f}:1 (< {needed}:1;"
                f" {run.color} on {run.background}, {run.size_px} px{' bold' if run.bold else ''})"
            )
    drawn = {run.widget_id: run.text for run in reversed(report.runs)}  # each widget's first line
    for widget in walk_all(widgets):
        if widget.style == "selected" and widget.text and not drawn.get(widget.id, "").startswith(SELECTED_MARK):
            problems.append(f"selected {widget.id!r} is shown by colour alone (no {SELECTED_MARK.strip()!r})")
    if report.elderly:
        problems += _elderly_text_problems(report)
    return problems


def _elderly_text_problems(report: RenderReport) -> list[str]:
    problems: list[str] = []
    smallest, largest = dp(ELDERLY_MIN_TEXT_DP), dp(ELDERLY_MIN_LARGEST_DP)
    sized = [run for run in report.runs if run.size_px]
    for run in sized:
        if run.size_px < smallest:
            problems.append(f"elderly: text {run.text[:25]!r} in {run.widget_id!r} is {run.size_px} px (< {smallest})")
    if sized and max(run.size_px for run in sized) < largest:
        problems.append(f"elderly: the largest text is {max(run.size_px for run in sized)} px (< {largest})")
    if report.line_spacing < ELDERLY_MIN_LINE_SPACING:
        problems.append(f"elderly: line spacing {report.line_spacing} (< {ELDERLY_MIN_LINE_SPACING})")
    return problems


def _overlap_px(first: pygame.Rect, second: pygame.Rect) -> int:
    clip = first.clip(second)
    return min(clip.width, clip.height)
