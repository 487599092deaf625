"""Headphones plugged into the kiosk, as its sound card reports them: what starts speech mode without the screen.

ALSA exposes a codec's jack sense as a read-only card control named like "Headphone Jack" (HDA codecs on a NUC,
most USB and HAT codecs on a Pi or a Jetson). ``amixer`` (alsa-utils) reads it; a subprocess with a timeout keeps
a wedged driver from taking the screen with it, and polling once a second is well inside the time a customer
takes to put headphones on. A card without jack sense (the Pi's own 3.5 mm socket has none) is reported once in
the log: speech mode is then started by a long press, a key or "read the screen".
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

CARDS_FILE = Path("/proc/asound/cards")
POLL_INTERVAL_S = 1.0
AMIXER_TIMEOUT_S = 2.0
_CARD_LINE = re.compile(r"^\s*(\d+)\s+\[", re.MULTILINE)
_JACK_CONTROL = re.compile(r"^numid=(\d+),iface=CARD,name='([^']*Headphone[^']*Jack[^']*)'", re.MULTILINE)
_VALUE = re.compile(r"^\s*:\s*values=(on|off)", re.MULTILINE)


class HeadphoneJack:
    """One card's headphone jack control; ``plugged()`` asks it now (None when it cannot be read)."""

    def __init__(self, amixer: str, card: int, numid: int, name: str) -> None:
        self.amixer = amixer
        self.card = card
        self.numid = numid
        self.name = name

    @classmethod
    def find(cls, cards_file: Path = CARDS_FILE) -> HeadphoneJack | None:
        """The first card with a headphone jack control, or None (no ALSA, no alsa-utils, no jack sense)."""
        amixer = shutil.which("amixer")
        if amixer is None or not cards_file.exists():
            log.info("no headphone detection: %s", "amixer is not installed" if amixer is None else "no sound card")
            return None
        for card in (int(number) for number in _CARD_LINE.findall(cards_file.read_text(errors="replace"))):
            listing = _amixer(amixer, "-c", str(card), "controls")
            match = _JACK_CONTROL.search(listing or "")
            if match is not None:
                return cls(amixer, card, int(match.group(1)), match.group(2))
        log.info("no headphone detection: no sound card reports a headphone jack")
        return None

    def keep_private(self, private: bool) -> None:
        """Switch the card's loudspeaker off while headphones are in (``private``) and on again after, so that
        what speech mode says stays in the headphones. Most HDA codecs do it themselves ("Auto-Mute Mode"); a
        card without a "Speaker" control is left alone."""
        controls = _amixer(self.amixer, "-c", str(self.card), "scontrols") or ""
        if "'Speaker'" not in controls:
            return
        _amixer(self.amixer, "-c", str(self.card), "sset", "Speaker", "off" if private else "on")
        log.info("loudspeaker %s while headphones are %s", "off" if private else "on", "in" if private else "out")

    def plugged(self) -> bool | None:
        output = _amixer(self.amixer, "-c", str(self.card), "cget", f"numid={self.numid}")
        match = _VALUE.search(output or "")
        return None if match is None else match.group(1) == "on"


def _amixer(amixer: str, *arguments: str) -> str | None:
    try:
        result = subprocess.run(
            [amixer, *arguments], capture_output=True, text=True, timeout=AMIXER_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        log.warning("amixer %s failed: %s", " ".join(arguments), error)
        return None
    return result.stdout if result.returncode == 0 else None


class JackWatcher:
    """Polls ``jack`` on its own thread; when it changes (and once at start when headphones are already in) it
    keeps the speech private (``keep_private``) and calls ``on_change(plugged)``."""

    def __init__(
        self, jack: HeadphoneJack, on_change: Callable[[bool], None], interval_s: float = POLL_INTERVAL_S
    ) -> None:
        self.jack = jack
        self.on_change = on_change
        self.interval_s = interval_s
        self.plugged = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="headphone-jack", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=AMIXER_TIMEOUT_S + self.interval_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            plugged = self.jack.plugged()
            if plugged is not None and plugged != self.plugged:
                self.plugged = plugged
                log.info("headphones %s", "plugged in" if plugged else "unplugged")
                self.jack.keep_private(plugged)
                try:
                    self.on_change(plugged)
                except Exception:
                    log.exception("the headphone callback failed")
            self._stop.wait(self.interval_s)
