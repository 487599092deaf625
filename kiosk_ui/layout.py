"""Rectangle arithmetic for resolution-independent layouts: rows, columns and grids with gaps."""

from __future__ import annotations

import math

import pygame


def inset(rect: pygame.Rect, pad: int) -> pygame.Rect:
    return rect.inflate(-2 * pad, -2 * pad)


def split_top(rect: pygame.Rect, height: int, gap: int = 0) -> tuple[pygame.Rect, pygame.Rect]:
    """A band of ``height`` at the top, and what is left below it (after ``gap``)."""
    height = min(height, rect.height)
    top = pygame.Rect(rect.x, rect.y, rect.width, height)
    rest = pygame.Rect(rect.x, rect.y + height + gap, rect.width, max(0, rect.height - height - gap))
    return top, rest


def split_bottom(rect: pygame.Rect, height: int, gap: int = 0) -> tuple[pygame.Rect, pygame.Rect]:
    """What is left above, and a band of ``height`` at the bottom."""
    height = min(height, rect.height)
    bottom = pygame.Rect(rect.x, rect.bottom - height, rect.width, height)
    rest = pygame.Rect(rect.x, rect.y, rect.width, max(0, rect.height - height - gap))
    return rest, bottom


def split_left(rect: pygame.Rect, width: int, gap: int = 0) -> tuple[pygame.Rect, pygame.Rect]:
    width = min(width, rect.width)
    left = pygame.Rect(rect.x, rect.y, width, rect.height)
    rest = pygame.Rect(rect.x + width + gap, rect.y, max(0, rect.width - width - gap), rect.height)
    return left, rest


def columns(rect: pygame.Rect, count: int, gap: int) -> list[pygame.Rect]:
    """``count`` equal columns across ``rect``."""
    width = (rect.width - gap * (count - 1)) / count
    return [pygame.Rect(round(rect.x + i * (width + gap)), rect.y, round(width), rect.height) for i in range(count)]


def grid(rect: pygame.Rect, count: int, cols: int, row_height: int, gap: int) -> list[pygame.Rect]:
    """``count`` cells, ``cols`` per row, rows of ``row_height`` from the top of ``rect``."""
    cells: list[pygame.Rect] = []
    for row in range(math.ceil(count / cols)):
        band = pygame.Rect(rect.x, rect.y + row * (row_height + gap), rect.width, row_height)
        cells += columns(band, cols, gap)
    return cells[:count]


def rows_that_fit(height: int, row_height: int, gap: int) -> int:
    return max(1, (height + gap) // (row_height + gap))
