"""The listening loop: wake word (or a tap) -> capture one utterance -> its samples, for speech recognition.

Runs on its own thread, frame by frame from one ``AudioSource``, and reports through ``publish`` (the kiosk's
event bus): ``WakeWordDetected`` and ``ListeningStarted`` when capture begins, then ``UtteranceCaptured``, or
``NothingHeard`` when nobody spoke. The utterance itself goes in memory to the ``CaptureObserver`` (the voice
pipeline's speech recognition); a loop given an ``out_dir`` also saves each one as a WAV file, for keeping
recordings. The VAD sees every frame, so its recurrent state is warm
when a capture starts; wake words are not run while capturing (the customer's question cannot wake the kiosk
again) and are reset afterwards. Memory stays flat however long it runs: only the end-pointer's bounded
buffers hold audio.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from firmware_app.audio.endpoint import EndpointConfig, Endpointer, NoSpeech, Utterance
from firmware_app.audio.frames import FRAME_MS, Detection, Frame
from firmware_app.audio.sinks import WavSink
from firmware_app.audio.sources import AudioSource
from firmware_app.events import (
    CaptureTrigger,
    Event,
    ListeningStarted,
    NothingHeard,
    UtteranceCaptured,
    WakeWordDetected,
)

log = logging.getLogger(__name__)


class WakeWordSpotter(Protocol):
    """What the loop needs of the wake words (``wakeword.WakeWords``): detections per frame, and a reset."""

    def process(self, frame: Frame) -> list[Detection]: ...

    def reset(self) -> None: ...


class VoiceActivity(Protocol):
    """What the loop needs of the VAD (``vad.SileroVad``): a speech probability for every frame."""

    def process(self, frame: Frame) -> float: ...


class CaptureObserver(Protocol):
    """Hears each utterance as it is captured (a streaming recognizer showing partial words), and gets it whole
    at the end (the voice pipeline's next stages)."""

    def capture_started(self, trigger: CaptureTrigger) -> None: ...

    def capture_frame(self, frame: Frame) -> None:
        """The next frame of the utterance, from its pre-roll to its end, in order."""
        ...

    def capture_ended(self, utterance: Utterance | None) -> None:
        """The whole utterance (after ``UtteranceCaptured``), or None when nobody spoke (after ``NothingHeard``).
        Runs on the loop's thread: the next frame is read when it returns."""
        ...


class Listener:
    """One microphone's listening loop; ``run()`` blocks until the source ends or ``stop()`` is called.

    ``wake_words=None`` listens for taps only. ``push_to_talk()`` and ``stop()`` may be called from any thread.
    While ``kiosk_speaking`` is set (the kiosk's voice is playing), speech that lasts ``start_ms`` is a barge-in:
    capture begins at once, with the words that interrupted. That needs a microphone with echo cancellation
    (a speakerphone), else the kiosk would hear itself: ``barge_in_on_speech=False`` leaves barge-in to the
    wake word and the screen.
    """

    def __init__(
        self,
        source: AudioSource,
        wake_words: WakeWordSpotter | None,
        vad: VoiceActivity,
        endpointing: EndpointConfig,
        out_dir: Path | None,
        publish: Callable[[Event], None],
        capture: CaptureObserver | None = None,
        barge_in_on_speech: bool = True,
    ) -> None:
        self.source = source
        self.capture = capture
        self.barge_in_on_speech = barge_in_on_speech
        self.kiosk_speaking = threading.Event()
        self.wake_words = wake_words
        self.vad = vad
        self.endpointer = Endpointer(endpointing)
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.publish = publish
        self.frames_seen = 0
        self._trigger: CaptureTrigger = "push_to_talk"
        self._push_to_talk = threading.Event()
        self._stopped = threading.Event()

    @property
    def stream_s(self) -> float:
        """Seconds of audio heard so far (the clock of ``WakeWordDetected.time_s``)."""
        return self.frames_seen * FRAME_MS / 1000

    def push_to_talk(self) -> None:
        """The microphone button: capture an utterance from the next frame, without a wake word. Ignored while
        a capture is already running."""
        self._push_to_talk.set()

    def stop(self) -> None:
        """End ``run()`` at the next frame and close the source (a microphone stops recording)."""
        self._stopped.set()
        self.source.close()

    def run(self) -> None:
        try:
            for frame in self.source.frames():
                if self._stopped.is_set():
                    break
                self.step(frame)
            self.finish()
        finally:
            self.source.close()

    def finish(self) -> None:
        """The audio ended: hand on what was being captured (``run()`` calls it; a caller stepping frames
        itself calls it after the last one)."""
        result = self.endpointer.finish()
        if result is not None:
            self._finished(result)

    def step(self, frame: Frame) -> None:
        """One 10 ms frame through the loop."""
        self.frames_seen += 1
        probability = self.vad.process(frame)
        if self.endpointer.capturing:
            self._push_to_talk.clear()
            was_in_utterance = self.endpointer.in_utterance
            result = self.endpointer.push(frame, probability)
            if result is not None:
                self._finished(result)
            elif self.capture is not None and self.endpointer.in_utterance:
                for captured in [frame] if was_in_utterance else self.endpointer.utterance_so_far():
                    self.capture.capture_frame(captured)
            return
        self.endpointer.push(frame, probability)
        if self._push_to_talk.is_set():
            self._push_to_talk.clear()
            self._begin("push_to_talk", keep_history=True)
        elif self.barge_in_on_speech and self.kiosk_speaking.is_set() and self.endpointer.hearing_speech:
            self._begin("barge_in", keep_history=True)
        elif self.wake_words is not None:
            detections = self.wake_words.process(frame)
            if detections:
                best = max(detections, key=lambda detection: detection.score)
                self.publish(WakeWordDetected(wake_word=best.wake_word, score=best.score, time_s=self.stream_s))
                # The wake word itself is not part of the question.
                self._begin("wake_word", keep_history=False)

    def _begin(self, trigger: CaptureTrigger, keep_history: bool) -> None:
        self._trigger = trigger
        self.endpointer.start(keep_history)
        if self.capture is not None:
            self.capture.capture_started(trigger)
        self.publish(ListeningStarted(trigger=trigger))

    def _finished(self, result: Utterance | NoSpeech) -> None:
        if self.wake_words is not None:
            self.wake_words.reset()
        if isinstance(result, NoSpeech):
            self.publish(NothingHeard(trigger=self._trigger, waited_s=result.waited_s))
            if self.capture is not None:
                self.capture.capture_ended(None)
            return
        path = None
        if self.out_dir is not None:
            path = str(self.out_dir / f"{uuid.uuid4()}.wav")
            with WavSink(path) as sink:
                sink.write(result.samples)
        log.info("utterance captured", extra={"duration_s": result.duration_s, "ended_by": result.ended_by})
        self.publish(UtteranceCaptured(path=path, duration_s=result.duration_s, ended_by=result.ended_by))
        if self.capture is not None:
            self.capture.capture_ended(result)
