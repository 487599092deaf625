"""Checks that a drawn screen looks finished: every touch target big enough, nothing off screen, no text cut
off or drawn over other text. Tests run it on every screen they visit; the bench runs it on every screenshot.
"""

from __future__ import annotations

import itertools

import pygame

from kiosk_ui.render import RenderReport
from kiosk_ui.theme import MIN_TOUCH_PX
from kiosk_ui.widgets import Widget, walk_all


def layout_problems(widgets: list[Widget], report: RenderReport, size: tuple[int, int]) -> list[str]:
    """Human-readable problems; an empty list means the screen passes."""
    screen = pygame.Rect((0, 0), size)
    problems: list[str] = []
    for widget in walk_all(widgets):
        name = widget.id or widget.text[:30] or widget.kind
        if widget.action is not None and min(widget.rect.size) < MIN_TOUCH_PX and widget.rect != screen:
            problems.append(f"touch target {name!r} is {widget.rect.width}x{widget.rect.height} px (< {MIN_TOUCH_PX})")
        if widget.kind != "panel" and not screen.contains(widget.rect):
            problems.append(f"{name!r} at {tuple(widget.rect)} is not fully on the {size[0]}x{size[1]} screen")
    problems += [f"text cut off in {name!r}" for name in report.overflowing]
    overlay = any(w.style == "overlay" for w in walk_all(widgets))
    if not overlay:  # a modal overlay sits over the screen's text on purpose
        for first, second in itertools.combinations(report.runs, 2):
            if first.rect.colliderect(second.rect) and _overlap_px(first.rect, second.rect) > 4:
                problems.append(f"text {first.text[:25]!r} overlaps {second.text[:25]!r}")
    return problems


def _overlap_px(first: pygame.Rect, second: pygame.Rect) -> int:
    clip = first.clip(second)
    return min(clip.width, clip.height)
