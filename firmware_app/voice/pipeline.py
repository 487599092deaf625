"""The voice pipeline's stages in order, on the listening loop's thread (see the package's table).

``VoicePipeline`` is the listening loop's ``CaptureObserver``: a capture starts the stream to speech recognition
(and stops the kiosk's voice: the customer is talking); when the utterance ends, its samples go in memory through
speech to text, the dialogue and the reply, and only then does the loop read on and wait for the next wake word.
The speech stage goes on on the voice's own thread, so the customer can talk over it.

Parts that fail are tried again every ``listening.retry_s`` on a thread of the pipeline's own (wake words and
recognizers that could not load; the microphone retries itself, ``ReconnectingMicrophone``), so that voice comes
back without a restart when the part is repaired or an update replaces it; touch serves meanwhile.

Replies that do not come from a spoken turn (a tap, the greeting of a visit begun by touch) also run the reply
and speech stages, since the kiosk says what it shows; those its own dialogue stage produces wait for the stage's
end, so that a turn's events come in stage order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from firmware_app.asr.policy import AsrPolicy
from firmware_app.asr.types import Grammar
from firmware_app.audio.endpoint import Utterance
from firmware_app.audio.frames import SAMPLE_RATE_HZ, Frame
from firmware_app.audio.pipeline import build_listener, load_wake_words
from firmware_app.audio.sources import AudioSource, ReconnectingMicrophone
from firmware_app.audio.tts import AudioOutput
from firmware_app.config import KioskSettings
from firmware_app.events import (
    CaptureTrigger,
    DialogueEnded,
    DialogueError,
    DialogueStarted,
    Event,
    Reply,
    ReplyEnded,
    ReplyStarted,
    SpeechToTextError,
    TranscriptionStarted,
    WakeStarted,
)
from firmware_app.health import Health
from firmware_app.voice.recognition import SpeechToText
from firmware_app.voice.speaking import Voice

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 10.0  # a turn in progress (Whisper, the dialogue) ends well within this

Subscriber = Callable[[Event], None]


class Bus(Protocol):
    """Where the pipeline publishes its events and hears the other replies (the kiosk's ``EventBus``)."""

    def publish(self, event: Event) -> None: ...

    def subscribe(self, subscriber: Subscriber) -> None: ...

    def unsubscribe(self, subscriber: Subscriber) -> None: ...


class Conversation(Protocol):
    """What the dialogue stage talks to: the screen's controller on a kiosk with a screen (where a short spoken
    command works the screen instead), ``firmware_app.kiosk_voice.ScreenlessVisit`` on one without."""

    def respond(self, text: str) -> Reply | None:
        """The kiosk's reply to the customer's words, or None when they worked the screen and need no reply."""
        ...

    def expected_grammar(self) -> Grammar | None:
        """How the next utterance should be heard: "digits" while the dialogue waits for a number."""
        ...


class VoicePipeline:
    """One microphone's spoken turns: ``source`` feeds the listening loop, each utterance runs the stages, and the
    replies are spoken on ``output`` (None, or ``speech.tts_engine = "none"``: a silent kiosk).

    Run it on its own thread (``start()``: a microphone delivers audio in real time) or frame by frame
    (``step()`` then ``finish()``: recordings). ``push_to_talk()`` and ``hush()`` may be called from any thread.
    """

    def __init__(
        self,
        settings: KioskSettings,
        source: AudioSource,
        bus: Bus,
        conversation: Conversation,
        policy: AsrPolicy,
        output: AudioOutput | None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.conversation = conversation
        self.wake_words = tuple(settings.listening.wake_words)
        self.recognition = SpeechToText(policy, bus.publish)
        self.listener = build_listener(settings, source, bus.publish, capture=self)
        self.voice = Voice(settings.speech, output, bus.publish, self.listener.kiosk_speaking)
        self.thread: threading.Thread | None = None
        self._started = False
        self._answering: threading.Thread | None = None  # the thread inside the dialogue stage, if any
        self._closing = threading.Event()
        self._repairs: threading.Thread | None = None
        self.health: Health | None = None  # told when wake words that failed load again (``voice_for`` sets it)
        bus.subscribe(self.on_event)

    def load_engines(self, wait: bool) -> None:
        """Load the recognizers, on a background thread unless ``wait`` (recordings): the screen comes up at once,
        and the first question rarely waits for them."""
        if wait:
            self.recognition.load_engines()
        else:
            threading.Thread(target=self.recognition.load_engines, name="asr-load", daemon=True).start()

    # --- running it ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the listening loop on its own thread, and the repairs on another."""
        self.thread = threading.Thread(target=self._run_logged, name="kiosk-listener", daemon=True)
        self.thread.start()
        self._repairs = threading.Thread(target=self._repair_loop, name="voice-repairs", daemon=True)
        self._repairs.start()

    def repair(self) -> None:
        """Try again what failed to load: the wake words (the listening loop picks them up at its next frame)
        and the recognizers."""
        if self.wake_words and self.listener.wake_words is None:
            wake_words = load_wake_words(self.settings, self.bus.publish, retry=True)
            if wake_words is not None:
                self.listener.wake_words = wake_words
                log.info("wake words loaded again: %s", ", ".join(self.wake_words))
                if self.health is not None:
                    self.health.ok("wake_word")
        if self.recognition.unavailable:
            self.recognition.load_engines(retry=True)

    def _repair_loop(self) -> None:
        while not self._closing.wait(self.settings.listening.retry_s):
            try:
                self.repair()
            except Exception:
                log.exception("repairing the voice failed")

    def step(self, frame: Frame) -> None:
        """One 10 ms frame through the loop (and the stages, when it ends an utterance)."""
        if not self._started:
            self._begin()
        self.listener.step(frame)

    def finish(self) -> None:
        """The audio ended: what was being captured still runs its turn."""
        self.listener.finish()

    def push_to_talk(self) -> None:
        """The microphone button: a turn that starts at capture, without a wake word."""
        self.listener.push_to_talk()

    def hush(self) -> None:
        """A touch on the screen: the customer took the turn, so the voice stops at once."""
        self.voice.hush()

    def progress(self) -> int | None:
        """Frames heard so far while the loop runs on its thread (the service watchdog checks it moves), None
        once it has ended (its source finished or was closed), which is not a hang."""
        alive = self.thread is not None and self.thread.is_alive()
        source = self.listener.source
        waiting = isinstance(source, ReconnectingMicrophone) and not source.connected  # no microphone to hear
        return self.listener.frames_seen if alive and not waiting else None

    def wait_until_quiet(self, timeout_s: float = 30.0) -> bool:
        """Wait until every reply has been spoken (True at once for a silent kiosk)."""
        return self.voice.wait_until_quiet(timeout_s)

    def close(self) -> None:
        """Stop listening and speaking; waits for a turn in progress, so the kiosk can be closed after."""
        self._closing.set()
        self.listener.stop()
        if self.thread is not None:
            self.thread.join(timeout=CLOSE_TIMEOUT_S)
        if self._repairs is not None:
            self._repairs.join(timeout=CLOSE_TIMEOUT_S)
        self.voice.close()
        self.bus.unsubscribe(self.on_event)

    def _run_logged(self) -> None:
        try:
            self._begin()
            self.listener.run()
        except Exception:
            log.exception("the listening loop stopped")

    def _begin(self) -> None:
        self._started = True
        self._wait_for_wake()

    # --- the listening loop's capture (CaptureObserver) ------------------------------------------------------

    def capture_started(self, trigger: CaptureTrigger) -> None:
        self.voice.stop()  # barge-in: whatever started the capture, the customer is talking now
        self.recognition.start(self.conversation.expected_grammar())

    def capture_frame(self, frame: Frame) -> None:
        self.recognition.feed(frame)

    def capture_ended(self, utterance: Utterance | None) -> None:
        if utterance is not None:
            self.run_turn(utterance.samples, SAMPLE_RATE_HZ)
        self._wait_for_wake()

    def _wait_for_wake(self) -> None:
        if self.listener.wake_words is not None:
            self.bus.publish(WakeStarted(wake_words=self.wake_words, time_s=round(self.listener.stream_s, 2)))

    # --- the stages after capture ----------------------------------------------------------------------------

    def run_turn(self, samples: np.ndarray, sample_rate_hz: int) -> None:
        """Speech to text, dialogue and reply for one captured utterance; a stage that fails ends the turn."""
        text = self._speech_to_text(samples, sample_rate_hz)
        reply = self._dialogue(text) if text is not None else None
        if reply is not None:
            self._reply(reply)

    def _speech_to_text(self, samples: np.ndarray, sample_rate_hz: int) -> str | None:
        self.bus.publish(TranscriptionStarted(audio_s=round(len(samples) / sample_rate_hz, 2)))
        result = self.recognition.transcribe(samples, sample_rate_hz)
        self.bus.publish(result)
        if isinstance(result, SpeechToTextError):
            return None
        if not result.text:
            self.bus.publish(SpeechToTextError(code="no_text", message="the recognizers heard no words"))
            return None
        return result.text

    def _dialogue(self, text: str) -> Reply | None:
        self.bus.publish(DialogueStarted(text=text))
        started = time.perf_counter()
        self._answering = threading.current_thread()
        try:
            reply = self.conversation.respond(text)
        except Exception as error:  # the customer is told nothing was understood; the loop listens on
            log.exception("the dialogue failed on a spoken turn")
            self.bus.publish(DialogueError(code="failed", message=f"{type(error).__name__}: {error}"))
            return None
        finally:
            self._answering = None
        kind, intent = (reply.kind, reply.intent) if reply is not None else (None, None)
        self.bus.publish(DialogueEnded(kind=kind, intent=intent, seconds=round(time.perf_counter() - started, 4)))
        return reply

    def _reply(self, reply: Reply) -> None:
        self.bus.publish(ReplyStarted(kind=reply.kind, language=reply.language))
        self.bus.publish(ReplyEnded(spoken=self.voice.say(reply)))

    def on_event(self, event: Event) -> None:
        """Every reply is spoken: those of this pipeline's dialogue stage after the stage (its answer; a greeting
        that came with it would be cut by the answer at once), every other one now."""
        if isinstance(event, Reply) and threading.current_thread() is not self._answering:
            self._reply(event)
