"""The listening states on the real screen: woken by the wake word, listening, speech captured but not
recognized, nothing heard."""

from __future__ import annotations

import pytest

from firmware_app.events import ListeningStarted, NothingHeard, SpeechToTextError, WakeWordDetected
from firmware_app.screen.controller import KioskController
from tests.ui_driver import UiDriver


@pytest.mark.parametrize("language", ["en", "zh"])
def test_wake_word_listening_and_the_outcomes(ui: UiDriver, controller: KioskController, language: str) -> None:
    bus = controller.kiosk.bus
    if language == "zh":
        controller.set_language("zh")
    bus.publish(WakeWordDetected(wake_word="amelia", score=0.97, time_s=4.2))
    assert ui.screen == "home"
    assert ("Listening…" if language == "en" else "正在聆听…") in ui.text()
    ui.shot(f"woken-{language}")

    bus.publish(SpeechToTextError(code="unavailable"))  # a pipeline whose recognizers could not be loaded
    expected = "speech recognition is not installed" if language == "en" else "尚未安装语音识别"
    assert expected in ui.text() and "Listening…" not in ui.text()
    ui.shot(f"heard-{language}")

    ui.tap(id="home:speak")  # no microphone pipeline here: said plainly
    assert ("Voice is not available" if language == "en" else "本机暂不支持语音") in ui.text()

    bus.publish(ListeningStarted(trigger="push_to_talk"))
    bus.publish(NothingHeard(trigger="push_to_talk", waited_s=5.0))
    assert ("I didn't hear anything" if language == "en" else "我没有听到声音") in ui.text()
    ui.shot(f"nothing-heard-{language}")


def test_push_to_talk_with_a_microphone_pipeline_shows_listening(ui: UiDriver, controller: KioskController) -> None:
    started: list[bool] = []
    controller.listen = lambda: started.append(True)
    ui.tap(id="touch_to_start")
    ui.tap(id="home:speak")
    assert started == [True] and controller.state.activity == "listening"
    assert "Listening…" in ui.text()
    ui.shot("push-to-talk")
