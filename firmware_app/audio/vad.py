"""Voice activity: the Silero VAD v6 model from the ``silero-vad`` wheel, run without torch.

The wheel's Python code imports torch, so it is never imported here: only its ONNX files are read. The
16 kHz model takes 512 new samples (32 ms) at a time, with the last 64 samples of the previous chunk in front
of them and a recurrent state carried from call to call; ``SileroVad`` keeps both, and collects the kiosk's
10 ms frames into chunks so the rest of the listening loop can stay frame by frame.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Literal

import numpy as np
import openvino as ov

from firmware_app.audio.frames import FRAME_SAMPLES, SAMPLE_RATE_HZ, AudioFormatError, Frame

CHUNK_SAMPLES = 512  # the only chunk size the 16 kHz model accepts
CONTEXT_SAMPLES = 64  # the previous chunk's tail the model reads in front of each chunk
STATE_SHAPE = (2, 1, 128)

# One model call on the window and state arrays it was made with: returns the speech probability and leaves
# the next state in the state array.
Infer = Callable[[], float]

Runtime = Literal["openvino", "onnxruntime"]
# The same network exported twice: OpenVINO gets the fixed-shape 16 kHz-only export (no ``sr`` input, no If
# node); onnxruntime, which is only a test dependency, runs the reference export for the parity test.
MODEL_FILES: dict[Runtime, str] = {
    "openvino": "silero_vad/data/silero_vad_openvino_16k.onnx",
    "onnxruntime": "silero_vad/data/silero_vad.onnx",
}


def silero_model_path(runtime: Runtime = "openvino") -> Path:
    """The ONNX file inside the installed ``silero-vad`` wheel (found through its metadata: importing the package
    would import torch)."""
    try:
        path = Path(str(distribution("silero-vad").locate_file(MODEL_FILES[runtime])))
    except PackageNotFoundError as error:
        raise FileNotFoundError("the silero-vad package is not installed (scripts/setup.sh installs it)") from error
    if not path.is_file():
        raise FileNotFoundError(f"the silero-vad package has no {MODEL_FILES[runtime]}")
    return path


class SileroVad:
    """Speech probability for a stream of 16 kHz audio, one model call per 32 ms.

    Not thread-safe: one listening loop owns it. ``threads=1`` keeps the always-on VAD off the other cores.
    """

    def __init__(self, runtime: Runtime = "openvino", threads: int = 1) -> None:
        # The model's input: the previous chunk's last 64 samples, then the chunk being filled frame by frame.
        self._window = np.zeros((1, CONTEXT_SAMPLES + CHUNK_SAMPLES), dtype=np.float32)
        self._state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._infer = (_openvino if runtime == "openvino" else _onnxruntime)(self._window, self._state, threads)
        self._filled = 0  # samples of the chunk in the window so far
        self.probability = 0.0  # of the last whole chunk

    def speech_probability(self, chunk: np.ndarray) -> float:
        """Feed the next 512 samples of the stream (int16, or float in [-1, 1]); the chance that they are speech."""
        if chunk.shape != (CHUNK_SAMPLES,):
            raise AudioFormatError(f"the VAD takes {CHUNK_SAMPLES} samples at {SAMPLE_RATE_HZ} Hz, got {chunk.shape}")
        self._window[0, CONTEXT_SAMPLES:] = chunk / 32768.0 if chunk.dtype == np.int16 else chunk
        return self._run()

    def process(self, frame: Frame) -> float:
        """Feed one 10 ms frame; the probability of the latest whole chunk (so it lags by up to 32 ms)."""
        if frame.shape != (FRAME_SAMPLES,):
            raise AudioFormatError(f"a frame is {FRAME_SAMPLES} samples, got {frame.shape}")
        head = min(CHUNK_SAMPLES - self._filled, FRAME_SAMPLES)
        self._append(frame[:head])
        if self._filled == CHUNK_SAMPLES:
            self._run()
            self._filled = 0
            self._append(frame[head:])
        return self.probability

    def reset(self) -> None:
        """Forget the stream (a new recording)."""
        self._state[:] = 0
        self._window[:] = 0
        self._filled = 0
        self.probability = 0.0

    def _append(self, samples: np.ndarray) -> None:
        start = CONTEXT_SAMPLES + self._filled
        np.multiply(samples, 1 / 32768.0, out=self._window[0, start : start + len(samples)], casting="unsafe")
        self._filled += len(samples)

    def _run(self) -> float:
        self.probability = self._infer()
        self._window[0, :CONTEXT_SAMPLES] = self._window[0, -CONTEXT_SAMPLES:]
        return self.probability


def _openvino(window: np.ndarray, state: np.ndarray, threads: int) -> Infer:
    config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(silero_model_path("openvino")), "CPU", config)
    _check_inputs({port.any_name for port in compiled.inputs}, {"input", "state"})
    request = compiled.create_infer_request()
    # The request reads our two arrays in place: no copies and no per-call argument handling.
    request.set_tensor("input", ov.Tensor(window, shared_memory=True))
    request.set_tensor("state", ov.Tensor(state, shared_memory=True))
    probability = request.get_tensor(compiled.outputs[0])
    next_state = request.get_tensor(next(port for port in compiled.outputs if "stateN" in port.names))

    def infer() -> float:
        request.infer()
        state[:] = next_state.data
        return float(probability.data[0, 0])

    return infer


def _onnxruntime(window: np.ndarray, state: np.ndarray, threads: int) -> Infer:
    import onnxruntime as ort  # a test dependency only

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the export carries unused initialisers, reported as warnings at every load
    session = ort.InferenceSession(str(silero_model_path("onnxruntime")), options, providers=["CPUExecutionProvider"])
    _check_inputs({port.name for port in session.get_inputs()}, {"input", "state", "sr"})
    rate = np.array(SAMPLE_RATE_HZ, dtype=np.int64)

    def infer() -> float:
        probability, next_state = session.run(None, {"input": window, "state": state, "sr": rate})
        state[:] = next_state
        return float(probability[0, 0])

    return infer


def _check_inputs(found: set[str], expected: set[str]) -> None:
    if found != expected:
        raise RuntimeError(f"the silero-vad model takes inputs {sorted(found)}, expected {sorted(expected)}")
