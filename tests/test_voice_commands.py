"""Spoken screen commands: short whole utterances only; questions pass through to the dialogue."""

from __future__ import annotations

import pytest

from firmware_app.screen.actions import (
    Action,
    GoHome,
    OpenCamera,
    Rate,
    ReadScreen,
    SetLanguage,
    SkipRating,
    ToggleLargeText,
)
from firmware_app.voice_commands import screen_command


@pytest.mark.parametrize(
    ("words", "screen", "action"),
    [
        ("Chinese please", "home", SetLanguage("zh")),
        ("切换到中文", "answer", SetLanguage("zh")),
        ("English", "home", SetLanguage("en")),
        ("make the text bigger", "answer", ToggleLargeText()),
        ("放大", "home", ToggleLargeText()),
        ("start over", "conversation", GoHome()),
        ("take a photo", "home", OpenCamera()),
        ("five stars", "rating", Rate(5)),
        ("四星", "rating", Rate(4)),
        ("skip", "rating", SkipRating()),
    ],
)
def test_commands(words: str, screen: str, action: Action) -> None:
    assert screen_command(words, screen) == action


@pytest.mark.parametrize(
    ("words", "screen"),
    [
        ("do you have leaflets in Chinese?", "home"),
        ("five stars", "home"),  # a rating only means something on the rating screen
        ("how do I make the text bigger in the app?", "answer"),
        ("I lost my card", "home"),
    ],
)
def test_questions_are_not_commands(words: str, screen: str) -> None:
    assert screen_command(words, screen) is None


@pytest.mark.parametrize(
    ("words", "command"),
    [
        ("read the screen", "start"),
        ("Please read the screen aloud", "start"),
        ("读屏幕", "start"),
        ("next", "next"),
        ("下一个", "next"),
        ("previous", "previous"),
        ("select", "select"),
        ("选择", "select"),
        ("say that again", "repeat"),
        ("再说一遍", "repeat"),
        ("go back", "back"),
        ("help", "help"),
        ("帮助", "help"),
        ("stop", "stop"),
        ("louder", "louder"),
        ("小声点", "quieter"),
        ("exit speech mode", "exit"),
    ],
)
def test_speech_mode_commands(words: str, command: str) -> None:
    assert screen_command(words, "home", speech_mode=True) == ReadScreen(command)  # type: ignore[arg-type]


@pytest.mark.parametrize("words", ["help", "next", "stop", "go back", "选择"])
def test_speech_mode_moves_are_words_to_ask_while_it_is_off(words: str) -> None:
    assert screen_command(words, "home") is None
    assert screen_command("read the screen", "home") == ReadScreen("start")  # this one always starts it
