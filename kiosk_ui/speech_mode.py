"""Speech mode: the screen read aloud and worked without seeing it, for blind and partially sighted customers.

It starts without the screen: headphones plugged in (``firmware_app.audio.headphones``), a long press anywhere,
any of its keys on the keypad, or the words "read the screen" (读屏幕). A new screen is read from the top (what
is new on the same screen, such as an answer or a notice, is read alone); then a focus moves item by item
(``kiosk_ui.screen_reader``), outlined on the screen for those who can see a little, and each move says the item
it lands on. Every command cuts what is being said (barge-in). The commands come from keys (``READER_KEYS``) and
from words (``firmware_app.voice_commands``), through the controller (``ReadScreen``), which turns the mode on
and off with the visit; this class carries them out because only the UI knows what the screen shows.

In speech mode a tap says what was touched and a second tap on it chooses it, so a finger can explore the
screen without setting anything off.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

import pygame

from firmware_app.events import Language
from firmware_app.screen.actions import Back, GoHome, ReaderCommand, Submit
from firmware_app.screen.strings import t
from kiosk_ui.screen_reader import SpokenItem
from kiosk_ui.widgets import TapAction, Widget

log = logging.getLogger(__name__)

# Volume in 3 dB steps over 21 dB, starting 6 dB below the engines' own level so that there is room to go up.
VOLUME_STEPS_DB = (-21.0, -18.0, -15.0, -12.0, -9.0, -6.0, -3.0, 0.0)
START_VOLUME_STEP = 5
TRANSCRIPT_SIZE = 400  # the last things said, for the tests and the log

# The navigation keys, as on an ATM's audio keypad (arrows, Enter, Escape) and a PC keyboard's function keys.
# Enter and Escape mean "select" and "back" only in speech mode; the others also start it.
READER_KEYS: dict[int, ReaderCommand] = {
    pygame.K_DOWN: "next",
    pygame.K_RIGHT: "next",
    pygame.K_TAB: "next",
    pygame.K_UP: "previous",
    pygame.K_LEFT: "previous",
    pygame.K_F1: "help",
    pygame.K_F2: "repeat",
    pygame.K_F3: "stop",
    pygame.K_PAGEUP: "louder",
    pygame.K_PAGEDOWN: "quieter",
}
SPEECH_MODE_KEYS: dict[int, ReaderCommand] = {
    pygame.K_RETURN: "select",
    pygame.K_KP_ENTER: "select",
    pygame.K_ESCAPE: "back",
}


class ReaderVoice(Protocol):
    """What speech mode needs of the kiosk's voice (``firmware_app.audio.tts.SpokenReplies``)."""

    gain_db: float

    def say_all(self, parts: tuple[str, ...], language: Language) -> None: ...

    def interrupt(self) -> None: ...


