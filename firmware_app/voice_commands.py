"""Short spoken commands that work the screen ("bigger text", "中文", "five stars") instead of being asked.

Only a whole short utterance counts, so a question that merely mentions a language ("do you have leaflets in
Chinese?") still reaches the dialogue. Yes/no, cancel, "a person" and goodbye are the dialogue's own acts.
"Read the screen" (读屏幕) turns speech mode on from anywhere; its moves ("next", "repeat", "help", "back"...)
are commands only while it is on, so that a customer who says "help" otherwise is asked what they need.
"""

from __future__ import annotations

import re

from firmware_app.screen.actions import (
    Action,
    GoHome,
    OpenCamera,
    Rate,
    ReadScreen,
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
_READ_THE_SCREEN = re.compile(
    r"(read|speak) (the |this )?(screen|page)( aloud| out loud| to me)?|read aloud|speech mode|screen reader"
    r"|读屏幕?|朗读屏幕|读一下屏幕|语音模式|读屏模式"
)
_SPEECH_MODE_COMMANDS: tuple[tuple[re.Pattern[str], ReadScreen], ...] = (
    (re.compile(r"next( one| item)?|forward|下一个|下一项|往下"), ReadScreen("next")),
    (re.compile(r"previous( one| item)?|go back one|上一个|上一项|往上"), ReadScreen("previous")),
    (re.compile(r"select( it| this)?|choose( it| this)?|press( it)?|选择|确定|选这个"), ReadScreen("select")),
    (re.compile(r"repeat( that)?|again|say (that|it) again|重复|再说一遍|再说一次"), ReadScreen("repeat")),
    (re.compile(r"(go )?back|返回|后退"), ReadScreen("back")),
    (re.compile(r"help|what can i say|帮助|怎么用"), ReadScreen("help")),
    (re.compile(r"stop( talking| reading)?|quiet|be quiet|停|停止|别说了"), ReadScreen("stop")),
    (re.compile(r"louder|(turn (it )?)?(the )?volume up|大声(一)?点|声音大一点"), ReadScreen("louder")),
    (re.compile(r"quieter|softer|(turn (it )?)?(the )?volume down|小声(一)?点|声音小一点"), ReadScreen("quieter")),
    (
        re.compile(r"(exit|leave|end|turn off) (the )?(speech mode|screen reader)|关闭语音模式|退出语音模式"),
        ReadScreen("exit"),
    ),
)
_STAR_WORDS = re.compile(r"\b(stars?|out of five|out of 5)\b|星|分", re.IGNORECASE)
_STARS = {
    **{str(n): n for n in range(1, 6)},
    **dict(zip(("one", "two", "three", "four", "five"), range(1, 6), strict=True)),
    **dict(zip("一二三四五", range(1, 6), strict=True)),
    "两": 2,
}
_SKIP = ("skip", "no thanks", "跳过", "不用了")


def screen_command(text: str, screen: str, speech_mode: bool = False) -> Action | None:
    """The screen action ``text`` stands for on ``screen``, or ``None`` when it is something to ask."""
    spoken = _POLITE.sub("", text.strip().lower()).strip(" .!?。！？，,")
    spoken = re.sub(r"\s+", " ", spoken)
    if _READ_THE_SCREEN.fullmatch(spoken):
        return ReadScreen("start")
    if speech_mode:
        move = next((action for pattern, action in _SPEECH_MODE_COMMANDS if pattern.fullmatch(spoken)), None)
        if move is not None:
            return move
    if screen == "rating":
        stars = _STARS.get(_STAR_WORDS.sub("", spoken).strip())
        if stars is not None:
            return Rate(stars)
        if spoken in _SKIP:
            return SkipRating()
    return next((action for pattern, action in _COMMANDS if pattern.fullmatch(spoken)), None)
