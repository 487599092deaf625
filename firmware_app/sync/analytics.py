"""Service analytics: how visits ended and what they were about, kept on the kiosk and reported per UTC day.

``VisitRecorder`` follows the kiosk's event bus and keeps, per visit, its outcome (customer turns, answers,
hand-off, how it ended) and its topics: the intents it was answered with and the questions the kiosk had no
answer for. Those questions are the only words kept, and only after ``privacy.redact`` and normalising (case,
spacing, end punctuation, every number as "#"), so that the knowledge team sees what people ask for, counted,
and no one's card, phone or account. Transcripts stay in tickets.

``daily_report`` turns one day of those rows, and the visit ratings, into the wire's ``AnalyticsV1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlite_utils import Database

from firmware_app.events import Event, HandoffRequested, NluResult, Reply, SessionEnded, SessionStarted, UserSaid
from firmware_app.privacy import redact
from firmware_app.store import transaction, utc_now
from kiosk_link import wire

TOP = 10  # intents and out-of-scope questions reported per day
QUESTION_CHARS = 200
MAX_OPEN_VISITS = 16  # the kiosk serves one visit at a time; a few more cover sessions never ended


def normalise_question(text: str, region: str) -> str:
    """The form an out-of-scope question is counted under: redacted, numbers as "#", lower case, one line."""
    redacted = re.sub(r"\d+", "#", redact(text, region=region))
    return " ".join(redacted.casefold().split()).strip(" ?!.。？！")[:QUESTION_CHARS]


@dataclass
class _Turn:
    text: str
    source: str
    nlu: NluResult | None = None  # the first understanding of the turn (a follow-up is read twice)


@dataclass
class _Visit:
    started_at: str
    language: str
    turns: int = 0
    answers: int = 0
    handed_off: bool = False
    topics: list[tuple[str, str]] = field(default_factory=list)  # (kind, value)
    turn: _Turn | None = None


class VisitRecorder:
    """Bus subscriber keeping each visit in memory and writing it, with its topics, in one transaction when the
    visit ends: one commit per visit rather than several per turn, off the reply's critical path on a slow SD
    card. A visit the kiosk never ended (a crash) is not counted.

    ``oos_intent`` is the label the NLU gives a question outside the pack (passed in: sync does not import nlu).
    """

    def __init__(self, db: Database, region: str, oos_intent: str) -> None:
        self.db = db
        self.region = region
        self.oos_intent = oos_intent
        self._visits: dict[str, _Visit] = {}

    def on_event(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            while len(self._visits) >= MAX_OPEN_VISITS:  # sessions abandoned without an end event
                self._visits.pop(next(iter(self._visits)))
            self._visits[event.session_id] = _Visit(utc_now(), event.language)
            return
        if isinstance(event, NluResult):  # an understanding names no session: it belongs to the open turn
            turn = next((v.turn for v in self._visits.values() if v.turn is not None and v.turn.nlu is None), None)
            if turn is not None:
                turn.nlu = event
            return
        visit = self._visits.get(getattr(event, "session_id", ""))
        if visit is None:
            return
        if isinstance(event, UserSaid):
            visit.turns += 1
            visit.turn = _Turn(event.text, event.source)
        elif isinstance(event, HandoffRequested):
            visit.handed_off = True
        elif isinstance(event, Reply):
            self._end_turn(visit, event)
        elif isinstance(event, SessionEnded):
            self._save(event.session_id, self._visits.pop(event.session_id), event.reason)

    def _end_turn(self, visit: _Visit, reply: Reply) -> None:
        turn, visit.turn = visit.turn, None
        if reply.kind == "answer" or (reply.kind == "done" and reply.flow is not None):
            visit.answers += 1
        if reply.intent is not None and reply.kind != "handoff":
            visit.topics.append(("intent", reply.intent))
        if turn is not None and self._unanswerable(turn, reply):
            question = normalise_question(turn.text, self.region)
            if question:
                visit.topics.append(("out_of_scope", question))

    def _unanswerable(self, turn: _Turn, reply: Reply) -> bool:
        """A question (not a greeting, a goodbye or a request for a person) the kiosk had no answer for."""
        nlu = turn.nlu
        return (
            turn.source != "touch"
            and nlu is not None
            and nlu.intent == self.oos_intent
            and nlu.dialogue_act is None
            and reply.kind in ("out_of_scope", "handoff")
        )

    def _save(self, session_id: str, visit: _Visit, reason: str) -> None:
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO visits (session_id, started_at, language, turns, answers, handed_off,"
                " ended_at, end_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    session_id,
                    visit.started_at,
                    visit.language,
                    visit.turns,
                    visit.answers,
                    int(visit.handed_off),
                    utc_now(),
                    reason,
                ],
            )
            self.db.conn.executemany(
                "INSERT INTO visit_topics (session_id, kind, value) VALUES (?, ?, ?)",
                [(session_id, kind, value) for kind, value in visit.topics],
            )


def active_days(db: Database, since: date) -> list[date]:
    """Days from ``since`` on with a visit or a rating: the days whose report may have changed."""
    rows = db.execute(
        "SELECT substr(started_at, 1, 10) FROM visits WHERE started_at >= ?"
        " UNION SELECT substr(at, 1, 10) FROM ratings WHERE at >= ? ORDER BY 1",
        [since.isoformat(), since.isoformat()],
    ).fetchall()
    return [date.fromisoformat(row[0]) for row in rows]


def daily_report(db: Database, day: date) -> wire.AnalyticsV1:
    """The aggregates of visits started (and ratings given) on ``day``, UTC."""
    bounds = [day.isoformat(), (day + timedelta(days=1)).isoformat()]
    conversations, resolved, handoffs = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(answers > 0 AND handed_off = 0), 0), COALESCE(SUM(handed_off), 0)"
        " FROM visits WHERE turns > 0 AND started_at >= ? AND started_at < ?",
        bounds,
    ).fetchone()
    ratings = [0] * 5
    for stars, count in db.execute(
        "SELECT stars, COUNT(*) FROM ratings WHERE at >= ? AND at < ? GROUP BY stars", bounds
    ).fetchall():
        ratings[stars - 1] = count
    return wire.AnalyticsV1(
        day=day,
        conversations=conversations,
        resolved=resolved,
        handoffs=handoffs,
        ratings=ratings,
        top_intents=_top(db, "intent", bounds),
        out_of_scope=_top(db, "out_of_scope", bounds),
    )


def _top(db: Database, kind: str, bounds: list[str]) -> list[wire.CountedV1]:
    rows = db.execute(
        "SELECT t.value, COUNT(*) AS n FROM visit_topics t JOIN visits v ON v.session_id = t.session_id"
        " WHERE t.kind = ? AND v.started_at >= ? AND v.started_at < ? GROUP BY t.value ORDER BY n DESC, t.value"
        " LIMIT ?",
        [kind, *bounds, TOP],
    ).fetchall()
    return [wire.CountedV1(name=value, count=n) for value, n in rows]
