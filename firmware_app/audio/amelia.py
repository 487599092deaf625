"""The kiosk's own wake word, "Amelia": a sliding-window int8 CNN run on every 4th 10 ms frame.

Each frame goes through the ``pymicro_features`` front end (the 40-channel log-mel front end of microWakeWord,
10 ms steps: the same code and the same frame-by-frame feeding as the training recipe in
``models/recipes/wakeword/``), whose output is kept in a ring buffer of the last 1.2 s (120 frames). Every
``stride`` frames (4: 40 ms) the model scores the window: the probability that "Amelia" ended in its last
300 ms (the int8 model outputs the logit; its sigmoid is taken in float, which keeps the resolution near 1
where the threshold lies). The mean of the last ``smoothing`` scores (5: 200 ms) is compared with the
threshold; a detection returns that mean and starts a refractory period (one window, 1.2 s), so one word is
one detection.

Window, stride, smoothing, refractory period and the threshold come from the model's manifest entry
(``streaming`` and ``thresholds.detection``); ``load_amelia(models_dir, threshold=...)`` overrides the
threshold. The model file's sha256 is checked against the manifest before it is loaded.

The model runs with a fixed input shape ``[1, 120, 40]`` (OpenVINO compiles per shape; LiteRT's ``.tflite`` was
converted for it) on one thread, on the runtime ``firmware_app.inference.runtime`` chooses. The
same scoring over a whole recording (``score_stream`` + ``detect``) gives the detections ``process`` gives
frame by frame; the recipe's calibration and the bench use it to score hours of audio in batches.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
from pymicro_features import MicroFrontend

from firmware_app.audio.frames import FRAME_SAMPLES, AudioFormatError, Frame
from firmware_app.inference.manifest import verified_model_path
from firmware_app.inference.runtime import Model, open_model

MODEL_NAME = "amelia"
FEATURES = 40
INPUT, OUTPUT = "features", "logit"  # the model's input and output names
DEFAULTS: dict[str, int] = {"window_frames": 120, "stride_frames": 4, "smoothing": 5, "refractory_frames": 120}


def compile_model(path: Path, batch: int = 1, window_frames: int = 120, threads: int = 1) -> Any:
    """The int8 ONNX model compiled by OpenVINO for a fixed input shape ``[batch, window_frames, 40]``."""
    core = ov.Core()
    model = core.read_model(str(path))
    model.reshape({model.inputs[0].get_any_name(): ov.PartialShape([batch, window_frames, FEATURES])})
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    return core.compile_model(model, "CPU", config)


def sigmoid(logit: np.ndarray) -> np.ndarray:
    """The model outputs a logit (int8 keeps its resolution near probability 1); the score is its sigmoid."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logit, dtype=np.float64), -50, 50)))


def stream_features(audio: np.ndarray, frontend: MicroFrontend | None = None) -> np.ndarray:
    """Front-end features ``[frames, 40]`` of int16 audio, fed 10 ms at a time as ``process`` feeds it."""
    fe = frontend or MicroFrontend()
    data = np.ascontiguousarray(audio, dtype=np.int16).tobytes()
    step = FRAME_SAMPLES * 2
    out = [
        r.features
        for i in range(0, len(data) - step + 1, step)
        if (r := fe.process_samples(data[i : i + step])).features
    ]
    return np.asarray(out, dtype=np.float32).reshape(-1, FEATURES)


def evaluation_ends(n_features: int, window_frames: int, stride_frames: int) -> np.ndarray:
    """Indices of the feature frames at which a window is scored (the first full window, then every stride)."""
    return np.arange(window_frames - 1, n_features, stride_frames)


def score_stream(compiled: Any, features: np.ndarray, window_frames: int, stride_frames: int) -> np.ndarray:
    """Scores (probabilities) at every evaluation frame of a whole stream, in batches of the compiled batch size."""
    ends = evaluation_ends(len(features), window_frames, stride_frames)
    batch = int(compiled.inputs[0].get_partial_shape()[0].get_length())
    request = compiled.create_infer_request()
    offsets = np.arange(-window_frames + 1, 1)
    scores = np.zeros(len(ends), dtype=np.float64)
    for i in range(0, len(ends), batch):
        chunk = ends[i : i + batch]
        x = np.zeros((batch, window_frames, FEATURES), dtype=np.float32)
        x[: len(chunk)] = features[chunk[:, None] + offsets[None, :]]
        request.infer({0: x})
        scores[i : i + len(chunk)] = request.get_output_tensor(0).data.reshape(batch)[: len(chunk)]
    return sigmoid(scores)


