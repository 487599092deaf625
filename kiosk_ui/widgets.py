"""The widget tree a screen builds: plain data (kind, rectangle, text, action), drawn by ``render``.

Keeping the tree as data means tests can ask what is on screen ("is there a button labelled 是?", "does any
text run off its box?") and a tap can be resolved to an action without drawing anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pygame

WidgetKind = Literal["panel", "label", "button", "image", "qr", "field", "spinner"]
# Visual roles, resolved to colours and fonts by the renderer (the theme's one place).
Style = Literal[
    "plain",
    "title",
    "heading",
    "muted",
    "caption",
    "primary",
    "secondary",
    "tile",
    "key",
    "danger",
    "selected",
    "bubble_customer",
    "bubble_assistant",
    "card",
    "header",
    "badge",
    "overlay",
    "notice",
]
# What a tap does: the name of a ``KioskController`` method and its arguments, or a "ui:" action the UI
# handles itself (scrolling, paging).
Action = tuple[object, ...]


@dataclass
class Widget:
    kind: WidgetKind
    rect: pygame.Rect
    text: str = ""
    id: str = ""
    style: Style = "plain"
    action: Action | None = None
    size_px: int = 0  # font size; 0 means the theme's body size
    align: Literal["left", "center"] = "left"
    max_lines: int = 0  # 0: as many as fit
    # Text that does not fit is a layout fault ("fault"), except in live captions, which show their beginning
    # ("start": the sentence being spoken) or their latest words ("end": the words heard so far), cut with "…".
    overflow: Literal["fault", "start", "end"] = "fault"
    image: np.ndarray | None = None
    children: list[Widget] = field(default_factory=list)

    def walk(self) -> Iterator[Widget]:
        yield self
        for child in self.children:
            yield from child.walk()


def walk_all(widgets: list[Widget]) -> Iterator[Widget]:
    for widget in widgets:
        yield from widget.walk()


def hit(widgets: list[Widget], point: tuple[int, int]) -> Widget | None:
    """The topmost widget with an action under ``point`` (later widgets are drawn over earlier ones)."""
    found = None
    for widget in walk_all(widgets):
        if widget.action is not None and widget.rect.collidepoint(point):
            found = widget
    return found
