"""Speech mode: every screen read aloud, worked by keys, words and touch, started without seeing the screen.

The tour test walks every screen of the kiosk with speech mode on and checks that each text drawn was said.
The voice test plays through the real flite engine into WAV files in real time, as a loudspeaker would.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pygame
import pytest
import soundfile as sf

from firmware_app.audio.headphones import HeadphoneJack, JackWatcher
from firmware_app.audio.tts import SpeechSynthesizer, SpokenReplies, WavFileOutput
from firmware_app.events import Language
from firmware_app.screen.controller import KioskController
from firmware_app.screen.strings import t
from kiosk_ui import app as ui_app
from kiosk_ui.app import KioskUI
from kiosk_ui.screen_reader import reading_order, unspoken_texts
from kiosk_ui.speech_mode import VOLUME_STEPS_DB
from kiosk_ui.tour import synthetic_part_photo, tour
from tests.ui_driver import UiDriver


def press(ui: KioskUI, key: int, mod: int = 0) -> None:
    """A key on the kiosk's keypad, through pygame's event queue; returns once its action has run and shown."""
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=mod))
    ui.pump()
    ui.runner.wait()
    ui.frame()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_text_of_every_tour_state_is_spoken(
    controller: KioskController, screenshot_dir: Path, language: Language
) -> None:
    ui = KioskUI(controller, (1280, 800), synchronous=True)
    try:
        controller.camera = None
        controller.set_language(language)
        controller.headphones_changed(True)  # speech mode on, and kept on from one visit to the next
        ui.frame()
        assert ui.speech.active and ui.speech.transcript[0] == t("reader_on", language)
        screen, said_on_screen = "", []
        missing: dict[str, list[str]] = {}
        for name in tour(controller, synthetic_part_photo()):
            ui.frame()
            if controller.state.screen != screen:
                screen, said_on_screen = controller.state.screen, []
            said_on_screen += ui.speech.transcript
            ui.speech.transcript.clear()
            # A keyboard is said as one item; its keys are said one by one once it is chosen.
            for index, item in enumerate(ui.speech.items):
                if item.keys:
                    ui.speech.focus = index
                    ui.speech.command("select")
                    for _ in item.keys[1:]:
                        ui.speech.command("next")
                    ui.speech.command("back")
            said_on_screen += ui.speech.transcript
            ui.speech.transcript.clear()
            lost = unspoken_texts(ui.widgets, said_on_screen, language)
            if lost:
                missing[name] = lost
        assert not missing, f"shown but never said: {missing}"
    finally:
        controller.headphones_changed(False)
        ui.close()


def test_the_arrow_keys_start_speech_mode_move_the_focus_and_enter_chooses(ui: UiDriver) -> None:
    ui.tap(id="touch_to_start")
    kiosk_ui = ui.ui
    press(kiosk_ui, pygame.K_DOWN)  # speech mode is off: any of its keys starts it, reading the screen
    speech = kiosk_ui.speech
    assert kiosk_ui.controller.state.speech_mode and speech.active
    items = [item.text for item in speech.items]
    assert list(speech.transcript) == [t("reader_on", "en"), *items]
    assert items[0] == "How can I help?" and items[-1].endswith("button")  # content first, the header last
    press(kiosk_ui, pygame.K_DOWN)
    assert speech.focus == 1 and speech.transcript[-1] == items[1]
    press(kiosk_ui, pygame.K_TAB, pygame.KMOD_SHIFT)
    assert speech.focus == 0
    press(kiosk_ui, pygame.K_UP)  # already on the first: said again, with where it is
    assert list(speech.transcript)[-2:] == [t("reader_first", "en"), items[0]]
    press(kiosk_ui, pygame.K_F1)
    assert speech.transcript[-1] == t("reader_help", "en")
    typing = next(i for i, item in enumerate(speech.items) if item.text.startswith("Type a question"))
    for _ in range(typing):
        press(kiosk_ui, pygame.K_DOWN)
    press(kiosk_ui, pygame.K_RETURN)
    assert ui.screen == "form"
    said = list(speech.transcript)
    assert "text box, Type here" in said[-len(speech.items) :]
    keyboard = next(i for i, item in enumerate(speech.items) if item.keys)
    speech.focus = keyboard
    press(kiosk_ui, pygame.K_RETURN)  # into the keyboard: key by key
    assert speech.keyboard is not None and speech.transcript[-1] == speech.keyboard.keys[0].text
    first_key = speech.keyboard.keys[0].text
    press(kiosk_ui, pygame.K_RETURN)  # types it; the text box says what it holds now, the focus stays on the key
    assert kiosk_ui.controller.state.form is not None and kiosk_ui.controller.state.form.draft == first_key
    assert speech.transcript[-1] == f"text box, {first_key}" and speech.focused.text == first_key  # type: ignore[union-attr]
    press(kiosk_ui, pygame.K_ESCAPE)  # out of the keyboard, then back to where the form came from
    assert speech.keyboard is None and ui.screen == "form"
    press(kiosk_ui, pygame.K_ESCAPE)
    assert ui.screen == "home"


def test_spoken_commands_work_speech_mode_only_once_it_is_on(ui: UiDriver) -> None:
    controller = ui.ui.controller
    ui.tap(id="touch_to_start")
    assert controller.ask("help", "voice") is not None  # without speech mode "help" is a question
    assert controller.ask("please read the screen", "voice") is None
    ui.ui.frame()
    speech = ui.ui.speech
    assert speech.active
    assert controller.ask("next", "voice") is None
    ui.ui.frame()
    assert speech.focus == 1
    assert controller.ask("repeat that", "voice") is None
    ui.ui.frame()
    assert speech.transcript[-1] == speech.items[1].text
    controller.ask("中文", "voice")
    ui.ui.frame()
    assert speech.language == "zh" and speech.transcript[-1] == speech.items[-1].text  # the screen read anew
    controller.ask("下一个", "voice")
    ui.ui.frame()
    assert speech.focus == 1
    controller.ask("退出语音模式", "voice")
    ui.ui.frame()
    assert not speech.active and speech.transcript[-1] == t("reader_off", "zh")


def test_a_long_press_anywhere_starts_it_and_a_tap_says_before_it_chooses(
    ui: UiDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui_app, "LONG_PRESS_S", 0.05)
    kiosk_ui = ui.ui
    ui.tap(id="touch_to_start")
    tile = ui.find(id="home:type_question")
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=tile.rect.center, button=1))
    kiosk_ui.pump()
    kiosk_ui.run(seconds=0.1)
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=tile.rect.center, button=1))
    kiosk_ui.pump()
    kiosk_ui.frame()
    assert kiosk_ui.speech.active and ui.screen == "home"  # the long press chose nothing
    ui.tap(id="home:type_question")  # the first tap says it
    assert ui.screen == "home" and kiosk_ui.speech.transcript[-1] == "Type a question, button"
    ui.tap(id="home:type_question")  # the second chooses it
    assert ui.screen == "form"


def test_the_screen_is_heard_through_flite_soon_and_a_key_cuts_it(controller: KioskController, tmp_path: Path) -> None:
    output = WavFileOutput(tmp_path, realtime=True)
    voice = SpokenReplies(SpeechSynthesizer("flite"), output)
    ui = KioskUI(controller, (1280, 800), synchronous=True, voice=voice)
    try:
        controller.touch_start()
        press(ui, pygame.K_F2)  # starts speech mode: the announcement, then the home screen item by item
        ui.run(seconds=0.3)
        press(ui, pygame.K_DOWN)  # barge-in: the announcement is cut, the second item is said
        assert voice.wait_until_quiet(20)
        first, *rest = [sf.read(path, dtype="int16")[0] for path in output.paths]
        full = SpeechSynthesizer("flite").synthesize(t("reader_on", "en"), "en", whole=True)
        assert 0 < len(first) < len(full) / 2  # cut within a chunk of the key
        assert len(rest) == 1 and len(rest[0]) > 1000  # the focused item, said whole
        loud_before = np.abs(rest[0].astype(np.int32)).max()
        press(ui, pygame.K_PAGEUP)  # louder: 3 dB, said as "Volume 7 of 8."
        assert voice.wait_until_quiet(20)
        press(ui, pygame.K_F2)  # the same item again
        assert voice.wait_until_quiet(20)
        again = sf.read(output.paths[-1], dtype="int16")[0]
        gain = np.abs(again.astype(np.int32)).max() / loud_before
        assert voice.gain_db == VOLUME_STEPS_DB[-2]
        assert gain == pytest.approx(10 ** (3 / 20), rel=0.05)
    finally:
        ui.close()
        voice.close()


def fake_amixer(folder: Path, jack: Path) -> Path:
    """alsa-utils' amixer for a card with a headphone jack and a loudspeaker control (this machine has no sound
    card): ``controls``, ``cget`` and ``scontrols`` answer as amixer 1.2 does, the jack's state read from the file
    ``jack``; each ``sset`` is written to the log file it returns."""
    script = folder / "amixer"
    log = folder / "sset.log"
    script.write_text(
        "#!/bin/sh\n"
        'case "$3" in\n'
        "controls) echo \"numid=1,iface=CARD,name='Line Jack'\"; "
        "echo \"numid=17,iface=CARD,name='Headphone Jack'\";;\n"
        "cget) echo \"numid=17,iface=CARD,name='Headphone Jack'\"; "
        'echo "  ; type=BOOLEAN,access=r-------,values=1"; echo "  : values=$(cat ' + str(jack) + ')";;\n'
        "scontrols) echo \"Simple mixer control 'Master',0\"; echo \"Simple mixer control 'Speaker',0\";;\n"
        f'sset) echo "$4 $5" >> {log};;\n'
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log


def test_headphones_plugged_in_start_speech_mode_for_every_visit_until_taken_out(
    controller: KioskController, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jack_state = tmp_path / "jack"
    jack_state.write_text("off")
    sset_log = fake_amixer(tmp_path, jack_state)
    monkeypatch.setenv("PATH", f"{tmp_path}:{Path('/usr/bin')}:{Path('/bin')}")
    cards = tmp_path / "cards"
    cards.write_text(" 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n")
    jack = HeadphoneJack.find(cards)
    assert jack is not None and jack.name == "Headphone Jack" and jack.plugged() is False
    watcher = JackWatcher(jack, controller.headphones_changed, interval_s=0.02)
    watcher.start()
    try:
        jack_state.write_text("on")
        _wait_for(lambda: controller.state.speech_mode)
        assert sset_log.read_text() == "Speaker off\n"  # what is said stays in the headphones
        controller.touch_start()
        _end_visit(controller)
        assert controller.state.speech_mode
        jack_state.write_text("off")
        _wait_for(lambda: not controller.state.speech_mode)
        assert sset_log.read_text() == "Speaker off\nSpeaker on\n"
    finally:
        watcher.stop()


def test_speech_mode_ends_with_the_visit_when_no_headphones_are_in(ui: UiDriver) -> None:
    controller = ui.ui.controller
    ui.tap(id="touch_to_start")
    controller.read_screen("start")
    ui.ui.frame()
    assert ui.ui.speech.active
    _end_visit(controller)
    ui.ui.frame()
    assert not controller.state.speech_mode and not ui.ui.speech.active


def test_reading_order_puts_the_idle_warning_alone_and_names_marks(controller: KioskController) -> None:
    ui = KioskUI(controller, (800, 480), synchronous=True)
    try:
        controller.touch_start()
        controller.start_typing()
        ui.rebuild_if_needed()
        keyboard = next(item for item in reading_order(ui.widgets, "en") if item.keys)
        words = [key.text for key in keyboard.keys]
        assert "comma" in words and "full stop" in words and "q" in words
        assert [key.text for key in next(i for i in reading_order(ui.widgets, "zh") if i.keys).keys].count("逗号") == 1
    finally:
        ui.close()


def _wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _end_visit(controller: KioskController) -> None:
    """ "That's all", no rating, and the thank-you screen's time runs out: the attract screen for the next one."""
    controller.finish()
    controller.rate_skip()
    real_clock = controller._clock
    controller._clock = lambda: real_clock() + controller.kiosk.settings.ui.thanks_s + 1
    try:
        controller.tick()
    finally:
        controller._clock = real_clock
    assert controller.state.screen == "attract"
