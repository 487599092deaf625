"""The dialogue manager: turns one customer utterance into the kiosk's reply.

Policy, in order: after a hand-off, questions are answered but nothing else starts; a request for a person hands
off at once; a third frustrated turn in the visit hands off; a flow in progress gets the turn (cancel ends it,
a side question is answered and the flow goes on); blocking a card, a complaint or an appointment starts its
flow with whatever the first sentence already said; taking up what the last answer offered starts that flow;
thanks, hello and a bare "ok" get short replies; an in-scope intent gets its answer (or starts its flow, e.g.
blocking a lost card); a short follow-up ("and how long does that take?") is read in the context of the
previous question; anything else is searched in the FAQ and, failing that, declined honestly with suggestions
and the offer of a colleague. Two declined questions in a row, or three answers a flow could not use, also hand
off, once per visit, with a ticket that carries the whole transcript and the reason.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from firmware_app.config import DialogueConfig
from firmware_app.dialogue.flows import FlowRunner, looks_like_question, render
from firmware_app.dialogue.session import Session
from firmware_app.events import (
    AnswerCard,
    Entity,
    Event,
    HandoffRequested,
    Language,
    NluResult,
    Priority,
    Reply,
    ReplyKind,
    TicketCreated,
    TicketRequested,
    reference_for,
)
from firmware_app.nlu.engine import Understanding
from firmware_app.packs import Flow, Pack

OOS = "oos"
# Acts that start a flow by themselves (the flow's ``trigger_acts``), checked in this order.
FLOW_ACTS = ("block_card", "complaint", "book_appointment")
# Why a colleague was fetched: the reason code on the HandoffRequested event, and the ticket summary's words.
HANDOFF_REASONS = {
    "asked": "the customer asked for a person",
    "out_of_scope_twice": "two questions in a row were outside what the kiosk can answer",
    "frustration": "the customer is frustrated",
    "not_understood": "the kiosk did not understand the customer's answers",
}
# A short question that leans on the previous one: "and how long does that take?", "what about abroad?"
# Fillers may come first: "ok fine so how do I do it".
_FOLLOW_UP = re.compile(
    r"^\W*((ok|okay|fine|right|alright|well|oh)\W+)*"
    r"(?:(and|also|so|what about|how about|then)\b"
    r"|(?=.*\b(that|it|this|they|those|there)\b)(?:(how|what|when|where|why|which|who|can|could|is|are|"
    r"does|do|will|would|should)\b|.*\?\s*$))",
    re.IGNORECASE,
)
_FOLLOW_UP_MAX_WORDS = 10
# "what about paying by card over there?": the same question about a new thing. When the new thing is a topic the
# model can place by itself, that reading answers, not the previous question's.
_NEW_TOPIC = re.compile(r"^\W*((ok|okay|fine|right|alright|well|oh|and)\W+)*(what|how) about\b", re.IGNORECASE)
# A short turn the model rejects, but with less than this share on "oos" ("whats the rate today roughly" after a
# question about exchanging money), is read with the previous question; a confident "oos" ("can you recommend a
# restaurant") is not, or the previous topic would swallow it.
_UNSURE_OOS = 0.7
# The same in Chinese: "那要多久？", "一般要等几天才能到", "还有手续费吗" (at most 16 characters).
_FOLLOW_UP_ZH = re.compile(
    r"^(那|那么|还有|另外|这样的话|这个|那个)|多久|几天|多长时间|多少钱|怎么办|要多少|收费吗|手续费"
)
_FOLLOW_UP_ZH_MAX_CHARS = 16
# A general FAQ entry answers instead of an in-scope intent when it is at least this similar to the question,
# or, below this intent confidence, when it clears the normal FAQ threshold. On the first 400 BANKING77 dev
# questions no general FAQ entry reaches 0.8, so banking questions keep their intent answers.
NEAR_IDENTICAL_FAQ = 0.85
# The bar an FAQ entry's semantic similarity must reach to answer, per language (each model has its own scale).
DEFAULT_FAQ_SIMILARITY: dict[Language, float] = {"en": 0.55, "zh": 0.70}
# A question asked in the middle of a flow is answered on the side only when the intent model is this sure.
CONFIDENT_ASIDE = 0.9
UNSURE_INTENT_CONFIDENCE = 0.5


class Answer(Protocol):
    """One knowledge entry as the dialogue reads it (``knowledge.base.FaqHit`` fits)."""

    @property
    def entry_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def question(self) -> str: ...
    @property
    def answer(self) -> str: ...
    @property
    def steps(self) -> tuple[str, ...]: ...
    @property
    def follow_up(self) -> str | None: ...
    @property
    def similarity(self) -> float: ...


class AnswerSource(Protocol):
    """The knowledge store as the dialogue sees it."""

    def get(self, entry_id: str, lang: Language) -> Answer | None: ...

    def search(
        self, query: str, lang: Language, limit: int = 5, query_vector: np.ndarray | None = None
    ) -> Sequence[Answer]: ...


Understand = Callable[[str, Language], Understanding]
FileTicket = Callable[[TicketRequested], TicketCreated]


@dataclass(frozen=True)
class TurnResult:
    reply: Reply
    events: list[Event] = field(default_factory=list)


class DialogueManager:
    def __init__(
        self,
        pack: Pack,
        understand: Understand,
        answers: AnswerSource,
        file_ticket: FileTicket,
        config: DialogueConfig,
        *,
        faq_answer_similarity: Mapping[Language, float] | None = None,
        today: Callable[[], datetime.date] = datetime.date.today,
    ) -> None:
        self.pack = pack
        self.understand = understand
        self.answers = answers
        self.file_ticket = file_ticket
        self.config = config
        # Each language's model has its own similarity scale, so each has its own bar.
        self.faq_answer_similarity: dict[Language, float] = dict(faq_answer_similarity or DEFAULT_FAQ_SIMILARITY)
        self.today = today
        self.flows = FlowRunner(pack)

    def message(self, name: str, language: Language, **values: str) -> str:
        """One of the pack's own sentences, with ``{placeholders}`` filled."""
        return render(getattr(self.pack.manifest.messages, name).get(language), {}, **values)

    def greet(self, session: Session) -> Reply:
        text = self.message("greeting", session.language)
        session.add_turn("assistant", text)
        return self._reply(session, text, "info")

    def handle(self, session: Session, text: str) -> TurnResult:
        """One customer turn."""
        understanding = self.understand(text, session.language)
        nlu = understanding.result
        session.language = nlu.language
        session.add_turn("customer", nlu.text, nlu.intent if nlu.intent != OOS else None)
        if not nlu.text:
            return self._say(session, self._reply(session, self.message("empty_input", nlu.language), "info"))
        if nlu.frustrated or nlu.sentiment == "negative":
            session.sentiment = "negative"
        session.frustrated_turns += nlu.frustrated
        if session.handed_off:
            result = self._after_hand_off(session, understanding)
        elif "human" in understanding.acts and "book_appointment" not in understanding.acts:
            result = self.hand_off(session, "asked")
        elif nlu.frustrated and session.frustrated_turns >= self.config.troubled_turns_before_handoff:
            result = self.hand_off(session, "frustration")
        else:
            result = self._decide(session, understanding)
        notes = [self.message("full_card_number", nlu.language)] if understanding.full_card_number else []
        if understanding.truncated:
            notes.append(self.message("too_long", nlu.language))
        if notes:
            text = sentences(nlu.language, *notes, result.reply.text)
            result = TurnResult(replace(result.reply, text=text, speech=text), result.events)
        return self._say(session, result.reply, result.events)

    def choose(self, session: Session, entry_id: str) -> TurnResult:
        """A tapped tile or suggestion: an intent, an FAQ entry or a flow, by id."""
        language = session.language
        session.add_turn("customer", f"[{entry_id}]", entry_id)
        intent = self.pack.intent(entry_id)
        context = intent.examples[0] if intent else ""  # what a follow-up question is read together with
        understanding = Understanding(
            NluResult(text=context, intent=entry_id, confidence=1.0, in_scope_score=1.0, language=language),
            None,
            frozenset(),
            entry_id,
            False,
        )
        flow = self.pack.flow(entry_id)
        if flow is not None:
            result = self._start_flow(session, flow, understanding)
        elif intent is not None:
            result = self._answer_intent(session, entry_id, understanding)
        else:
            hit = self.answers.get(entry_id, language)
            if hit is None:
                raise KeyError(f"no intent, FAQ entry or flow called {entry_id!r} in pack {self.pack.manifest.id}")
            result = TurnResult(self._answer_reply(session, hit, None))
        return self._say(session, result.reply, result.events)

    def _decide(self, session: Session, understanding: Understanding) -> TurnResult:
        nlu, acts = understanding.result, understanding.acts
        language = nlu.language
        if nlu.dialogue_act == "goodbye":
            session.flow = None
            session.ended = True
            return TurnResult(self._reply(session, self.message("goodbye", language), "done"))
        if session.flow is not None:
            if "cancel" in acts:
                return self._cancel_flow(session)
            return self._flow_step(session, understanding)
        offered = self.pack.flow(session.offered_flow) if session.offered_flow else None
        session.offered_flow = None
        if offered is not None and "accept_offer" in acts and nlu.intent == OOS:
            return self._start_flow(session, offered, understanding)
        for act in FLOW_ACTS:
            if act in acts:
                flow = next(f for f in self.pack.flows if act in f.trigger_acts)
                return self._start_flow(session, flow, understanding, answer_id=_flow_intent(flow, nlu.intent))
        if nlu.dialogue_act == "cancel" and nlu.intent == OOS:
            return TurnResult(self._reply(session, self.message("nothing_to_cancel", language), "info"))
        courtesy = next((act for act in ("thanks", "greeting", "affirm") if act in acts), None)
        if courtesy == "affirm" and not _is_short(nlu):  # "ok then, who won the game?" is no acknowledgement
            courtesy = None
        if courtesy and (nlu.intent == OOS or nlu.confidence < CONFIDENT_ASIDE):
            # "ok" / "好的" with nothing to confirm is an acknowledgement, not an unanswerable question
            name = {"thanks": "thanks", "greeting": "how_can_i_help", "affirm": "anything_else"}[courtesy]
            return TurnResult(self._reply(session, self.message(name, language), "info"))
        follow_up = self._follow_up(session, understanding)
        if follow_up is not None:
            return follow_up
        if nlu.intent != OOS:
            general = self._general_faq_over_intent(understanding)
            if general is not None:
                return TurnResult(self._answer_reply(session, general, None))
            return self._answer_intent(session, nlu.intent, understanding)
        return self._not_in_scope(session, understanding)

    def _after_hand_off(self, session: Session, understanding: Understanding) -> TurnResult:
        """A colleague is on the way: questions still get answers, but no flow starts and no ticket is filed."""
        nlu = understanding.result
        if nlu.dialogue_act == "goodbye":
            session.ended = True
            return TurnResult(self._reply(session, self.message("goodbye", nlu.language), "done"))
        if "thanks" in understanding.acts and nlu.intent == OOS:
            return TurnResult(self._reply(session, self.message("handoff_pending", nlu.language), "info"))
        answer = self._answer_without_flow(session, understanding)
        if answer is not None:
            return answer
        return TurnResult(self._reply(session, self.message("handoff_pending", nlu.language), "info"))

    def _answer_without_flow(
        self, session: Session, understanding: Understanding, min_confidence: float = UNSURE_INTENT_CONFIDENCE
    ) -> TurnResult | None:
        """The knowledge entry of a confident in-scope question, or a good FAQ match; None when neither fits."""
        nlu = understanding.result
        if nlu.intent != OOS and nlu.confidence >= min_confidence:
            hit = self.answers.get(nlu.intent, nlu.language)
            if hit is not None:
                return TurnResult(self._answer_reply(session, hit, nlu.intent))
        faq = self._faq_match(understanding)
        return TurnResult(self._answer_reply(session, faq, None)) if faq is not None else None

    def _best_faq(self, understanding: Understanding, needed: float) -> Answer | None:
        """The best general FAQ entry (not an intent's answer) when its similarity reaches ``needed``."""
        nlu = understanding.result
        if understanding.embedding is None:
            return None
        hits = self.answers.search(nlu.text, nlu.language, limit=3, query_vector=understanding.embedding)
        best = next((h for h in hits if h.kind == "faq"), None)
        return best if best is not None and best.similarity >= needed else None

    def _faq_match(self, understanding: Understanding) -> Answer | None:
        """The best general FAQ entry when it clears the language's usual bar."""
        return self._best_faq(understanding, self.faq_answer_similarity[understanding.result.language])

    def _general_faq_over_intent(self, understanding: Understanding) -> Answer | None:
        """A branch question the intent model squeezed into a banking intent ("can I pay in a cheque?" is not
        an app top-up): a general FAQ entry wins when it is near-identical to the question, or when it is a
        good match and the intent model was unsure."""
        nlu = understanding.result
        unsure = nlu.confidence < UNSURE_INTENT_CONFIDENCE
        return self._best_faq(understanding, self.faq_answer_similarity[nlu.language] if unsure else NEAR_IDENTICAL_FAQ)

    # --- answers -----------------------------------------------------------------------------------------

    def _answer_intent(self, session: Session, intent: str, understanding: Understanding) -> TurnResult:
        session.consecutive_oos = 0
        session.last_intent = intent
        session.last_customer_text = understanding.result.text
        flow = next((f for f in self.pack.flows if intent in f.trigger_intents), None)
        if flow is not None:
            return self._start_flow(session, flow, understanding, answer_id=intent)
        hit = self.answers.get(intent, understanding.result.language)
        if hit is None:
            return self._not_in_scope(session, understanding)
        return TurnResult(self._answer_reply(session, hit, intent))

    def _answer_reply(self, session: Session, hit: Answer, intent: str | None, text: str | None = None) -> Reply:
        session.offered_flow = next((f.id for f in self.pack.flows if hit.entry_id in f.offered_by), None)
        card = _card(hit) if text is None else AnswerCard(title=hit.question, body=text, source_id=hit.entry_id)
        return self._reply(session, text or hit.answer, "answer", card=card, intent=intent)

    def _follow_up(self, session: Session, understanding: Understanding) -> TurnResult | None:
        """Read a short, dependent question together with the previous one."""
        nlu = understanding.result
        if session.last_intent is None or session.last_customer_text is None or not _is_follow_up(nlu):
            return None
        combined = self.understand(sentences(nlu.language, session.last_customer_text, nlu.text), nlu.language).result
        if combined.intent == OOS or (nlu.intent != OOS and nlu.confidence > combined.confidence):
            return None
        if nlu.intent != OOS and _NEW_TOPIC.search(nlu.text):
            return None
        if combined.intent != session.last_intent:
            return self._answer_intent(session, combined.intent, understanding)
        hit = self.answers.get(combined.intent, nlu.language)
        if hit is None:
            return None
        session.consecutive_oos = 0
        text = hit.follow_up or self.message("follow_up_missing", nlu.language)
        return TurnResult(self._answer_reply(session, hit, combined.intent, text=text))

    def _not_in_scope(self, session: Session, understanding: Understanding) -> TurnResult:
        nlu = understanding.result
        hits = self.answers.search(nlu.text, nlu.language, limit=3, query_vector=understanding.embedding)
        good = hits[0] if hits and self._good_enough(hits[0], nlu.language) else None
        if good is not None and good.kind == "intent":
            return self._answer_intent(session, good.entry_id, understanding)
        if good is not None:
            session.consecutive_oos = 0
            session.last_intent = None
            return TurnResult(self._answer_reply(session, good, None))
        if nlu.frustrated:  # venting, not a question: it counts towards frustration, not out-of-scope
            return TurnResult(self._reply(session, self.message("sorry_frustrated", nlu.language), "info"))
        session.consecutive_oos += 1
        session.last_intent = session.last_customer_text = None  # "and what about ..." no longer means that topic
        if session.consecutive_oos >= self.config.oos_turns_before_handoff:
            return self.hand_off(session, "out_of_scope_twice")
        text = self.message("out_of_scope", nlu.language)
        suggestions = tuple(h.question for h in hits)
        if suggestions:
            text = sentences(nlu.language, text, self.message("faq_suggestions", nlu.language))
        return TurnResult(self._reply(session, text, "out_of_scope", suggestions=suggestions))

    def _good_enough(self, hit: Answer, language: Language) -> bool:
        return hit.similarity >= self.faq_answer_similarity[language]

    # --- flows -------------------------------------------------------------------------------------------

    def _start_flow(
        self, session: Session, flow: Flow, understanding: Understanding, answer_id: str | None = None
    ) -> TurnResult:
        language = understanding.result.language
        session.consecutive_oos = 0
        state, step = self.flows.start(flow, understanding.result, self.today())
        session.flow = state
        intro = flow.intro.get(language) if flow.intro else ""
        hit = self.answers.get(answer_id, language) if answer_id else None
        card = _card(hit) if hit else None
        reply = self._reply(
            session,
            sentences(language, intro, step.text),
            step.kind,
            card=card,
            flow=flow.id,
            intent=answer_id,
            input_hint=_input_hint(flow, step.awaiting),
        )
        return TurnResult(reply)

    def _flow_step(self, session: Session, understanding: Understanding) -> TurnResult:
        state = session.flow
        assert state is not None
        flow = self.pack.flow(state.flow_id)
        assert flow is not None
        nlu = understanding.result
        if self.flows.is_aside(state, nlu, understanding.acts):
            asked = looks_like_question(nlu.text)  # a question is read as one at the usual confidence
            aside = self._answer_without_flow(
                session, understanding, min_confidence=UNSURE_INTENT_CONFIDENCE if asked else CONFIDENT_ASIDE
            )
            if aside is not None and aside.reply.intent not in flow.trigger_intents:
                return self._back_to_flow(session, flow, aside.reply)
        step = self.flows.step(state, nlu, understanding.acts, self.today())
        session.unclear_turns += step.repeated
        if step.repeated and session.unclear_turns >= self.config.troubled_turns_before_handoff:
            return self.hand_off(session, "not_understood")
        if not step.finished:
            return TurnResult(
                self._reply(session, step.text, step.kind, flow=flow.id, input_hint=_input_hint(flow, step.awaiting))
            )
        language = understanding.result.language
        summary = render(flow.ticket.summary.get(language), state.slots)
        created = self.file_ticket(
            self._ticket_request(
                session,
                state.ticket_id,
                flow.ticket.type,
                flow.ticket.priority,
                summary,
                entities=tuple(state.entities),
                fields={name: slot.value for name, slot in state.slots.items()},
            )
        )
        session.flow = None
        text = render(flow.done.get(language), state.slots, reference=created.reference)
        card = AnswerCard(title=flow.title.get(language), body=text, reference=created.reference)
        return TurnResult(
            self._reply(session, text, "done", card=card, flow=flow.id, ticket_id=created.ticket_id), [created]
        )

    def _back_to_flow(self, session: Session, flow: Flow, answer: Reply) -> TurnResult:
        """A side question was answered: remind the customer what the flow is still waiting for."""
        state = session.flow
        assert state is not None
        language = session.language
        slot = next((s for s in flow.slots if s.name == state.awaiting), None)
        prompt = slot.prompt.get(language) if slot else render(flow.confirm.get(language), state.slots)
        reminder = self.message("flow_busy", language, flow=flow.title.get(language))
        text = sentences(language, answer.text, reminder, prompt)
        hint = _input_hint(flow, state.awaiting)
        return TurnResult(replace(answer, text=text, speech=text, kind="prompt", flow=flow.id, input_hint=hint))

    def _cancel_flow(self, session: Session) -> TurnResult:
        assert session.flow is not None
        flow = self.pack.flow(session.flow.flow_id)
        session.flow = None
        session.last_intent = session.last_customer_text = None  # the next question starts afresh
        assert flow is not None
        return TurnResult(self._reply(session, flow.cancelled.get(session.language), "info"))

    # --- hand-off ----------------------------------------------------------------------------------------

    def hand_off(self, session: Session, reason: str) -> TurnResult:
        """File a hand-off ticket with the whole transcript and tell the customer a colleague is coming.

        Once per visit: asked again, the customer hears that a colleague is already on the way."""
        language = session.language
        if session.handed_off:
            return TurnResult(self._reply(session, self.message("handoff_pending", language), "info"))
        summary = f"Customer needs a colleague: {HANDOFF_REASONS.get(reason, reason)}."
        if session.last_intent:
            summary += f" Last topic: {session.last_intent}."
        priority: Priority = "high" if session.sentiment == "negative" else "normal"
        ticket_id = str(uuid.uuid4())
        text = self.message("handoff", language, reference=reference_for(ticket_id))
        # The transcript the colleague reads ends with what the kiosk is telling the customer now.
        session.add_turn("assistant", text)
        created = self.file_ticket(self._ticket_request(session, ticket_id, "handoff", priority, summary))
        session.transcript.pop()
        session.flow = None
        session.handed_off = True
        card = AnswerCard(title=self.message("disclosure", language), body=text, reference=created.reference)
        reply = self._reply(session, text, "handoff", card=card, ticket_id=created.ticket_id)
        handoff = HandoffRequested(session_id=session.id, reason=reason, ticket_id=created.ticket_id)
        return TurnResult(reply, [created, handoff])

    def _ticket_request(
        self,
        session: Session,
        ticket_id: str,
        ticket_type: str,
        priority: Priority,
        summary: str,
        entities: tuple[Entity, ...] = (),
        fields: dict[str, str] | None = None,
    ) -> TicketRequested:
        return TicketRequested(
            ticket_id=ticket_id,
            ticket_type=ticket_type,
            priority=priority,
            summary=summary,
            language=session.language,
            session_id=session.id,
            intent=session.last_intent,
            entities=entities,
            sentiment=session.sentiment,
            transcript=tuple(session.transcript),
            fields=fields or {},
        )

    # --- helpers -----------------------------------------------------------------------------------------

    def _reply(self, session: Session, text: str, kind: ReplyKind, **fields: Any) -> Reply:
        return Reply(
            session_id=session.id,
            text=text,
            language=session.language,
            kind=kind,
            speech=text,
            disclosure=self.message("disclosure", session.language),
            **fields,
        )

    def _say(self, session: Session, reply: Reply, events: list[Event] | None = None) -> TurnResult:
        session.add_turn("assistant", reply.text, reply.intent)
        return TurnResult(reply, list(events or []))


