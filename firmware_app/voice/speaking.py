"""The kiosk's voice: the reply and speech stages, and barge-in.

Every reply is spoken, whether it answers a spoken turn or a tap, because the kiosk says what it shows. The
player (``SpokenReplies``) synthesizes and plays on its own thread, so neither the screen nor the listening loop
waits for speech; its news becomes the speech stage's events (``SpeechStarted``, ``SpeechEnded``), and while the
voice plays the listening loop is told, so that speech over it is a barge-in. A kiosk without a loudspeaker, or
with ``speech.tts_engine = "none"``, is silent: its replies end their stage unspoken.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from firmware_app.audio.tts import AudioOutput, SpeechState, SpeechSynthesizer, SpokenReplies
from firmware_app.config import SpeechConfig
from firmware_app.events import Event, Reply, SpeechEnded, SpeechStarted


class Voice:
    """Says replies on ``output`` (None: a silent kiosk) and publishes when it starts and stops speaking;
    ``speaking`` is set while it plays (the listening loop's ``kiosk_speaking``)."""

    def __init__(
        self,
        config: SpeechConfig,
        output: AudioOutput | None,
        publish: Callable[[Event], None],
        speaking: threading.Event,
    ) -> None:
        self.publish = publish
        self.speaking = speaking
        self.replies: SpokenReplies | None = None
        if output is not None and config.tts_engine != "none":
            self.replies = SpokenReplies(SpeechSynthesizer.from_config(config), output, self._on_state)

    def say(self, reply: Reply) -> bool:
        """Speak ``reply`` instead of anything said before; False when there is nothing to say or no voice."""
        text = reply.speech or reply.text
        if self.replies is None or not text:
            return False
        self.replies.say(text, reply.language)
        return True

    def stop(self) -> None:
        """Barge-in as a capture starts: the customer is talking, so the voice stops before the capture goes on."""
        if self.replies is not None:
            self.replies.stop()

    def hush(self) -> None:
        """A touch on the screen: stop at once, without waiting (the screen's lock is held)."""
        if self.replies is not None:
            self.replies.interrupt()

    def wait_until_quiet(self, timeout_s: float) -> bool:
        """Wait until every reply has been spoken (True at once for a silent kiosk)."""
        return self.replies is None or self.replies.wait_until_quiet(timeout_s)

    def close(self) -> None:
        if self.replies is not None:
            self.replies.close()

    def _on_state(self, state: SpeechState, text: str) -> None:
        if state is SpeechState.STARTED:
            self.speaking.set()
            self.publish(SpeechStarted(text=text))
        else:
            self.speaking.clear()
            self.publish(SpeechEnded(interrupted=state is SpeechState.INTERRUPTED))
