"""The buttons a flow form offers instead of typing: yes/no, a slot's choices, opening days, opening times.

Each button sends its label as the customer's answer, in the visit's language, so the dialogue reads a tapped
"11月24日（周二）" exactly as it would read it typed or said.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from firmware_app.dialogue.flows import display_date
from firmware_app.events import Language
from firmware_app.packs import Slot
from firmware_app.screen.strings import t

DATE_CHOICES = 7  # opening days offered as buttons for a date
TIME_STEP_MIN = 30
OpeningDays = dict[int, tuple[str, str]]  # weekday (Monday 0) -> ("09:00", "17:00")


@dataclass(frozen=True)
class Choice:
    """A button the screen offers: ``label`` is shown, ``value`` is what tapping it sends."""

    label: str
    value: str


# What a tapped yes / no sends: the words the dialogue reads as yes and no in each language.
_YES_NO_SENT: dict[Language, tuple[str, str]] = {"en": ("yes", "no"), "zh": ("是", "不")}


def yes_no_choices(language: Language) -> tuple[Choice, ...]:
    yes, no = _YES_NO_SENT[language]
    return Choice(t("yes", language), yes), Choice(t("no", language), no)


def slot_choices(slot: Slot, language: Language) -> tuple[Choice, ...]:
    """A choice slot's options, each by its first word ("Mortgage", "房贷")."""
    words = [choice.get(language)[0] for choice in slot.choices.values()]
    return tuple(Choice(word[:1].upper() + word[1:], word) for word in words)


def date_choices(days: OpeningDays, today: datetime.date, language: Language) -> tuple[Choice, ...]:
    """The next opening days after today, as the dialogue reads them back ("Tuesday 24 November")."""
    day, choices = today, list[Choice]()
    while len(choices) < DATE_CHOICES:
        day += datetime.timedelta(days=1)
        if day.weekday() in days:
            label = display_date(day, language)
            choices.append(Choice(label, label))
    return tuple(choices)


def time_choices(days: OpeningDays, chosen: datetime.date | None) -> tuple[Choice, ...]:
    """Half-hour slots within the chosen day's opening hours (the longest day's when no day is chosen yet)."""
    if chosen is not None and chosen.weekday() in days:
        opening, closing = days[chosen.weekday()]
    else:
        opening, closing = max(days.values(), key=lambda hours: _minutes(hours[1]) - _minutes(hours[0]))
    return tuple(Choice(_hhmm(m), _hhmm(m)) for m in range(_minutes(opening), _minutes(closing), TIME_STEP_MIN))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
