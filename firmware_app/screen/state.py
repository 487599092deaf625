"""What the kiosk's screen shows, as plain immutable data.

``ScreenState`` is a snapshot that the controller replaces whole, so the drawing thread can read it at any time
without locking; everything in it is frozen for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from firmware_app.events import AnswerCard, InputSource, Language, Role
from firmware_app.packs import GuidanceEntry, Text
from firmware_app.screen.actions import ReaderCommand
from firmware_app.screen.choices import Choice
from firmware_app.screen.strings import t
from firmware_app.vision.defects import NOT_RECOGNISED
from firmware_app.vision.quality import QualityReport
from firmware_app.vision.recognition import Recognition
from kiosk_link.wire import HandoffState

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
    "teach",
    "parts",
]
SCREENS: tuple[Screen, ...] = Screen.__args__  # type: ignore[attr-defined]
Activity = Literal["idle", "listening", "thinking", "speaking"]
# What the on-screen input is for: a question typed on the home screen, the answer a flow waits for, the
# technician's note on a photo, the staff PIN, or the title of a part being taught.
FormPurpose = Literal["question", "flow", "photo_note", "pin", "part_title"]
InputHint = Literal["keyboard", "numpad", "date", "time", "choice", "yes_no"]
# What the inspection screen says about a photo: still working, no model to ask, not this product, or the verdict.
Verdict = Literal["analysing", "unavailable", "not_recognised", "defect", "no_defect"]
# Teaching a new part: taking its photos, learning from them, what was learned, or why it could not be.
TeachPhase = Literal["capture", "learning", "learned", "failed"]
# The fleet link as the staff screen shows it (``KioskSync.state``, or no link at all).
SyncState = Literal["not_configured", "connecting", "online", "offline"]

MAX_DRAFT_CHARS = 500


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


@dataclass(frozen=True)
class TeachResult:
    """What enrolment made of the photos: how many it learned from, those it left out (photo number, reason
    key or text), the threshold and how many of its own good photos that threshold calls defective."""

    photos: int
    left_out: tuple[tuple[int, str], ...]
    threshold: float
    flagged: int


@dataclass(frozen=True)
class TeachState:
    """A new part being taught from good photos (``firmware_app.screen.teach``): the profile name it gets, its
    title, the photos kept so far, the live preview, and the last photo the quality gate refused (with why)."""

    name: str
    title: str
    phase: TeachPhase = "capture"
    photos: tuple[np.ndarray, ...] = ()  # RGB uint8, downscaled: the photos it will learn from
    preview: np.ndarray | None = None
    refused: QualityReport | None = None  # the last photo taken, not kept
    result: TeachResult | None = None
    error: str = ""  # a message key: teach_failed_photos, teach_no_model, teach_no_folder
    detail: str = ""  # what went wrong, as the enrolment said it (English, for a colleague)

    @property
    def count(self) -> int:
        return len(self.photos)


@dataclass(frozen=True)
class PartView:
    """A part taught on this kiosk as the staff screen shows it: its threshold as a multiple of the learned
    one, and how many of its own good photos that threshold calls defective."""

    name: str
    title: str
    factor: float
    threshold: float
    photos: int
    flagged: int


@dataclass(frozen=True)
class UpdateView:
    """The latest report of the kiosk's updater (``UpdateProgress``), as the staff screen shows it."""

    release_id: str | None
    state: str  # wire.UpdateState: downloading, verifying, installing, installed, rolled_back, failed, refused
    reason: str | None = None  # wire.UpdateReason, for rolled_back, failed and refused
    percent: int | None = None  # of the chunks, while downloading


@dataclass(frozen=True)
class HandoffView:
    """The visit's hand-off ticket, and the staff console's latest word on it (``HandoffUpdate``): ``state`` is
    None until a colleague answers. Kept as data, not as text, so a language switch retells it."""

    ticket_id: str
    state: HandoffState | None = None
    colleague: str = ""
    reference: str = ""

    def line(self, language: Language) -> str | None:
        """What the hand-off screen says about it in ``language``; None until a colleague answers."""
        if self.state is None:
            return None
        return t(f"colleague_{self.state}", language, colleague=self.colleague, reference=self.reference)


@dataclass(frozen=True)
class DegradedView:
    """A capability running on its fallback, as the staff screen shows it (``health_<capability>`` and
    ``health_fallback_<fallback>`` in plain words, and since when, local HH:MM)."""

    capability: str
    fallback: str
    reason: str
    since: str


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
    parts: tuple[PartView, ...] = ()  # the parts taught on this kiosk (the "parts" screen)
    degraded: tuple[DegradedView, ...] = ()  # capabilities on their fallback (firmware_app.health)


@dataclass(frozen=True)
class ReaderRequest:
    """A speech-mode command for the UI to carry out; ``serial`` tells a repeated command from the last one."""

    serial: int
    command: ReaderCommand


@dataclass(frozen=True)
class ScreenState:
    screen: Screen = "attract"
    language: Language = "en"
    large_text: bool = False
    elderly: bool = False  # elderly mode (适老化): kiosk_ui.theme's sizes, doubled idle timeouts
    speech_mode: bool = False  # everything shown is read aloud and worked by keys or words (kiosk_ui.speech_mode)
    reader: ReaderRequest | None = None  # the latest speech-mode command
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
    handoff: HandoffView | None = None  # the visit's hand-off ticket, set when the hand-off screen opens
    photo: PhotoState | None = None
    rating: int | None = None
    admin: AdminState | None = None
    teach: TeachState | None = None  # a new part being taught (the "teach" screen)
    notice: str | None = None  # a message code for the screen: "idle_warning", "wrong_pin", "locked", ...
    wake_words: tuple[str, ...] = ()  # what the attract screen invites people to say (set by the listener)
    version: int = 0
