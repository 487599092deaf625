"""The screen registry: each screen is a function from the kiosk's state to a widget tree.

A screen module registers its builder with ``@screen("name")``; the frame around it (header with the
"AI assistant" label, language and large-text switches, the caption bar with listening / thinking / speaking,
and the "Are you still there?" overlay) is added here, the same on every screen. Later capabilities (voice,
vision, sync) add their screens by registering more builders.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass

import pygame

from firmware_app.events import Language
from firmware_app.screen.actions import (
    Action,
    Finish,
    GoHome,
    RequestStaff,
    SetLanguage,
    StillHere,
    ToggleElderly,
    ToggleLargeText,
)
from firmware_app.screen.state import ScreenState
from firmware_app.screen.strings import t
from kiosk_ui.layout import inset, split_bottom, split_top
from kiosk_ui.render import SELECTED_MARK, line_height, line_spacing_of, measure_lines
from kiosk_ui.text import font
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import Style, Widget


@dataclass
class BuildContext:
    """What a builder may read: the state, the theme, its own area, and the UI's page for paged content."""

    state: ScreenState
    theme: Theme
    screen: pygame.Rect
    body: pygame.Rect
    page: int = 0
    keyboard_symbols: bool = False  # the short keyboard shows digits and marks instead of letters

    def t(self, key: str, **values: str) -> str:
        return t(key, self.state.language, **values)

    def lines(self, text: str, size_px: int, width_px: int, bold: bool = False) -> list[str]:
        return measure_lines(self.theme, text, size_px, width_px, bold)

    def text_height(self, text: str, size_px: int, width_px: int) -> int:
        return len(self.lines(text, size_px, width_px)) * line_height(size_px)


Builder = Callable[[BuildContext], list[Widget]]

# The screens a customer sees. "Talk to a person" is reachable from each: in the screen's own body (home, topic
# answers, conversation, answer) or in the header (these). The hand-off screen is where it leads (a colleague is
# being fetched), so it offers nothing more.
CUSTOMER_SCREENS: tuple[str, ...] = (
    "attract",
    "home",
    "topic",
    "conversation",
    "answer",
    "form",
    "ticket",
    "handoff",
    "rating",
    "thanks",
)
HEADER_TALK_TO_PERSON: tuple[str, ...] = ("attract", "topic", "form", "ticket", "rating", "thanks")


@dataclass(frozen=True)
class ScreenSpec:
    build: Builder
    header: bool = True
    caption: bool = True  # the caption bar: what is being heard or said


SCREENS: dict[str, ScreenSpec] = {}


def screen(name: str, *, header: bool = True, caption: bool = True) -> Callable[[Builder], Builder]:
    def register(build: Builder) -> Builder:
        SCREENS[name] = ScreenSpec(build, header, caption)
        return build

    return register


