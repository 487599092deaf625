"""Slot-filling flows defined in the pack: ask, validate, confirm (with corrections), then request a ticket.

A reply can fill several slots at once ("next Tuesday at 3pm"), and at the confirmation step a reply that
carries a new value ("no, I meant Tuesday") replaces the old one and asks again, so the customer never has to
start over to fix one detail.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Literal

from firmware_app.dialogue.session import FlowState, SlotValue
from firmware_app.events import Language, NluResult
from firmware_app.packs import Flow, Pack, Slot
from firmware_app.privacy import mask_contact

MAX_BOOKING_DAYS = 90
_WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "zh": ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@dataclass(frozen=True)
class FlowStep:
    """What the flow wants said next; ``finished`` carries the filled slots when the customer confirmed."""

    text: str
    kind: Literal["prompt", "confirm", "done"]
    awaiting: str | None
    finished: bool = False
    repeated: bool = False  # the same question again: the answer did not fit


def display_date(day: datetime.date, language: Language) -> str:
    weekday = _WEEKDAYS[language][day.weekday()]
    if language == "zh":
        return f"{day.month}月{day.day}日（{weekday}）"
    return f"{weekday} {day.day} {_MONTHS[day.month - 1]}"


def render(template: str, slots: dict[str, SlotValue], **extra: str) -> str:
    values = {name: slot.display for name, slot in slots.items()} | extra
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


class FlowRunner:
    def __init__(self, pack: Pack) -> None:
        self.pack = pack

    def start(self, flow: Flow, nlu: NluResult, today: datetime.date) -> tuple[FlowState, FlowStep]:
        """Begin ``flow``, keeping any values the opening utterance already gave."""
        state = FlowState(flow_id=flow.id, awaiting=flow.slots[0].name)
        # "I want to complain about the cash machine outside, it's been broken all week": that is the complaint
        told = next((s.name for s in flow.slots if s.kind == "text" and is_telling(nlu, OPENING_STORY_WORDS)), None)
        _, refused = self._fill(flow, state, nlu, today, awaiting=told)
        return state, self._reprompt(state, refused, nlu.language) if refused else self._next(flow, state, nlu.language)

    def step(self, state: FlowState, nlu: NluResult, acts: frozenset[str], today: datetime.date) -> FlowStep:
        flow = self.pack.flow(state.flow_id)
        assert flow is not None, f"flow {state.flow_id} vanished from the pack"
        language = nlu.language
        awaiting = state.awaiting if state.awaiting not in ("confirm", "change") else None
        changed, refused = self._fill(flow, state, nlu, today, awaiting=awaiting)
        if refused is not None:
            return self._reprompt(state, refused, language)
        if state.awaiting == "confirm":
            if changed:
                return self._next(flow, state, language)
            if "affirm" in acts:
                return FlowStep(render(flow.done.get(language), state.slots), "done", None, finished=True)
            if "deny" in acts:
                state.awaiting = "change"
                return FlowStep(flow.ask_change.get(language), "prompt", "change")
            return FlowStep(render(flow.confirm.get(language), state.slots), "confirm", "confirm")
        if state.awaiting == "change" and not changed:
            if "affirm" in acts:  # "yes, that's right" after all: confirm what is there
                state.awaiting = "confirm"
                return FlowStep(render(flow.confirm.get(language), state.slots), "confirm", "confirm")
            return FlowStep(flow.ask_change.get(language), "prompt", "change")
        if state.awaiting not in state.slots and state.awaiting != "change":
            story = next((s.name for s in flow.slots if s.kind == "text" and s.name in state.slots), None)
            if story and not changed and is_telling(nlu, MORE_STORY_WORDS) and not looks_like_question(nlu.text):
                # more of what happened, while the kiosk asked how to reach them: keep it, ask again plainly
                told = state.slots[story]
                state.slots[story] = SlotValue(f"{told.value} {nlu.text}", f"{told.display} {nlu.text}")
                return self._next(flow, state, language)
            return self._reprompt(state, _slot(flow, state.awaiting), language)
        return self._next(flow, state, language)

    def _reprompt(self, state: FlowState, slot: Slot, language: Language) -> FlowStep:
        state.awaiting = slot.name
        return FlowStep(slot.reprompt.get(language), "prompt", slot.name, repeated=True)

    def is_aside(self, state: FlowState, nlu: NluResult, acts: frozenset[str]) -> bool:
        """Whether this utterance is a question on the side rather than an answer to the flow: it gives no
        value for any slot, is not a yes/no, and the flow is not waiting for free text."""
        flow = self.pack.flow(state.flow_id)
        assert flow is not None
        if acts & {"affirm", "deny"}:
            return False
        if state.awaiting not in ("confirm", "change") and _slot(flow, state.awaiting).kind == "text":
            return looks_like_question(nlu.text)  # a text slot takes any words, so only a clear question is aside
        given = {slot.name: self._value_for(slot, nlu, allow_text=False, awaited=False) for slot in flow.slots}
        return all(value is None or _same(state, name, value) for name, value in given.items())

    def _next(self, flow: Flow, state: FlowState, language: Language) -> FlowStep:
        missing = next((s for s in flow.slots if s.name not in state.slots), None)
        if missing is not None:
            state.awaiting = missing.name
            return FlowStep(missing.prompt.get(language), "prompt", missing.name)
        state.awaiting = "confirm"
        return FlowStep(render(flow.confirm.get(language), state.slots), "confirm", "confirm")

    def _fill(
        self, flow: Flow, state: FlowState, nlu: NluResult, today: datetime.date, awaiting: str | None
    ) -> tuple[set[str], Slot | None]:
        """Fill every slot this utterance gives a valid value for; ``awaiting`` may also take free text.

        Returns the names of the slots that changed, and the first slot whose given value was refused.
        """
        changed: set[str] = set()
        refused: Slot | None = None
        for slot in flow.slots:
            awaited = slot.name == awaiting or (awaiting is None and state.awaiting in ("confirm", "change"))
            value = self._value_for(slot, nlu, allow_text=slot.name == awaiting, awaited=awaited)
            if value is None:
                continue
            if not self._valid(slot, value, state, today):
                refused = refused or slot
                continue
            display = self._display(slot, value, nlu.language)
            if state.slots.get(slot.name) != SlotValue(value, display):
                state.slots[slot.name] = SlotValue(value, display)
                changed.add(slot.name)
        state.entities = list({(e.kind, e.value): e for e in [*state.entities, *nlu.entities]}.values())
        return changed, refused

    def _value_for(self, slot: Slot, nlu: NluResult, allow_text: bool, awaited: bool) -> str | None:
        """The value this utterance gives ``slot``; ``awaited``: the kiosk just asked for it (or to confirm it),
        so a bare four-digit number is a card ending ("it's 9903", "no wait, 4812 not 4821")."""
        if slot.kind == "text":
            return nlu.text if allow_text and len(nlu.text) >= 3 else None
        if slot.kind == "choice":
            return _choice(slot, nlu.text)
        kinds = set(slot.kind.split("|"))
        entity = next((e for e in nlu.entities if e.kind in kinds), None)
        if entity is None and awaited and "card_last4" in kinds:
            return bare_four_digits(nlu.text)
        return entity.value if entity else None

    def _valid(self, slot: Slot, value: str, state: FlowState, today: datetime.date) -> bool:
        hours = self.pack.manifest.opening_hours.days
        if slot.validate_as == "future_opening_day":
            day = datetime.date.fromisoformat(value)
            return today <= day <= today + datetime.timedelta(days=MAX_BOOKING_DAYS) and day.weekday() in hours
        if slot.validate_as == "opening_time":
            date_slot = state.slots.get("date")
            days = [datetime.date.fromisoformat(date_slot.value).weekday()] if date_slot else list(hours)
            return any(hours[d][0] <= value < hours[d][1] for d in days if d in hours)
        return True

    def _display(self, slot: Slot, value: str, language: Language) -> str:
        if slot.kind == "date":
            return display_date(datetime.date.fromisoformat(value), language)
        if slot.kind == "choice":
            names = slot.choices[value].get(language) or slot.choices[value].en
            return names[0] if names else value
        if set(slot.kind.split("|")) & {"phone", "email"}:
            return mask_contact(value)
        return value


_BARE_FOUR_DIGITS = re.compile(
    r"(?<![\d.,:£$€¥])(?<!not )(?<!不是)(\d{4})(?!\d|[.,:]\d|\s?%|\s?(?:pounds?|quid|euros?|dollars?|元|块|镑))", re.I
)
_QUESTION = re.compile(
    r"\?\s*$|^\W*(how|what|when|where|why|which|who|can|could|do|does|is|are|will|would|should)\b|[吗呢？]|多久|多少|几|怎么|什么|哪",
    re.I,
)


def _same(state: FlowState, name: str, value: str) -> bool:
    """Whether ``value`` is what slot ``name`` already holds ("for a mortgage" in a mortgage appointment)."""
    held = state.slots.get(name)
    return held is not None and held.value == value


# How long an utterance must be to be a story rather than a request: the opening sentence of a flow ("I want to
# complain about ...") and a later addition ("She put the phone down on me") (English words; Chinese: x1.5 chars).
OPENING_STORY_WORDS = 10
MORE_STORY_WORDS = 6


def is_telling(nlu: NluResult, words: int) -> bool:
    """Whether the utterance is long enough to tell what happened."""
    return len(nlu.text) >= words * 1.5 if nlu.language == "zh" else len(nlu.text.split()) >= words


def bare_four_digits(text: str) -> str | None:
    """The first four-digit number in ``text`` that is not an amount, a time or the one being corrected."""
    match = _BARE_FOUR_DIGITS.search(text)
    return match.group(1) if match else None


def looks_like_question(text: str) -> bool:
    return bool(_QUESTION.search(text))


def _slot(flow: Flow, name: str) -> Slot:
    return next(s for s in flow.slots if s.name == name)


def _choice(slot: Slot, text: str) -> str | None:
    lowered = text.lower()
    for key, synonyms in slot.choices.items():
        for word in [*synonyms.en, *synonyms.zh]:
            # ASCII word boundaries: "咨询credit card的事" names the cards topic although no space surrounds it.
            if re.search(r"(?<![a-z0-9])" + re.escape(word.lower()) + r"(?![a-z0-9])", lowered) or (
                not word.isascii() and word in text
            ):
                return key
    return None
