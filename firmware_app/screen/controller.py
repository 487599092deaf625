"""The screen's controller: one visit at a time, driven by touch, voice or a script.

The UI (``kiosk_ui``) draws ``controller.state`` and sends ``Action`` values to ``dispatch``; every decision
(which screen comes next, what is masked, when a visit ends and its personal data is dropped) is made here, so
touch, voice and the scripted demo drive one and the same logic and the drawing code holds none.

``KioskController`` is assembled from its parts: the visit's life cycle and the snapshot (``core``), typing
(``forms``), the technician's camera (``camera``) and teaching it a new part (``teach``), the staff screens
(``staff``) and the voice hooks
(``voice_hooks``); this module adds what ties them together: navigation, the dialogue's replies, the timers,
and the dispatch of actions, and the staff console's news of the visit's hand-off.
"""

from __future__ import annotations

import datetime
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import assert_never

from firmware_app.events import AnswerCard, Event, HandoffUpdate, InputSource, Language, Reply, UpdateProgress
from firmware_app.screen.actions import (
    Action,
    Ask,
    Back,
    Backspace,
    CameraAction,
    Capture,
    ChooseEntry,
    ChooseProfile,
    CloseAdmin,
    FilePhoto,
    Finish,
    GoHome,
    LearnPart,
    NavigationAction,
    OpenAdmin,
    OpenCamera,
    OpenParts,
    OpenTopic,
    PickCandidate,
    PushToTalk,
    Rate,
    ReaderCommand,
    ReadScreen,
    RequestStaff,
    RestartPipeline,
    Retake,
    SetLanguage,
    ShowConversation,
    SkipRating,
    StaffAction,
    StartTyping,
    StepThreshold,
    StillHere,
    Submit,
    TeachCapture,
    TeachMore,
    TeachPart,
    ToggleElderly,
    ToggleLargeText,
    TouchStart,
    TypeKey,
    TypeText,
    TypingAction,
    VisitAction,
)
from firmware_app.screen.choices import Choice
from firmware_app.screen.core import KioskFactory
from firmware_app.screen.forms import TypingScreens
from firmware_app.screen.staff import StaffScreens
from firmware_app.screen.state import HandoffView, ReaderRequest, ScreenState
from firmware_app.screen.strings import t
from firmware_app.screen.teach import TeachScreens
from firmware_app.screen.voice_hooks import VoiceHooks
from firmware_app.vision.capture import PhotoSource
from firmware_app.vision.recognition import Recognizer
from firmware_app.voice_commands import screen_command

log = logging.getLogger(__name__)

# Bytes (UTF-8) in a take-away QR code: 240 keeps the code at version 11, coarse enough to scan off the screen.
QR_MAX_BYTES = 240
MIN_IDLE_WARNING_S = 20.0  # WCAG 2.2.1: at least 20 s to ask for more time
ELDERLY_TIMEOUT_FACTOR = 2.0  # elderly mode: idle timeout and warning doubled
HEALTH_CHECK_S = 2.0  # how often the idle kiosk looks at its disk and retries a failed intent model


