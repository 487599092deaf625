"""What every part of the screen's controller shares: the snapshot, the lock, and the visit's life cycle.

``KioskController`` is assembled from parts (typing, the camera, the staff screens) that each own their
actions and their own data; they meet here. A part changes the screen only through ``_set`` and learns that
someone is there through ``_touched``, so the rules those carry (a new screen restarts its timer, a touch
restarts the idle timer and quiets the kiosk's voice) hold whichever part acts. The few things a part needs
from the controller itself are declared abstract at the end.

Actions are serialised by ``_lock`` (re-entrant: an action may call another) and may run on a worker thread;
``state`` is replaced whole, never changed in place, so the drawing thread reads it without locking.
"""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from typing import Literal, Protocol

from firmware_app.app import Kiosk
from firmware_app.dialogue.session import Session
from firmware_app.events import InputSource, Language, Reply, Role
from firmware_app.privacy import mask_for_display
from firmware_app.screen.choices import Choice
from firmware_app.screen.state import Bubble, Screen, ScreenState

VisitEnd = Literal["goodbye", "idle_timeout", "handoff", "reset"]


class KioskFactory(Protocol):
    def __call__(self) -> Kiosk: ...


class ScreenCore(ABC):
    """The snapshot and the visit, shared by the controller's parts."""

    kiosk: Kiosk
    _factory: KioskFactory
    _clock: Callable[[], float]
    _today: Callable[[], datetime.date]
    _lock: threading.RLock
    _state: ScreenState
    _session: Session | None
    _last_touch: float
    _screen_since: float
    _back: Screen  # where the back arrow goes from a topic list, a form or the camera
    _rated_session: str
    _profile: str | None  # the product chosen on the camera screen, for the rest of the visit
    # The visit is a technician's: the camera was opened from the staff screen (behind the staff PIN). The
    # camera opens only from there or within such a visit, never in a customer's.
    _technician: bool
    headphones: bool  # plugged into the kiosk: speech mode stays on from one visit to the next

    # A voice hook (the others are in ``voice_hooks``), here because ``_touched`` calls it: stops the kiosk's
    # voice, since a touch means the customer took the turn. Set by ``VoiceHooks.connect_voice``.
    hush: Callable[[], object] | None = None

    # --- the snapshot --------------------------------------------------------------------------------------

    @property
    def state(self) -> ScreenState:
        return self._state

    def _set(self, **changes: object) -> None:
        """Replace the snapshot; any change that moves to another screen restarts that screen's timer."""
        if "screen" in changes and changes["screen"] != self._state.screen:
            self._screen_since = self._clock()
            changes.setdefault("notice", None)
        self._state = replace(self._state, version=self._state.version + 1, **changes)  # type: ignore[arg-type]

    def _pack_texts(self, language: Language) -> dict[str, object]:
        pack = self.kiosk.pack
        topics = tuple(Choice(title.get(language), topic) for topic, title in pack.manifest.topics.items())
        return {
            "brand": pack.manifest.name.get(language),
            "disclosure": pack.manifest.messages.disclosure.get(language),
            "topics": topics,
        }

    def _add_bubble(self, role: Role, text: str, source: InputSource | None = None) -> None:
        """Customer words are masked for the screen; the kiosk's own words (and read-backs) already are."""
        shown = mask_for_display(text, region=self.kiosk.settings.region) if role == "customer" else text
        self._set(bubbles=(*self._state.bubbles, Bubble(role, shown, source)))

    # --- the visit's life cycle ----------------------------------------------------------------------------

    def touch_start(self) -> None:
        """A tap on the attract screen (or a wake word): a new visit on the home screen."""
        with self._lock:
            self._touched()
            if self._session is None:
                self._begin_session()
            self._set(screen="home")

    def _begin_session(self) -> None:
        session, greeting = self.kiosk.start_session(self._state.language)
        self._session = session
        self._set(bubbles=(), caption=greeting.speech, card=None, reference=None, form=None, suggestions=())
        self._add_bubble("assistant", greeting.text)

    def _require_session(self) -> Session:
        if self._session is None or self._session.ended:
            self._begin_session()
        assert self._session is not None
        return self._session

    def _touched(self) -> None:
        """Someone did something: the idle timer restarts and the last notice has been seen."""
        self._last_touch = self._clock()
        if self.hush is not None:
            self.hush()
        if self._state.notice is not None:
            self._set(notice=None)
        if self._session is not None and not self._session.ended:
            self._session.last_activity = time.monotonic()

    def still_here(self) -> None:
        """The customer answered "Are you still there?"."""
        with self._lock:
            self._touched()
            self._set(notice=None)

    def finish(self) -> None:
        """ "That's all, thanks": end the visit and ask for a rating."""
        with self._lock:
            self._touched()
            self._end_visit("goodbye")
            self._forget_visit()
            self._set(screen="rating", rating=None)

    def rate(self, stars: int) -> None:
        with self._lock:
            self._touched()
            if self._state.screen != "rating":
                return  # a late second tap after the thank-you screen appeared
            self.kiosk.record_rating(self._rated_session, stars, self._state.language)
            self._set(screen="thanks", rating=stars)

    def rate_skip(self) -> None:
        """The customer would rather not rate: straight to the thank-you screen."""
        with self._lock:
            self._touched()
            if self._state.screen == "rating":
                self._set(screen="thanks", rating=None)

    def _end_visit(self, reason: VisitEnd) -> None:
        session = self._session
        self._rated_session = session.id if session else str(uuid.uuid4())
        if session is not None and not session.ended:
            self.kiosk.end_session(session, reason)
        elif session is not None:
            session.clear()
        self._session = None
        self._technician = False

    def _reset_to_attract(self) -> None:
        """Back to the start for the next visitor, in the kiosk's default language and text size, and with the
        screen read aloud only while headphones are plugged in."""
        language = self.kiosk.settings.language
        self._forget_visit()
        self._set(
            screen="attract",
            rating=None,
            admin=None,
            notice=None,
            language=language,
            large_text=self.kiosk.settings.ui.large_text,
            elderly=self.kiosk.settings.ui.elderly,
            speech_mode=self.headphones,
            **self._pack_texts(language),
        )

    def _forget_visit(self) -> None:
        """Drop everything the screen holds about the visit: its words, answers, photo and references."""
        self._profile = None
        self._technician = False
        self._set(
            activity="idle",
            partial_transcript="",
            bubbles=(),
            caption="",
            reply_kind=None,
            card=None,
            qr_text=None,
            suggestions=(),
            topic_title="",
            topic_entries=(),
            form=None,
            reference=None,
            photo=None,
            teach=None,
        )

    # --- what the parts need from the controller itself ----------------------------------------------------

    @abstractmethod
    def ask(self, text: str, source: InputSource = "text") -> Reply | None:
        """A question for the dialogue, and its reply (None for a spoken screen command)."""

    @abstractmethod
    def _start_teaching(self) -> None:
        """The right staff PIN for "Teach a new part": on to the new part's title."""

    @abstractmethod
    def _reload_pipeline(self) -> None:
        """A fresh kiosk (pack, models, database, sync link), as a new start would make it."""
