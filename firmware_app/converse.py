"""``kiosk converse``: whole scripted visits in, one JSON line per turn out (``shared/docs/CONVERSATION_TESTS.md``).

Each input line is one visit (``id``, ``lang``, ``now``, ``turns`` with ``say``); ``expect`` is ignored. Every
visit is a new session on the same kiosk, with the clock set to the visit's ``now`` so "tomorrow" and "Friday"
resolve as they would have on that day. The kiosk runs on a scratch data folder unless one is given, so a test
run never puts test tickets in a real kiosk's outbox.
"""

from __future__ import annotations

import datetime
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from firmware_app.app import Kiosk
from firmware_app.config import KioskSettings
from firmware_app.dialogue.session import Session
from firmware_app.events import Event, Language, Reply, TicketCreated, TicketRequested
from firmware_app.text import valid_unicode

log = logging.getLogger(__name__)


class ScriptedTurn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    say: str


class ScriptedVisit(BaseModel):
    """One input line; unknown keys (``expect``) are ignored."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(max_length=200)
    lang: Language = "en"
    now: datetime.datetime
    turns: list[ScriptedTurn] = Field(max_length=100)


@dataclass
class VisitClock:
    """The kiosk's idea of today, set to each visit's ``now``."""

    day: datetime.date = field(default_factory=datetime.date.today)

    def today(self) -> datetime.date:
        return self.day


@dataclass
class _TurnTickets:
    """Collects the tickets filed during one turn from the kiosk's event bus, with their slot values."""

    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    created: list[TicketCreated] = field(default_factory=list)

    def on_event(self, event: Event) -> None:
        if isinstance(event, TicketRequested):
            self.fields[event.ticket_id] = dict(event.fields)
        elif isinstance(event, TicketCreated):
            self.created.append(event)

    def take(self) -> list[dict[str, Any]]:
        tickets = [
            {
                "reference": t.reference,
                "type": t.ticket_type,
                "priority": t.priority,
                "fields": self.fields.get(t.ticket_id, {}),
            }
            for t in self.created
        ]
        self.fields.clear()
        self.created.clear()
        return tickets


def answer_id(reply: Reply) -> str | None:
    """The BANKING77 label or FAQ id a reply answers (a flow's opening answer included), else None."""
    if reply.intent:
        return reply.intent
    return reply.card.source_id if reply.card is not None else None


class Conversations:
    """Plays scripted visits on one kiosk."""

    def __init__(self, settings: KioskSettings, data_dir: Path | None = None) -> None:
        self._scratch = None if data_dir else tempfile.TemporaryDirectory(prefix="kiosk-converse-")
        folder = data_dir or Path(self._scratch.name)  # type: ignore[union-attr]
        offline = settings.sync.model_copy(update={"enabled": False})
        scoped = settings.model_copy(update={"data_dir": folder, "sync": offline})
        self.clock = VisitClock()
        self.kiosk = Kiosk(scoped, today=self.clock.today)
        self._tickets = _TurnTickets()
        self.kiosk.bus.subscribe(self._tickets.on_event)

    def play(self, lines: Iterable[str]) -> Iterator[dict[str, Any]]:
        """One output record per turn, or one ``error`` record for a line that is not a valid visit."""
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:  # json, not pydantic's parser: a lone surrogate (\ud800) is valid JSON and cleaned later
                visit = ScriptedVisit.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                yield {"line": number, "error": f"not JSON: {exc}"}
                continue
            except ValidationError as exc:
                yield {"line": number, "error": _first_error(exc)}
                continue
            try:
                yield from self.visit(visit)
            except Exception as exc:  # one broken visit must not cost the rest of the run its results
                log.exception("visit failed", extra={"conversation": visit.id})
                yield {"line": number, "conversation": visit.id, "error": f"{type(exc).__name__}: {exc}"}

    def visit(self, visit: ScriptedVisit) -> Iterator[dict[str, Any]]:
        self.clock.day = visit.now.date()
        session, _ = self.kiosk.start_session(visit.lang)
        for turn_number, turn in enumerate(visit.turns):
            if session.ended:  # the customer said goodbye and went on talking: a new visit, as at the kiosk
                session, _ = self.kiosk.start_session(session.language)
            reply = self.kiosk.handle_text(session, turn.say)
            yield self._record(visit.id, turn_number, turn.say, reply, session)
        if not session.ended:
            self.kiosk.end_session(session, "reset")

    def _record(self, visit_id: str, turn: int, said: str, reply: Reply, session: Session) -> dict[str, Any]:
        flow = session.flow
        return {
            "conversation": visit_id,
            "turn": turn,
            "say": valid_unicode(said),
            "reply": reply.text,
            "reply_lang": reply.language,
            "answer_id": answer_id(reply),
            "declined": reply.kind == "out_of_scope",
            "flow": flow.flow_id if flow else None,
            "slots": {name: slot.value for name, slot in flow.slots.items()} if flow else {},
            "tickets": self._tickets.take(),
            "handoff": reply.kind == "handoff",
        }

    def close(self) -> None:
        self.kiosk.close()
        if self._scratch is not None:
            self._scratch.cleanup()


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "line"
    return f"not a conversation: {where}: {first['msg']}"


def dumps(record: dict[str, Any]) -> str:
    """JSON with the customer's own script kept readable (no ``\\u`` escapes for Chinese)."""
    return json.dumps(record, ensure_ascii=False)
