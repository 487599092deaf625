"""Events survive the wire: every registered event round-trips through JSON, and events are immutable."""

from __future__ import annotations

import dataclasses
import json

import pytest

from firmware_app import events
from firmware_app.events import (
    STAGES,
    AnswerCard,
    DialogueEnded,
    DialogueError,
    DialogueStarted,
    Entity,
    Event,
    HandoffRequested,
    HandoffUpdate,
    HealthChanged,
    ListeningStarted,
    NluResult,
    NothingHeard,
    PartialTranscript,
    PipelineError,
    Reply,
    ReplyEnded,
    ReplyStarted,
    SessionEnded,
    SessionRated,
    SessionStarted,
    SpeechEnded,
    SpeechStarted,
    SpeechToTextError,
    StageEnded,
    StageStarted,
    TicketCreated,
    TicketRequested,
    Transcribed,
    TranscriptionStarted,
    Turn,
    UpdateProgress,
    UserSaid,
    UtteranceCaptured,
    WakeStarted,
    WakeWordDetected,
    WakeWordError,
    event_from_dict,
)

TICKET_ID = "3f2b8c1e-9a4d-4e2f-8b1a-2c3d4e5f6a7b"

SAMPLES: list[Event] = [
    SessionStarted(session_id="s-1", language="zh"),
    UserSaid(session_id="s-1", text="我的卡丢了", language="zh", source="voice"),
    NluResult(
        text="I lost my card ending 4821 yesterday",
        intent="lost_or_stolen_card",
        confidence=0.93,
        in_scope_score=0.88,
        entities=(
            Entity(kind="card_last4", text="4821", value="4821", start=22, end=26),
            Entity(kind="date", text="yesterday", value="2025-01-01", start=27, end=36),
        ),
        sentiment="negative",
        sentiment_score=-0.45,
        frustrated=True,
        dialogue_act="inform",
        language="en",
    ),
    Reply(
        session_id="s-1",
        text="I have frozen the card.",
        language="en",
        kind="answer",
        card=AnswerCard(
            title="Card frozen",
            body="Your card ending 4821 is frozen.",
            steps=("Check recent payments", "Order a replacement"),
            reference="KB-3F2B8C1E",
            source_id="faq-lost-card",
        ),
        suggestions=("Order a new card", "Talk to a colleague"),
        intent="lost_or_stolen_card",
        flow="lost_card",
        ticket_id=TICKET_ID,
        speech="I have frozen the card.",
        disclosure="You are talking to an automated assistant.",
    ),
    HandoffRequested(session_id="s-1", reason="customer asked for a person", ticket_id=TICKET_ID),
    TicketRequested(
        ticket_id=TICKET_ID,
        ticket_type="handoff",
        priority="high",
        summary="Customer needs a colleague: lost card.",
        language="en",
        session_id="s-1",
        intent="lost_or_stolen_card",
        entities=(Entity(kind="card_last4", text="4821", value="4821", start=22, end=26),),
        sentiment="negative",
        transcript=(
            Turn(role="customer", text="I lost my card", at="2025-01-02T10:00:00.000+00:00"),
            Turn(
                role="assistant",
                text="Sorry to hear that.",
                at="2025-01-02T10:00:01.000+00:00",
                intent="lost_or_stolen_card",
            ),
        ),
    ),
    TicketCreated(ticket_id=TICKET_ID, ticket_type="handoff", priority="high", reference="KB-3F2B8C1E"),
    SessionEnded(session_id="s-1", reason="handoff", turns=7),
    SessionRated(session_id="s-1", stars=4, language="zh"),
    WakeStarted(wake_words=("amelia", "okay_nabu"), time_s=0.0),
    WakeWordDetected(wake_word="amelia", score=0.93, time_s=12.34),
    WakeWordError(code="unavailable", message="no model for wake word 'amelia'"),
    ListeningStarted(trigger="push_to_talk"),
    UtteranceCaptured(path="utterances/u-1.wav", duration_s=2.5, ended_by="silence"),
    UtteranceCaptured(path=None, duration_s=1.2, ended_by="max_length"),
    NothingHeard(trigger="wake_word", waited_s=5.0),
    PartialTranscript(text="i lost my"),
    TranscriptionStarted(audio_s=2.4),
    Transcribed(
        text="what is the exchange rate",
        engine="accurate",
        confidence=0.81,
        seconds=0.62,
        audio_s=2.4,
        escalated="out_of_scope",
    ),
    SpeechToTextError(code="bad_audio", message="the recording is clipped"),
    DialogueStarted(text="what is the exchange rate"),
    DialogueEnded(kind="answer", intent="exchange_rate", seconds=0.04),
    DialogueEnded(kind=None, intent=None, seconds=0.001),
    DialogueError(code="failed", message="RuntimeError: boom"),
    ReplyStarted(kind="answer", language="en"),
    ReplyEnded(spoken=True),
    SpeechStarted(text="We are open from nine to five."),
    SpeechEnded(interrupted=True),
    UpdateProgress(release_id="r-2026-11-21", state="downloading", done=3, total=20),
    HandoffUpdate(ticket_id=TICKET_ID, reference="KB-3F2B8C1E", state="coming", colleague="Ana"),
    HealthChanged(
        capability="broker", ok=False, reason="broker unreachable", fallback="outbox", since="2026-12-07T10:00:00+00:00"
    ),
    HealthChanged(capability="broker", ok=True),
]


