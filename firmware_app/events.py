"""The kiosk's events: small frozen dataclasses with a ``type`` name and a JSON form.

They are used in process (pipeline -> dialogue -> UI) and on the wire where they cross it, so every field
is JSON-friendly (str, int, float, bool, None, tuples of those or of other frozen dataclasses here).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from kiosk_link.wire import HandoffState

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
InputSource = Literal["text", "touch", "voice"]
Role = Literal["customer", "assistant"]
Priority = Literal["low", "normal", "high", "urgent"]
ReplyKind = Literal["answer", "prompt", "confirm", "not_understood", "out_of_scope", "handoff", "done", "info"]
EndReason = Literal["goodbye", "idle_timeout", "handoff", "reset"]

_REGISTRY: dict[str, type[Event]] = {}


@dataclass(frozen=True)
class Event:
    """Base of all events; subclasses that name their own ``type`` register themselves under it."""

    type: ClassVar[str] = "event"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:  # a base of a family (``StageStarted``) is never sent on its own
            _REGISTRY[cls.type] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON form; nested dataclass fields are rebuilt from their annotations."""
    cls = _REGISTRY.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"unknown event type: {data.get('type')!r}")
    return _build(cls, data)


def _build(cls: type, data: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for name in (f.name for f in dataclasses.fields(cls)):
        if name not in data:
            continue
        value = data[name]
        nested = _NESTED.get((cls.__name__, name))
        if nested is not None and value is not None:
            value = tuple(_build(nested, v) for v in value) if isinstance(value, list) else _build(nested, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


@dataclass(frozen=True)
class Entity:
    """A piece of information found in an utterance: ``kind`` and a normalised ``value``."""

    kind: str
    text: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class AnswerCard:
    """What the screen shows for an answer: a heading, the text, optional steps and a take-away reference."""

    title: str
    body: str
    steps: tuple[str, ...] = ()
    reference: str | None = None
    source_id: str | None = None


@dataclass(frozen=True)
class Turn:
    """One line of a conversation transcript."""

    role: Role
    text: str
    at: str
    intent: str | None = None


@dataclass(frozen=True)
class DefectBox:
    """Where a defect is, in the pixels of the photo filed with the ticket: [x1, y1, x2, y2) and its kind."""

    box: tuple[int, int, int, int]
    label: str
    score: float


@dataclass(frozen=True)
class Inspection:
    """What the defect model said about a technician's photo, kept with the ticket so that the colleague who
    follows it up sees the model's verdict (and which model gave it) beside the photo."""

    profile: str
    model: str
    model_version: str
    label: str  # a defect class, an ok class (``defective`` False), or "not_recognised"
    confidence: float
    defective: bool
    defect_score: float
    boxes: tuple[DefectBox, ...] = ()


@dataclass(frozen=True)
class SessionStarted(Event):
    type: ClassVar[str] = "session_started"
    session_id: str
    language: Language


@dataclass(frozen=True)
class UserSaid(Event):
    """Something the customer typed, said (after ASR) or chose by touch."""

    type: ClassVar[str] = "user_said"
    session_id: str
    text: str
    language: Language
    source: InputSource = "text"


@dataclass(frozen=True)
class NluResult(Event):
    type: ClassVar[str] = "nlu_result"
    text: str
    intent: str
    confidence: float
    in_scope_score: float
    entities: tuple[Entity, ...] = ()
    sentiment: str = "neutral"
    sentiment_score: float = 0.0
    frustrated: bool = False
    dialogue_act: str | None = None
    language: Language = "en"


@dataclass(frozen=True)
class Reply(Event):
    """The kiosk's answer to one turn: what to show, what to say, and what the customer can tap next."""

    type: ClassVar[str] = "reply"
    session_id: str
    text: str
    language: Language
    kind: ReplyKind
    card: AnswerCard | None = None
    suggestions: tuple[str, ...] = ()
    intent: str | None = None
    flow: str | None = None
    ticket_id: str | None = None
    # What the screen should offer for the answer: "numpad", "date", "time", "choice", "keyboard", "yes_no".
    input_hint: str | None = None
    speech: str = ""
    disclosure: str = ""


@dataclass(frozen=True)
class HandoffRequested(Event):
    type: ClassVar[str] = "handoff_requested"
    session_id: str
    reason: str
    ticket_id: str


@dataclass(frozen=True)
class TicketRequested(Event):
    """The dialogue (or, later, vision) asks for a ticket; ``ticket_id`` is its idempotency key."""

    type: ClassVar[str] = "ticket_requested"
    ticket_id: str
    ticket_type: str
    priority: Priority
    summary: str
    language: Language
    session_id: str | None = None
    intent: str | None = None
    entities: tuple[Entity, ...] = ()
    sentiment: str | None = None
    transcript: tuple[Turn, ...] = ()
    # Files that travel with the ticket (a technician's photo and its annotated copy), relative to the data dir.
    attachments: tuple[str, ...] = ()
    inspection: Inspection | None = None  # a technician's photo that went through the defect model
    fields: dict[str, str] = field(default_factory=dict)  # a flow's slot values (card_last4, date, time, topic)


@dataclass(frozen=True)
class TicketCreated(Event):
    type: ClassVar[str] = "ticket_created"
    ticket_id: str
    ticket_type: str
    priority: str
    reference: str


@dataclass(frozen=True)
class SessionEnded(Event):
    type: ClassVar[str] = "session_ended"
    session_id: str
    reason: EndReason
    turns: int = field(default=0)


@dataclass(frozen=True)
class SessionRated(Event):
    """The customer's 1-5 satisfaction rating at the end of a visit (anonymous: no words, no numbers)."""

    type: ClassVar[str] = "session_rated"
    session_id: str
    stars: int
    language: Language


# --- the voice pipeline (``firmware_app.voice``) ------------------------------------------------------------
#
# A spoken turn runs through ordered stages (``STAGES``); each stage announces itself with a start event and an
# end event (subclasses of ``StageStarted`` / ``StageEnded`` naming their ``stage``), and a stage that cannot do
# its work publishes a ``PipelineError`` of its own kind, with a ``code``, and the turn stops there.

# wake word -> capture of the utterance -> speech to text -> understanding and dialogue -> reply -> speech (TTS)
Stage = Literal["wake", "capture", "stt", "dialogue", "reply", "speech"]
STAGES: tuple[Stage, ...] = ("wake", "capture", "stt", "dialogue", "reply", "speech")

# What started a capture: a wake word, the microphone button, or the customer talking over the kiosk's voice.
CaptureTrigger = Literal["wake_word", "push_to_talk", "barge_in"]


@dataclass(frozen=True)
class StageStarted(Event):
    """A stage of the voice pipeline began; ``stage`` says which (a listener can follow a turn without knowing
    every event type)."""

    stage: ClassVar[Stage]


@dataclass(frozen=True)
class StageEnded(Event):
    """A stage of the voice pipeline finished its work."""

    stage: ClassVar[Stage]


@dataclass(frozen=True)
class PipelineError(Event):
    """A stage of the voice pipeline could not do its work: ``code`` says why (the screen picks its notice by
    it), ``message`` says it in words for the logs."""

    stage: ClassVar[Stage]
    code: str
    message: str = ""


@dataclass(frozen=True)
class WakeStarted(StageStarted):
    """The listening loop waits for a wake word (at the start, and again after each turn). A tap on the
    microphone button or speech over the kiosk's voice end the wait without one: the turn starts at capture."""

    type: ClassVar[str] = "wake_started"
    stage: ClassVar[Stage] = "wake"
    wake_words: tuple[str, ...]
    time_s: float  # seconds into the audio stream


@dataclass(frozen=True)
class WakeWordDetected(StageEnded):
    """A wake word was heard: the kiosk chimes, shows that it listens, and captures the question."""

    type: ClassVar[str] = "wake_word_detected"
    stage: ClassVar[Stage] = "wake"
    wake_word: str
    score: float
    time_s: float  # seconds into the audio stream


@dataclass(frozen=True)
class WakeWordError(PipelineError):
    """The wake words cannot be listened for (a model missing or altered): the kiosk listens on a tap only."""

    type: ClassVar[str] = "wake_word_error"
    stage: ClassVar[Stage] = "wake"
    code: Literal["unavailable"]


@dataclass(frozen=True)
class ListeningStarted(StageStarted):
    """Capture of an utterance began (after a wake word, or a tap on the microphone button)."""

    type: ClassVar[str] = "listening_started"
    stage: ClassVar[Stage] = "capture"
    trigger: CaptureTrigger


@dataclass(frozen=True)
class UtteranceCaptured(StageEnded):
    """One utterance, end-pointed by voice activity. Its audio goes to speech recognition in memory; ``path`` is
    the 16 kHz mono WAV it was also saved to by a listening loop that keeps recordings, else None."""

    type: ClassVar[str] = "utterance_captured"
    stage: ClassVar[Stage] = "capture"
    path: str | None
    duration_s: float
    ended_by: Literal["silence", "max_length", "stream_end"]


@dataclass(frozen=True)
class NothingHeard(StageEnded):
    """Listening started but no speech came before the time limit: the screen asks the customer to try again,
    and the turn ends with the capture."""

    type: ClassVar[str] = "nothing_heard"
    stage: ClassVar[Stage] = "capture"
    trigger: CaptureTrigger
    waited_s: float


@dataclass(frozen=True)
class PartialTranscript(Event):
    """What the fast recognizer has understood so far, while the customer is still speaking (during capture)."""

    type: ClassVar[str] = "partial_transcript"
    text: str


@dataclass(frozen=True)
class TranscriptionStarted(StageStarted):
    """The captured utterance (``audio_s`` long) went to speech recognition: the screen shows "thinking"."""

    type: ClassVar[str] = "transcription_started"
    stage: ClassVar[Stage] = "stt"
    audio_s: float


@dataclass(frozen=True)
class Transcribed(StageEnded):
    """An utterance recognized: the words, the engine that heard them, and whether the fast engine was overruled.

    ``seconds`` is the recognition time after the end of speech (every engine that ran).
    """

    type: ClassVar[str] = "transcribed"
    stage: ClassVar[Stage] = "stt"
    text: str
    engine: Literal["fast", "accurate"]
    confidence: float
    seconds: float
    audio_s: float
    escalated: Literal["low_confidence", "out_of_scope", "empty"] | None = None


@dataclass(frozen=True)
class SpeechToTextError(PipelineError):
    """The utterance gave no words to answer: recognition is not installed (``unavailable``), the audio cannot
    be used (``bad_audio``: clipped, silent, too short), the engines heard no words (``no_text``, after
    ``Transcribed``), or an engine crashed (``failed``)."""

    type: ClassVar[str] = "stt_error"
    stage: ClassVar[Stage] = "stt"
    code: Literal["unavailable", "bad_audio", "no_text", "failed"]


@dataclass(frozen=True)
class DialogueStarted(StageStarted):
    """The customer's words (``text``, as recognized) went to understanding and the dialogue (or, on a screen, to
    a spoken command)."""

    type: ClassVar[str] = "dialogue_started"
    stage: ClassVar[Stage] = "dialogue"
    text: str


@dataclass(frozen=True)
class DialogueEnded(StageEnded):
    """The dialogue answered (``kind`` and ``intent`` of its ``Reply``), or the words worked the screen instead
    and need no reply (``kind`` None). ``seconds``: understanding and dialogue together."""

    type: ClassVar[str] = "dialogue_ended"
    stage: ClassVar[Stage] = "dialogue"
    kind: ReplyKind | None
    intent: str | None
    seconds: float


@dataclass(frozen=True)
class DialogueError(PipelineError):
    """The dialogue failed on the customer's words (``failed``; the log has the traceback)."""

    type: ClassVar[str] = "dialogue_error"
    stage: ClassVar[Stage] = "dialogue"
    code: Literal["failed"]


@dataclass(frozen=True)
class ReplyStarted(StageStarted):
    """A reply goes to the kiosk's voice: the answer of a spoken turn, or any other reply (a tap, a greeting),
    since the kiosk says everything it shows."""

    type: ClassVar[str] = "reply_started"
    stage: ClassVar[Stage] = "reply"
    kind: ReplyKind
    language: Language


@dataclass(frozen=True)
class ReplyEnded(StageEnded):
    """The reply was handed to the voice (``spoken``), or not: a silent kiosk, or nothing to say."""

    type: ClassVar[str] = "reply_ended"
    stage: ClassVar[Stage] = "reply"
    spoken: bool


@dataclass(frozen=True)
class SpeechStarted(StageStarted):
    """The kiosk's voice started to play ``text`` (synthesized): the screen shows "speaking", and speech over it
    is a barge-in."""

    type: ClassVar[str] = "speech_started"
    stage: ClassVar[Stage] = "speech"
    text: str


@dataclass(frozen=True)
class SpeechEnded(StageEnded):
    """The kiosk's voice finished, or was cut short (``interrupted``) by the customer or a newer reply."""

    type: ClassVar[str] = "speech_ended"
    stage: ClassVar[Stage] = "speech"
    interrupted: bool


@dataclass(frozen=True)
class UpdateProgress(Event):
    """Where the kiosk is with a signed release (each report the updater sends the fleet): the staff screen
    shows it, and "installed" makes the kiosk load the new models and pack at its next quiet moment. ``state``
    and ``reason`` are the wire's ``UpdateState`` and ``UpdateReason`` codes; ``done``/``total`` count chunks."""

    type: ClassVar[str] = "update_progress"
    release_id: str | None
    state: str
    reason: str | None = None
    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class HandoffUpdate(Event):
    """A colleague answered one of this kiosk's hand-off tickets from the staff console (the wire's
    ``kiosk.handoff/1``, received on the sync's thread): the hand-off screen of the visit that filed ``ticket_id``
    tells the customer, by the colleague's name, that they are ``coming``, ``pending`` or that the request is
    ``closed``."""

    type: ClassVar[str] = "handoff_update"
    ticket_id: str
    reference: str
    state: HandoffState
    colleague: str


@dataclass(frozen=True)
class HealthChanged(Event):
    """A capability of the kiosk (``firmware_app.health.Capability``) went degraded, or back to full service
    (``ok``): ``reason`` says what broke, ``fallback`` what serves instead (a ``health.Fallback`` code), ``since``
    when (UTC, ISO 8601). The staff screen and the link to the fleet follow it."""

    type: ClassVar[str] = "health_changed"
    capability: str
    ok: bool
    reason: str = ""
    fallback: str | None = None
    since: str | None = None


# Which fields hold nested dataclasses, so ``event_from_dict`` can rebuild them.
_NESTED: dict[tuple[str, str], type] = {
    ("NluResult", "entities"): Entity,
    ("Reply", "card"): AnswerCard,
    ("TicketRequested", "entities"): Entity,
    ("TicketRequested", "transcript"): Turn,
    ("TicketRequested", "inspection"): Inspection,
    ("Inspection", "boxes"): DefectBox,
}


def reference_for(ticket_id: str, digits: int = 8) -> str:
    """Short code a customer can read out: ``KB-`` and the first hex digits of the UUID (the ticket store adds
    digits in the rare case another ticket already has these)."""
    return "KB-" + uuid.UUID(ticket_id).hex[:digits].upper()
