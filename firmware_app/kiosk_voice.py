"""The voice pipeline on a ``Kiosk``, and the visit it talks to when the kiosk has no screen.

``voice_for`` gives the pipeline the kiosk's recognizers (the pack's language model, the intent model that says
whether a transcript is in scope) and its bus, so every stage's events reach the screen, the logs and the health
telemetry. Its dialogue stage talks to a ``Conversation``: the screen's controller under ``kiosk run``, or a
``ScreenlessVisit`` for ``kiosk listen`` and the ASR bench, which need no screen at all.
"""

from __future__ import annotations

from firmware_app.app import Kiosk
from firmware_app.asr.engines import build_policy, in_scope_of
from firmware_app.asr.policy import AsrPolicy
from firmware_app.asr.types import Grammar
from firmware_app.audio.sources import AudioSource
from firmware_app.audio.tts import AudioOutput
from firmware_app.dialogue.session import Session
from firmware_app.events import Event, HandoffUpdate, Reply
from firmware_app.screen.state import HandoffView
from firmware_app.voice.pipeline import Conversation, VoicePipeline


def voice_for(
    kiosk: Kiosk,
    source: AudioSource,
    output: AudioOutput | None,
    conversation: Conversation,
    *,
    policy: AsrPolicy | None = None,
    wait_for_engines: bool = False,
) -> VoicePipeline:
    """``kiosk``'s voice pipeline on ``source``, speaking on ``output`` and answering through ``conversation``.

    The recognizers load on a background thread unless ``wait_for_engines`` (recordings). ``policy`` defaults to
    the configured one; a caller with several kiosk sessions (tests, benchmarks) passes one in to load engines
    once. The caller runs it (``start()``, or ``step()`` frame by frame) and closes it before the kiosk.
    """
    settings = kiosk.settings
    policy = policy or build_policy(settings, kiosk.pack, in_scope=in_scope_of(kiosk.nlu.classifiers["en"]))
    pipeline = VoicePipeline(settings, source, kiosk.bus, conversation, policy, output)
    # What works and what runs on its fallback: the recognizers as they load, the voice as it synthesizes (the
    # wake words report on the bus, which the kiosk's ``capabilities`` follow).
    pipeline.recognition.health = kiosk.capabilities
    pipeline.health = kiosk.capabilities
    if pipeline.voice.replies is not None:
        pipeline.voice.replies.health = kiosk.capabilities
    pipeline.load_engines(wait=wait_for_engines)
    return pipeline


class ScreenlessVisit:
    """The conversation of a kiosk without a screen: one visit at a time, begun by its first question (or
    ``start()``) and ended by goodbye or ``end()``. With no screen there are no screen commands: every word goes
    to the dialogue."""

    def __init__(self, kiosk: Kiosk) -> None:
        self.kiosk = kiosk
        self.session: Session | None = None
        self._last_reply: Reply | None = None
        self._handoff_ticket: str | None = None  # the visit's hand-off ticket, once it has one
        kiosk.bus.subscribe(self._on_event)

    def start(self) -> None:
        """A new visit: the kiosk greets, as when a customer taps the attract screen."""
        self.session, self._last_reply = self.kiosk.start_session()
        self._handoff_ticket = None

    def respond(self, text: str) -> Reply:
        """One spoken turn of the visit (a new visit after the last one ended)."""
        if self.session is None or self.session.ended:
            self.start()
        assert self.session is not None
        self._last_reply = self.kiosk.handle_text(self.session, text, "voice")
        if self._last_reply.kind == "handoff":
            self._handoff_ticket = self._last_reply.ticket_id
        return self._last_reply

    def _on_event(self, event: Event) -> None:
        """The staff console's word on this visit's hand-off (``HandoffUpdate``, on the link's thread), said aloud
        as a reply: without a screen the voice is the only way to tell the customer who is coming."""
        session = self.session
        if not isinstance(event, HandoffUpdate) or session is None or event.ticket_id != self._handoff_ticket:
            return
        line = HandoffView(event.ticket_id, event.state, event.colleague, event.reference).line(session.language)
        if line:
            self.kiosk.bus.publish(Reply(session_id=session.id, text=line, language=session.language, kind="info"))

    def expected_grammar(self) -> Grammar | None:
        """ "digits" while a flow asks for a number (card digits, an amount), where a screen shows its numpad."""
        reply = self._last_reply
        if reply is None or not reply.flow or reply.kind not in ("prompt", "confirm"):
            return None
        return "digits" if reply.input_hint == "numpad" else None

    def end(self) -> None:
        """End the visit (its personal data leaves memory); the next question begins another."""
        if self.session is not None and not self.session.ended:
            self.kiosk.end_session(self.session, "goodbye")
        self.session = None
        self._last_reply = None
        self._handoff_ticket = None
