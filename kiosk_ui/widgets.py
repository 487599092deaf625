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

from firmware_app.screen.actions import Action

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


@dataclass(frozen=True)
class Page:
    """Show the next (+1) or the previous (-1) page of content that does not fit: the UI's own business."""

    step: int


@dataclass(frozen=True)
class SwitchKeyboard:
    """The short keyboard's mode key: digits and marks instead of letters, and back."""


# What a tap does: one of the controller's actions (``KioskController.dispatch``), or one the UI handles itself
# without asking the controller (paging, the keyboard's mode).
UiAction = Page | SwitchKeyboard
TapAction = Action | UiAction


@dataclass
class Widget:
    kind: WidgetKind
    rect: pygame.Rect
    text: str = ""
    id: str = ""
    style: Style = "plain"
    action: TapAction | None = None
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
