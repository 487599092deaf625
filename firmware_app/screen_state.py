"""What the kiosk's screen shows, as plain data, and the actions a customer or a member of staff can take.

The UI (``kiosk_ui``) draws a ``ScreenState`` and calls ``KioskController``'s actions; every decision (which
screen comes next, what is masked, when a visit ends and its personal data is dropped) is made here, so touch,
voice and the scripted demo drive one and the same logic and the drawing code holds none.

Actions are serialised by a lock and may run on a worker thread; ``state`` is an immutable snapshot that is
replaced whole, so the drawing thread can read it at any time without locking.
"""

from __future__ import annotations

import datetime
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from firmware_app import audit
from firmware_app.app import Kiosk
from firmware_app.asr.types import Grammar
from firmware_app.dialogue.session import Session
from firmware_app.events import (
    AnswerCard,
    Event,
    InputSource,
    Language,
    ListeningStarted,
    NothingHeard,
    PartialTranscript,
    Reply,
    Role,
    SpeakingChanged,
    TicketRequested,
    UpdateProgress,
    UtteranceCaptured,
    WakeWordDetected,
)
from firmware_app.form_choices import Choice, date_choices, slot_choices, time_choices, yes_no_choices
from firmware_app.inference.manifest import load_manifest
from firmware_app.logs import RecentErrors
from firmware_app.packs import GuidanceEntry, ProfileGuidance, Slot, Text
from firmware_app.pinyin_input import PinyinInput, for_pack
from firmware_app.privacy import mask_for_display
from firmware_app.staff_pin import PinLock
from firmware_app.storage import MB, ensure_room, is_disk_full
from firmware_app.sync.install import installed_releases
from firmware_app.vision.capture import ImageError, PhotoSource, downscale, save_photo
from firmware_app.vision.defects import NOT_RECOGNISED
from firmware_app.vision.quality import QualityReport, check_quality
from firmware_app.vision.recognition import Recognition, RecognitionUnavailable, Recognizer, summary
from firmware_app.voice_commands import screen_command

log = logging.getLogger(__name__)

Screen = Literal[
    "attract",
    "home",
    "topic",
    "conversation",
    "answer",
    "form",
    "ticket",
    "handoff",
    "camera",
    "photo_result",
    "inspection",
    "rating",
    "thanks",
    "admin_pin",
    "admin",
]
SCREENS: tuple[Screen, ...] = Screen.__args__  # type: ignore[attr-defined]
Activity = Literal["idle", "listening", "thinking", "speaking"]
# What the on-screen input is for: a question typed on the home screen, the answer a flow waits for, the
# technician's note on a photo, or the staff PIN.
FormPurpose = Literal["question", "flow", "photo_note", "pin"]
InputHint = Literal["keyboard", "numpad", "date", "time", "choice", "yes_no"]
# What the inspection screen says about a photo: still working, no model to ask, not this product, or the verdict.
Verdict = Literal["analysing", "unavailable", "not_recognised", "defect", "no_defect"]

MAX_DRAFT_CHARS = 500
MAX_COMPOSING = 24  # pinyin letters waiting to become Chinese
CANDIDATES = 8
PIN_LENGTH = 4


@dataclass(frozen=True)
class Bubble:
    role: Role
    text: str  # masked for the screen
    source: InputSource | None = None


@dataclass(frozen=True)
class FormState:
    purpose: FormPurpose
    prompt: str
    hint: InputHint
    draft: str = ""
    max_chars: int = MAX_DRAFT_CHARS
    choices: tuple[Choice, ...] = ()
    secret: bool = False  # show dots instead of the draft (the PIN)
    # Chinese typed on the on-screen keyboard: the pinyin letters not yet converted, and what they may stand for.
    composing: str = ""
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """A kind of defect (or an ok class) the model found, by its name on the screen, and how sure it is."""

    name: Text
    confidence: float


@dataclass(frozen=True)
class PhotoState:
    """The technician's photo: the live preview or the captured frame, what the quality gate said, and what the
    product profile's model recognised on it (with the pack's guidance for it)."""

    image: np.ndarray | None = None  # RGB uint8, height x width x 3
    quality: QualityReport | None = None
    note: str = ""
    profile: str = ""  # the product profile the photo is recognised with
    profiles: tuple[tuple[str, Text], ...] = ()  # the active profiles and their names (a choice when several)
    analysing: bool = False
    unavailable: bool = False  # the profile's model could not be loaded: the photo can still be filed
    recognition: Recognition | None = None
    findings: tuple[Finding, ...] = ()
    guidance: tuple[GuidanceEntry, ...] = ()

    @property
    def verdict(self) -> Verdict | None:
        """None until the photo went past the quality gate."""
        if self.analysing:
            return "analysing"
        if self.unavailable:
            return "unavailable"
        if self.recognition is None:
            return None
        inspection = self.recognition.inspection
        if inspection.label == NOT_RECOGNISED:
            return "not_recognised"
        return "defect" if inspection.defective else "no_defect"

    @property
    def profile_name(self) -> Text | None:
        return dict(self.profiles).get(self.profile)


