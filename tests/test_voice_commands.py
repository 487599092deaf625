"""Spoken screen commands: short whole utterances only; questions pass through to the dialogue."""

from __future__ import annotations

import pytest

from firmware_app.voice_commands import screen_command


@pytest.mark.parametrize(
    ("words", "screen", "action"),
    [
        ("Chinese please", "home", ("set_language", "zh")),
        ("切换到中文", "answer", ("set_language", "zh")),
        ("English", "home", ("set_language", "en")),
        ("make the text bigger", "answer", ("toggle_large_text",)),
        ("放大", "home", ("toggle_large_text",)),
        ("start over", "conversation", ("go_home",)),
        ("take a photo", "home", ("open_camera",)),
        ("five stars", "rating", ("rate", 5)),
        ("四星", "rating", ("rate", 4)),
        ("skip", "rating", ("rate_skip",)),
    ],
)
def test_commands(words: str, screen: str, action: tuple[object, ...]) -> None:
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
