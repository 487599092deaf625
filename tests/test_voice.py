"""The whole voice path on real audio: a real "Amelia" recording or a tap, then a question spoken by flite,
through Silero VAD, PocketSphinx (streaming) / Whisper, the intent model, the dialogue and a spoken reply."""

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
    SpeakingChanged,
    Transcribed,
    UtteranceCaptured,
)
from firmware_app.screen.controller import KioskController
from firmware_app.voice import VoicePipeline, attach_voice
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
            voice.listener.push_to_talk()
        voice.listener.step(frame)
    voice.listener.finish()
    assert voice.wait_until_quiet(10.0)


Voiced = tuple[VoicePipeline, list[Event], WavFileOutput]


@pytest.fixture()
def voiced(controller: KioskController, policy: AsrPolicy, tmp_path: Path) -> Iterator[Voiced]:
    seen: list[Event] = []
    controller.kiosk.bus.subscribe(seen.append)
    output = WavFileOutput(tmp_path / "replies")
    (tmp_path / "replies").mkdir()
    voice = attach_voice(controller, ArraySource(silence(0.1)), output, policy=policy, wait_for_engines=True)
    yield voice, seen, output
    voice.close()
    controller.kiosk.bus.unsubscribe(seen.append)
    controller.kiosk.bus.unsubscribe(voice.turns.on_event)


def test_wake_word_then_question_gets_a_spoken_answer(
    voiced: Voiced, controller: KioskController, flite: SpeechSynthesizer
) -> None:
    voice, seen, output = voiced
    audio = np.concatenate(
        [silence(0.5), read(AMELIA_LOUD), silence(0.3), spoken(flite, "I lost my card"), silence(1.5)]
    )
    drive(voice, audio)
    kinds = [type(event).__name__ for event in seen]
    # (UtteranceCaptured is recorded after the turn it caused: the bus calls the kiosk's subscriber first)
    assert kinds.index("WakeWordDetected") < kinds.index("PartialTranscript") < kinds.index("Transcribed")
    assert "UtteranceCaptured" in kinds
    partials = [e.text for e in seen if isinstance(e, PartialTranscript)]
    assert partials, "the screen saw no words while the customer spoke"
    transcribed = next(e for e in seen if isinstance(e, Transcribed))
    assert {"lost", "card"} <= set(transcribed.text.split()), transcribed
    reply = next(e for e in seen if isinstance(e, Reply) and e.intent)
    assert reply.intent == "lost_or_stolen_card", reply
    spoken_states = [e.state for e in seen if isinstance(e, SpeakingChanged)]
    assert spoken_states[-2:] == ["started", "finished"]
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


def test_an_unusable_recording_says_so_on_screen(voiced: Voiced, controller: KioskController, tmp_path: Path) -> None:
    _, seen, _ = voiced
    controller.touch_start()
    wav = tmp_path / "clipped.wav"
    with WavSink(wav) as sink:
        sink.write(np.full(16_000, 32_767, dtype=np.int16))  # a second at full scale: clipped beyond use
    controller.kiosk.bus.publish(UtteranceCaptured(path=str(wav), duration_s=1.0, ended_by="silence"))
    assert controller.state.notice == "not_understood_audio"
    assert not wav.exists()  # the recording is personal data: deleted once read
    assert not any(isinstance(e, Transcribed) for e in seen)


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