def sentences(language: Language, *parts: str) -> str:
    """Sentences joined as the language writes them: English with spaces, Chinese without."""
    kept = [part.strip() for part in parts if part.strip()]
    return ("" if language == "zh" else " ").join(kept)


def _is_short(nlu: NluResult) -> bool:
    """Three words or fewer ("ok", "yes fine"), or four Chinese characters ("好的", "行吧")."""
    return len(nlu.text) <= 4 if nlu.language == "zh" else len(nlu.text.split()) <= 3


def _is_follow_up(nlu: NluResult) -> bool:
    """A short question that leans on the previous one for its topic: by its words ("and how long does that
    take?"), or because the model could not place it alone but was not sure it is out of scope either."""
    if nlu.language == "zh":
        short, leaning = len(nlu.text) <= _FOLLOW_UP_ZH_MAX_CHARS, _FOLLOW_UP_ZH.search(nlu.text)
    else:
        short, leaning = len(nlu.text.split()) <= _FOLLOW_UP_MAX_WORDS, _FOLLOW_UP.search(nlu.text)
    unplaced = nlu.intent == OOS and nlu.confidence < _UNSURE_OOS
    return short and (bool(leaning) or unplaced)


def _flow_intent(flow: Flow, intent: str) -> str | None:
    """The intent whose answer opens ``flow`` ("lost_or_stolen_card" for the card block), if the model said one."""
    return intent if intent in flow.trigger_intents else None


def _input_hint(flow: Flow, awaiting: str | None) -> str | None:
    """The on-screen input that fits what the flow waits for."""
    if awaiting == "confirm":
        return "yes_no"
    slot = next((s for s in flow.slots if s.name == awaiting), None)
    return slot.input if slot else "keyboard"


def _card(hit: Answer) -> AnswerCard:
    """The screen card of a knowledge entry: its question as the heading, its answer and steps."""
    return AnswerCard(title=hit.question, body=hit.answer, steps=hit.steps, source_id=hit.entry_id)