class SpeechMode:
    """The focus, the volume and what to say; ``voice`` None is a kiosk without a loudspeaker, where the
    transcript is still kept."""

    def __init__(self, voice: ReaderVoice | None) -> None:
        self.voice = voice
        self.active = False
        self.language: Language = "en"
        self.items: list[SpokenItem] = []
        self.focus = 0
        self.keyboard: SpokenItem | None = None  # the keyboard being gone through key by key
        self.key_focus = 0
        self.volume_step = START_VOLUME_STEP
        self.transcript: deque[str] = deque(maxlen=TRANSCRIPT_SIZE)
        self._screen = ""
        if voice is not None:
            voice.gain_db = VOLUME_STEPS_DB[self.volume_step]

    @property
    def focused(self) -> SpokenItem | None:
        if self.keyboard is not None:
            return self.keyboard.keys[self.key_focus]
        return self.items[self.focus] if self.items else None

    def show(self, screen: str, items: list[SpokenItem], language: Language) -> None:
        """The screen was built again: a new screen (or language) is read from the top; on the same screen what
        is new is read, and the focus stays on the item it was on."""
        new_screen = screen != self._screen or language != self.language
        before = [item.text for item in self.items]
        focused = self.focused
        self._screen, self.language, self.items = screen, language, items
        if new_screen:
            self.focus, self.keyboard = 0, None
            if self.active:
                self._say(*(item.text for item in items))
            return
        keyboard = next((item for item in items if item.keys), None) if self.keyboard is not None else None
        if keyboard is not None:  # a key was typed: the focus stays on that key of the keyboard drawn anew
            self.focus, self.keyboard = items.index(keyboard), keyboard
            self.key_focus = min(self.key_focus, len(keyboard.keys) - 1)
        else:
            self.keyboard = None
            self.focus = self._index_of(focused) if focused is not None else 0
        fresh = [item.text for item in items if item.text not in before]
        if self.active and fresh:
            self._say(*fresh)

    def command(self, command: ReaderCommand) -> TapAction | None:
        """Carry out ``command``; returns what "select" (or "back") chooses, for the UI to perform."""
        if command == "exit":
            self.active = False
            self._say(t("reader_off", self.language))
            return None
        if command == "start":
            self.active = True
            self.focus, self.keyboard = 0, None
            self._say(t("reader_on", self.language), *(item.text for item in self.items))
            return None
        self.active = True
        match command:
            case "next" | "previous":
                self._move(1 if command == "next" else -1)
            case "select":
                return self._select()
            case "back":
                return self._back()
            case "repeat":
                self._say(self.focused.text if self.focused else "")
            case "help":
                self._say(t("reader_help", self.language))
            case "stop":
                if self.voice is not None:
                    self.voice.interrupt()
            case "louder" | "quieter":
                self._set_volume(self.volume_step + (1 if command == "louder" else -1))
        return None

    def touched(self, widget: Widget) -> bool:
        """A tap in speech mode: True when ``widget`` already had the focus (the tap chooses it), else the focus
        moves to it and it is said."""
        focused = self.focused
        if focused is not None and focused.widget is widget:
            return True
        for index, item in enumerate(self.items):
            if item.widget is widget:
                self.focus, self.keyboard = index, None
                self._say(item.text)
                return False
            for key_index, key in enumerate(item.keys):
                if key.widget is widget:
                    self.focus, self.keyboard, self.key_focus = index, item, key_index
                    self._say(key.text)
                    return False
        return True  # not something speech mode reads (a page arrow without words): the tap goes through

    def _move(self, step: int) -> None:
        if self.keyboard is not None:
            items, index = self.keyboard.keys, self.key_focus
        else:
            items, index = tuple(self.items), self.focus
        if not items:
            return
        target = index + step
        if not 0 <= target < len(items):  # at either end the same item is said again, with where it is
            edge = t("reader_last" if step > 0 else "reader_first", self.language)
            self._say(edge, items[index].text)
            return
        if self.keyboard is not None:
            self.key_focus = target
        else:
            self.focus = target
        self._say(items[target].text)

    def _select(self) -> TapAction | None:
        item = self.focused
        if item is None:
            return None
        if item.keys:
            self.keyboard, self.key_focus = item, 0
            self._say(item.keys[0].text)
            return None
        widget = item.widget
        if widget is not None and widget.kind == "field":
            return Submit()  # Enter on the text box sends what was typed, as it does on a keyboard
        if widget is None or widget.action is None:
            self._say(item.text)  # words without an action: said again
            return None
        return widget.action

    def _back(self) -> TapAction | None:
        if self.keyboard is not None:
            self.keyboard = None
            self._say(t("reader_keys_left", self.language), self.items[self.focus].text)
            return None
        actions = [item.widget.action for item in self.items if item.widget is not None]
        back = next((a for a in actions if isinstance(a, Back)), None) or next(
            (a for a in actions if isinstance(a, GoHome)), None
        )
        if back is None:
            self._say(self.focused.text if self.focused else "")
        return back

    def _set_volume(self, step: int) -> None:
        self.volume_step = max(0, min(len(VOLUME_STEPS_DB) - 1, step))
        if self.voice is not None:
            self.voice.gain_db = VOLUME_STEPS_DB[self.volume_step]
        top = str(len(VOLUME_STEPS_DB))
        self._say(t("reader_volume", self.language, level=str(self.volume_step + 1), top=top))

    def _index_of(self, item: SpokenItem) -> int:
        """Where ``item`` (from the screen before) is now: the same widget id, else the same words, else the top."""
        widget_id = item.widget.id if item.widget is not None else ""
        for index, candidate in enumerate(self.items):
            same_id = widget_id and candidate.widget is not None and candidate.widget.id == widget_id
            if same_id or candidate.text == item.text:
                return index
        return 0

    def _say(self, *parts: str) -> None:
        spoken = tuple(part for part in parts if part)
        if not spoken:
            return
        self.transcript.extend(spoken)
        log.debug("speech mode says %s", spoken)
        if self.voice is not None:
            self.voice.say_all(spoken, self.language)
