"""Typing: the on-screen keyboard and numpad, Chinese by pinyin, and the form a flow asks its questions with.

The form's draft and its pinyin composition are changed by pure functions (``keyed``, ``picked``, ``erased``,
``converted``) from one ``FormState`` to the next, so what a key does can be read (and tested) apart from the
locking and the visit; ``TypingScreens`` is the controller's part that applies them to the screen.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import replace

from firmware_app.events import Language, Reply
from firmware_app.packs import Pack, Slot
from firmware_app.screen.choices import Choice, date_choices, slot_choices, time_choices, yes_no_choices
from firmware_app.screen.core import ScreenCore
from firmware_app.screen.pinyin import PinyinInput, for_pack
from firmware_app.screen.state import MAX_DRAFT_CHARS, FormState, InputHint

MAX_COMPOSING = 24  # pinyin letters waiting to become Chinese
CANDIDATES = 8
CARD_DIGITS = 4  # the flows' only numeric answer is a card's last four digits
# The input method, asked for only when letters wait: building it for a pack takes a moment.
Pinyin = Callable[[], PinyinInput]


# --- the draft and its composition, key by key ----------------------------------------------------------------


def keyed(form: FormState, key: str, compose: bool, language: Language, pinyin: Pinyin) -> FormState | None:
    """``form`` after ``key``, or None when the form takes no such key (a letter on the numpad). With
    ``compose`` (the on-screen keyboard) a Chinese keyboard's letters spell pinyin, space picks the first
    candidate, and any other key converts the composition before it goes into the text."""
    if form.hint == "numpad" and not key.isdigit():
        return None
    if compose and form.hint == "keyboard" and language == "zh" and key.isascii() and key.isalpha():
        return composed(form, form.composing + key.lower(), pinyin)
    if form.composing and key == " " and compose:
        return picked(form, form.candidates[0] if form.candidates else form.composing, pinyin)
    form = converted(form, pinyin)
    if len(form.draft) + len(key) <= form.max_chars:
        form = replace(form, draft=form.draft + key)
    return form


def composed(form: FormState, letters: str, pinyin: Pinyin) -> FormState:
    """The composition set to ``letters``, with what they may stand for."""
    letters = letters[:MAX_COMPOSING]
    candidates = tuple(pinyin().candidates(letters, CANDIDATES)) if letters else ()
    return replace(form, composing=letters, candidates=candidates)


def picked(form: FormState, text: str, pinyin: Pinyin) -> FormState:
    """``text`` (a candidate, or the letters themselves) into the draft; the letters it does not stand for stay
    in the composition."""
    rest = "" if text == form.composing else pinyin().rest(form.composing, text)
    draft = form.draft + text if len(form.draft) + len(text) <= form.max_chars else form.draft
    return composed(replace(form, draft=draft), rest, pinyin)


def converted(form: FormState, pinyin: Pinyin) -> FormState:
    """The whole composition in the text: first candidates until no letters wait (the letters themselves
    where nothing matches them), as pressing space until it is done would."""
    while form.composing:
        form = picked(form, form.candidates[0] if form.candidates else form.composing, pinyin)
    return form


def erased(form: FormState, pinyin: Pinyin) -> FormState | None:
    """The last pinyin letter gone, or when none is waiting, the last character of the text; None when the
    form is empty."""
    if form.composing:
        return composed(form, form.composing[:-1], pinyin)
    if form.draft:
        return replace(form, draft=form.draft[:-1])
    return None


# --- the form a flow asks with ----------------------------------------------------------------------------------


def flow_form(
    reply: Reply, pack: Pack, slot: Slot | None, today: datetime.date, date: Callable[[], datetime.date | None]
) -> FormState:
    """The form for a flow's question: its buttons (yes/no, the awaited ``slot``'s choices, opening days after
    ``today``, opening times on the ``date`` chosen, read only for times) and, for the numpad, room for a card's
    last digits."""
    hint: InputHint = reply.input_hint  # type: ignore[assignment]
    language, days = reply.language, pack.manifest.opening_hours.days
    choices: tuple[Choice, ...] = ()
    if hint == "yes_no":
        choices = yes_no_choices(language)
    elif hint == "choice" and slot is not None:
        choices = slot_choices(slot, language)
    elif hint == "date":
        choices = date_choices(days, today, language)
    elif hint == "time":
        choices = time_choices(days, date())
    max_chars = CARD_DIGITS if hint == "numpad" else MAX_DRAFT_CHARS
    return FormState("flow", reply.text, hint, max_chars=max_chars, choices=choices)


# --- the controller's part --------------------------------------------------------------------------------------


class TypingScreens(ScreenCore):
    """The keyboard's actions on the form the screen shows (the controller's ``submit`` decides where the text
    goes)."""

    def start_typing(self) -> None:
        """The home screen's "Type a question": the keyboard with nothing typed yet."""
        with self._lock:
            self._touched()
            self._require_session()
            self._back = self._state.screen if self._state.screen != "form" else "home"
            prompt = self.kiosk.pack.manifest.messages.how_can_i_help.get(self._state.language)
            self._set(screen="form", form=FormState("question", prompt, "keyboard"))

    def type_key(self, key: str) -> None:
        """One key of the on-screen keyboard or numpad. On a Chinese keyboard letters spell pinyin (the
        composition, with its candidates); space picks the first candidate; a digit or mark converts the
        composition first, then goes into the text."""
        self._type(key, compose=True)

    def type_text(self, text: str) -> None:
        """Text from a physical keyboard or a system input method, character by character, as it is."""
        for char in text:
            self._type(char, compose=False)

    def _type(self, key: str, compose: bool) -> None:
        with self._lock:
            self._touched()
            form = self._state.form
            typed = None if form is None else keyed(form, key, compose, self._state.language, self._pinyin)
            if typed is not None:
                self._set(form=typed)

    def pick_candidate(self, text: str) -> None:
        """A tapped candidate (or the composition itself, to keep the Latin letters) goes into the text; the
        letters it does not stand for stay in the composition."""
        with self._lock:
            self._touched()
            form = self._state.form
            if form is not None and form.composing and text in (*form.candidates, form.composing):
                self._set(form=picked(form, text, self._pinyin))

    def backspace(self) -> None:
        """Delete the last pinyin letter, or when none is waiting, the last character of the text."""
        with self._lock:
            self._touched()
            form = self._state.form
            shorter = None if form is None else erased(form, self._pinyin)
            if shorter is not None:
                self._set(form=shorter)

    def _text_to_send(self, value: str | None) -> tuple[FormState, str] | None:
        """The form and the text that Send (or a tapped choice, ``value``) sends, or None with nothing to send.
        Pinyin still waiting is converted first (its first candidates, as the bar shows them): a customer who
        presses Send after typing "huilv" means 汇率, and the raw letters are one tap away on the bar."""
        form = self._state.form
        if form is None:
            return None
        if form.composing and value is None:
            form = converted(form, self._pinyin)
            self._set(form=form)
        text = (value if value is not None else form.draft).strip()
        return (form, text) if text else None

    def _pinyin(self) -> PinyinInput:
        return for_pack(self.kiosk.pack)  # built on first use, once per pack content

    def _flow_form(self, reply: Reply) -> FormState:
        return flow_form(reply, self.kiosk.pack, self._awaited_slot(), self._today(), self._chosen_date)

    def _awaited_slot(self) -> Slot | None:
        session = self._session
        if session is None or session.flow is None:
            return None
        flow = self.kiosk.pack.flow(session.flow.flow_id)
        return next((s for s in flow.slots if s.name == session.flow.awaiting), None) if flow else None

    def _chosen_date(self) -> datetime.date | None:
        session = self._session
        chosen = session.flow.slots.get("date") if session and session.flow else None
        return datetime.date.fromisoformat(chosen.value) if chosen else None
