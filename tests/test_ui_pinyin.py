"""Typing Chinese by touch: pinyin on the on-screen keys, candidates on the bar, the answer in Chinese."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_app.screen.controller import KioskController
from kiosk_ui.app import KioskUI
from tests.ui_driver import UiDriver


def candidate(ui: UiDriver, text: str) -> str:
    """The id of the candidate button showing ``text``."""
    ids = [i for i in ui.ids() if i.startswith("candidate:") and ui.find(id=i).text == text]
    assert ids, f"no candidate {text!r} among {[ui.find(id=i).text for i in ui.ids() if i.startswith('candidate:')]}"
    return ids[0]


def chinese_keyboard(ui: UiDriver) -> None:
    ui.tap(id="touch_to_start")
    ui.tap(id="header:language_switch")
    ui.tap(id="home:type_question")
    assert ui.screen == "form"


def test_a_question_typed_in_pinyin_gets_a_chinese_answer(ui: UiDriver) -> None:
    chinese_keyboard(ui)
    assert not [i for i in ui.ids() if i.startswith("candidate:")]  # no bar until a letter is typed
    ui.type("huilv")
    assert ui.find(id="form:draft").text == "huilv"  # the letters wait in the field
    assert ui.find(id="candidate:letters").text == "huilv"
    assert ui.find(id="candidate:0").text == "汇率"
    bar = [ui.find(id=i) for i in ui.ids() if i.startswith("candidate:")]
    assert len(bar) >= 4 and all(w.rect.height >= 64 and w.rect.width >= 64 for w in bar)
    ui.shot("candidates")
    ui.tap(id=candidate(ui, "汇率"))
    assert ui.find(id="form:draft").text == "汇率"
    assert not [i for i in ui.ids() if i.startswith("candidate:")]  # the bar goes with the letters
    ui.type("shiduoshao")
    ui.shot("candidates-sentence")
    ui.tap(id=candidate(ui, "是多少"))
    assert ui.find(id="form:draft").text == "汇率是多少"
    ui.shot("typed")
    ui.tap(id="key:submit")
    assert ui.screen == "answer"
    title = ui.find(id="answer:title").text
    assert "汇率" in title and title.isascii() is False
    assert "银行间汇率" in ui.text()
    ui.shot("answer")


def test_letters_left_over_convert_next_and_delete_takes_letters_first(ui: UiDriver) -> None:
    chinese_keyboard(ui)
    ui.type("wodekadiule")
    ui.tap(id=candidate(ui, "我的卡"))
    assert ui.find(id="form:draft").text == "我的卡diule"  # what is picked, then the letters still waiting
    assert "key:space" not in ui.ids()  # a short keyboard: the bar has the space bar's place
    ui.tap(id="candidate:0")
    assert ui.find(id="form:draft").text == "我的卡丢了"
    assert "key:space" in ui.ids()
    ui.type("xx")
    ui.tap(id="key:backspace")
    ui.tap(id="key:backspace")
    assert ui.find(id="form:draft").text == "我的卡丢了"
    ui.tap(id="key:backspace")
    assert ui.find(id="form:draft").text == "我的卡丢"


@pytest.fixture()
def sized(controller: KioskController, screenshot_dir: Path, request: pytest.FixtureRequest) -> Iterator[UiDriver]:
    """The smallest screen (800x480); the test may resize by opening another."""
    driver = UiDriver(KioskUI(controller, (800, 480), synchronous=True), screenshot_dir / request.node.name)
    yield driver
    driver.ui.close()


@pytest.mark.parametrize("large", [False, True], ids=["normal", "large-text"])
def test_the_bar_fits_the_small_and_the_portrait_screen(
    sized: UiDriver, controller: KioskController, screenshot_dir: Path, large: bool
) -> None:
    chinese_keyboard(sized)
    if large:
        sized.tap(id="header:large_text")
    sized.type("huilv")
    sized.shot("800x480-candidates")
    sized.tap(id=candidate(sized, "汇率"))
    assert sized.find(id="form:draft").text == "汇率"
    sized.type("wodekadiule")  # a long composition: the bar shows its end
    sized.shot("800x480-long")
    controller.ask("我想投诉")  # a flow's keyboard: Back and Cancel share the bottom row on a short screen
    assert controller.state.form is not None and controller.state.form.hint == "keyboard"
    sized.type("tousu")
    assert sized.find(id=candidate(sized, "投诉"))
    sized.shot("800x480-flow")
    sized.ui.close()
    portrait = UiDriver(KioskUI(controller, (1080, 1920), synchronous=True), sized.screenshot_dir)
    portrait.shots = sized.shots
    assert portrait.find(id="candidate:letters").text == "tousu"  # on the digit row
    portrait.shot("1080x1920-flow")
    portrait.tap(id=candidate(portrait, "投诉"))
    assert controller.state.form is not None and controller.state.form.draft == "投诉"
    portrait.ui.close()
