"""Voice activity and end-pointing: the real Silero model on real recordings, noises and their mixtures, and the
end-pointer's rules on probability sequences written out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware_app.audio.endpoint import EndpointConfig, Endpointer, NoSpeech, Utterance
from firmware_app.audio.frames import FRAME_SAMPLES, SAMPLE_RATE_HZ, AudioFormatError
from firmware_app.audio.sources import ArraySource
from firmware_app.audio.vad import CHUNK_SAMPLES, SileroVad
from firmware_app.config import ListeningConfig
from tests.audio_samples import (
    AMELIA_QUIET,
    BACKGROUND_NOISE,
    SPEECH_CLIPS,
    WINE_GLASS,
    at_level,
    fan_noise,
    mix,
    pink_noise,
    read,
    silence,
    speech_span,
    white_noise,
)

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def probabilities(vad: SileroVad, samples: np.ndarray) -> np.ndarray:
    vad.reset()
    return np.array([vad.process(frame) for frame in ArraySource(samples).frames()])


def endpoint(vad: SileroVad, samples: np.ndarray, config: EndpointConfig) -> list[tuple[int, Utterance | NoSpeech]]:
    """Run a whole recording through the VAD and a capture started at its first frame: (frame, result) pairs."""
    vad.reset()
    endpointer = Endpointer(config)
    endpointer.start(keep_history=False)
    results: list[tuple[int, Utterance | NoSpeech]] = []
    for index, frame in enumerate(ArraySource(samples).frames()):
        result = endpointer.push(frame, vad.process(frame))
        if result is not None:
            results.append((index, result))
            endpointer.start(keep_history=False)
    final = endpointer.finish()
    if final is not None:
        results.append((index, final))
    return results


@pytest.mark.parametrize("clip", SPEECH_CLIPS, ids=lambda path: path.stem[:20])
def test_speech_is_found_where_it_is(vad: SileroVad, clip: Path) -> None:
    speech = read(clip)
    start_s, end_s = speech_span(speech)
    probs = probabilities(vad, np.concatenate([silence(1.0), speech, silence(1.5)]))
    detected = np.flatnonzero(probs >= 0.5) * FRAME_S
    assert len(detected) * FRAME_S >= 0.3
    # The model sees 32 ms at a time and is called every 32 ms: allow a little either side.
    assert detected[0] >= 1.0 + start_s - 0.15
    assert detected[-1] <= 1.0 + end_s + 0.3


def test_the_buffered_frame_path_matches_whole_chunks(vad: SileroVad) -> None:
    samples = np.concatenate([silence(0.5), read(WINE_GLASS), silence(0.5)])
    by_frame = probabilities(vad, samples)
    vad.reset()
    by_chunk = [
        vad.speech_probability(samples[i : i + CHUNK_SAMPLES]) for i in range(0, 30 * CHUNK_SAMPLES, CHUNK_SAMPLES)
    ]
    # Frame n carries the probability of the last chunk completed by its end.
    completed = [(n + 1) * FRAME_SAMPLES // CHUNK_SAMPLES for n in range(len(by_frame))]
    expected = [by_chunk[c - 1] if c else 0.0 for c in completed[: 30 * CHUNK_SAMPLES // FRAME_SAMPLES]]
    assert np.allclose(by_frame[: len(expected)], expected)


def test_openvino_and_onnxruntime_agree_on_real_speech() -> None:
    samples = np.concatenate([silence(0.5), read(WINE_GLASS), fan_noise(1.0, -40), read(AMELIA_QUIET)])
    openvino = probabilities(SileroVad("openvino"), samples)
    reference = probabilities(SileroVad("onnxruntime"), samples)
    assert np.abs(openvino - reference).max() < 1e-3


def test_state_is_kept_between_chunks_and_reset_forgets_it(vad: SileroVad) -> None:
    samples = np.concatenate([read(WINE_GLASS), silence(0.3)])
    first = probabilities(vad, samples)
    again = probabilities(vad, samples)
    assert np.array_equal(first, again)
    # Without the recurrent state and context the model scores the same audio differently.
    stateless = []
    for start in range(0, len(samples) - CHUNK_SAMPLES, CHUNK_SAMPLES):
        vad.reset()
        stateless.append(vad.speech_probability(samples[start : start + CHUNK_SAMPLES]))
    vad.reset()
    stateful = [
        vad.speech_probability(samples[s : s + CHUNK_SAMPLES])
        for s in range(0, len(samples) - CHUNK_SAMPLES, CHUNK_SAMPLES)
    ]
    assert np.abs(np.array(stateless) - np.array(stateful)).max() > 0.1


def test_wrong_sizes_are_refused(vad: SileroVad) -> None:
    with pytest.raises(AudioFormatError, match="512"):
        vad.speech_probability(np.zeros(160, dtype=np.int16))
    with pytest.raises(AudioFormatError, match="160"):
        vad.process(np.zeros(512, dtype=np.int16))


@pytest.mark.parametrize(
    "noise",
    [
        silence(8),
        white_noise(8, -40),
        white_noise(8, -15),
        pink_noise(8, -35),
        pink_noise(8, -15),
        fan_noise(8, -20),
        np.tile(read(BACKGROUND_NOISE), 4),
    ],
    ids=["digital-silence", "white-40dB", "white-15dB", "pink-35dB", "pink-15dB", "fan-20dB", "recorded-background"],
)
def test_noise_and_silence_start_no_utterance(vad: SileroVad, noise: np.ndarray) -> None:
    results = endpoint(vad, noise, EndpointConfig(no_speech_s=5.0))
    assert [type(result) for _, result in results] == [NoSpeech, NoSpeech]
    assert probabilities(vad, noise).max() < 0.5


@pytest.mark.parametrize("snr_db", [10, 0])
@pytest.mark.parametrize("clip", [WINE_GLASS, AMELIA_QUIET], ids=["wine-glass", "quiet-amelia"])
def test_speech_in_fan_noise_is_still_end_pointed(vad: SileroVad, clip: Path, snr_db: int) -> None:
    """The fan keeps running after the customer stops: the utterance must still end on silence, with the speech."""
    speech = read(clip)
    start_s, end_s = speech_span(speech)
    active = speech[round(start_s * SAMPLE_RATE_HZ) : round(end_s * SAMPLE_RATE_HZ)].astype(np.float64)
    speech_dbfs = 10 * np.log10(np.mean(np.square(active)) / 32768**2)
    clean = np.concatenate([silence(1.0), speech, silence(2.5)])
    noisy = mix(clean, fan_noise(len(clean) / SAMPLE_RATE_HZ, speech_dbfs - snr_db).astype(np.float64))

    results = endpoint(vad, noisy, EndpointConfig(no_speech_s=10.0))

    (frame, utterance), *after = results
    assert isinstance(utterance, Utterance) and utterance.ended_by == "silence"
    assert all(isinstance(result, NoSpeech) for _, result in after)  # the fan alone starts nothing
    ended_s = (frame + 1) * FRAME_S
    assert 1.0 + end_s + 0.5 <= ended_s <= 1.0 + end_s + 1.1  # 700 ms of silence after the last word
    began_s = ended_s - utterance.duration_s
    assert began_s <= 1.0 + start_s  # the pre-roll reaches back to the first sound


def test_babble_quieter_than_the_customer_does_not_hold_the_utterance_open(vad: SileroVad) -> None:
    """Other voices 15 dB below the customer's (a busy branch) still leave gaps the end-pointer hears."""
    speech = read(WINE_GLASS)
    others = [read(clip).astype(np.float64) for clip in SPEECH_CLIPS if clip != WINE_GLASS]
    length = len(speech) + 4 * SAMPLE_RATE_HZ
    # Five other voices at once, each starting somewhere else in its clip.
    babble = np.sum(
        [np.tile(voice, length // len(voice) + 2)[i * 3917 :][:length] for i, voice in enumerate(others)], 0
    )
    clean = np.concatenate([silence(1.0), speech, silence(3.0)])
    speech_dbfs = 10 * np.log10(np.mean(np.square(speech.astype(np.float64))) / 32768**2)
    noisy = mix(clean, at_level(babble, speech_dbfs - 15).astype(np.float64))

    results = endpoint(vad, noisy, EndpointConfig(no_speech_s=10.0))

    utterance = results[0][1]
    assert isinstance(utterance, Utterance) and utterance.ended_by == "silence"
    assert utterance.duration_s < 3.0  # 2 s of speech + 0.7 s of silence; babble held open would go on


# --- the end-pointer's rules, on probabilities written out frame by frame -----------------------------------


def frames_numbered(count: int, first: int = 0) -> list[np.ndarray]:
    """Frames whose first sample is their number, so a captured utterance shows which frames it holds."""
    frames = [np.zeros(FRAME_SAMPLES, dtype=np.int16) for _ in range(count)]
    for offset, frame in enumerate(frames):
        frame[0] = first + offset
    return frames


def feed(endpointer: Endpointer, probs: list[float], first: int = 0) -> list[tuple[int, Utterance | NoSpeech]]:
    results = []
    for index, (frame, probability) in enumerate(zip(frames_numbered(len(probs), first), probs, strict=True)):
        result = endpointer.push(frame, probability)
        if result is not None:
            results.append((first + index, result))
    return results


def frame_numbers(utterance: Utterance) -> list[int]:
    return utterance.samples[::FRAME_SAMPLES].tolist()


CONFIG = EndpointConfig(threshold=0.5, start_ms=50, silence_ms=100, max_s=1.0, pre_roll_ms=30, no_speech_s=0.5)


def test_an_utterance_starts_after_start_ms_of_speech_with_its_pre_roll_and_ends_after_silence_ms() -> None:
    endpointer = Endpointer(CONFIG)
    endpointer.start(keep_history=False)
    probs = [0.1] * 10 + [0.9] * 3 + [0.1] + [0.9] * 20 + [0.1] * 10
    results = feed(endpointer, probs)
    assert len(results) == 1
    frame, utterance = results[0]
    assert isinstance(utterance, Utterance) and utterance.ended_by == "silence"
    # The short burst (3 frames < start_ms) did not start it; the 20-frame run did, at frame 14; 3 frames of
    # pre-roll before it; ended 10 silent frames after the last speech frame (33).
    assert frame_numbers(utterance) == list(range(11, 44))
    assert frame == 43
    assert utterance.duration_s == pytest.approx(0.33)


def test_hysteresis_keeps_a_wavering_probability_inside_the_utterance() -> None:
    endpointer = Endpointer(CONFIG)
    endpointer.start(keep_history=False)
    # Above threshold - 0.15 (0.35) counts as speech once speech has begun; 0.3 does not.
    probs = [0.9] * 5 + [0.4, 0.45, 0.38] * 10 + [0.3] * 10
    (frame, utterance), *_ = feed(endpointer, probs)
    assert isinstance(utterance, Utterance) and frame == 44


def test_an_endless_utterance_is_cut_at_max_s() -> None:
    endpointer = Endpointer(CONFIG)
    endpointer.start(keep_history=False)
    results = feed(endpointer, [0.9] * 150)
    assert len(results) == 1
    frame, utterance = results[0]
    assert isinstance(utterance, Utterance) and utterance.ended_by == "max_length" and frame == 99
    assert utterance.duration_s == pytest.approx(1.0)
    # The next frames are not captured until start() is called again.
    assert feed(endpointer, [0.9] * 200, first=150) == []


def test_nothing_said_ends_the_capture_after_no_speech_s() -> None:
    endpointer = Endpointer(CONFIG)
    endpointer.start(keep_history=False)
    results = feed(endpointer, [0.45] * 80)  # under the threshold the whole time: speech never starts
    assert results == [(49, NoSpeech(waited_s=0.5))]
    assert not endpointer.capturing


def test_the_stream_ending_mid_utterance_returns_what_was_said() -> None:
    endpointer = Endpointer(CONFIG)
    endpointer.start(keep_history=False)
    assert feed(endpointer, [0.9] * 20) == []
    utterance = endpointer.finish()
    assert isinstance(utterance, Utterance) and utterance.ended_by == "stream_end"
    assert frame_numbers(utterance) == list(range(20))
    assert endpointer.finish() is None


def test_between_captures_only_the_pre_roll_is_kept_and_a_tap_may_use_it() -> None:
    endpointer = Endpointer(CONFIG)
    assert feed(endpointer, [0.1] * 1000 + [0.9] * 4) == []  # not capturing: nothing comes out
    endpointer.start(keep_history=True)  # the customer started talking as they tapped
    (_, utterance), *_ = feed(endpointer, [0.9] * 5 + [0.1] * 10, first=1004)
    assert isinstance(utterance, Utterance)
    # The speech run began at frame 1000, before the tap: it and 3 frames of pre-roll are in the utterance.
    assert frame_numbers(utterance)[:5] == [997, 998, 999, 1000, 1001]


def test_a_wake_word_capture_drops_what_came_before() -> None:
    endpointer = Endpointer(CONFIG)
    feed(endpointer, [0.9] * 50)  # the wake word itself
    endpointer.start(keep_history=False)
    (_, utterance), *_ = feed(endpointer, [0.9] * 10 + [0.1] * 10, first=50)
    assert isinstance(utterance, Utterance) and frame_numbers(utterance)[0] == 50


def test_configuration_comes_from_the_listening_section_and_is_checked() -> None:
    config = EndpointConfig.from_listening(ListeningConfig(silence_ms=500, vad_threshold=0.6))
    assert (config.silence_ms, config.threshold, config.max_s, config.pre_roll_ms) == (500, 0.6, 15.0, 300)
    with pytest.raises(ValueError, match="threshold"):
        EndpointConfig(threshold=1.5)
    with pytest.raises(ValueError, match="max_s"):
        EndpointConfig(max_s=0.3, pre_roll_ms=300, start_ms=200)