# The fleet link as the staff screen shows it (``KioskSync.state``, or no link at all).
SyncState = Literal["not_configured", "connecting", "online", "offline"]


@dataclass(frozen=True)
class UpdateView:
    """The latest report of the kiosk's updater (``UpdateProgress``), as the staff screen shows it."""

    release_id: str | None
    state: str  # wire.UpdateState: downloading, verifying, installing, installed, rolled_back, failed, refused
    reason: str | None = None  # wire.UpdateReason, for rolled_back, failed and refused
    percent: int | None = None  # of the chunks, while downloading


@dataclass(frozen=True)
class AdminState:
    device_id: str = ""
    pack: str = ""
    models: tuple[str, ...] = ()
    releases: tuple[str, ...] = ()  # the signed releases serving now; none: what the kiosk shipped with
    update: UpdateView | None = None
    sync: SyncState = "not_configured"
    queue_depth: int = 0
    recent_errors: tuple[str, ...] = ()
    tickets_today: int = 0


@dataclass(frozen=True)
class ScreenState:
    screen: Screen = "attract"
    language: Language = "en"
    large_text: bool = False
    activity: Activity = "idle"
    partial_transcript: str = ""
    brand: str = ""
    disclosure: str = ""
    bubbles: tuple[Bubble, ...] = ()
    caption: str = ""  # the words the kiosk says (or would say) for this screen
    reply_kind: str | None = None
    card: AnswerCard | None = None
    qr_text: str | None = None  # what the take-away QR code carries
    suggestions: tuple[Choice, ...] = ()
    topics: tuple[Choice, ...] = ()
    topic_title: str = ""
    topic_entries: tuple[Choice, ...] = ()
    form: FormState | None = None
    reference: str | None = None
    photo: PhotoState | None = None
    rating: int | None = None
    admin: AdminState | None = None
    notice: str | None = None  # a message code for the screen: "idle_warning", "wrong_pin", "locked", ...
    wake_words: tuple[str, ...] = ()  # what the attract screen invites people to say (set by the listener)
    version: int = 0


class KioskFactory(Protocol):
    def __call__(self) -> Kiosk: ...


