"""The whole voice path on real audio: a real "Amelia" recording or a tap, then a question spoken by flite,
through Silero VAD, PocketSphinx (streaming) / Whisper, the intent model, the dialogue and a spoken reply: the
voice pipeline serving the screen, and ``kiosk listen`` running it with no screen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from firmware_app.app import Kiosk
from firmware_app.asr.engines import build_policy, in_scope_of
from firmware_app.asr.policy import AsrPolicy
from firmware_app.audio.sinks import WavSink
from firmware_app.audio.sources import ArraySource
from firmware_app.audio.tts import SpeechSynthesizer, WavFileOutput
from firmware_app.cli import main
from firmware_app.config import KioskSettings
from firmware_app.events import (
    Event,
    ListeningStarted,
    PartialTranscript,
    Reply,
    SpeechEnded,
    SpeechStarted,
    SpeechToTextError,
    Stage,
    StageEnded,
    StageStarted,
    Transcribed,
    UtteranceCaptured,
)
from firmware_app.kiosk_voice import voice_for
from firmware_app.screen.controller import KioskController
from firmware_app.voice.pipeline import VoicePipeline
from tests.audio_samples import AMELIA_LOUD, read, silence

pytestmark = pytest.mark.skipif(not SpeechSynthesizer("flite").enabled, reason="flite is not installed")


@pytest.fixture(scope="module")
def flite() -> SpeechSynthesizer:
    return SpeechSynthesizer("flite", voice_en="slt")


def spoken(synthesizer: SpeechSynthesizer, text: str) -> np.ndarray:
    return np.asarray(synthesizer.synthesize(text, "en"))


@pytest.fixture(scope="module")
def policy(settings: KioskSettings, kiosk: Kiosk) -> AsrPolicy:
    """Both engines, loaded once for the module."""
    return build_policy(settings, kiosk.pack, in_scope=in_scope_of(kiosk.nlu.classifiers["en"]))


def drive(voice: VoicePipeline, audio: np.ndarray, tap_at_s: float | None = None) -> None:
    """Feed ``audio`` frame by frame as the microphone would, tapping the microphone button at ``tap_at_s``."""
    tap_frame = None if tap_at_s is None else round(tap_at_s * 100)
    for index, frame in enumerate(ArraySource(audio).frames()):
        if index == tap_frame:
            voice.push_to_talk()
        voice.step(frame)
    voice.finish()
    assert voice.wait_until_quiet(10.0)


def boundaries(events: list[Event]) -> list[tuple[Stage, str]]:
    """The stage boundaries among ``events``: (stage, "start" or "end"), in order."""
    return [
        (event.stage, "start" if isinstance(event, StageStarted) else "end")
        for event in events
        if isinstance(event, StageStarted | StageEnded)
    ]


def in_order(expected: list[tuple[Stage, str]], actual: list[tuple[Stage, str]]) -> bool:
    """Whether ``expected`` appears in ``actual`` in this order (other events may come between)."""
    remaining = iter(actual)
    return all(step in remaining for step in expected)


ONE_TURN: list[tuple[Stage, str]] = [
    (stage, boundary) for stage in ("capture", "stt", "dialogue", "reply", "speech") for boundary in ("start", "end")
]


Voiced = tuple[VoicePipeline, list[Event], WavFileOutput]


@pytest.fixture()
def voiced(controller: KioskController, policy: AsrPolicy, tmp_path: Path) -> Iterator[Voiced]:
    seen: list[Event] = []
    controller.kiosk.bus.subscribe(seen.append)
    output = WavFileOutput(tmp_path / "replies")
    (tmp_path / "replies").mkdir()
    voice = voice_for(
        controller.kiosk, ArraySource(silence(0.1)), output, controller, policy=policy, wait_for_engines=True
    )
    controller.connect_voice(voice)
    yield voice, seen, output
    voice.close()
    controller.kiosk.bus.unsubscribe(seen.append)


def test_wake_word_then_question_gets_a_spoken_answer(
    voiced: Voiced, controller: KioskController, flite: SpeechSynthesizer
) -> None:
    voice, seen, output = voiced
    audio = np.concatenate(
        [silence(0.5), read(AMELIA_LOUD), silence(0.3), spoken(flite, "I lost my card"), silence(1.5)]
    )
    drive(voice, audio)
    kinds = [type(event).__name__ for event in seen]
    assert kinds.index("WakeWordDetected") < kinds.index("PartialTranscript") < kinds.index("UtteranceCaptured")
    assert kinds.index("UtteranceCaptured") < kinds.index("Transcribed")
    # The loop waits for the next wake word once the reply is handed to the voice, which speaks on its own thread.
    assert in_order([("wake", "start"), ("wake", "end"), *ONE_TURN[:-2], ("wake", "start")], boundaries(seen))
    assert in_order(ONE_TURN, boundaries(seen))
    captured = next(e for e in seen if isinstance(e, UtteranceCaptured))
    assert captured.path is None and not (controller.kiosk.settings.data_dir / "utterances").exists()
    partials = [e.text for e in seen if isinstance(e, PartialTranscript)]
    assert partials, "the screen saw no words while the customer spoke"
    transcribed = next(e for e in seen if isinstance(e, Transcribed))
    assert {"lost", "card"} <= set(transcribed.text.split()), transcribed
    reply = next(e for e in seen if isinstance(e, Reply) and e.intent)
    assert reply.intent == "lost_or_stolen_card", reply
    voice_states = [e for e in seen if isinstance(e, SpeechStarted | SpeechEnded)]
    assert voice_states[-2:] == [SpeechStarted(text=reply.speech or reply.text), SpeechEnded(interrupted=False)]
    assert output.paths and output.paths[-1].stat().st_size > 10_000  # the answer, as audio
    assert controller.state.screen == "form"  # the block-card flow asks for the card's last digits


def test_a_tap_starts_the_same_capture_and_digits_use_the_grammar(
    voiced: Voiced, controller: KioskController, flite: SpeechSynthesizer
) -> None:
    voice, seen, _ = voiced
    controller.touch_start()
    drive(voice, np.concatenate([spoken(flite, "my card was stolen"), silence(1.5)]), tap_at_s=0.0)
    assert controller.state.form is not None and controller.state.form.hint == "numpad", controller.state
    assert controller.expected_grammar() == "digits"
    seen.clear()
    drive(voice, np.concatenate([spoken(flite, "four eight two one"), silence(1.5)]), tap_at_s=0.0)
    transcribed = next(e for e in seen if isinstance(e, Transcribed))
    assert transcribed.text.replace(" ", "") == "4821", transcribed


def test_speech_over_the_kiosk_voice_interrupts_it(
    voiced: Voiced, controller: KioskController, flite: SpeechSynthesizer
) -> None:
    voice, seen, _ = voiced
    voice.listener.kiosk_speaking.set()  # as while a reply plays
    drive(voice, np.concatenate([silence(0.5), spoken(flite, "what are your opening hours"), silence(1.5)]))
    started = [e for e in seen if isinstance(e, ListeningStarted)]
    assert [e.trigger for e in started] == ["barge_in"]
    transcribed = next(e for e in seen if isinstance(e, Transcribed))
    assert "opening" in transcribed.text and "hours" in transcribed.text, transcribed


def test_an_unusable_recording_says_so_on_screen(voiced: Voiced, controller: KioskController) -> None:
    voice, seen, _ = voiced
    controller.touch_start()
    voice.run_turn(np.full(16_000, 32_767, dtype=np.int16), 16_000)  # a second at full scale: clipped beyond use
    assert controller.state.notice == "not_understood_audio" and controller.state.activity == "idle"
    error = next(e for e in seen if isinstance(e, SpeechToTextError))
    assert error.code == "bad_audio" and "clipped" in error.message
    assert not any(isinstance(e, Transcribed) for e in seen)
    assert boundaries(seen)[-1] == ("stt", "start")  # the turn stopped at the stage that failed


def test_kiosk_listen_holds_a_conversation_across_files(tmp_path: Path, flite: SpeechSynthesizer) -> None:
    files = []
    for index, text in enumerate(["what are your opening hours", "I lost my card"]):
        path = tmp_path / f"turn{index}.wav"
        with WavSink(path) as sink:
            sink.write(spoken(flite, text))
        files.append(str(path))
    replies = tmp_path / "replies"
    result = CliRunner().invoke(
        main,
        ["listen", "--push-to-talk", "--replies", str(replies), *files],
        env={"KIOSK_DATA_DIR": str(tmp_path / "data"), "KIOSK_LISTENING__WAKE_WORDS": "[]"},
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert all("t_audio_s" in e and "t_wall_s" in e for e in events)
    heard = [e["text"] for e in events if e["type"] == "transcribed"]
    assert len(heard) == 2 and "hours" in heard[0] and "card" in heard[1], heard
    said = [e for e in events if e["type"] == "reply"]
    assert len({e["session_id"] for e in said}) == 1 and len(said) == 3  # one visit: greeting, two answers
    assert "open" in said[1]["text"] and said[2]["intent"] == "lost_or_stolen_card"
    assert len(list(replies.glob("reply-*.wav"))) >= 2
    captured = [e for e in events if e["type"] == "utterance_captured"]
    assert len(captured) == 2 and all(e["path"] is None for e in captured)  # the audio stayed in memory
    turn = [e["type"] for e in events if e["type"] in STAGE_TYPES]
    assert turn == [*STAGE_TYPES] * 2, turn  # each turn through the stages in order
    assert [e["interrupted"] for e in events if e["type"] == "speech_ended"] == [False, False]  # both answers said


STAGE_TYPES = (
    "listening_started",
    "utterance_captured",
    "transcription_started",
    "transcribed",
    "dialogue_started",
    "dialogue_ended",
    "reply_started",
    "reply_ended",
)