class KioskController(TypingScreens, TeachScreens, StaffScreens, VoiceHooks):
    """The screen's side of the kiosk: one visit at a time, driven by touch, voice or a script."""

    def __init__(
        self,
        kiosk_factory: KioskFactory,
        camera: PhotoSource | None = None,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], datetime.date] = datetime.date.today,
        recognizer: Recognizer | None = None,
    ) -> None:
        # Hand-off updates from the sync's thread, shown by ``tick`` on the screen's own.
        self._handoff_news: queue.SimpleQueue[HandoffUpdate] = queue.SimpleQueue()
        self._factory = kiosk_factory
        self.kiosk = kiosk_factory()
        self.kiosk.bus.subscribe(self.on_event)
        self.camera = camera
        settings = self.kiosk.settings
        self.recognizer = recognizer or Recognizer(
            settings.vision, settings.models_dir, settings.data_dir, self.kiosk.capabilities
        )
        self._profile = None
        self._technician = False
        self._clock = clock
        self._today = today
        self._lock = threading.RLock()
        self._session = None
        self._last_touch = clock()
        self._screen_since = clock()
        self._back = "home"
        self._current_topic = ""
        self._rated_session = ""
        self._health_checked_at = float("-inf")
        self.headphones = False  # plugged into the kiosk (firmware_app.audio.headphones): speech mode stays on
        self._init_staff()
        self._state = ScreenState(
            language=settings.language, large_text=settings.ui.large_text, elderly=settings.ui.elderly
        )
        self._set(**self._pack_texts(self._state.language))

    # --- actions as values -----------------------------------------------------------------------------------

    def dispatch(self, action: Action) -> None:
        """Perform a tap's or a spoken command's action. Each group is matched to the end (``assert_never``), so
        mypy fails on an action the UI or the voice commands can send and the controller does not perform."""
        if isinstance(action, VisitAction):
            self._perform_visit(action)
        elif isinstance(action, NavigationAction):
            self._perform_navigation(action)
        elif isinstance(action, TypingAction):
            self._perform_typing(action)
        elif isinstance(action, CameraAction):
            self._perform_camera(action)
        elif isinstance(action, StaffAction):
            self._perform_staff(action)
        elif isinstance(action, PushToTalk):
            self.push_to_talk()
        elif isinstance(action, ReadScreen):
            self.read_screen(action.command)
        else:
            assert_never(action)

    def _perform_visit(self, action: VisitAction) -> None:
        match action:
            case TouchStart():
                self.touch_start()
            case StillHere():
                self.still_here()
            case Finish():
                self.finish()
            case Rate(stars):
                self.rate(stars)
            case SkipRating():
                self.rate_skip()
            case _:
                assert_never(action)

    def _perform_navigation(self, action: NavigationAction) -> None:
        match action:
            case GoHome():
                self.go_home()
            case Back():
                self.back()
            case ShowConversation():
                self.show_conversation()
            case OpenTopic(topic):
                self.open_topic(topic)
            case ChooseEntry(entry_id):
                self.choose(entry_id)
            case Ask(text, source):
                self.ask(text, source)
            case RequestStaff():
                self.request_staff()
            case SetLanguage(language):
                self.set_language(language)
            case ToggleLargeText():
                self.toggle_large_text()
            case ToggleElderly():
                self.toggle_elderly()
            case _:
                assert_never(action)

    def _perform_typing(self, action: TypingAction) -> None:
        match action:
            case StartTyping():
                self.start_typing()
            case TypeKey(key):
                self.type_key(key)
            case TypeText(text):
                self.type_text(text)
            case PickCandidate(text):
                self.pick_candidate(text)
            case Backspace():
                self.backspace()
            case Submit(value):
                self.submit(value)
            case _:
                assert_never(action)

    def _perform_camera(self, action: CameraAction) -> None:
        match action:
            case OpenCamera():
                self.open_camera()
            case ChooseProfile(profile):
                self.choose_profile(profile)
            case Capture():
                self.capture()
            case Retake():
                self.retake()
            case FilePhoto():
                self.file_photo()
            case TeachPart():
                self.teach_part()
            case TeachCapture():
                self.teach_capture()
            case LearnPart():
                self.learn_part()
            case TeachMore():
                self.teach_more()
            case _:
                assert_never(action)

    def _perform_staff(self, action: StaffAction) -> None:
        match action:
            case OpenAdmin():
                self.open_admin()
            case RestartPipeline():
                self.admin_restart()
            case CloseAdmin():
                self.close_admin()
            case OpenParts():
                self.open_parts()
            case StepThreshold(profile, step):
                self.step_threshold(profile, step)
            case _:
                assert_never(action)

    # --- timers ------------------------------------------------------------------------------------------------

    def idle_limits(self) -> tuple[float, float]:
        """The idle timeout and how long before it the warning comes, in seconds (WCAG 2.2.1, "timing
        adjustable"): the warning gives at least ``MIN_IDLE_WARNING_S`` to answer, and both are doubled
        (``ELDERLY_TIMEOUT_FACTOR``) in elderly mode. Any touch or spoken word restarts the timer
        (``_touched``), as often as the customer likes: nothing counts the extensions."""
        factor = ELDERLY_TIMEOUT_FACTOR if self._state.elderly else 1.0
        timeout = self.kiosk.settings.dialogue.idle_timeout_s * factor
        warning = max(self.kiosk.settings.ui.idle_warning_s, MIN_IDLE_WARNING_S) * factor
        return timeout, min(warning, timeout)

    def tick(self) -> None:
        """Called by the UI loop a few times a second: idle warning (on screen and said aloud), idle timeout,
        thank-you screen timeout; and every ``HEALTH_CHECK_S`` the kiosk's own look at its parts (room on the
        disk, an intent model that failed), so that a fault and its repair reach the staff screen and the fleet
        while nobody is at the counter."""
        started = time.monotonic()
        if started - self._health_checked_at >= HEALTH_CHECK_S:
            self._health_checked_at = started
            self.kiosk.check_health()
        with self._lock:
            now = self._clock()
            ui = self.kiosk.settings.ui
            timeout, warning = self.idle_limits()
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
                and idle >= timeout - warning
                and self._state.notice != "idle_warning"
            ):
                self._set(notice="idle_warning")
                language = self._state.language
                self._say(f"{t('idle_warning', language)} {t('idle_warning_body', language)}")
            self._follow_updates()
            self._follow_handoff()

    # --- preferences -------------------------------------------------------------------------------------------

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
            self._set(large_text=not self._state.large_text, elderly=False)

    def toggle_elderly(self) -> None:
        """Elderly mode (适老化) on or off: bigger type and targets, doubled idle timeouts. It and large text are
        the two bigger sizes, one at a time: turning either on turns the other off."""
        with self._lock:
            self._touched()
            self._set(elderly=not self._state.elderly, large_text=False)

    def headphones_changed(self, plugged: bool) -> None:
        """Headphones plugged in (speech mode starts, and stays on for the next visitors while they stay in) or
        taken out (it stops)."""
        self.headphones = plugged
        self.read_screen("start" if plugged else "exit")

    def read_screen(self, command: ReaderCommand) -> None:
        """A speech-mode command (a navigation key, a long press, headphones, or words such as "next"): speech mode
        turns on (off for "exit") and the UI, which knows what the screen shows, reads or moves. It counts as the
        customer being there, like a touch."""
        with self._lock:
            self._touched()
            serial = self._state.reader.serial + 1 if self._state.reader else 1
            self._set(speech_mode=command != "exit", reader=ReaderRequest(serial, command))

    # --- navigation and questions ------------------------------------------------------------------------------

    def go_home(self) -> None:
        with self._lock:
            self._touched()
            self._require_session()
            self._set(screen="home", form=None, notice=None)

    def back(self) -> None:
        """The screen's back arrow: from a topic list or a form to where the customer came from; from teaching a
        part (its photos are dropped) to the camera; from the taught parts to the staff screen."""
        with self._lock:
            self._touched()
            if self._state.screen == "parts":
                self.close_parts()
                return
            target = (
                self._back
                if self._state.screen in ("topic", "form", "camera", "photo_result", "inspection", "teach")
                else "home"
            )
            self._set(screen=target, form=None, teach=None)

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

    def ask(self, text: str, source: InputSource = "text") -> Reply | None:
        """A question typed, spoken (after speech recognition) or tapped as a suggestion, and the reply shown; a
        short spoken screen command ("bigger text", "中文", "five stars") works the screen instead (no reply), so
        voice reaches everything a touch can ("camera" only in a technician's visit)."""
        with self._lock:
            self._touched()
            command = screen_command(text, self._state.screen, self._state.speech_mode) if source == "voice" else None
            if isinstance(command, OpenCamera) and not self._camera_allowed():
                command = None  # the camera is the technician's (behind the staff PIN): the words are a question
            if command is not None:
                self.dispatch(command)
                return None
            session = self._require_session()
            self._add_bubble("customer", text, source)
            self._set(activity="thinking", partial_transcript="")
            reply = self.kiosk.handle_text(session, text, source)
            self._show_reply(reply)
            return reply

    def request_staff(self) -> None:
        with self._lock:
            self._touched()
            session = self._require_session()
            self._show_reply(self.kiosk.hand_off(session, "asked"))

    def submit(self, value: str | None = None) -> None:
        """Send the draft (or a tapped choice) to whatever the form is for: the staff PIN, the photo's note, or
        the dialogue (a question, or the answer a flow waits for)."""
        with self._lock:
            self._touched()
            sending = self._text_to_send(value)
            if sending is None:
                return
            form, text = sending
            if form.purpose == "pin":
                self._check_pin(text)
            elif form.purpose == "photo_note":
                self._file_photo_ticket(text)
            elif form.purpose == "part_title":
                self._begin_capture(text)
            else:
                self._set(form=replace(form, draft="", composing="", candidates=()))
                self.ask(text, "touch" if value is not None else "text")

    # --- the dialogue's replies --------------------------------------------------------------------------------

    def _show_reply(self, reply: Reply) -> None:
        """The reply as a bubble, and the screen it leads to: a rating once the visit ended, the hand-off, the
        ticket, a flow's form, the answer card, or the conversation."""
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
            changes |= {"screen": "handoff", "handoff": HandoffView(reply.ticket_id) if reply.ticket_id else None}
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

    # --- the kiosk behind the screen ---------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """The kiosk's bus events (from its own threads): the updater's reports, hand-off updates (queued for
        ``tick``: the sync's thread must not wait for a visit's turn to end) and the voice pipeline's."""
        if isinstance(event, UpdateProgress):
            self._note_update(event)
        elif isinstance(event, HandoffUpdate):
            self._handoff_news.put(event)
        else:
            self._on_voice_event(event)

    def _follow_handoff(self) -> None:
        """The staff console's news goes on the hand-off screen of the visit whose ticket it is; news of any other
        ticket (an earlier visit's), or arriving once the customer left that screen, is dropped."""
        while not self._handoff_news.empty():
            news = self._handoff_news.get()
            handoff = self._state.handoff
            if self._state.screen == "handoff" and handoff is not None and handoff.ticket_id == news.ticket_id:
                said = replace(handoff, state=news.state, colleague=news.colleague, reference=news.reference)
                self._set(handoff=said)
                self._say(said.line(self._state.language))

    def _say(self, line: str | None) -> None:
        """Say ``line`` aloud as well: a reply outside any turn, which a connected voice pipeline speaks (the
        screen, the analytics and the latency telemetry take no turn from it)."""
        if line and self._session is not None:
            language = self._state.language
            self.kiosk.bus.publish(Reply(session_id=self._session.id, text=line, language=language, kind="info"))

    def _forget_visit(self) -> None:
        """The visit's hand-off goes with the rest of what the screen held about it (``ScreenCore``)."""
        super()._forget_visit()
        self._set(handoff=None)

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
        self.recognizer = Recognizer(
            self.recognizer.config, models_dir, self.recognizer.data_dir, self.kiosk.capabilities
        )
        self._set(**self._pack_texts(self._state.language))

    def detach(self) -> None:
        """Stop listening to the kiosk's bus and logs, leaving the kiosk open (it may serve another screen)."""
        self.kiosk.bus.unsubscribe(self.on_event)
        logging.getLogger().removeHandler(self.recent_errors)

    def close(self) -> None:
        self.detach()
        self.kiosk.close()


def _answer_qr(card: AnswerCard) -> str:
    """The answer to take away on a phone: its heading and the start of its text, short enough that the code
    stays coarse (about 65 modules) and scans from the screen at arm's length."""
    text = f"{card.title}\n{card.body}"
    if len(text.encode()) <= QR_MAX_BYTES:
        return text
    while len(text.encode()) > QR_MAX_BYTES - 3:  # room for the "…"
        text = text[:-1]
    return text.rstrip() + "…"


def _ticket_qr(reply: Reply) -> str:
    reference = reply.card.reference if reply.card else ""
    return f"{reply.card.title if reply.card else ''} {reference}".strip()