class KioskController:
    """The screen's side of the kiosk: one visit at a time, driven by touch, voice or a script."""

    def __init__(
        self,
        kiosk_factory: KioskFactory,
        camera: PhotoSource | None = None,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], datetime.date] = datetime.date.today,
        recognizer: Recognizer | None = None,
    ) -> None:
        self._factory = kiosk_factory
        self.kiosk = kiosk_factory()
        self.kiosk.bus.subscribe(self.on_event)
        self.camera = camera
        settings = self.kiosk.settings
        self.recognizer = recognizer or Recognizer(settings.vision, settings.models_dir)
        self._profile: str | None = None  # the product chosen on the camera screen, for the rest of the visit
        self._clock = clock
        self._today = today
        self._lock = threading.RLock()
        self._session: Session | None = None
        self._last_touch = clock()
        self._screen_since = clock()
        self._back: Screen = "home"
        self._current_topic = ""
        self._rated_session = ""
        # The updater's latest report, set from the sync's thread without the lock (one assignment) and shown by
        # ``tick``; after an install the kiosk is reloaded once no visit is in progress.
        interrupted = self.kiosk.interrupted_update  # rolled back at start: the kiosk died during a self-test
        self._update = UpdateView(interrupted, "rolled_back", "interrupted") if interrupted else None
        self._reload_due = False
        self.recent_errors = RecentErrors()
        logging.getLogger().addHandler(self.recent_errors)
        ui = self.kiosk.settings.ui
        self._pin_lock = PinLock(ui.admin_pin_sha256, ui.admin_attempts_before_lockout, ui.admin_lockout_s)
        self._state = ScreenState(language=self.kiosk.settings.language, large_text=ui.large_text)
        self._set(**self._pack_texts(self._state.language))

    # --- reading -----------------------------------------------------------------------------------------

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

    # --- visit lifecycle ---------------------------------------------------------------------------------

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

    def tick(self) -> None:
        """Called by the UI loop a few times a second: idle warning, idle timeout, thank-you screen timeout."""
        with self._lock:
            now = self._clock()
            ui = self.kiosk.settings.ui
            timeout = self.kiosk.settings.dialogue.idle_timeout_s
            idle = now - self._last_touch
            screen = self._state.screen
            if screen == "thanks" and now - self._screen_since >= ui.thanks_s:
                self._reset_to_attract()
            elif screen != "attract" and idle >= timeout:
                log.info("visit ended by idle timeout", extra={"screen": screen})
                self._end_visit("idle_timeout")
                self._reset_to_attract()
            elif (
                screen not in ("attract", "thanks")
                and idle >= timeout - ui.idle_warning_s
                and self._state.notice != "idle_warning"
            ):
                self._set(notice="idle_warning")
            self._follow_updates()

    def _follow_updates(self) -> None:
        """Show the updater's latest report on an open staff screen and, once a release is installed, load it at
        the first quiet moment: the attract screen with no visit, so no customer sees answers change mid-visit."""
        admin = self._state.admin
        if admin is not None and admin.update != self._update:
            self._set(admin=replace(admin, update=self._update, releases=installed_releases(self._data_dir)))
        if self._reload_due and self._state.screen == "attract" and self._session is None:
            self._reload_due = False
            log.info("loading the installed update", extra={"release": self._update and self._update.release_id})
            self._reload_pipeline()

    def still_here(self) -> None:
        """The customer answered "Are you still there?"."""
        with self._lock:
            self._touched()
            self._set(notice=None)

    def _touched(self) -> None:
        """Someone did something: the idle timer restarts and the last notice has been seen."""
        self._last_touch = self._clock()
        if self.hush is not None:
            self.hush()
        if self._state.notice is not None:
            self._set(notice=None)
        if self._session is not None and not self._session.ended:
            self._session.last_activity = time.monotonic()

    def _end_visit(self, reason: Literal["goodbye", "idle_timeout", "handoff", "reset"]) -> None:
        session = self._session
        self._rated_session = session.id if session else str(uuid.uuid4())
        if session is not None and not session.ended:
            self.kiosk.end_session(session, reason)
        elif session is not None:
            session.clear()
        self._session = None

    def _reset_to_attract(self) -> None:
        """Back to the start for the next visitor, in the kiosk's default language and text size."""
        language = self.kiosk.settings.language
        self._forget_visit()
        self._set(
            screen="attract",
            rating=None,
            admin=None,
            notice=None,
            language=language,
            large_text=self.kiosk.settings.ui.large_text,
            **self._pack_texts(language),
        )

    def _forget_visit(self) -> None:
        """Drop everything the screen holds about the visit: its words, answers, photo and references."""
        self._profile = None
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
        )

    # --- preferences -------------------------------------------------------------------------------------

    def set_language(self, language: Language) -> None:
        with self._lock:
            self._touched()
            if self._session is not None:
                self._session.language = language
            self._set(language=language, **self._pack_texts(language))
            if self._state.screen == "topic":
                self._show_topic(self._current_topic)

    def toggle_large_text(self) -> None:
        with self._lock:
            self._touched()
            self._set(large_text=not self._state.large_text)

    # --- navigation and questions ------------------------------------------------------------------------

    def go_home(self) -> None:
        with self._lock:
            self._touched()
            self._require_session()
            self._set(screen="home", form=None, notice=None)

    def back(self) -> None:
        """The screen's back arrow: from a topic list or a form to where the customer came from."""
        with self._lock:
            self._touched()
            target = (
                self._back
                if self._state.screen in ("topic", "form", "camera", "photo_result", "inspection")
                else "home"
            )
            self._set(screen=target, form=None)

    def show_conversation(self) -> None:
        with self._lock:
            self._touched()
            self._set(screen="conversation", form=None)

    def open_topic(self, topic: str) -> None:
        with self._lock:
            self._touched()
            self._require_session()
            self._show_topic(topic)
            self._back = "home"
            self._set(screen="topic")

    def _show_topic(self, topic: str) -> None:
        pack, language = self.kiosk.pack, self._state.language
        title = pack.manifest.topics.get(topic)
        if title is None:
            raise KeyError(f"no topic {topic!r} in pack {pack.manifest.id}")
        self._current_topic = topic
        entries = [Choice(i.title.get(language), i.id) for i in pack.intents if i.topic == topic]
        entries += [Choice(f.question.get(language), f.id) for f in pack.faq if f.topic == topic]
        self._set(topic_title=title.get(language), topic_entries=tuple(entries))

    def choose(self, entry_id: str) -> None:
        """A tapped topic entry: its answer, or its flow."""
        with self._lock:
            self._touched()
            session = self._require_session()
            self._set(activity="thinking")
            self._show_reply(self.kiosk.choose(session, entry_id))

    def ask(self, text: str, source: InputSource = "text") -> None:
        """A question typed, spoken (after speech recognition) or tapped as a suggestion; a short spoken screen
        command ("bigger text", "中文", "five stars") works the screen instead, so voice reaches everything."""
        with self._lock:
            self._touched()
            command = screen_command(text, self._state.screen) if source == "voice" else None
            if command is not None:
                name, *args = command
                getattr(self, str(name))(*args)
                return
            session = self._require_session()
            self._add_bubble("customer", text, source)
            self._set(activity="thinking", partial_transcript="")
            self._show_reply(self.kiosk.handle_text(session, text, source))

    def request_staff(self) -> None:
        with self._lock:
            self._touched()
            session = self._require_session()
            self._show_reply(self.kiosk.hand_off(session, "asked"))

    def start_typing(self) -> None:
        """The home screen's "Type a question": the keyboard with nothing typed yet."""
        with self._lock:
            self._touched()
            self._require_session()
            self._back = self._state.screen if self._state.screen != "form" else "home"
            prompt = self.kiosk.pack.manifest.messages.how_can_i_help.get(self._state.language)
            self._set(screen="form", form=FormState("question", prompt, "keyboard"))

    def _show_reply(self, reply: Reply) -> None:
        session = self._session
        self._add_bubble("assistant", reply.text)
        changes: dict[str, object] = {
            "activity": "idle",
            "caption": reply.speech or reply.text,
            "reply_kind": reply.kind,
            "card": reply.card,
            "suggestions": tuple(Choice(s, s) for s in reply.suggestions),
            "qr_text": None,
            "reference": reply.card.reference if reply.card else None,
            "form": None,
        }
        if reply.language != self._state.language:
            changes |= {"language": reply.language, **self._pack_texts(reply.language)}
        if session is not None and session.ended:
            self._end_visit("goodbye")
            self._forget_visit()
            changes = {"screen": "rating", "rating": None, "caption": reply.speech or reply.text}
        elif reply.kind == "handoff":
            changes["screen"] = "handoff"
        elif reply.kind == "done" and reply.ticket_id:
            changes |= {"screen": "ticket", "qr_text": _ticket_qr(reply)}
        elif reply.flow and reply.kind in ("prompt", "confirm") and reply.input_hint:
            changes |= {"screen": "form", "form": self._flow_form(reply)}
            self._back = "conversation"
        elif reply.kind == "answer" and reply.card is not None:
            changes |= {"screen": "answer", "qr_text": _answer_qr(reply.card)}
        else:
            changes["screen"] = "conversation"
        self._set(**changes)

    def _add_bubble(self, role: Role, text: str, source: InputSource | None = None) -> None:
        """Customer words are masked for the screen; the kiosk's own words (and read-backs) already are."""
        shown = mask_for_display(text, region=self.kiosk.settings.region) if role == "customer" else text
        self._set(bubbles=(*self._state.bubbles, Bubble(role, shown, source)))

    # --- forms and the on-screen keyboard ----------------------------------------------------------------

    def _flow_form(self, reply: Reply) -> FormState:
        hint: InputHint = reply.input_hint  # type: ignore[assignment]
        language, days = reply.language, self.kiosk.pack.manifest.opening_hours.days
        choices: tuple[Choice, ...] = ()
        slot = self._awaited_slot()
        if hint == "yes_no":
            choices = yes_no_choices(language)
        elif hint == "choice" and slot is not None:
            choices = slot_choices(slot, language)
        elif hint == "date":
            choices = date_choices(days, self._today(), language)
        elif hint == "time":
            choices = time_choices(days, self._chosen_date())
        # The flows' only numeric answer is a card's last four digits.
        max_chars = 4 if hint == "numpad" else MAX_DRAFT_CHARS
        return FormState("flow", reply.text, hint, max_chars=max_chars, choices=choices)

    def _awaited_slot(self) -> Slot | None:
        session = self._session
        if session is None or session.flow is None:
            return None
        flow = self.kiosk.pack.flow(session.flow.flow_id)
        return next((s for s in flow.slots if s.name == session.flow.awaiting), None) if flow else None

    def _chosen_date(self) -> datetime.date | None:
        session = self._session
        chosen = session.flow.slots.get("date") if session and session.flow else None
        return datetime.date.fromisoformat(chosen.value) if chosen else None

    def type_key(self, key: str) -> None:
        """One key of the on-screen keyboard or numpad. On a Chinese keyboard letters spell pinyin (the
        composition, with its candidates); space picks the first candidate; a digit or mark converts the
        composition first, then goes into the text."""
        self._type(key, compose=True)

    def type_text(self, text: str) -> None:
        """Text from a physical keyboard or a system input method, character by character, as it is."""
        for char in text:
            self._type(char, compose=False)

    def _type(self, key: str, compose: bool) -> None:
        with self._lock:
            self._touched()
            form = self._state.form
            if form is None or (form.hint == "numpad" and not key.isdigit()):
                return
            pinyin = compose and form.hint == "keyboard" and self._state.language == "zh"
            if pinyin and key.isascii() and key.isalpha():
                self._set(form=self._composed(form, form.composing + key.lower()))
                return
            if form.composing and key == " " and compose:
                self._set(form=self._picked(form, form.candidates[0] if form.candidates else form.composing))
                return
            form = self._converted(form)
            if len(form.draft) + len(key) <= form.max_chars:
                form = replace(form, draft=form.draft + key)
            self._set(form=form)

    def pick_candidate(self, text: str) -> None:
        """A tapped candidate (or the composition itself, to keep the Latin letters) goes into the text; the
        letters it does not stand for stay in the composition."""
        with self._lock:
            self._touched()
            form = self._state.form
            if form is not None and form.composing and text in (*form.candidates, form.composing):
                self._set(form=self._picked(form, text))

    def backspace(self) -> None:
        """Delete the last pinyin letter, or when none is waiting, the last character of the text."""
        with self._lock:
            self._touched()
            form = self._state.form
            if form is not None and form.composing:
                self._set(form=self._composed(form, form.composing[:-1]))
            elif form is not None and form.draft:
                self._set(form=replace(form, draft=form.draft[:-1]))

    def _pinyin(self) -> PinyinInput:
        return for_pack(self.kiosk.pack)  # built on first use, once per pack content

    def _composed(self, form: FormState, letters: str) -> FormState:
        letters = letters[:MAX_COMPOSING]
        candidates = tuple(self._pinyin().candidates(letters, CANDIDATES)) if letters else ()
        return replace(form, composing=letters, candidates=candidates)

    def _picked(self, form: FormState, text: str) -> FormState:
        rest = "" if text == form.composing else self._pinyin().rest(form.composing, text)
        draft = form.draft + text if len(form.draft) + len(text) <= form.max_chars else form.draft
        return self._composed(replace(form, draft=draft), rest)

    def _converted(self, form: FormState) -> FormState:
        """The whole composition in the text: first candidates until no letters wait (the letters themselves
        where nothing matches them), as pressing space until it is done would."""
        while form.composing:
            form = self._picked(form, form.candidates[0] if form.candidates else form.composing)
        return form

    def submit(self, value: str | None = None) -> None:
        """Send the draft (or a tapped choice) to whatever the form is for. Pinyin still waiting is converted
        first (its first candidates, as the bar shows them): a customer who presses Send after typing "huilv"
        means 汇率, and the raw letters are one tap away on the bar for whoever wants them."""
        with self._lock:
            self._touched()
            form = self._state.form
            if form is None:
                return
            if form.composing and value is None:
                form = self._converted(form)
                self._set(form=form)
            text = (value if value is not None else form.draft).strip()
            if not text:
                return
            if form.purpose == "pin":
                self._check_pin(text)
            elif form.purpose == "photo_note":
                self._file_photo_ticket(text)
            else:
                self._set(form=replace(form, draft="", composing="", candidates=()))
                self.ask(text, "touch" if value is not None else "text")

    # --- the technician's camera -------------------------------------------------------------------------

    def open_camera(self) -> None:
        with self._lock:
            self._touched()
            self._require_session()
            self._back = "home"
            self._set(screen="camera", photo=self._photo(self._camera_frame()), form=None)

    def refresh_preview(self) -> None:
        """A new preview frame (the UI calls this at its preview rate while the camera screen is shown)."""
        with self._lock:
            if self._state.screen == "camera":
                self._set(photo=self._photo(self._camera_frame()))

    def _photo(self, image: np.ndarray | None) -> PhotoState:
        """A fresh photo state: the picture, and the product it will be recognised as (with the choice)."""
        guidance = self.kiosk.pack.guidance
        profiles = self.recognizer.profiles
        names = tuple((profile, _profile_name(guidance.profiles, profile)) for profile in profiles)
        chosen = self._profile if self._profile in profiles else profiles[0]
        return PhotoState(image=image, profile=chosen, profiles=names)

    def choose_profile(self, profile: str) -> None:
        """The product the part is (a tap on the camera screen); kept for the rest of the visit."""
        with self._lock:
            self._touched()
            photo = self._state.photo
            if profile not in self.recognizer.profiles or photo is None:
                return
            self._profile = profile
            self._set(photo=replace(photo, profile=profile))

    def _camera_frame(self) -> np.ndarray | None:
        if self.camera is None:
            return None
        try:
            return self.camera.frame()
        except (OSError, ImageError) as error:
            log.warning("camera frame failed: %s", error)
            return None

    def capture(self, image: np.ndarray | None = None, analyse: bool = True) -> None:
        """Take the photo (the current camera frame, or a picked image) and run the quality gate on it; a good
        photo goes to the inspection screen, which says "analysing" until ``analyse`` has the verdict (the tour
        passes ``analyse=False`` to photograph that state)."""
        with self._lock:
            self._touched()
            frame = image if image is not None else self._camera_frame()
            if frame is None:
                self._set(notice="no_camera")
                return
            quality = check_quality(frame)
            if not quality.ok:
                self._back = "camera"
                self._set(screen="photo_result", photo=replace(self._photo(frame), quality=quality), form=None)
                return
            # Recognised at the size it is filed at, so the boxes are in the attached photo's pixels.
            photo = replace(self._photo(downscale(frame)), quality=quality, analysing=True)
            self._back = "home"
            self._set(screen="inspection", photo=photo, form=None)
            if analyse:
                self.analyse()

    def analyse(self) -> None:
        """Recognise the photo on the inspection screen with the chosen profile's model: the verdict, the
        annotated picture, and the pack's guidance for what was found."""
        with self._lock:
            photo = self._state.photo
            if self._state.screen != "inspection" or photo is None or photo.image is None:
                return
            try:
                recognition = self.recognizer.recognise(photo.profile, photo.image)
            except RecognitionUnavailable:
                self._set(photo=replace(photo, analysing=False, unavailable=True))
                return
            log.info("photo recognised", extra={"verdict": summary(photo.profile, recognition.inspection)})
            self._set(photo=self._explained(photo, recognition))

    def _explained(self, photo: PhotoState, recognition: Recognition) -> PhotoState:
        """The photo with its verdict, what was found by name and confidence (each kind once, at its surest
        box), and the guidance the pack links to it. An ok result without a name of its own (a board that
        matches its template) lists nothing: the verdict says it all."""
        inspection = recognition.inspection
        found: dict[str, float] = {}
        if inspection.label != NOT_RECOGNISED:
            found = {inspection.label: inspection.confidence} if not inspection.boxes else {}
            for box in sorted(inspection.boxes, key=lambda box: -box.score):
                found.setdefault(box.label, box.score)
        guidance = self.kiosk.pack.guidance
        findings = []
        for label, confidence in found.items():
            linked = guidance.label(photo.profile, label)
            if linked is not None or inspection.defective:
                findings.append(Finding(linked.name if linked else Text(en=label, zh=label), confidence))
        entries = {entry.id: entry for label in found for entry in guidance.entries_for(photo.profile, label)}
        return replace(
            photo,
            analysing=False,
            recognition=recognition,
            findings=tuple(findings),
            guidance=tuple(entries.values()),
        )

    def file_photo(self) -> None:
        """File the photo on the inspection screen: the note's keyboard, under the photo."""
        with self._lock:
            self._touched()
            photo = self._state.photo
            if photo is None or photo.verdict in (None, "analysing"):
                return
            self._back = "inspection"
            prompt = _PHOTO_NOTE_PROMPT[self._state.language]
            self._set(screen="photo_result", form=FormState("photo_note", prompt, "keyboard"))

    def retake(self) -> None:
        with self._lock:
            self.open_camera()

    def _file_photo_ticket(self, note: str) -> None:
        """The photo and, when the model ran, its annotated copy, with the verdict and the note. On a full disk
        (under ``[privacy] photo_floor_mb`` before writing, or ENOSPC / SQLite "disk is full" while writing)
        nothing is filed, this ticket's files are removed, and the technician keeps the photo and the note on
        screen with a "storage full" notice: earlier tickets and photos are untouched."""
        photo = self._state.photo
        if photo is None or photo.image is None:
            return
        session = self._require_session()
        ticket_id = str(uuid.uuid4())
        data_dir = self.kiosk.settings.data_dir
        attachments = [f"photos/{ticket_id}.jpg"]
        inspection = photo.recognition.inspection if photo.recognition is not None else None
        try:
            ensure_room(data_dir, self.kiosk.settings.privacy.photo_floor_mb * MB)
            save_photo(photo.image, data_dir / attachments[0])
            if photo.recognition is not None:
                attachments.append(f"photos/{ticket_id}-annotated.jpg")
                save_photo(photo.recognition.annotated, data_dir / attachments[1])
            created = self.kiosk.file_ticket(
                TicketRequested(
                    ticket_id=ticket_id,
                    ticket_type="technician_photo",
                    priority="normal",
                    summary=f"Technician photo, {summary(photo.profile, inspection)}. Note: {note}",
                    language=session.language,
                    session_id=session.id,
                    attachments=tuple(attachments),
                    inspection=inspection,
                )
            )
        except (OSError, sqlite3.OperationalError) as exc:
            if not is_disk_full(exc):
                raise
            for name in attachments:
                (data_dir / name).unlink(missing_ok=True)
            log.error("photo not filed: storage full", extra={"error": str(exc)})
            self._set(notice="storage_full")
            return
        self._add_bubble("customer", note, "touch")
        text = _PHOTO_FILED[session.language].format(reference=created.reference)
        card = AnswerCard(title=_PHOTO_TITLE[session.language], body=text, reference=created.reference)
        self._set(
            screen="ticket",
            card=card,
            caption=text,
            reference=created.reference,
            qr_text=f"{self.kiosk.pack.manifest.name.en} ticket {created.reference}",
            form=None,
            photo=replace(photo, note=note),
        )

    # --- voice hooks (the listening and speech issues drive these) ---------------------------------------

    listen: Callable[[], None] | None = None  # starts push-to-talk capture when a microphone pipeline is attached
    # Turns a captured utterance (a WAV path) into text (``firmware_app.voice.VoiceTurns.transcribe``).
    transcribe: Callable[[str], str | None] | None = None
    hush: Callable[[], object] | None = None  # stops the kiosk's voice: a touch means the customer took the turn

    def expected_grammar(self) -> Grammar | None:
        """ "digits" while a flow asks for a number on the numpad (card digits, an amount), else None. The staff
        PIN is never listened for: it must not be said aloud."""
        form = self._state.form
        return "digits" if form is not None and form.purpose == "flow" and form.hint == "numpad" else None

    def on_event(self, event: Event) -> None:
        """The listening loop's events, as they arrive on the kiosk's bus (from its own thread)."""
        if isinstance(event, WakeWordDetected):
            self.wake(event.wake_word)
        elif isinstance(event, ListeningStarted):
            self.set_activity("listening")
        elif isinstance(event, UtteranceCaptured):
            self.heard(event.path)
        elif isinstance(event, NothingHeard):
            with self._lock:
                self._set(activity="idle", partial_transcript="", notice="not_heard")
        elif isinstance(event, PartialTranscript):
            self.set_activity("listening", event.text)
        elif isinstance(event, UpdateProgress):
            percent = event.done * 100 // event.total if event.state == "downloading" and event.total else None
            self._update = UpdateView(event.release_id, event.state, event.reason, percent)
            self._reload_due = self._reload_due or event.state == "installed"
        elif isinstance(event, SpeakingChanged):
            with self._lock:
                if event.state == "started":
                    self._set(activity="speaking")
                elif self._state.activity == "speaking":
                    self._set(activity="idle")

    def announce_wake_words(self, names: list[str]) -> None:
        """The wake words the attract screen invites people to say ("okay_nabu" -> "Okay Nabu")."""
        with self._lock:
            self._set(wake_words=tuple(name.replace("_", " ").title() for name in names))

    def wake(self, wake_word: str) -> None:
        """A wake word: from the attract screen a visit starts; on any screen the kiosk shows it is listening."""
        with self._lock:
            log.info("wake word", extra={"wake_word": wake_word})
            if self._state.screen in ("attract", "thanks"):
                self.touch_start()
            self._touched()
            self._set(activity="listening", partial_transcript="", notice=None)

    def heard(self, wav_path: str) -> None:
        """An utterance was captured: its words go to the dialogue as a spoken turn, once speech recognition
        can read them; until then the customer is told to type or tap instead. The recording is personal data
        and is deleted once read."""
        if self.transcribe is not None:
            self.set_activity("thinking", self._state.partial_transcript)
        try:
            text = self.transcribe(wav_path) if self.transcribe is not None else None
        finally:
            Path(wav_path).unlink(missing_ok=True)
        if text is None:
            with self._lock:
                notice = "no_speech_recognition" if self.transcribe is None else "not_understood_audio"
                self._set(activity="idle", partial_transcript="", notice=notice)
            return
        self.ask(text, "voice")

    def push_to_talk(self) -> None:
        """The big microphone button: listen without a wake word, or say plainly that voice is unavailable."""
        with self._lock:
            self._touched()
            self._require_session()
            if self.listen is None:
                self._set(notice="no_microphone")
                return
            self._set(activity="listening", partial_transcript="")
        self.listen()

    def set_activity(self, activity: Activity, partial_transcript: str = "") -> None:
        """Listening / thinking / speaking indicators and the live partial transcript."""
        with self._lock:
            if activity != "idle":
                self._touched()
            shown = mask_for_display(partial_transcript, region=self.kiosk.settings.region)
            self._set(activity=activity, partial_transcript=shown)

    # --- staff -------------------------------------------------------------------------------------------

    def open_admin(self) -> None:
        """The hidden staff corner: asks for the PIN."""
        with self._lock:
            self._touched()
            prompt = _PIN_PROMPT[self._state.language]
            self._back = self._state.screen
            self._set(screen="admin_pin", form=FormState("pin", prompt, "numpad", max_chars=8, secret=True))

    def _check_pin(self, pin: str) -> None:
        form = self._state.form
        assert form is not None
        verdict = self._pin_lock.check(pin, self._clock())
        audit.record(self.kiosk.db, "staff", f"staff_pin_{verdict}")
        if verdict != "ok":
            log.warning("wrong staff PIN" if verdict == "wrong" else "staff PIN refused: locked after wrong tries")
            self._set(notice="wrong_pin" if verdict == "wrong" else "locked", form=replace(form, draft=""))
            return
        self._end_visit("reset")
        log.info("staff screen opened")
        self._set(screen="admin", form=None, admin=self._admin_state())

    def _admin_state(self) -> AdminState:
        kiosk = self.kiosk
        manifest = load_manifest(kiosk.settings.models_dir)
        today = self._today().isoformat()
        tickets_today = kiosk.db.execute("SELECT COUNT(*) FROM tickets WHERE created_at >= ?", [today]).fetchone()[0]
        return AdminState(
            device_id=kiosk.settings.device_id,
            pack=f"{kiosk.pack.manifest.id} {kiosk.pack.manifest.version}",
            models=tuple(f"{entry.name} {entry.version}" for entry in manifest.values()),
            releases=installed_releases(self._data_dir),
            update=self._update,
            sync=kiosk.sync.state if kiosk.sync is not None else "not_configured",
            queue_depth=kiosk.tickets.outbox_depth(),
            recent_errors=self.recent_errors.lines(),
            tickets_today=int(tickets_today),
        )

    def admin_restart(self) -> None:
        """Reload the pipeline (pack, models, database) as a fresh start would, without restarting the UI."""
        with self._lock:
            self._touched()
            log.info("pipeline restart requested from the staff screen")
            audit.record(self.kiosk.db, "staff", "pipeline_restart")
            self._reload_pipeline()
            self._set(admin=self._admin_state(), notice="restarted")

    def _reload_pipeline(self) -> None:
        """A fresh kiosk (pack, models, database, sync link) as a new start would make it, following the update
        links, and a fresh photo recogniser (it caches the models it loaded; one given its own models folder
        keeps it); the UI keeps running."""
        self._reload_due = False  # whatever was installed, this loads it
        followed = self.recognizer.models_dir == self.kiosk.settings.models_dir
        self.kiosk.close()
        self.kiosk = self._factory()
        self.kiosk.bus.subscribe(self.on_event)
        models_dir = self.kiosk.settings.models_dir if followed else self.recognizer.models_dir
        self.recognizer = Recognizer(self.recognizer.config, models_dir)
        self._set(**self._pack_texts(self._state.language))

    @property
    def _data_dir(self) -> Path:
        return self.kiosk.settings.data_dir

    def close_admin(self) -> None:
        with self._lock:
            if self._state.screen == "admin":
                audit.record(self.kiosk.db, "staff", "staff_screen_closed")
            self._reset_to_attract()

    def detach(self) -> None:
        """Stop listening to the kiosk's bus and logs, leaving the kiosk open (it may serve another screen)."""
        self.kiosk.bus.unsubscribe(self.on_event)
        logging.getLogger().removeHandler(self.recent_errors)

    def close(self) -> None:
        self.detach()
        self.kiosk.close()


