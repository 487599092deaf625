"""One visit to the kiosk: its transcript, the flow in progress and the counters the hand-off policy reads.

A session holds personal data (what the customer said, card endings, phone numbers) only in memory and only
until it ends; ``clear`` drops all of it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from firmware_app.events import Entity, Language, Role, Turn
from firmware_app.store import utc_now


@dataclass
class SlotValue:
    value: str  # normalised (ISO date, HH:MM, digits, choice key, free text)
    display: str  # what the customer reads back


@dataclass
class FlowState:
    flow_id: str
    awaiting: str  # a slot name, "confirm" or "change"
    ticket_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # fixed up front: the ticket's idempotency key
    slots: dict[str, SlotValue] = field(default_factory=dict)
    entities: list[Entity] = field(default_factory=list)


@dataclass
class Session:
    language: Language = "en"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: float = field(default_factory=time.monotonic)
    last_activity: float = field(default_factory=time.monotonic)
    transcript: list[Turn] = field(default_factory=list)
    flow: FlowState | None = None
    consecutive_oos: int = 0
    frustrated_turns: int = 0  # in the whole visit: three hand off, however spread out
    unclear_turns: int = 0  # a flow asked again because the answer did not fit
    offered_flow: str | None = None  # the flow the last answer offered (the complaints FAQ offers a complaint)
    handed_off: bool = False  # once per visit: no second hand-off ticket, no flow after it
    last_intent: str | None = None
    last_customer_text: str | None = None
    sentiment: str = "neutral"
    ended: bool = False

    def add_turn(self, role: Role, text: str, intent: str | None = None) -> None:
        self.transcript.append(Turn(role=role, text=text, at=utc_now(), intent=intent))
        self.last_activity = time.monotonic()

    def idle_for(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.last_activity

    def clear(self) -> None:
        """Forget everything personal; the object can be dropped or reused for the next customer."""
        self.transcript.clear()
        self.flow = None
        self.last_customer_text = None
        self.last_intent = None
        self.ended = True
