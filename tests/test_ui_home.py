"""The attract and home screens, driven by synthetic touches on a real pygame surface."""

from __future__ import annotations

import time

from firmware_app.screen.controller import KioskController
from kiosk_ui.app import KioskUI
from tests.ui_driver import UiDriver


def test_attract_invites_touch_and_a_touch_anywhere_starts(ui: UiDriver) -> None:
    assert ui.screen == "attract"
    assert "Touch the screen to start" in ui.text()
    assert "Welcome to Kestrel Bank" in ui.text()
    ui.shot("attract")
    ui.ui.tap((20, 300))  # not on the button: the whole screen starts a visit
    assert ui.screen == "home"


def test_home_shows_every_topic_and_the_ways_in(ui: UiDriver, controller: KioskController) -> None:
    ui.tap(id="touch_to_start")
    text = ui.text()
    for label in ("How can I help?", "Tap to speak", "Type a question", "Talk to a person", "AI assistant"):
        assert label in text
    shown = {w.removeprefix("topic:") for w in ui.ids() if w.startswith("topic:")}
    assert shown == {topic.value for topic in controller.state.topics}
    ui.shot("home")


def test_language_switch_turns_every_word_chinese(ui: UiDriver) -> None:
    ui.tap(id="touch_to_start")
    ui.tap(id="header:language_switch")
    text = ui.text()
    assert "有什么可以帮您" in text and "银行卡" in text and "AI 助手" in text
    assert "How can I help" not in text and "Cards" not in text
    ui.shot("home-zh")
    ui.tap(id="header:language_switch")
    assert "How can I help?" in ui.text()


def test_large_text_mode_scales_type_and_keeps_the_layout_clean(ui: UiDriver) -> None:
    ui.tap(id="touch_to_start")
    normal = ui.find(id="home:title").rect.height
    ui.tap(id="header:large_text")
    assert ui.ui.controller.state.large_text
    assert ui.find(id="home:title").rect.height >= normal  # the heading band grows with the type
    ui.shot("home-large")


def test_microphone_button_says_plainly_when_there_is_no_microphone(ui: UiDriver) -> None:
    ui.tap(id="touch_to_start")
    ui.tap(id="home:speak")
    assert "Voice is not available on this kiosk" in ui.text()
    ui.shot("home-no-microphone")


def test_a_double_tap_does_not_reach_the_next_screen(controller: KioskController) -> None:
    """The second tap of a double tap must not press whatever the first tap brought up under the finger."""
    ui = KioskUI(controller, (1280, 800), synchronous=True, new_screen_guard_s=0.3)
    settle_s = 0.35
    try:
        time.sleep(settle_s)
        ui.tap(ui.find(id="touch_to_start").rect.center)
        time.sleep(settle_s)
        ui.tap(ui.find(id="home:type_question").rect.center)
        assert controller.state.screen == "form"
        time.sleep(settle_s)
        ui.tap(ui.find(id="back").rect.center)
        assert controller.state.screen == "home"
        at_once = ui.find(id="home:type_question").rect.center  # a finger, not tap(), which waits like a person
        ui.press(at_once)
        assert ui.pressed is None  # ignored: no pressed feedback
        ui.release(at_once)
        assert controller.state.screen == "home"
        time.sleep(settle_s)
        ui.tap(ui.find(id="home:type_question").rect.center)
        assert controller.state.screen == "form"
    finally:
        ui.close()