def _profile_name(profiles: Mapping[str, ProfileGuidance], profile: str) -> Text:
    """A profile's name on the screen from the pack's guidance; its model name where the pack has none yet."""
    spec = profiles.get(profile)
    return spec.name if spec is not None else Text(en=profile, zh=profile)


def _answer_qr(card: AnswerCard) -> str:
    """The answer to take away on a phone: its heading and the start of its text, short enough that the code
    stays coarse (about 65 modules) and scans from the screen at arm's length."""
    text = f"{card.title}\n{card.body}"
    if len(text.encode()) <= _QR_MAX_BYTES:
        return text
    while len(text.encode()) > _QR_MAX_BYTES - 3:  # room for the "…"
        text = text[:-1]
    return text.rstrip() + "…"


def _ticket_qr(reply: Reply) -> str:
    reference = reply.card.reference if reply.card else ""
    return f"{reply.card.title if reply.card else ''} {reference}".strip()


# Bytes (UTF-8) in a take-away QR code: 240 keeps the code at version 11, coarse enough to scan off the screen.
_QR_MAX_BYTES = 240
_PIN_PROMPT: dict[Language, str] = {"en": "Staff PIN", "zh": "员工密码"}
_PHOTO_NOTE_PROMPT: dict[Language, str] = {
    "en": "Add a short note for the colleague who inspects the part (what you saw, the part number):",
    "zh": "请为检查部件的同事写一句说明（看到的问题、部件编号）：",
}
_PHOTO_TITLE: dict[Language, str] = {"en": "Photo sent for inspection", "zh": "照片已提交检查"}
_PHOTO_FILED: dict[Language, str] = {
    "en": "Your photo and note are filed as ticket {reference}. A colleague will inspect the part.",
    "zh": "您的照片和说明已登记为工单 {reference}，同事会检查该部件。",
}
