"""Everything a customer, a technician or a member of staff can do to the screen, as typed values.

A tap on the touchscreen and a short spoken command ("bigger text", "five stars") both become one of these, and
``KioskController.dispatch`` performs it: mypy checks every action the UI or the voice commands can produce
against what the controller handles, where the old ``("method_name", *args)`` tuples were only found wrong when
tapped. The actions are grouped by domain (as the Wyoming protocol groups its events into audio, asr, tts...),
each group with its own union, and ``Action`` is the union of the groups.

Each action is plain, frozen data: it can be compared (tests, the UI's widget tree), logged and replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from firmware_app.events import InputSource, Language

# --- the visit -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TouchStart:
    """A tap on the attract screen: a visit starts on the home screen."""


@dataclass(frozen=True)
class StillHere:
    """The answer to "Are you still there?"."""


@dataclass(frozen=True)
class Finish:
    """ "That's all, thanks": the visit ends and asks for a rating."""


@dataclass(frozen=True)
class Rate:
    stars: int


@dataclass(frozen=True)
class SkipRating:
    pass


VisitAction = TouchStart | StillHere | Finish | Rate | SkipRating

# --- navigation and questions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoHome:
    pass


@dataclass(frozen=True)
class Back:
    """The screen's back arrow."""


@dataclass(frozen=True)
class ShowConversation:
    pass


@dataclass(frozen=True)
class OpenTopic:
    topic: str


@dataclass(frozen=True)
class ChooseEntry:
    """A tapped entry of a topic list: its answer, or its flow."""

    entry_id: str


@dataclass(frozen=True)
class Ask:
    """A question, or a word the dialogue reads as an act ("cancel"), in the customer's own words."""

    text: str
    source: InputSource = "text"


@dataclass(frozen=True)
class RequestStaff:
    pass


@dataclass(frozen=True)
class SetLanguage:
    language: Language


@dataclass(frozen=True)
class ToggleLargeText:
    pass


@dataclass(frozen=True)
class ToggleElderly:
    """Elderly mode (适老化): bigger type and targets, longer timeouts."""


NavigationAction = (
    GoHome
    | Back
    | ShowConversation
    | OpenTopic
    | ChooseEntry
    | Ask
    | RequestStaff
    | SetLanguage
    | ToggleLargeText
    | ToggleElderly
)

# --- typing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartTyping:
    """The home screen's "Type a question"."""


@dataclass(frozen=True)
class TypeKey:
    """One key of the on-screen keyboard or numpad (on a Chinese keyboard letters spell pinyin)."""

    key: str


@dataclass(frozen=True)
class TypeText:
    """Text from a physical keyboard or a system input method, typed as it is."""

    text: str


@dataclass(frozen=True)
class PickCandidate:
    """A tapped pinyin candidate, or the composition itself to keep the Latin letters."""

    text: str


@dataclass(frozen=True)
class Backspace:
    pass


@dataclass(frozen=True)
class Submit:
    """Send the draft, or ``value`` (a tapped choice) instead of it."""

    value: str | None = None


TypingAction = StartTyping | TypeKey | TypeText | PickCandidate | Backspace | Submit

# --- the technician's camera ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenCamera:
    pass


@dataclass(frozen=True)
class ChooseProfile:
    """The product the part is, which decides the model that judges the photo."""

    profile: str


@dataclass(frozen=True)
class Capture:
    """Take the photo from the camera's current frame."""


@dataclass(frozen=True)
class Retake:
    pass


@dataclass(frozen=True)
class FilePhoto:
    """File the photo on the inspection screen: asks for the note first."""


@dataclass(frozen=True)
class TeachPart:
    """ "Teach a new part" on the camera screen: asks for the staff PIN, then the part's title."""


@dataclass(frozen=True)
class TeachCapture:
    """Take one more photo of the good part being taught (through the quality gate)."""


@dataclass(frozen=True)
class LearnPart:
    """ "Learn this part": enrol the photos taken so far."""


@dataclass(frozen=True)
class TeachMore:
    """After a failed enrolment: back to taking photos, those kept so far still kept."""


CameraAction = (
    OpenCamera | ChooseProfile | Capture | Retake | FilePhoto | TeachPart | TeachCapture | LearnPart | TeachMore
)

# --- staff -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAdmin:
    """The hidden staff corner: asks for the PIN."""


@dataclass(frozen=True)
class RestartPipeline:
    """Reload the pack, models and database from the staff screen."""


@dataclass(frozen=True)
class CloseAdmin:
    """Leave the staff (or thank-you) screen for the attract screen."""


@dataclass(frozen=True)
class OpenParts:
    """The staff screen's "Taught parts": each part taught on this kiosk with its threshold."""


@dataclass(frozen=True)
class StepThreshold:
    """Move a taught part's threshold one step: -1 stricter (more photos called defective), +1 looser."""

    profile: str
    step: int


StaffAction = OpenAdmin | RestartPipeline | CloseAdmin | OpenParts | StepThreshold

# --- voice -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushToTalk:
    """The microphone button: listen without a wake word."""


VoiceAction = PushToTalk

# --- speech mode (the screen read aloud) -------------------------------------------------------------------------

# What a customer who cannot see the screen asks of it, by the navigation keys or in words (kiosk_ui.speech_mode):
# "start" turns speech mode on (headphones plugged in, a long press, "read the screen"), "exit" turns it off.
ReaderCommand = Literal[
    "start", "next", "previous", "select", "repeat", "back", "help", "stop", "louder", "quieter", "exit"
]


@dataclass(frozen=True)
class ReadScreen:
    """A speech-mode command; the UI, which knows what is on the screen, carries it out."""

    command: ReaderCommand


ReaderAction = ReadScreen

Action = VisitAction | NavigationAction | TypingAction | CameraAction | StaffAction | VoiceAction | ReaderAction
