"""The fast recognizer: PocketSphinx with the active pack's language model, or a digits grammar.

One decoder is loaded once with two named searches, the pack's trigram model and the digits grammar
(``language_model``), and switched per utterance without reloading anything.

Streaming shows the customer what is understood while they speak, but the final transcript is decoded again
from the whole utterance. The reason is cepstral mean normalisation: PocketSphinx's acoustic model expects each
utterance normalised by its own mean (``-cmn batch``), and the running estimate a stream must use instead
multiplied the word errors on short questions (40 synthesized bank questions: 6.8% whole, 26% streamed, still
18% streamed from the same utterance's mean). The second pass costs about 5% of the utterance's duration on
one x86 core (125 ms on average for 2.3 s of speech, 260 ms for 3.6 s), so ``finish`` returns exactly what
``transcribe`` would, inside the reply's budget for the few seconds a question takes.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
import pocketsphinx

from firmware_app.asr.language_model import DIGITS_JSGF, domain_model, spoken_numbers
from firmware_app.asr.types import AsrAudioError, EngineName, Grammar, Transcript, check_samples
from firmware_app.audio.frames import SAMPLE_RATE_HZ, Frame
from firmware_app.packs import Pack

DOMAIN_SEARCH = "domain"
PARTIAL_EVERY_S = 0.1  # how often a stream asks for its partial transcript: enough for the screen, cheap

# The second (flat-lexicon) pass made decoding a third slower and was no more accurate with the pack's model
# (7.5% word errors with it, 6.8% without, on 40 synthesized bank questions).
DECODER_SETTINGS = {"fwdflat": False}
# A grammar search has no language model to keep noise from turning into short words ("oh", "eight"): a high
# silence probability and a low word-insertion probability do, and narrower beams cut its time by three
# without losing accuracy (measured on Speech Commands and FSDD digits and synthesized digit strings).
GRAMMAR_SETTINGS = {"silprob": 0.5, "wip": 0.05, "beam": 1e-30, "pbeam": 1e-30, "wbeam": 1e-20}


class PocketSphinxRecognizer:
    """PocketSphinx on the pack's domain language model, or on the digits grammar (``grammar="digits"``).

    Text is lowercase words without fillers or silences. With the language model, runs of two or more spoken
    digits become numerals ("my card ends in 4321"); with the digits grammar every number does ("1234",
    "45 pounds", "the 3rd of may"), so the entity extractor reads both.

    ``confidence`` is the geometric mean of the words' posterior probabilities in the decoding lattice (0 when
    nothing was recognized): one doubtful word pulls it down, and misrecognitions are usually one or two
    doubtful words. Below 0.6 (the policy's default cut-off) fell 1 of 28 correctly recognized synthesized bank
    questions, 9 of the 12 with errors and 7 of 8 unrelated sentences (robot commands, the weather...). A lone
    digit scores low whether right or wrong: its lattice has little to compare it with.

    ``transcribe`` and the streaming calls (``start``/``feed``/``finish``) share one decoder: one utterance at a
    time. ``seconds`` in a streamed transcript is the decoding time spent in all its calls.
    """

    name: EngineName = "fast"

    def __init__(self, pack: Pack, cache_dir: Path) -> None:
        self.model = domain_model(pack, cache_dir)
        config = pocketsphinx.Config(
            hmm=pocketsphinx.get_model_path("en-us/en-us"),
            dict=str(self.model.dict_path),
            lm=None,
            loglevel="FATAL",
            **DECODER_SETTINGS,
        )
        self._decoder = pocketsphinx.Decoder(config)
        self._decoder.add_lm_file(DOMAIN_SEARCH, str(self.model.lm_path))
        for key, value in GRAMMAR_SETTINGS.items():  # a search reads these when it is created
            self._decoder.config[key] = value
        self._decoder.add_jsgf_string("digits", DIGITS_JSGF)
        self._digits = self._decoder.get_fsg("digits")
        self._lock = threading.Lock()
        self._grammar: Grammar | None = None
        self._stream: list[bytes] | None = None  # the audio of the utterance being streamed
        self._since_partial = 0
        self._partial = ""
        self._seconds = 0.0

    def transcribe(self, samples: np.ndarray, grammar: Grammar | None = None) -> Transcript:
        """The transcript of one whole utterance (16 kHz mono int16)."""
        check_samples(samples)
        with self._lock:
            if self._stream is not None:
                raise RuntimeError("a stream is in progress: finish() it first")
            started = time.perf_counter()
            text, confidence = self._decode(samples, grammar)
            seconds = time.perf_counter() - started
        return Transcript(text, self.name, confidence, seconds, len(samples) / SAMPLE_RATE_HZ)

    def start(self, grammar: Grammar | None = None) -> None:
        """Begin an utterance; a stream still open is dropped."""
        with self._lock:
            started = time.perf_counter()
            if self._stream is not None:
                self._decoder.end_utt()
            self._decoder.activate_search(grammar or DOMAIN_SEARCH)
            self._decoder.start_utt()
            self._grammar, self._stream = grammar, []
            self._since_partial, self._partial = 0, ""
            self._seconds = time.perf_counter() - started

    def feed(self, frame: Frame) -> str | None:
        """Decode one frame; every ``PARTIAL_EVERY_S`` of audio, the partial transcript if it changed."""
        with self._lock:
            if self._stream is None:
                raise RuntimeError("feed() without start()")
            if frame.dtype != np.int16 or frame.ndim != 1:
                raise AsrAudioError(f"expected 16 kHz mono int16 frames, got {frame.dtype} with shape {frame.shape}")
            started = time.perf_counter()
            audio = frame.tobytes()  # a copy: the caller may reuse the frame's buffer
            self._stream.append(audio)
            self._decoder.process_raw(audio)
            self._since_partial += len(frame)
            partial = None
            if self._since_partial >= PARTIAL_EVERY_S * SAMPLE_RATE_HZ:
                self._since_partial = 0
                hypothesis = self._decoder.hyp()
                partial = self._text(hypothesis.hypstr if hypothesis else "", self._grammar)
            self._seconds += time.perf_counter() - started
        if partial is None or partial == self._partial:
            return None
        self._partial = partial
        return partial

    def finish(self) -> Transcript:
        """The final transcript of the streamed utterance: the same as ``transcribe`` of its frames."""
        with self._lock:
            if self._stream is None:
                raise RuntimeError("finish() without start()")
            started = time.perf_counter()
            self._decoder.end_utt()
            samples = np.frombuffer(b"".join(self._stream), np.int16)
            self._stream = None
            text, confidence = self._decode(samples, self._grammar) if len(samples) else ("", 0.0)
            seconds = self._seconds + time.perf_counter() - started
        return Transcript(text, self.name, confidence, seconds, len(samples) / SAMPLE_RATE_HZ)

    def _decode(self, samples: np.ndarray, grammar: Grammar | None) -> tuple[str, float]:
        """Decode a whole utterance with its own cepstral mean: (text, confidence). Holds the lock."""
        # A stream switches the feature extractor to live normalisation for good; a re-init restores batch.
        self._decoder.reinit_feat()
        self._decoder.activate_search(grammar or DOMAIN_SEARCH)
        self._decoder.start_utt()
        self._decoder.process_raw(samples.tobytes(), full_utt=True)
        self._decoder.end_utt()
        words = [segment for segment in self._decoder.seg() or [] if _is_word(segment.word)]
        spoken = " ".join(segment.word.split("(", 1)[0] for segment in words)
        # When no path reaches the grammar's end, PocketSphinx returns the best partial one ("the" of "the third
        # of may"): that is no answer, and an empty one lets the policy ask Whisper.
        if not words or (grammar and not self._digits.accept(spoken)):
            return "", 0.0
        log_posteriors = [math.log(min(max(segment.prob, 1e-6), 1.0)) for segment in words]
        return self._text(spoken, grammar), math.exp(sum(log_posteriors) / len(log_posteriors))

    @staticmethod
    def _text(hypothesis: str, grammar: Grammar | None) -> str:
        words = [word.split("(", 1)[0] for word in hypothesis.split() if _is_word(word)]
        return spoken_numbers(words, digit_runs_only=grammar is None)


def _is_word(token: str) -> bool:
    """Not a filler or a sentence mark: <s>, </s>, <sil>, [NOISE]..."""
    return not token.startswith(("<", "["))
