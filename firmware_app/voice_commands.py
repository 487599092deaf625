"""Short spoken commands that work the screen ("bigger text", "中文", "five stars") instead of being asked.

Only a whole short utterance counts, so a question that merely mentions a language ("do you have leaflets in
Chinese?") still reaches the dialogue. Yes/no, cancel, "a person" and goodbye are the dialogue's own acts.
"""

from __future__ import annotations

import re

from firmware_app.screen.actions import (
    Action,
    GoHome,
    OpenCamera,
    Rate,
    SetLanguage,
    ShowConversation,
    SkipRating,
    ToggleElderly,
    ToggleLargeText,
)

_POLITE = re.compile(r"\b(please|can you|could you|switch to|change to|speak|in)\b|请|切换到|用", re.IGNORECASE)
_COMMANDS: tuple[tuple[re.Pattern[str], Action], ...] = (
    (re.compile(r"(chinese|mandarin)( language)?|中文|普通话|汉语"), SetLanguage("zh")),
    (re.compile(r"english( language)?|英文|英语"), SetLanguage("en")),
    (
        re.compile(
            r"(make (the )?)?(text|letters|writing|font) (bigger|larger)|(bigger|larger|large) (text|letters|font)"
            r"|大字|字大一点|放大"
        ),
        ToggleLargeText(),
    ),
    (re.compile(r"(senior|elderly|elder) (mode|view)|长辈模式|老年模式|适老模式|关怀模式"), ToggleElderly()),
    (re.compile(r"(go )?(home|back to the start|start over|main menu)|首页|回到首页|重新开始"), GoHome()),
    (re.compile(r"(take a )?(photo|picture)( of a part)?|camera|拍照|拍摄部件"), OpenCamera()),
    (re.compile(r"(show )?(the )?conversation|对话记录"), ShowConversation()),
)
_STAR_WORDS = re.compile(r"\b(stars?|out of five|out of 5)\b|星|分", re.IGNORECASE)
_STARS = {
    **{str(n): n for n in range(1, 6)},
    **dict(zip(("one", "two", "three", "four", "five"), range(1, 6), strict=True)),
    **dict(zip("一二三四五", range(1, 6), strict=True)),
    "两": 2,
}
_SKIP = ("skip", "no thanks", "跳过", "不用了")


def screen_command(text: str, screen: str) -> Action | None:
    """The screen action ``text`` stands for on ``screen``, or ``None`` when it is something to ask."""
    spoken = _POLITE.sub("", text.strip().lower()).strip(" .!?。！？")
    if screen == "rating":
        stars = _STARS.get(_STAR_WORDS.sub("", spoken).strip())
        if stars is not None:
            return Rate(stars)
        if spoken in _SKIP:
            return SkipRating()
    return next((action for pattern, action in _COMMANDS if pattern.fullmatch(spoken)), None)