def load_screens() -> None:
    """Import every module in this package so that their ``@screen`` builders are registered."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def build_screen(state: ScreenState, theme: Theme, page: int = 0, keyboard_symbols: bool = False) -> list[Widget]:
    with line_spacing_of(theme):
        return _build_screen(state, theme, page, keyboard_symbols)


def _build_screen(state: ScreenState, theme: Theme, page: int, keyboard_symbols: bool) -> list[Widget]:
    spec = SCREENS.get(state.screen)
    if spec is None:
        raise KeyError(f"no screen registered for {state.screen!r}")
    whole = pygame.Rect(0, 0, theme.width, theme.height)
    body = whole
    widgets: list[Widget] = []
    if spec.header:
        header = _header(state, theme, whole)
        _, body = split_top(body, header.rect.height)
        widgets.append(header)
    if spec.caption and (state.activity != "idle" or state.partial_transcript):
        body, caption_rect = split_bottom(body, theme.caption_h)
        widgets.append(_caption(state, theme, caption_rect))
    if state.notice and state.notice != "idle_warning":
        room = inset(body, theme.gap)
        lines = measure_lines(theme, t(state.notice, state.language), theme.text_px, room.width - 2 * theme.pad)
        notice_h = line_height(theme.text_px) * min(3, len(lines)) + theme.pad
        notice_rect, body = split_top(room, notice_h)
        widgets.append(_notice(state, theme, notice_rect))
    context = BuildContext(state, theme, whole, inset(body, theme.gap), page, keyboard_symbols)
    widgets[0:0] = spec.build(context)  # the frame is drawn over the body
    if state.notice == "idle_warning":
        widgets += _idle_warning(state, theme, whole)
    return widgets


def _header(state: ScreenState, theme: Theme, top: pygame.Rect) -> Widget:
    """Brand and the "AI assistant" disclosure on the left; home, language, large text, elderly mode (customer
    screens) and "Talk to a person" (``HEADER_TALK_TO_PERSON``) on the right. When they do not fit on one band (a
    portrait screen in large text), the buttons move to bands of their own below it."""
    language = state.language
    pad, gap = theme.pad, theme.gap
    face = font(theme.font_path, theme.text_px)
    # Large text and elderly mode are the two bigger sizes, one at a time: both switches while neither is on, else
    # the one that is on (which goes back to the normal size). Elderly mode is the customer's: the staff's screens
    # keep their sizes and offer large text only.
    customer = state.screen in CUSTOMER_SCREENS
    entries: list[tuple[str, Action]] = []
    if not (customer and state.elderly):
        entries.append(("large_text", ToggleLargeText()))
    if customer and not state.large_text:
        entries.append(("elderly", ToggleElderly()))
    entries.append(("language_switch", SetLanguage(_other(language))))
    if state.screen not in ("attract", "home", "rating", "thanks", "admin", "admin_pin", "parts"):
        entries.append(("home", GoHome()))
    if state.screen in HEADER_TALK_TO_PERSON:
        entries.append(("talk_to_person", RequestStaff()))
    switched_on = {"large_text": state.large_text, "elderly": state.elderly}
    # A switch that is on says so with a check mark and its "selected" look, not by colour alone.
    labels = [(key, _switch_label(key, language, switched_on.get(key, False)), action) for key, action in entries]
    widths = [max(theme.touch, face.size(text)[0] + 2 * pad) for _, text, _ in labels]
    badge_text = t("ai_assistant", language)
    badge_w = font(theme.font_path, theme.small_px, True).size(badge_text)[0] + 2 * pad
    brand_w = font(theme.font_path, theme.heading_px).size(state.brand)[0]
    band = pygame.Rect(top.x, top.y, top.width, theme.header_h)
    # Buttons beside the brand as far as they fit, right to left; the rest on bands of their own below it.
    # A crowded header (a small screen in large type) drops the brand's name before it takes a second band; the
    # "AI assistant" disclosure always stays. Not in elderly mode, where the name is the screen's largest text
    # (>= 30 dp, kiosk_ui.inspect) on screens without a heading.
    buttons_w = sum(widths) + gap * (len(widths) - 1)
    beside_badge = top.width - 2 * pad - badge_w - gap
    if not theme.elderly and beside_badge - brand_w - gap < buttons_w <= beside_badge:
        brand_w = 0
    rows: list[list[int]] = [[]]
    room = top.width - 2 * pad - brand_w - gap - badge_w - gap
    used = 0
    for index, width in enumerate(widths):
        need = width + (gap if rows[-1] else 0)
        if used + need > room:
            rows.append([])
            room, used, need = top.width - 2 * pad, 0, width
        rows[-1].append(index)
        used += need
    bands = [band.move(0, (theme.header_h - gap) * row) for row in range(len(rows))]
    rect = band.unionall(bands)
    buttons: list[Widget] = []
    brand_right = band.right - pad
    for row, (button_band, row_indices) in enumerate(zip(bands, rows, strict=True)):
        x = button_band.right - pad
        for index in row_indices:
            key, text, action = labels[index]
            x -= widths[index]
            button_rect = pygame.Rect(x, button_band.y + gap, widths[index], button_band.height - 2 * gap)
            style: Style = "selected" if switched_on.get(key) else "header"
            buttons.append(
                Widget("button", button_rect, text, id=f"header:{key}", style=style, action=action, align="center")
            )
            x -= gap
        if row == 0 and row_indices:
            brand_right = x
    brand_room = brand_right - band.x - 2 * pad - badge_w - gap
    brand_rect = pygame.Rect(band.x + pad, 0, max(0, min(brand_w, brand_room)), line_height(theme.heading_px))
    brand_rect.centery = band.centery
    brand = Widget(
        "label",
        brand_rect,
        state.brand if brand_w else "",
        id="header:brand",
        style="header",
        size_px=theme.heading_px,
        max_lines=1,
    )
    badge_h = line_height(theme.small_px) + pad // 2
    badge_rect = pygame.Rect(brand_rect.right + (gap if brand_w else 0), band.centery - badge_h // 2, badge_w, badge_h)
    label_rect = pygame.Rect(badge_rect.x, 0, badge_w, line_height(theme.small_px))
    label_rect.centery = badge_rect.centery
    label = Widget("label", label_rect, badge_text, id="header:ai", style="badge", align="center", max_lines=1)
    badge = Widget("panel", badge_rect, style="badge", children=[label])
    return Widget("panel", rect, id="header", style="header", children=[brand, badge, *buttons])


def _switch_label(key: str, language: Language, on: bool) -> str:
    """A header button's label; a switch that is on starts with the check mark (in place of large text's "Aa",
    so that the header does not grow when it is on)."""
    label = t(key, language)
    return SELECTED_MARK + label.removeprefix("Aa ") if on else label


def _other(language: Language) -> Language:
    return "en" if language == "zh" else "zh"


def _caption(state: ScreenState, theme: Theme, rect: pygame.Rect) -> Widget:
    """Listening (with the live transcript), thinking (about the words heard), or speaking (with the words being
    said)."""
    language = state.language
    spinner_w = rect.height
    label = t(state.activity, language) if state.activity != "idle" else ""
    words = (
        state.partial_transcript
        if state.activity in ("listening", "thinking")
        else _current_sentence(state.caption)
        if state.activity == "speaking"
        else ""
    )
    inner = inset(rect, theme.gap)
    spinner = Widget(
        "spinner", pygame.Rect(inner.x, inner.y, spinner_w, inner.height), id="caption:activity", text=state.activity
    )
    x = inner.x + spinner_w + theme.gap
    # The label stays whole; the words beside it show their latest part while heard, their start while spoken.
    label_w = font(theme.font_path, theme.text_px).size(label)[0] + theme.gap if label else 0
    label_widget = Widget(
        "label", pygame.Rect(x, inner.y, label_w, inner.height), label, id="caption:label", style="caption"
    )
    words_rect = pygame.Rect(x + label_w, inner.y, inner.right - x - label_w, inner.height)
    caption = Widget(
        "label",
        words_rect,
        words,
        id="caption:text",
        style="caption",
        max_lines=2,
        overflow="start" if state.activity == "speaking" else "end",
    )
    return Widget("panel", rect, id="caption", style="card", children=[spinner, label_widget, caption])


def _notice(state: ScreenState, theme: Theme, rect: pygame.Rect) -> Widget:
    """A one-line message about the last action ("Wrong PIN", "No camera picture")."""
    text = t(state.notice or "", state.language)
    label = Widget("label", rect.inflate(-2 * theme.pad, -theme.pad), text, id=f"notice:{state.notice}", max_lines=3)
    return Widget("panel", rect, id="notice", style="notice", children=[label])


def _current_sentence(caption: str) -> str:
    """The sentence being spoken: the speech pipeline sets the caption a sentence at a time; a whole answer
    given at once is captioned from its first sentence (the whole text is on the screen anyway)."""
    return _SENTENCE_END.split(caption.strip(), maxsplit=1)[0]


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def _idle_warning(state: ScreenState, theme: Theme, whole: pygame.Rect) -> list[Widget]:
    language = state.language
    width = min(whole.width - 4 * theme.gap, round(theme.text_px * 24))
    body = t("idle_warning_body", language)
    inner_w = width - 2 * theme.pad
    body_h = len(measure_lines(theme, body, theme.text_px, inner_w)) * line_height(theme.text_px)
    height = theme.pad * 4 + line_height(theme.heading_px) + body_h + theme.touch + theme.gap * 2
    card = pygame.Rect(0, 0, width, height)
    card.center = whole.center
    inner = inset(card, theme.pad)
    title_rect, rest = split_top(inner, line_height(theme.heading_px), theme.gap)
    body_rect, rest = split_top(rest, body_h, theme.gap)
    buttons_rect = pygame.Rect(inner.x, inner.bottom - theme.touch, inner.width, theme.touch)
    half = (buttons_rect.width - theme.gap) // 2
    return [
        Widget("panel", whole.copy(), id="overlay", style="overlay"),
        Widget(
            "panel",
            card,
            id="idle_warning",
            style="notice",
            children=[
                Widget("label", title_rect, t("idle_warning", language), id="idle_warning:title", style="heading"),
                Widget("label", body_rect, body, id="idle_warning:body"),
                Widget(
                    "button",
                    pygame.Rect(buttons_rect.x, buttons_rect.y, half, theme.touch),
                    t("still_here", language),
                    id="still_here",
                    style="primary",
                    action=StillHere(),
                    align="center",
                ),
                Widget(
                    "button",
                    pygame.Rect(buttons_rect.right - half, buttons_rect.y, half, theme.touch),
                    t("end_now", language),
                    id="end_now",
                    style="secondary",
                    action=Finish(),
                    align="center",
                ),
            ],
        ),
    ]
