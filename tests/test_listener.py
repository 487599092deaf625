"""The listening loop on real recordings with the real Silero VAD and real WAV files written to disk.

The wake-word models belong to ``wakeword.py`` and are tested there; here one test double stands in for them
(``WakeWordAtFrames``), firing at frame numbers the test chooses, so these tests are about what the loop does
with a detection, not about detecting.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from pydantic import ValidationError

from firmware_app.audio.endpoint import EndpointConfig
from firmware_app.audio.frames import FRAME_SAMPLES, SAMPLE_RATE_HZ, Detection, Frame
from firmware_app.audio.listener import Listener
from firmware_app.audio.sources import ArraySource, WavSource
from firmware_app.audio.vad import SileroVad
from firmware_app.config import load_settings
from firmware_app.events import Event, ListeningStarted, NothingHeard, UtteranceCaptured, WakeWordDetected
from tests.audio_samples import AMELIA, AMELIA_LOUD, CHEDDAR_BLOCK, WINE_GLASS, fan_noise, read, silence, voiced

FRAMES_PER_S = SAMPLE_RATE_HZ // FRAME_SAMPLES


class WakeWordAtFrames:
    """Test double for ``wakeword.WakeWords`` (not part of the listening loop): "hears" its word at the given
    frame numbers, counted in the frames it is fed or by ``clock`` (the stream's own frame count), and records
    how it was used."""

    def __init__(self, at_frames: Container[int], name: str = "amelia", clock: Callable[[], int] | None = None) -> None:
        self.at_frames = at_frames
        self.name = name
        self.clock = clock
        self.fed = 0
        self.resets = 0

    def process(self, frame: Frame) -> list[Detection]:
        self.fed += 1
        now = self.fed if self.clock is None else self.clock()
        return [Detection(self.name, now / FRAMES_PER_S, 0.9)] if now in self.at_frames else []

    def reset(self) -> None:
        self.resets += 1


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def listen(
    samples: np.ndarray, tmp_path: Path, vad: SileroVad, wake_words: WakeWordAtFrames | None = None, **config: Any
) -> tuple[Listener, list[Event]]:
    events: list[Event] = []
    vad.reset()
    listener = Listener(
        ArraySource(samples), wake_words, vad, EndpointConfig(**config), tmp_path / "utterances", events.append
    )
    return listener, events


def captured(event: Event) -> np.ndarray:
    assert isinstance(event, UtteranceCaptured)
    samples, rate_hz = sf.read(event.path, dtype="int16")
    assert rate_hz == SAMPLE_RATE_HZ and samples.ndim == 1
    assert event.duration_s == pytest.approx(len(samples) / SAMPLE_RATE_HZ)
    return samples


def contains(haystack: np.ndarray, needle: np.ndarray) -> bool:
    """Whether ``needle`` appears sample for sample in ``haystack``."""
    starts = np.flatnonzero(haystack[: len(haystack) - len(needle) + 1] == needle[0])
    return any(np.array_equal(haystack[start : start + len(needle)], needle) for start in starts)


def test_push_to_talk_captures_the_question_into_a_wav(tmp_path: Path, vad: SileroVad) -> None:
    question = read(WINE_GLASS)
    listener, events = listen(np.concatenate([silence(1.0), question, silence(2.0)]), tmp_path, vad)
    listener.push_to_talk()
    listener.run()

    assert [type(e) for e in events] == [ListeningStarted, UtteranceCaptured]
    assert events[0] == ListeningStarted(trigger="push_to_talk")
    event = events[1]
    assert isinstance(event, UtteranceCaptured) and event.ended_by == "silence"
    assert Path(event.path).parent == tmp_path / "utterances" and Path(event.path).suffix == ".wav"
    audio = captured(event)
    assert contains(audio, voiced(question))
    expected_s = 0.3 + len(voiced(question)) / SAMPLE_RATE_HZ + 0.7  # pre-roll + the words + 700 ms of silence
    assert event.duration_s == pytest.approx(expected_s, abs=0.3)
    assert [p.name for p in (tmp_path / "utterances").iterdir()] == [Path(event.path).name]


def test_a_wake_word_starts_capture_of_what_follows_it(tmp_path: Path, vad: SileroVad) -> None:
    wake = read(AMELIA_LOUD)
    question = read(CHEDDAR_BLOCK)
    samples = np.concatenate([silence(0.5), wake, silence(0.3), question, silence(2.0)])
    fires_at = (len(silence(0.5)) + len(wake)) // FRAME_SAMPLES  # the end of "Amelia", as a model would say
    wake_words = WakeWordAtFrames({fires_at})
    listener, events = listen(samples, tmp_path, vad, wake_words)
    listener.run()

    assert [type(e) for e in events] == [WakeWordDetected, ListeningStarted, UtteranceCaptured]
    assert events[0] == WakeWordDetected(wake_word="amelia", score=0.9, time_s=fires_at / FRAMES_PER_S)
    assert events[1] == ListeningStarted(trigger="wake_word")
    audio = captured(events[2])
    assert contains(audio, voiced(question))
    assert not contains(audio, voiced(wake)[-800:])  # the wake word is not part of the question
    # Paused while capturing (it saw only the frames up to the detection and after the capture), then reset.
    capture_frames = round(events[2].duration_s * FRAMES_PER_S)  # type: ignore[attr-defined]
    assert wake_words.fed < len(samples) // FRAME_SAMPLES - capture_frames + 10
    assert wake_words.resets == 1


def test_the_strongest_of_several_wake_words_is_reported(tmp_path: Path, vad: SileroVad) -> None:
    class TwoWords(WakeWordAtFrames):
        def process(self, frame: Frame) -> list[Detection]:
            hits = super().process(frame)
            return [Detection("computer", hit.time_s, 0.7) for hit in hits] + hits

    listener, events = listen(silence(1.0), tmp_path, vad, TwoWords({10}))
    listener.run()
    assert isinstance(events[0], WakeWordDetected) and events[0].wake_word == "amelia"


def test_nobody_speaking_after_the_wake_word_is_nothing_heard(tmp_path: Path, vad: SileroVad) -> None:
    samples = fan_noise(4.0, -35)
    listener, events = listen(samples, tmp_path, vad, WakeWordAtFrames({50}), no_speech_s=2.0)
    listener.run()
    assert events[1:] == [ListeningStarted(trigger="wake_word"), NothingHeard(trigger="wake_word", waited_s=2.0)]
    assert not (tmp_path / "utterances").exists()


def test_a_stream_that_ends_mid_sentence_still_delivers_it(tmp_path: Path, vad: SileroVad) -> None:
    listener, events = listen(read(WINE_GLASS)[:16_000], tmp_path, vad)  # cut in the middle of "wine glass"
    listener.push_to_talk()
    listener.run()
    assert isinstance(events[-1], UtteranceCaptured) and events[-1].ended_by == "stream_end"


def test_talking_past_max_length_is_cut_there(tmp_path: Path, vad: SileroVad) -> None:
    speech = np.concatenate([read(WINE_GLASS), read(AMELIA), read(CHEDDAR_BLOCK)] * 2)
    listener, events = listen(speech, tmp_path, vad, silence_ms=3000, max_s=2.5)
    listener.push_to_talk()
    listener.run()
    event = next(e for e in events if isinstance(e, UtteranceCaptured))
    assert event.ended_by == "max_length" and event.duration_s == pytest.approx(2.5)


def test_push_to_talk_from_another_thread_on_a_live_stream(tmp_path: Path, vad: SileroVad) -> None:
    """The UI thread taps the microphone button while the loop reads a source in real time."""
    path = tmp_path / "live.wav"
    sf.write(path, np.concatenate([silence(0.3), read(CHEDDAR_BLOCK), silence(1.2)]), SAMPLE_RATE_HZ)
    events: list[Event] = []
    vad.reset()
    listener = Listener(WavSource(path, realtime=True), None, vad, EndpointConfig(), tmp_path / "u", events.append)
    loop = threading.Thread(target=listener.run)
    loop.start()
    threading.Timer(0.1, listener.push_to_talk).start()
    loop.join(timeout=10)
    assert not loop.is_alive()
    assert [type(e) for e in events] == [ListeningStarted, UtteranceCaptured]
    assert events[1].ended_by == "silence"  # type: ignore[attr-defined]


def test_stop_ends_the_loop_from_another_thread(tmp_path: Path, vad: SileroVad) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, silence(30.0), SAMPLE_RATE_HZ)
    listener = Listener(WavSource(path, realtime=True), None, vad, EndpointConfig(), tmp_path / "u", print)
    threading.Timer(0.2, listener.stop).start()
    listener.run()
    assert listener.stream_s < 5


class HourOfKiosk:
    """60 minutes of a branch, made as it is read: fan noise, and every 30 s someone saying a sentence."""

    def __init__(self, minutes: int) -> None:
        speech = read(WINE_GLASS)
        block = fan_noise(30.0, -50)
        block[10 * SAMPLE_RATE_HZ : 10 * SAMPLE_RATE_HZ + len(speech)] += speech
        self.block = block
        self.repeats = minutes * 2

    def frames(self) -> Iterator[Frame]:
        for _ in range(self.repeats):
            for start in range(0, len(self.block), FRAME_SAMPLES):
                yield self.block[start : start + FRAME_SAMPLES]

    def close(self) -> None:
        pass


def test_an_hour_of_listening_keeps_memory_flat(tmp_path: Path, vad: SileroVad) -> None:
    source = HourOfKiosk(minutes=60)
    events: list[Event] = []
    # The wake word is "heard" 9 s into every 30 s block, just before each sentence.
    every_block = range(900, 3600 * FRAMES_PER_S, 30 * FRAMES_PER_S)
    wake_words = WakeWordAtFrames(every_block, clock=lambda: listener.frames_seen)
    vad.reset()
    listener = Listener(source, wake_words, vad, EndpointConfig(), tmp_path / "utterances", events.append)

    tracemalloc.start()
    listener.run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    captures = [e for e in events if isinstance(e, UtteranceCaptured)]
    assert listener.stream_s == 3600
    assert len(captures) == 120 and all(e.ended_by == "silence" for e in captures)
    assert len(list((tmp_path / "utterances").iterdir())) == 120
    # One utterance (at most max_s of audio, 480 KB) and the events are all that may be held.
    assert peak < 2_000_000, f"peak {peak} bytes"


def test_the_listening_section_reads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_LISTENING__INPUT_DEVICE", "USB Audio")
    monkeypatch.setenv("KIOSK_LISTENING__WAKE_WORDS", '["amelia", "hey_jarvis"]')
    monkeypatch.setenv("KIOSK_LISTENING__THRESHOLDS", '{"amelia": 0.8}')
    monkeypatch.setenv("KIOSK_LISTENING__SILENCE_MS", "500")
    listening = load_settings().listening
    assert listening.input_device == "USB Audio" and listening.output_device is None
    assert listening.wake_words == ["amelia", "hey_jarvis"] and listening.thresholds == {"amelia": 0.8}
    assert EndpointConfig.from_listening(listening).silence_ms == 500
    with pytest.raises(ValidationError, match="extra"):
        load_settings(listening={"silence_s": 1})
