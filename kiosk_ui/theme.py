"""The look of the kiosk in one place: colours, type sizes, spacing and touch-target sizes.

Every size is derived from the screen's shorter side, so one layout serves an 800x480 Pi display and a
1920x1080 (or portrait 1080x1920) panel. Large-text mode scales type and targets up and switches to a
high-contrast palette (white and yellow on black, contrast well above WCAG AAA's 7:1).

Elderly mode (China MIIT 适老化, "长辈模式") is its own switch: bigger type and targets than large text, the
standard light palette (every text colour >= 4.5:1 on what it is drawn on, checked by ``kiosk_ui.inspect``),
longer idle timeouts (``firmware_app.screen.controller``) and at least these sizes, in dp:

* body text >= ``ELDERLY_MIN_TEXT_DP`` (18 dp), the largest text on a screen >= ``ELDERLY_MIN_LARGEST_DP`` (30 dp),
  line spacing >= ``ELDERLY_MIN_LINE_SPACING`` (1.3, ``render.ELDERLY_LINE_SPACING``; 1.25 in the other modes);
* touch targets >= ``ELDERLY_MIN_TOUCH_DP`` (60 dp) each side (and never below ``MIN_TOUCH_PX``).

``PX_PER_DP``: 1 dp = 1 px, Android's 160 dpi baseline. The kiosk's panels are 100-160 dpi (a 7" 800x480 Pi
display is ~133 dpi, a 15.6" 1920x1080 one ~141 dpi), so a px there is at least as large as a dp and the
assumption never makes text or targets look bigger than they are.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

Color = tuple[int, int, int]
MIN_TOUCH_PX = 64  # the smallest thing a finger must hit, whatever the screen
LARGE_TEXT_SCALE = 1.35
ELDERLY_SCALE = 1.35

PX_PER_DP = 1.0  # 1 dp = 1 px at the 160 dpi baseline (see the module's docstring)
ELDERLY_MIN_TEXT_DP = 18  # body text
ELDERLY_MIN_LARGEST_DP = 30  # the largest text on a screen
ELDERLY_MIN_LINE_SPACING = 1.3
ELDERLY_MIN_TOUCH_DP = 60


def dp(value: float) -> int:
    """``value`` dp in px on the kiosk's screens (rounded up: a minimum never rounds down)."""
    return -int(-value * PX_PER_DP // 1)


# One font for Latin and CJK text, so mixed lines ("我想问 about rates") render with one metric.
CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


@dataclass(frozen=True)
class Palette:
    background: Color
    surface: Color  # cards, bubbles, tiles
    surface_alt: Color  # the customer's bubbles, secondary buttons
    header: Color
    on_header: Color
    text: Color
    muted: Color
    accent: Color  # the main call to action
    on_accent: Color
    danger: Color
    success: Color
    pressed: Color
    outline: Color


STANDARD = Palette(
    background=(241, 244, 247),
    surface=(255, 255, 255),
    surface_alt=(221, 236, 247),
    header=(16, 42, 67),
    on_header=(255, 255, 255),
    text=(22, 28, 36),
    muted=(82, 96, 109),
    accent=(196, 85, 12),
    on_accent=(255, 255, 255),
    danger=(176, 32, 32),
    success=(22, 116, 62),
    pressed=(255, 214, 170),
    outline=(200, 208, 216),
)
HIGH_CONTRAST = Palette(
    background=(0, 0, 0),
    surface=(20, 20, 20),
    surface_alt=(0, 40, 80),
    header=(0, 0, 0),
    on_header=(255, 255, 0),
    text=(255, 255, 255),
    muted=(230, 230, 230),
    accent=(255, 255, 0),
    on_accent=(0, 0, 0),
    danger=(255, 110, 110),
    success=(120, 255, 140),
    pressed=(0, 200, 255),
    outline=(255, 255, 255),
)


@dataclass(frozen=True)
class Theme:
    width: int
    height: int
    large_text: bool
    palette: Palette
    font_path: str | None
    text_px: int  # body text
    small_px: int
    heading_px: int
    title_px: int  # the attract screen's invitation
    gap: int  # space between things
    pad: int  # space inside things
    radius: int
    touch: int  # the height of a button, >= MIN_TOUCH_PX
    header_h: int
    caption_h: int
    elderly: bool = False  # elderly mode (适老化): see the module's docstring

    @property
    def portrait(self) -> bool:
        return self.height > self.width

    @classmethod
    def for_screen(cls, width: int, height: int, large_text: bool = False, elderly: bool = False) -> Theme:
        """The theme for a screen; ``elderly`` wins over ``large_text`` (it is the larger of the two)."""
        short = min(width, height)
        scale = ELDERLY_SCALE if elderly else LARGE_TEXT_SCALE if large_text else 1.0
        text_px = round(max(18, short * 0.042) * scale)
        touch = max(MIN_TOUCH_PX, round(short * 0.12 * min(scale, 1.15)))
        smallest = dp(ELDERLY_MIN_TEXT_DP) if elderly else 16
        if elderly:  # taller targets: two lines of small text at the elderly line spacing fit a button
            touch = max(round(short * 0.12 * 1.2), dp(ELDERLY_MIN_TOUCH_DP), MIN_TOUCH_PX)
        return cls(
            width=width,
            height=height,
            large_text=large_text and not elderly,
            elderly=elderly,
            palette=STANDARD if elderly else HIGH_CONTRAST if large_text else STANDARD,
            font_path=kiosk_font_path(),
            text_px=text_px,
            small_px=max(smallest, round(text_px * 0.78)),
            heading_px=round(text_px * 1.3),
            title_px=round(text_px * 2.0),
            gap=max(8, round(short * 0.02)),
            pad=max(10, round(short * 0.025)),
            radius=max(8, round(short * 0.02)),
            touch=touch,
            header_h=max(MIN_TOUCH_PX + 2 * max(8, round(short * 0.02)), round(short * 0.13)),
            caption_h=round(text_px * 2.6),
        )


@cache
def kiosk_font_path() -> str | None:
    """A font with Chinese glyphs (setup installs fonts-wqy-microhei); ``None`` means pygame's default font,
    which has no CJK glyphs, so this is logged loudly."""
    for candidate in CJK_FONT_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", ":lang=zh-cn"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if found and Path(found).is_file():
            return found
    log.error("no CJK font found (install fonts-wqy-microhei); Chinese text will not render")
    return None
