"""What speech mode says on a screen: the widget tree turned into items in reading order, each with its words.

The items follow what a customer who can see would read first: a notice ("Wrong PIN"), then the screen's own
content top to bottom as its builder laid it out, then the header's brand and switches; "Are you still there?"
is read alone while it covers the screen. Each widget with words is one item: a label says its text, a button its
label and "button" (and "selected" when it is on), a text box "text box" and what is typed so far (or its
placeholder), a photo and a QR code say what they are. A keyboard's keys are one item, gone through key by key
once it is selected, so that "next" does not walk through forty letters. The caption bar is left out: it shows
the words being said or heard, which the customer is already hearing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from firmware_app.events import Language
from firmware_app.screen.strings import t
from kiosk_ui.render import SELECTED_MARK
from kiosk_ui.widgets import Widget

SPOKEN_KINDS = ("label", "button", "field", "image", "qr")
# Marks on the keyboard, which the speech engines would skip or misread, by name (others: Unicode's name).
_MARK_NAMES_ZH = {",": "逗号", ".": "句号", "?": "问号", "'": "撇号", "-": "横线", "/": "斜线", "@": "艾特"}


@dataclass(frozen=True)
class SpokenItem:
    """One stop of speech mode's focus: its words, the widget it stands for (what "select" works and the focus
    ring outlines; None for a keyboard), and a keyboard's keys."""

    text: str
    widget: Widget | None = None
    keys: tuple[SpokenItem, ...] = ()


def reading_order(widgets: list[Widget], language: Language) -> list[SpokenItem]:
    """The items of the screen ``widgets`` draws, in the order speech mode reads them."""
    modal = next((w for w in widgets if w.id == "idle_warning"), None)
    if modal is not None:
        return _items([modal], language)
    frame = {"header", "caption", "notice"}
    body = [w for w in widgets if w.id not in frame]
    notice = [w for w in widgets if w.id == "notice"]
    header = [w for w in widgets if w.id == "header"]
    return _items(notice, language) + _items(body, language) + _items(header, language)


def _items(widgets: list[Widget], language: Language) -> list[SpokenItem]:
    items: list[SpokenItem] = []
    keys: list[SpokenItem] = []
    for widget in _spoken_widgets(widgets):
        words = spoken_words(widget, language)
        if widget.style == "key":
            if not keys:
                items.append(SpokenItem(""))  # where the keyboard is read, filled in below
            keys.append(SpokenItem(words, widget))
        elif words:
            items.append(SpokenItem(words, widget))
    if keys:
        place = next(index for index, item in enumerate(items) if item.widget is None and not item.keys)
        items[place] = SpokenItem(t("reader_keys", language, count=str(len(keys))), None, tuple(keys))
    return items


def _spoken_widgets(widgets: list[Widget]) -> list[Widget]:
    """Every widget with something to say, depth first, as drawn (the caption bar left out)."""
    found: list[Widget] = []
    for widget in widgets:
        if widget.id == "caption":
            continue
        if widget.kind in SPOKEN_KINDS:
            found.append(widget)
        if widget.kind != "field":  # a text box's placeholder is said with it
            found += _spoken_widgets(widget.children)
    return found


def spoken_words(widget: Widget, language: Language) -> str:
    """What speech mode says for one widget ("" for a label with no text)."""
    separator = ", " if language == "en" else "，"
    text = widget.text.strip()
    if widget.kind == "image":
        return t("reader_photo", language)
    if widget.kind == "qr":
        return t("reader_qr", language)
    if widget.kind == "field":
        placeholder = next((child.text for child in widget.children if child.text), "")
        return separator.join([t("reader_field", language), text or placeholder or t("reader_empty", language)])
    if widget.kind != "button":
        return text
    if widget.style == "key":
        return key_words(text, language)
    selected = widget.style == "selected" or text.startswith(SELECTED_MARK.strip())
    parts = [text.removeprefix(SELECTED_MARK).strip(), t("reader_button", language)]
    if selected:
        parts.append(t("reader_selected", language))
    return separator.join(parts)


def key_words(text: str, language: Language) -> str:
    """A key's label for the ear: a mark by its name ("comma", 逗号), anything else as shown."""
    if len(text) != 1 or text.isalnum():
        return text
    if language == "zh" and text in _MARK_NAMES_ZH:
        return _MARK_NAMES_ZH[text]
    return unicodedata.name(text, text).lower()


def unspoken_texts(widgets: list[Widget], said: list[str], language: Language) -> list[str]:
    """The words drawn by ``widgets`` that none of ``said`` contains (a mark on a key counts said by its name);
    the caption bar is left out, as it shows what is being said or heard. The tests and the bench check that
    speech mode leaves this empty on every screen."""
    caption = {id(w) for top in widgets if top.id == "caption" for w in top.walk()}
    shown = [
        w.text.removeprefix(SELECTED_MARK).strip()
        for top in widgets
        for w in top.walk()
        if w.kind in ("label", "button", "field") and w.text.strip() and id(w) not in caption
    ]
    return [text for text in shown if not any(text in line or key_words(text, language) in line for line in said)]
