"""The voice states on the real screen: words appearing while the customer speaks, thinking about what was heard,
the kiosk speaking its answer, and a touch or the customer's voice cutting it short."""

from __future__ import annotations

import pytest

from firmware_app.events import (
    ListeningStarted,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
    TranscriptionStarted,
    WakeWordDetected,
)
from firmware_app.screen.controller import KioskController
from firmware_app.screen.strings import t
from tests.ui_driver import UiDriver

HEARD = {
    "en": "I would like to know what time you open on Saturday and whether I can pay in a cheque for my daughter",
    "zh": "我想知道你们星期六几点开门，还有我能不能帮我女儿存一张支票，需要带什么证件",
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_words_appear_while_the_customer_speaks(ui: UiDriver, controller: KioskController, language: str) -> None:
    if language == "zh":
        controller.set_language("zh")
    bus = controller.kiosk.bus
    bus.publish(WakeWordDetected(wake_word="amelia", score=0.99, time_s=1.0))
    words = HEARD[language]
    bus.publish(PartialTranscript(text=words[:12]))
    assert words[:12] in ui.text()
    bus.publish(PartialTranscript(text=words))  # too long for the caption: its latest words show
    assert ui.find(id="caption:label").text == t("listening", language)
    assert ui.find(id="caption:text").text == words
    assert words[-8:] in ui.text()
    ui.shot(f"partial-{language}")

    bus.publish(TranscriptionStarted(audio_s=6.5))  # the engines checking what the fast engine heard so far
    assert controller.state.activity == "thinking" and controller.state.partial_transcript == words
    assert t("thinking", language) in ui.text() and words[-8:] in ui.text()
    ui.shot(f"thinking-{language}")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_spoken_answer_shows_and_a_touch_stops_it(ui: UiDriver, controller: KioskController, language: str) -> None:
    hushed: list[bool] = []
    controller.hush = lambda: hushed.append(True)
    if language == "zh":
        controller.set_language("zh")
    ui.tap(id="touch_to_start")
    controller.ask("what are your opening hours" if language == "en" else "你们几点开门")
    bus = controller.kiosk.bus
    bus.publish(SpeechStarted(text="We are open from nine to five."))
    assert controller.state.activity == "speaking"
    assert t("speaking", language) in ui.text()
    ui.shot(f"speaking-{language}")

    hushed.clear()
    ui.tap(id="header:large_text")  # any touch takes the turn: the voice stops
    assert hushed, "a touch did not stop the kiosk's voice"
    bus.publish(SpeechEnded(interrupted=True))
    assert controller.state.activity == "idle"
    assert t("speaking", language) not in ui.text()


def test_speaking_over_the_kiosk_starts_listening(ui: UiDriver, controller: KioskController) -> None:
    ui.tap(id="touch_to_start")
    bus = controller.kiosk.bus
    bus.publish(SpeechStarted(text="We are open from nine to five."))
    bus.publish(ListeningStarted(trigger="barge_in"))
    bus.publish(SpeechEnded(interrupted=True))  # the voice stops as the customer talks
    assert controller.state.activity == "listening"
    assert "Listening…" in ui.text()
    ui.shot("barge-in")
