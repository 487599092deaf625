"""Wake words: the microWakeWord models shipped in ``pymicro-wakeword``, several heard at once, without double triggers.

The shipped models (okay_nabu, hey_jarvis, alexa, hey_mycroft) are streaming int8 TFLite models run by the
package's own TFLite C library, so nothing downloads and no TensorFlow is needed. Each takes one 40-value
spectral feature per 10 ms (the TFLite Micro audio frontend, a 30 ms window stepped by 10 ms, which is why our
10 ms frames map one to one onto its steps) and runs the network every third feature, averaging the last few
outputs; that average, above the model's own cutoff, is a detection.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from pymicro_features import MicroFrontend
from pymicro_wakeword import MicroWakeWord, Model

from firmware_app.audio.frames import FRAME_MS, FRAME_SAMPLES, Detection, Frame, WakeWordDetector
from firmware_app.inference.manifest import ModelIntegrityError, load_manifest

SHIPPED_WAKE_WORDS = tuple(model.value for model in Model)

# Silence fed after a recording so that a wake word at its very end is still heard (see ``scan``).
SCAN_TAIL_S = 1.0

# Builds a detector with an optional threshold override (None: the model's own calibrated cutoff).
WakeWordFactory = Callable[[float | None], WakeWordDetector]


class MicroWakeWordDetector:
    """One shipped microWakeWord model, fed 10 ms frames."""

    def __init__(self, name: str, threshold: float | None = None) -> None:
        if name not in SHIPPED_WAKE_WORDS:
            raise ValueError(f"no shipped microWakeWord model {name!r}; shipped: {', '.join(SHIPPED_WAKE_WORDS)}")
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise ValueError(f"wake-word threshold for {name} must be between 0 and 1, got {threshold}")
        self.name = name
        self._model = MicroWakeWord.from_builtin(Model(name))
        # The cutoff in the model's JSON is the one its author tuned for few false accepts per hour.
        self.threshold: float = self._model.probability_cutoff if threshold is None else threshold
        self._frontend = MicroFrontend()

    def process(self, frame: Frame) -> float | None:
        """Feed one frame; the averaged probability when it is above the threshold, else None."""
        if frame.shape != (FRAME_SAMPLES,) or frame.dtype != np.int16:
            raise ValueError(f"a frame is {FRAME_SAMPLES} int16 samples, got {frame.dtype} {frame.shape}")
        features = self._frontend.process_samples(frame.astype("<i2", copy=False).tobytes()).features
        if not features:  # the first two frames only fill the frontend's 30 ms window
            return None
        # 0.0 on the frames between network runs and until the averaging window is full.
        probability = self._model.process_streaming_prob(np.asarray(features, dtype=np.float32).reshape(1, 1, -1))
        if probability is None or probability <= self.threshold:
            return None
        return float(probability)

    def reset(self) -> None:
        """Forget the stream; the network's streaming state is only cleared by reloading it (0.1-0.3 ms)."""
        self._frontend.reset()
        self._model.reset()


class WakeWords:
    """Several wake words listened for at once, each silent for ``refractory_s`` after it fired.

    One spoken wake word keeps a model above its threshold for a few hundred milliseconds; the refractory
    period, counted from the detection that was reported, turns that into one detection per utterance.
    """

    def __init__(self, detectors: Sequence[WakeWordDetector], refractory_s: float = 2.0) -> None:
        names = [detector.name for detector in detectors]
        if not names:
            raise ValueError("no wake words to listen for")
        if len(set(names)) != len(names):
            raise ValueError(f"a wake word is listed twice: {', '.join(names)}")
        if refractory_s < 0:
            raise ValueError(f"refractory_s must be >= 0, got {refractory_s}")
        self.detectors = tuple(detectors)
        self.refractory_s = refractory_s
        self._frames_seen = 0
        self._last_detection_s: dict[str, float] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(detector.name for detector in self.detectors)

    @property
    def seconds_seen(self) -> float:
        """Audio fed since the last reset."""
        return self._frames_seen * FRAME_MS / 1000

    def process(self, frame: Frame) -> list[Detection]:
        """Feed one frame to every wake word; the detections at this frame (``time_s``: end of this frame)."""
        self._frames_seen += 1
        time_s = self.seconds_seen
        detections = []
        for detector in self.detectors:
            score = detector.process(frame)
            if score is None:
                continue
            last_s = self._last_detection_s.get(detector.name)
            if last_s is not None and time_s - last_s < self.refractory_s:
                continue
            self._last_detection_s[detector.name] = time_s
            detections.append(Detection(detector.name, time_s, score))
        return detections

    def reset(self) -> None:
        """Start a new stream: clocks back to zero, models and refractory periods forgotten."""
        for detector in self.detectors:
            detector.reset()
        self._frames_seen = 0
        self._last_detection_s.clear()


def _shipped_factory(name: str) -> WakeWordFactory:
    return lambda threshold: MicroWakeWordDetector(name, threshold)


def _amelia_factory(models_dir: Path) -> WakeWordFactory | None:
    """Our own "Amelia" model, when the manifest of ``models_dir`` lists it and its file is there.

    A listed file that fails its sha256 check stays available, so that building it says so loudly.
    """
    from firmware_app.audio.amelia import MODEL_NAME, load_amelia  # OpenVINO loads only for kiosks that use it

    try:
        entry = load_manifest(models_dir).get(MODEL_NAME)
    except ModelIntegrityError:  # a folder without a manifest: no models of ours
        return None
    if entry is None or not (models_dir / entry.file).is_file():
        return None
    return lambda threshold: load_amelia(models_dir, threshold)


def available_wake_words(models_dir: Path) -> dict[str, WakeWordFactory]:
    """Every wake word this kiosk can listen for, by name, as factories (models load only when built)."""
    factories = {name: _shipped_factory(name) for name in SHIPPED_WAKE_WORDS}
    amelia = _amelia_factory(models_dir)
    if amelia is not None:
        factories["amelia"] = amelia
    return factories


def build_wake_words(
    names: Iterable[str],
    models_dir: Path,
    thresholds: Mapping[str, float] | None = None,
    refractory_s: float = 2.0,
) -> WakeWords:
    """The named wake words, with per-word threshold overrides; a clear error for a name that is not installed."""
    factories = available_wake_words(models_dir)
    wanted = list(dict.fromkeys(names))
    thresholds = dict(thresholds or {})
    unknown = [name for name in [*wanted, *thresholds] if name not in factories]
    if unknown:
        raise ValueError(f"unknown wake word {unknown[0]!r}; available: {', '.join(sorted(factories))}")
    return WakeWords([factories[name](thresholds.get(name)) for name in wanted], refractory_s)


def scan(source_frames: Iterable[Frame], wake_words: WakeWords, tail_s: float = SCAN_TAIL_S) -> list[Detection]:
    """Every detection in one recording, timed from its start (the wake words are reset first).

    ``tail_s`` of silence follows the recording, as the kiosk would go on listening: the models fire up to 0.2 s
    after a word ends, so a recording cut right after its wake word may never trigger without it (raw flite clips
    of the four shipped phrases, five voices: 7 of 20 detected as they are, 15 of 20 with the tail). A detection
    in the tail is timed after the recording's end.
    """
    wake_words.reset()
    silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    detections: list[Detection] = []
    for frame in itertools.chain(source_frames, itertools.repeat(silence, round(tail_s * 1000 / FRAME_MS))):
        detections += wake_words.process(frame)
    return detections