def smooth(raw: np.ndarray, smoothing: int) -> np.ndarray:
    """Mean of the last ``smoothing`` raw scores; the first ``smoothing - 1`` evaluations get 0 (not enough yet)."""
    out = np.zeros(len(raw), dtype=np.float64)
    if len(raw) >= smoothing:
        csum = np.cumsum(np.concatenate([[0.0], raw.astype(np.float64)]))
        out[smoothing - 1 :] = (csum[smoothing:] - csum[:-smoothing]) / smoothing
    return out


def detect(smoothed: np.ndarray, threshold: float, refractory_evals: int) -> list[int]:
    """Evaluation indices where the word is detected: the smoothed score reaches the threshold, and no
    detection happened in the previous ``refractory_evals`` evaluations."""
    hits: list[int] = []
    next_allowed = 0
    for i in np.flatnonzero(smoothed >= threshold):
        if i >= next_allowed:
            hits.append(int(i))
            next_allowed = int(i) + refractory_evals
    return hits


class AmeliaWakeWord:
    """Streaming detector for "Amelia" (implements ``firmware_app.audio.frames.WakeWordDetector``)."""

    name = MODEL_NAME

    def __init__(
        self,
        model: Model,
        *,
        threshold: float,
        window_frames: int = DEFAULTS["window_frames"],
        stride_frames: int = DEFAULTS["stride_frames"],
        smoothing: int = DEFAULTS["smoothing"],
        refractory_frames: int = DEFAULTS["refractory_frames"],
    ) -> None:
        if refractory_frames < smoothing * stride_frames:
            raise ValueError("the refractory period must cover the smoothing window")
        self.model = model
        self.threshold = float(threshold)
        self.window_frames = window_frames
        self.stride_frames = stride_frames
        self.smoothing = smoothing
        self.refractory_frames = refractory_frames
        self._frontend = MicroFrontend()
        # ring buffer written twice (at i and i + window) so the last window is always one contiguous slice
        self._ring = np.zeros((2 * window_frames, FEATURES), dtype=np.float32)
        self._input = np.zeros((1, window_frames, FEATURES), dtype=np.float32)
        self._scores: deque[float] = deque(maxlen=smoothing)
        self.reset()

    def reset(self) -> None:
        """Forget the stream: front-end state, feature history, scores and the refractory period."""
        self._frontend.reset()
        self._scores.clear()
        self._features_seen = 0
        self._next_allowed = 0
        self.last_score = 0.0  # the latest smoothed score (0 until `smoothing` windows were scored)
        self.evaluations = 0  # windows scored since the last reset

    def _infer(self, window: np.ndarray) -> float:
        self._input[0] = window
        return float(sigmoid(self.model.infer({INPUT: self._input})[OUTPUT].reshape(-1)[0]))

    def process(self, frame: Frame) -> float | None:
        if frame.dtype != np.int16 or frame.shape != (FRAME_SAMPLES,):
            raise AudioFormatError(f"expected int16 frames of {FRAME_SAMPLES} samples, got {frame.dtype} {frame.shape}")
        result = self._frontend.process_samples(frame.tobytes())
        if not result.features:
            return None
        w = self.window_frames
        slot = self._features_seen % w
        self._ring[slot] = result.features
        self._ring[slot + w] = self._ring[slot]
        self._features_seen += 1
        end = self._features_seen - 1
        if end < w - 1 or (end - (w - 1)) % self.stride_frames:
            return None
        self._scores.append(self._infer(self._ring[slot + 1 : slot + 1 + w]))
        self.evaluations += 1
        if len(self._scores) < self.smoothing:
            self.last_score = 0.0
            return None
        self.last_score = sum(self._scores) / self.smoothing
        if self.last_score >= self.threshold and end >= self._next_allowed:
            self._next_allowed = end + self.refractory_frames
            return self.last_score
        return None


def load_amelia(models_dir: Path, threshold: float | None = None, threads: int = 1) -> AmeliaWakeWord:
    """The shipped "Amelia" detector, after checking its file against ``manifest.json`` (sha256)."""
    entry, path = verified_model_path(Path(models_dir), MODEL_NAME)
    streaming = {**DEFAULTS, **((entry.model_extra or {}).get("streaming") or {})}
    window_frames = int(streaming["window_frames"])
    model = open_model(entry, path, threads=threads, shapes={INPUT: [1, window_frames, FEATURES]})
    return AmeliaWakeWord(
        model,
        threshold=entry.thresholds["detection"] if threshold is None else threshold,
        window_frames=window_frames,
        stride_frames=int(streaming["stride_frames"]),
        smoothing=int(streaming["smoothing"]),
        refractory_frames=int(streaming["refractory_frames"]),
    )
