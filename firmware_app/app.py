"""The wiring: one ``Kiosk`` object owns the database, the pack, the models and the dialogue.

Capabilities (nlu, knowledge, dialogue, tickets) do not import each other; they meet here. Everything that
happens is published as an event on a small in-process bus, which the UI, the logs and (later) the sync
service subscribe to.
"""

from __future__ import annotations

import datetime
import logging
import sqlite3
from collections.abc import Callable

from firmware_app.config import KioskSettings
from firmware_app.dialogue.manager import DialogueManager, TurnResult
from firmware_app.dialogue.session import Session
from firmware_app.events import (
    EndReason,
    Event,
    HandoffUpdate,
    InputSource,
    Language,
    Reply,
    SessionEnded,
    SessionRated,
    SessionStarted,
    TicketCreated,
    TicketRequested,
    UpdateProgress,
    UserSaid,
)
from firmware_app.health import Health, HealthReport
from firmware_app.knowledge.base import KnowledgeBase
from firmware_app.nlu.acts import ActMatcher
from firmware_app.nlu.degraded import LANGUAGES, IntentModels, KeywordReader, KeywordSearch
from firmware_app.nlu.engine import NluEngine, Understanding
from firmware_app.nlu.intent import OOS, IntentClassifier, IntentReader, SecondOpinion
from firmware_app.packs import Pack, load_pack
from firmware_app.storage import MB, is_disk_full, is_read_only, report_room
from firmware_app.store import open_database, transaction, utc_now
from firmware_app.sync.analytics import VisitRecorder
from firmware_app.sync.remote_config import RemoteConfig
from firmware_app.sync.service import KioskSync
from firmware_app.sync.telemetry import HealthRecorder
from firmware_app.sync.updates import recover_interrupted_update
from firmware_app.text import valid_unicode
from firmware_app.tickets.store import TicketStore
from kiosk_link.wire import HandoffUpdateV1, UpdateStatusV1

log = logging.getLogger(__name__)
Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous publish/subscribe inside the kiosk process; a failing subscriber is logged, not fatal."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber``; unsubscribing twice is harmless."""
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber failed", extra={"event_type": event.type})


def log_event(event: Event) -> None:
    """One log line per event, with the fields operations need (never the customer's words)."""
    fields = {k: getattr(event, k) for k in _LOGGED_FIELDS if hasattr(event, k)}
    log.info(event.type, extra={"event": event.type, **fields})


_LOGGED_FIELDS = (
    "session_id",
    "intent",
    "confidence",
    "in_scope_score",
    "kind",
    "flow",
    "reason",
    "ticket_id",
    "ticket_type",
    "priority",
    "reference",
    "source",
    "language",
    "stars",
)


def build_nlu(
    settings: KioskSettings,
    pack: Pack,
    today: Callable[[], datetime.date] = datetime.date.today,
    keywords: KeywordSearch | None = None,
    health: Health | None = None,
) -> NluEngine:
    """The text-understanding stack alone (``kiosk nlu`` needs no database).

    The intent models load now; one that cannot be loaded (a sha256 mismatch, a missing file, OpenVINO refusing
    it) does not stop the kiosk: questions are read by ``keywords`` (the knowledge store's word search; without
    it, one over the pack in memory) and the models are tried again every ``nlu.model_retry_s`` (``degraded``);
    ``health`` is told when they fail and when they load again."""

    def load_models() -> dict[Language, IntentReader]:
        loaded: dict[str, IntentClassifier] = {}
        for name in {settings.nlu.model_name, settings.nlu.multilingual_model_name}:
            loaded[name] = IntentClassifier.from_models_dir(
                settings.models_dir,
                name,
                threads=settings.nlu.inference_threads,
                threshold=settings.nlu.oos_threshold,
                cache_dir=settings.model_cache_dir,
            )
        english: IntentReader = loaded[settings.nlu.model_name]
        if settings.nlu.second_opinion_confidence is not None and len(loaded) == 2:
            multilingual = loaded[settings.nlu.multilingual_model_name]
            english = SecondOpinion(
                loaded[settings.nlu.model_name], multilingual, settings.nlu.second_opinion_confidence
            )
        return {"en": english, "zh": loaded[settings.nlu.multilingual_model_name]}

    def keyword_readers() -> dict[Language, IntentReader]:
        search = keywords if keywords is not None else pack_keyword_search(pack)
        return {language: KeywordReader(search, language) for language in LANGUAGES}

    models = IntentModels(load_models, keyword_readers, settings.nlu.model_retry_s, health=health)
    models.current()  # load now: a healthy kiosk pays for its models at start, not on its first question
    classifiers = {language: models.reader(language) for language in LANGUAGES}
    acts = ActMatcher(pack.acts)
    return NluEngine(classifiers, acts, region=settings.region, currency=settings.currency, today=today, models=models)