def test_samples_cover_every_registered_event() -> None:
    """The round-trip samples include one instance of every event class in the registry (none forgotten)."""
    assert {type(sample) for sample in SAMPLES} == set(events._REGISTRY.values())
    assert {sample.type for sample in SAMPLES} == set(events._REGISTRY)


def test_every_stage_has_its_typed_start_and_end_events_and_the_bases_are_never_sent() -> None:
    """The voice pipeline's stages, in order, each with one start and one end event type (capture may also end
    with ``NothingHeard``); the family bases are not registered, so no event is ever just "a stage ended"."""
    registered = set(events._REGISTRY.values())
    starts = {stage: [c for c in registered if issubclass(c, StageStarted) and c.stage == stage] for stage in STAGES}
    ends = {stage: [c for c in registered if issubclass(c, StageEnded) and c.stage == stage] for stage in STAGES}
    assert STAGES == ("wake", "capture", "stt", "dialogue", "reply", "speech")
    assert all(len(classes) == 1 for classes in starts.values()), starts
    assert {stage: len(classes) for stage, classes in ends.items()} == {
        "wake": 1,
        "capture": 2,
        "stt": 1,
        "dialogue": 1,
        "reply": 1,
        "speech": 1,
    }
    errors = {c.stage: c for c in registered if issubclass(c, PipelineError)}
    assert set(errors) == {"wake", "stt", "dialogue"}
    assert not {StageStarted, StageEnded, PipelineError} & registered


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)
def test_round_trip_through_json(event: Event) -> None:
    """to_json -> json.loads -> event_from_dict rebuilds an equal event, nested dataclasses and tuples included."""
    wire = event.to_json()
    data = json.loads(wire)
    assert data["type"] == event.type
    rebuilt = event_from_dict(data)
    assert type(rebuilt) is type(event)
    assert rebuilt == event
    assert rebuilt.to_json() == wire


def test_nested_values_are_rebuilt_as_dataclasses_and_tuples() -> None:
    """Nested entities, cards and turns come back as their dataclasses, and lists come back as tuples."""
    reply = event_from_dict(json.loads(SAMPLES[3].to_json()))
    assert isinstance(reply, Reply)
    assert isinstance(reply.card, AnswerCard)
    assert reply.card.steps == ("Check recent payments", "Order a replacement")
    assert reply.suggestions == ("Order a new card", "Talk to a colleague")

    ticket = event_from_dict(json.loads(SAMPLES[5].to_json()))
    assert isinstance(ticket, TicketRequested)
    assert all(isinstance(e, Entity) for e in ticket.entities)
    assert [turn.role for turn in ticket.transcript] == ["customer", "assistant"]
    assert all(isinstance(turn, Turn) for turn in ticket.transcript)


def test_json_is_compact_and_keeps_non_ascii() -> None:
    """The JSON form has no padding and keeps Chinese text readable (ensure_ascii=False)."""
    wire = SAMPLES[1].to_json()
    assert wire == '{"type":"user_said","session_id":"s-1","text":"我的卡丢了","language":"zh","source":"voice"}'


def test_defaults_fill_missing_optional_fields() -> None:
    """A minimal dict (required fields only) gets the dataclass defaults."""
    event = event_from_dict({"type": "reply", "session_id": "s", "text": "hi", "language": "en", "kind": "info"})
    assert event == Reply(session_id="s", text="hi", language="en", kind="info")
    assert isinstance(event, Reply)
    assert event.card is None
    assert event.suggestions == ()


@pytest.mark.parametrize("data", [{"type": "no_such_event"}, {"type": "event"}, {}], ids=["unknown", "base", "missing"])
def test_unknown_type_raises_value_error(data: dict[str, object]) -> None:
    """Only registered event types are rebuilt; anything else is a ValueError naming the type."""
    with pytest.raises(ValueError, match="unknown event type"):
        event_from_dict(data)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)
def test_events_are_immutable(event: Event) -> None:
    """Assigning to any field of any event raises FrozenInstanceError."""
    first_field = dataclasses.fields(event)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, first_field, "changed")


def test_nested_values_are_immutable() -> None:
    """Entities, cards and turns inside events are frozen too."""
    nlu = SAMPLES[2]
    assert isinstance(nlu, NluResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        nlu.entities[0].value = "0000"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        AnswerCard(title="t", body="b").title = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Turn(role="customer", text="hi", at="now").text = "bye"  # type: ignore[misc]
