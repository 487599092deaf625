"""The voice pipeline's stages on their own: real audio through the real listening loop (Silero VAD), with a
stand-in recognizer and conversation, so these tests are about the order of the stages, their events and their
typed errors, not about recognizing words. No screen and no ``KioskController`` take part; the last tests run
the visit a screenless kiosk (``kiosk listen``, the ASR bench) talks to on the real kiosk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from firmware_app.app import EventBus, Kiosk
from firmware_app.asr.policy import AsrPolicy, LazyRecognizer
from firmware_app.asr.types import Grammar, SpeechRecognizer, Transcript
from firmware_app.audio.sources import ArraySource
from firmware_app.config import load_settings
from firmware_app.events import (
    DialogueEnded,
    DialogueError,
    DialogueStarted,
    Event,
    HandoffUpdate,
    ListeningStarted,
    Reply,
    ReplyEnded,
    ReplyStarted,
    SessionEnded,
    SessionStarted,
    SpeechToTextError,
    Transcribed,
    TranscriptionStarted,
    UtteranceCaptured,
    WakeStarted,
    WakeWordError,
)
from firmware_app.kiosk_voice import ScreenlessVisit
from firmware_app.voice.pipeline import VoicePipeline
from tests.audio_samples import CHEDDAR_BLOCK, WINE_GLASS, read, silence

QUESTION = np.concatenate([silence(0.3), read(WINE_GLASS), silence(1.5)])
TURN = [
    ListeningStarted,
    UtteranceCaptured,
    TranscriptionStarted,
    Transcribed,
    DialogueStarted,
    DialogueEnded,
    ReplyStarted,
    ReplyEnded,
]


class HeardAs:
    """Stands in for the fast engine: hears every utterance as ``text``, and keeps what it was given."""

    name = "fast"

    def __init__(self, text: str) -> None:
        self.text = text
        self.heard: list[tuple[np.ndarray, Grammar | None]] = []

    def transcribe(self, samples: np.ndarray, grammar: Grammar | None = None) -> Transcript:
        self.heard.append((samples, grammar))
        return Transcript(self.text, "fast", 0.9, 0.001, len(samples) / 16_000)


class Answers:
    """Stands in for the screen or a visit: answers every question (or fails on the ones in ``failing``)."""

    def __init__(self, grammar: Grammar | None = None, failing: tuple[int, ...] = ()) -> None:
        self.grammar = grammar
        self.failing = failing
        self.asked: list[str] = []

    def respond(self, text: str) -> Reply:
        self.asked.append(text)
        if len(self.asked) - 1 in self.failing:
            raise RuntimeError("the dialogue broke")
        return Reply(session_id="s-1", text=f"You asked: {text}", language="en", kind="answer", intent="card_arrival")

    def expected_grammar(self) -> Grammar | None:
        return self.grammar


def fast_policy(build: Callable[[], SpeechRecognizer]) -> AsrPolicy:
    def never() -> SpeechRecognizer:
        raise AssertionError("the fast mode never asks Whisper")

    return AsrPolicy(
        "fast",
        LazyRecognizer(build),
        LazyRecognizer(never),
        escalate_below=0.6,
        escalate_digits_below=0.95,
        escalate_max_audio_s=10.0,
    )


Built = tuple[VoicePipeline, list[Event]]


@pytest.fixture()
def build(tmp_path: Path) -> Iterator[Callable[..., Built]]:
    """A silent pipeline (no TTS) on ``audio``, its events collected from the first one published."""
    made: list[VoicePipeline] = []

    def make(
        audio: np.ndarray, conversation: Any, recognizer: Callable[[], SpeechRecognizer], **listening: Any
    ) -> Built:
        settings = load_settings(
            data_dir=tmp_path / "data", listening={"wake_words": [], **listening}, speech={"tts_engine": "none"}
        )
        bus = EventBus()
        seen: list[Event] = []
        bus.subscribe(seen.append)
        pipeline = VoicePipeline(settings, ArraySource(audio), bus, conversation, fast_policy(recognizer), None)
        pipeline.load_engines(wait=True)
        made.append(pipeline)
        return pipeline, seen

    yield make
    for pipeline in made:
        pipeline.close()


def tap_and_hear(pipeline: VoicePipeline, audio: np.ndarray, taps_at_s: tuple[float, ...] = (0.0,)) -> None:
    tap_frames = {round(at_s * 100) for at_s in taps_at_s}
    for index, frame in enumerate(ArraySource(audio).frames()):
        if index in tap_frames:
            pipeline.push_to_talk()
        pipeline.step(frame)
    pipeline.finish()


def test_a_turn_runs_the_stages_in_order_with_the_audio_in_memory(build: Callable[..., Built], tmp_path: Path) -> None:
    engine = HeardAs("where is my wine glass")
    answers = Answers(grammar="digits")
    pipeline, seen = build(QUESTION, answers, lambda: engine)
    tap_and_hear(pipeline, QUESTION)

    assert [type(e) for e in seen] == TURN
    captured = seen[1]
    assert isinstance(captured, UtteranceCaptured) and captured.path is None
    (samples, grammar), *_ = engine.heard
    assert len(samples) == round(captured.duration_s * 16_000) and grammar == "digits"
    assert seen[2] == TranscriptionStarted(audio_s=round(captured.duration_s, 2))
    assert answers.asked == ["where is my wine glass"]
    ended = seen[5]
    assert isinstance(ended, DialogueEnded) and (ended.kind, ended.intent) == ("answer", "card_arrival")
    assert seen[-2:] == [ReplyStarted(kind="answer", language="en"), ReplyEnded(spoken=False)]  # a silent kiosk
    assert not any(path.is_file() for path in tmp_path.rglob("*"))  # no recording touched the disk


def test_no_words_end_the_turn_after_recognition_with_a_typed_error(build: Callable[..., Built]) -> None:
    answers = Answers()
    pipeline, seen = build(QUESTION, answers, lambda: HeardAs(""))
    tap_and_hear(pipeline, QUESTION)
    assert [type(e) for e in seen] == [*TURN[:4], SpeechToTextError]
    error = seen[-1]
    assert isinstance(error, SpeechToTextError) and error.code == "no_text" and error.stage == "stt"
    assert answers.asked == []


def test_audio_the_recognizers_cannot_use_is_a_bad_audio_error(build: Callable[..., Built]) -> None:
    pipeline, seen = build(silence(0.1), Answers(), lambda: HeardAs("never"))
    pipeline.run_turn(np.zeros(800, dtype=np.int16), 16_000)  # 50 ms of nothing
    pipeline.run_turn(read(WINE_GLASS), 8_000)
    errors = [e for e in seen if isinstance(e, SpeechToTextError)]
    assert [e.code for e in errors] == ["bad_audio", "bad_audio"]
    assert "too short" in errors[0].message and "8000 Hz" in errors[1].message
    assert not any(isinstance(e, Transcribed) for e in seen)


def test_recognizers_that_cannot_load_make_every_turn_unavailable(build: Callable[..., Built]) -> None:
    def missing() -> SpeechRecognizer:
        raise FileNotFoundError("no acoustic model")

    pipeline, seen = build(QUESTION, Answers(), missing)
    tap_and_hear(pipeline, QUESTION)
    error = seen[-1]
    assert isinstance(error, SpeechToTextError) and error.code == "unavailable" and "acoustic model" in error.message


def test_a_failing_dialogue_is_reported_and_the_next_turn_still_runs(build: Callable[..., Built]) -> None:
    audio = np.concatenate([QUESTION, silence(0.5), read(CHEDDAR_BLOCK), silence(1.5)])
    answers = Answers(failing=(0,))
    pipeline, seen = build(audio, answers, lambda: HeardAs("a question"))
    tap_and_hear(pipeline, audio, taps_at_s=(0.0, len(QUESTION) / 16_000 + 0.3))

    assert [type(e) for e in seen] == [*TURN[:5], DialogueError, *TURN]
    error = seen[5]
    assert isinstance(error, DialogueError) and error.code == "failed" and "the dialogue broke" in error.message
    assert len(answers.asked) == 2


def test_replies_from_elsewhere_go_through_the_reply_stage(build: Callable[..., Built]) -> None:
    pipeline, seen = build(silence(0.1), Answers(), lambda: HeardAs("never"))
    tapped = Reply(session_id="s-1", text="Our opening hours", language="zh", kind="answer")
    pipeline.bus.publish(tapped)  # a tapped topic's answer: the kiosk says what it shows
    assert seen == [tapped, ReplyStarted(kind="answer", language="zh"), ReplyEnded(spoken=False)]


def test_the_wake_stage_starts_with_the_loop_and_again_after_each_turn(build: Callable[..., Built]) -> None:
    pipeline, seen = build(QUESTION, Answers(), lambda: HeardAs("a question"), wake_words=["amelia"])
    tap_and_hear(pipeline, QUESTION)  # a tap ends the wait for the wake word: the turn starts at capture
    assert [type(e) for e in seen] == [WakeStarted, *TURN, WakeStarted]
    assert seen[0] == WakeStarted(wake_words=("amelia",), time_s=0.0)
    last = seen[-1]
    assert isinstance(last, WakeStarted) and last.time_s > 2.0


def test_wake_words_that_cannot_load_are_a_typed_error_and_taps_still_work(build: Callable[..., Built]) -> None:
    pipeline, seen = build(QUESTION, Answers(), lambda: HeardAs("a question"), wake_words=["no_such_word"])
    tap_and_hear(pipeline, QUESTION)
    error = seen[0]
    assert isinstance(error, WakeWordError) and error.code == "unavailable" and "no_such_word" in error.message
    assert [type(e) for e in seen[1:]] == TURN  # no wake stage: push-to-talk only


def test_a_screenless_visit_begins_with_its_first_question_and_hears_numbers_when_asked(
    kiosk: Kiosk, events: list[Event]
) -> None:
    visit = ScreenlessVisit(kiosk)
    assert visit.expected_grammar() is None
    reply = visit.respond("my card was stolen")
    assert [type(e) for e in events][:2] == [SessionStarted, Reply]  # a visit, and its greeting, first
    assert reply.flow and reply.input_hint == "numpad"
    assert visit.expected_grammar() == "digits"
    session = visit.session
    assert session is not None
    visit.end()
    assert isinstance(events[-1], SessionEnded) and events[-1].session_id == session.id
    assert visit.session is None and visit.expected_grammar() is None


def test_a_screenless_visit_says_aloud_who_is_coming_for_its_hand_off_and_nothing_for_another(
    kiosk: Kiosk, events: list[Event]
) -> None:
    """The staff console's word (``HandoffUpdate``, as the kiosk's link publishes it) becomes a reply, which the
    voice pipeline speaks like any other: a kiosk with no screen still tells the customer Ana is on the way."""
    visit = ScreenlessVisit(kiosk)
    handoff = visit.respond("Can I speak to a real person please?")
    assert handoff.kind == "handoff" and handoff.ticket_id
    before = len(events)  # the greeting and the hand-off's own replies come first
    other = HandoffUpdate(
        ticket_id="0" * 8 + "-0000-4000-8000-" + "0" * 12, reference="KB-0", state="coming", colleague="Bo"
    )
    kiosk.bus.publish(other)  # an earlier visit's ticket: nothing said
    kiosk.bus.publish(HandoffUpdate(ticket_id=handoff.ticket_id, reference="KB-1", state="coming", colleague="Ana"))
    said = [(e.text, e.language) for e in events[before:] if isinstance(e, Reply)]
    assert said == [("Ana is on the way to you", "en")]
    visit.end()
    kiosk.bus.publish(HandoffUpdate(ticket_id=handoff.ticket_id, reference="KB-1", state="closed", colleague="Ana"))
    assert len([e for e in events[before:] if isinstance(e, Reply)]) == 1  # the visit is over: nothing more said