def pack_keyword_search(pack: Pack) -> KeywordSearch:
    """The knowledge store's keyword search over ``pack`` alone, in memory (``kiosk nlu`` has no database)."""
    knowledge = KnowledgeBase(open_database(":memory:"))
    knowledge.install_pack(pack)
    return knowledge.keyword_matches


class Kiosk:
    def __init__(self, settings: KioskSettings, today: Callable[[], datetime.date] = datetime.date.today) -> None:
        self.settings = settings
        # An update whose self-test never finished is rolled back before anything below loads a model or the pack.
        self.interrupted_update = recover_interrupted_update(settings)  # its release id, for the staff screen
        settings.follow_installed_updates()  # a kiosk reloading after its first install: the new links
        # The fleet's configuration saved by an earlier run, applied before anything below reads the settings.
        self.remote_config = RemoteConfig(settings)
        self.remote_config.load()
        self.bus = EventBus()
        self.bus.subscribe(log_event)
        # What works and what runs on its fallback (``HealthChanged`` on the bus): the staff screen and the fleet.
        self.capabilities = Health(self.bus.publish)
        self.bus.subscribe(self.capabilities.on_event)  # the voice pipeline's news of its wake words and recognizers
        self.health_report = HealthReport(self.capabilities, settings.health_report_path)  # for ``kiosk doctor``
        self.db = open_database(settings.database_path)
        # Health (latencies, error counts) for telemetry, and visit outcomes for the service analytics.
        self.health = HealthRecorder()
        self.bus.subscribe(self.health.on_event)
        logging.getLogger().addHandler(self.health)
        self.visits = VisitRecorder(self.db, settings.region, OOS)
        self.bus.subscribe(self.visits.on_event)
        self.pack = load_pack(settings.pack_dir)
        # Without its intent model the kiosk reads questions with the knowledge store's keyword search.
        self.knowledge = KnowledgeBase(self.db, vector_cache=settings.model_cache_dir)
        self.nlu = build_nlu(
            settings, self.pack, today, keywords=self.knowledge.keyword_matches, health=self.capabilities
        )
        self._knowledge_follows_models()
        self._install_pack_if_changed()
        self.tickets = TicketStore(self.db, settings.device_id, settings.region)
        # Tickets leave through the outbox on the sync's own thread and connection; off unless [sync] enabled.
        self.sync: KioskSync | None = None
        if settings.sync.enabled:
            self.sync = KioskSync.from_settings(settings, self.health, self.remote_config, self.capabilities)
            self.sync.on_handoff = self._handoff_updated
            if self.sync.updater is not None:
                self.sync.updater.on_report = self._update_reported
            self.sync.start()
        self.dialogue = DialogueManager(
            self.pack,
            self._understand,
            self.knowledge,
            self.file_ticket,
            settings.dialogue,
            faq_answer_similarity={
                "en": settings.nlu.faq_answer_similarity,
                "zh": settings.nlu.faq_answer_similarity_zh,
            },
            today=today,
        )
        self.check_health()  # storage at start (the intent models reported themselves as they loaded)

    def _update_reported(self, status: UpdateStatusV1) -> None:
        """An update report (made on the sync's thread) as an event: the staff screen shows it, and after an
        install the screen's controller reloads this kiosk at a quiet moment."""
        self.bus.publish(
            UpdateProgress(
                release_id=status.release_id,
                state=status.state,
                reason=status.reason,
                done=status.done,
                total=status.total,
            )
        )

    def _handoff_updated(self, update: HandoffUpdateV1) -> None:
        """A colleague's answer to a hand-off ticket (received on the sync's thread) as an event: the screen of
        the visit that filed the ticket shows it."""
        self.bus.publish(
            HandoffUpdate(
                ticket_id=update.ticket_id, reference=update.reference, state=update.state, colleague=update.colleague
            )
        )

    def _install_pack_if_changed(self) -> None:
        installed = self.knowledge.installed_version(self.pack.manifest.id)
        if installed is None or installed[1:] != (self.pack.content_sha256, self.knowledge.embedder):
            log.info("installing pack", extra={"pack": self.pack.manifest.id, "version": self.pack.manifest.version})
            self.knowledge.install_pack(self.pack)

    def _knowledge_follows_models(self) -> bool:
        """The knowledge store embeds with the intent models while they serve, and searches by words alone while
        the kiosk runs degraded. True when that changed (the pack must then be installed again, re-embedded)."""
        models = {} if self.nlu.degraded else self.nlu.classifiers
        embedder = " ".join(f"{language}:{c.model_id}" for language, c in sorted(models.items()))
        if embedder == self.knowledge.embedder:
            return False
        self.knowledge.embed = {language: c.embed for language, c in models.items()}
        self.knowledge.embedder = embedder
        return True

    def _understand(self, text: str, language: Language) -> Understanding:
        understanding = self.nlu.understand(text, language)  # tries a missing intent model again when due
        if self._knowledge_follows_models():  # a model that just came back: the pack's vectors before the search
            self._install_pack_if_changed()
        self.bus.publish(understanding.result)
        return understanding

    def file_ticket(self, request: TicketRequested) -> TicketCreated:
        """Store a ticket (idempotent on its id) after announcing the request on the bus; a full or read-only disk
        that refuses it is reported as degraded storage (and raised), the next ticket stored as storage back."""
        self.bus.publish(request)
        try:
            created = self.tickets.create(request)
        except (OSError, sqlite3.OperationalError) as exc:
            if is_disk_full(exc) or is_read_only(exc):
                self.capabilities.degraded("storage", f"ticket not stored: {exc}", "photos_refused")
            raise
        self.check_health()
        return created

    def check_health(self) -> None:
        """Look again at what the kiosk can measure on demand: the free space where it writes (under ``[privacy]
        photo_floor_mb`` new photos are refused) and, when due, the intent models that failed to load."""
        report_room(self.capabilities, self.settings.data_dir, self.settings.privacy.photo_floor_mb * MB)
        if self.nlu.degraded and self.nlu.models is not None:
            self.nlu.models.current()  # tries the models again when ``nlu.model_retry_s`` has passed

    def start_session(self, language: Language | None = None) -> tuple[Session, Reply]:
        """A new visit (tap or wake word): returns the session and the greeting."""
        session = Session(language=language or self.settings.language)
        self.bus.publish(SessionStarted(session_id=session.id, language=session.language))
        reply = self.dialogue.greet(session)
        self.bus.publish(reply)
        return session, reply

    def handle_text(self, session: Session, text: str, source: InputSource = "text") -> Reply:
        """One customer turn, typed, spoken or tapped."""
        text = valid_unicode(text)  # everything downstream (analytics, logs, tickets) can then encode it
        self.bus.publish(UserSaid(session_id=session.id, text=text, language=session.language, source=source))
        result = self.dialogue.handle(session, text)
        self._publish(result)
        if session.ended:
            self.end_session(session, "goodbye")
        return result.reply

    def choose(self, session: Session, entry_id: str) -> Reply:
        """A tapped topic tile or suggestion: the same answer (or flow) as asking for it."""
        self.bus.publish(
            UserSaid(session_id=session.id, text=f"[{entry_id}]", language=session.language, source="touch")
        )
        result = self.dialogue.choose(session, entry_id)
        self._publish(result)
        return result.reply

    def hand_off(self, session: Session, reason: str) -> Reply:
        """The customer asked for a colleague by touch ("Talk to a person"): the same hand-off as asking aloud."""
        self.bus.publish(UserSaid(session_id=session.id, text="[staff]", language=session.language, source="touch"))
        session.add_turn("customer", "[staff]")
        result = self.dialogue.hand_off(session, reason)
        session.add_turn("assistant", result.reply.text)
        self._publish(result)
        return result.reply

    def record_rating(self, session_id: str, stars: int, language: Language) -> None:
        """Keep the end-of-visit rating (1-5); rating the same visit twice keeps the last answer."""
        if not 1 <= stars <= 5:
            raise ValueError(f"a rating is 1 to 5 stars, got {stars}")
        rated = SessionRated(session_id=session_id, stars=stars, language=language)
        with transaction(self.db):
            self.db.execute(
                "INSERT OR REPLACE INTO ratings (session_id, stars, language, at) VALUES (?, ?, ?, ?)",
                [session_id, stars, language, utc_now()],
            )
        self.bus.publish(rated)

    def _publish(self, result: TurnResult) -> None:
        for event in [*result.events, result.reply]:
            self.bus.publish(event)

    def end_session(self, session: Session, reason: EndReason) -> None:
        """End the visit and forget its personal data."""
        turns = sum(1 for t in session.transcript if t.role == "customer")
        session.clear()
        self.bus.publish(SessionEnded(session_id=session.id, reason=reason, turns=turns))

    def expire_if_idle(self, session: Session, now: float | None = None) -> bool:
        if not session.ended and session.idle_for(now) >= self.settings.dialogue.idle_timeout_s:
            self.end_session(session, "idle_timeout")
            return True
        return False

    def close(self) -> None:
        if self.sync is not None:
            self.sync.stop()
        self.health_report.close()
        logging.getLogger().removeHandler(self.health)
        self.db.close()
