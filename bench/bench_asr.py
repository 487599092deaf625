"""Speech recognition benchmark: the fast (PocketSphinx), accurate (Whisper) and auto engines, and the whole voice
path from the end of an utterance to the reply on the screen.

Every engine runs in its own child process pinned to one core (``bench.worker``), as on a kiosk where the UI owns
the other core, so the timings of one engine never include another's threads.

- WER on ``asr_sentences_mini`` (real read speech, but only 6 clips: a smoke test, not a benchmark).
- Digit accuracy on the 250 FSDD dev recordings (real, 8 kHz, 5 speakers) with ``grammar="digits"``, overall and
  per speaker (target for the fast engine: >= 97%).
- Synthetic in-domain speech: up to 120 BANKING77 dev questions whose intent is in the bank pack, each said by
  several TTS voices (flite, espeak-ng): WER per voice, and the kiosk NLU's intent accuracy on the recognized
  text against the same NLU on the original text (target: within 5 points). Synthetic speech is clean and
  regular, so these numbers are optimistic for real customers.
- Real-time factor and end-of-speech latency on one core: the fast engine gets each clip as 10 ms frames through
  ``start``/``feed`` (as it hears them while the customer speaks) and only ``finish()`` is timed; Whisper is
  timed over the whole ``transcribe()``; auto over ``finish()`` plus the policy (NLU check, Whisper when it
  escalates). Latency of about 5 s questions (synthetic clips of 4-6 s) is reported apart (Whisper target <= 1.5 s).
- The voice path: a ``KioskController`` with ``attach_voice`` (asr_engine "auto", tts "none", push-to-talk per
  question, a new visit for each) hears the synthetic questions as one stream; the time runs from the moment the
  end-pointer publishes ``UtteranceCaptured`` to the ``Reply`` event and to the screen state showing it, split
  into fast-path and escalated utterances (target: fast path p50 <= 300 ms). The end-pointer itself waits
  ``listening.silence_ms`` of silence before that moment; the customer waits that too.

Synthesized audio is cached under ``build/bench_asr/tts/`` keyed by voice and text, so reruns skip the TTS.

    python -m bench.bench_asr [--data-dir ../shared/data] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from bench.worker import harness_command, run_worker

if TYPE_CHECKING:
    from firmware_app.asr.policy import Mode
    from firmware_app.asr.types import Grammar, StreamingRecognizer
    from firmware_app.audio.tts import Engine as TtsEngine

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
CACHE = REPO / "build" / "bench_asr"
ENGINES: tuple[Mode, ...] = ("fast", "accurate", "auto")
# flite's three 16 kHz clustergen voices (US female, Scottish male, US male) and espeak-ng's British English.
VOICES = ("flite:slt", "flite:awb", "flite:rms", "espeak-ng:en-gb")
MAX_SENTENCES = 120
VOICE_PATH_QUESTIONS = 120
FIVE_S_QUESTIONS = (4.0, 6.0)  # clip lengths that count as "about 5 s" questions
QUICK = {"sentences": 10, "digits": 25, "voice_questions": 8}
FRAME_SAMPLES = 160  # 10 ms at 16 kHz, as the listening loop hands frames to the recognizer

# --- WER ----------------------------------------------------------------------------------------------------

# British and American spellings (and sound-alike spellings of one word) count as the same word.
SAME_WORD = {
    "metre": "meter",
    "metres": "meters",
    "centre": "center",
    "colour": "color",
    "favourite": "favorite",
    "cancelled": "canceled",
    "cancelling": "canceling",
    "travelling": "traveling",
    "traveller": "traveler",
    "licence": "license",
    "cheque": "check",
    "cheques": "checks",
    "programme": "program",
    "jewellery": "jewelry",
    "enrol": "enroll",
    "okay": "ok",
    "e-mail": "email",
}
_BRITISH_ISE = re.compile(r"^(\w{3,}i)s(e|ed|es|ing|ation|ations)$")  # organise -> organize, authorised -> ...
# Contractions are written out ("I'm" and "I am" are one answer), as Whisper's own English normaliser does.
CONTRACTIONS = {"can't": "can not", "won't": "will not", "let's": "let us"}
_CONTRACTED = (
    (re.compile(r"n't$"), " not"),
    (re.compile(r"'m$"), " am"),
    (re.compile(r"'re$"), " are"),
    (re.compile(r"'ve$"), " have"),
    (re.compile(r"'ll$"), " will"),
    (re.compile(r"'d$"), " would"),
    (re.compile(r"^(it|that|what|there|here|he|she|where|who|how)'s$"), r"\1 is"),
)


def normalise_words(text: str) -> list[str]:
    """``text`` as comparable words: lowercase, no punctuation, contractions written out, one spelling per word,
    numbers as numerals.

    Numbers go through words and back ("10", "ten" -> "10"; "four three two one", "4321" -> "4321"; "£5" ->
    "5 pounds"), the same way for the reference and the hypothesis, so a numeral is never an error by itself.
    """
    from firmware_app.asr.language_model import normalise, spoken_numbers

    words = [part for word in normalise(text) for part in _expanded(word).replace("-", " ").split()]
    return spoken_numbers([_one_spelling(w) for w in words]).split()


def _expanded(word: str) -> str:
    word = SAME_WORD.get(word, word)
    if word in CONTRACTIONS:
        return CONTRACTIONS[word]
    for pattern, replacement in _CONTRACTED:
        word = pattern.sub(replacement, word)
    return word


def _one_spelling(word: str) -> str:
    word = SAME_WORD.get(word, word)
    return _BRITISH_ISE.sub(r"\1z\2", word)


@dataclass(frozen=True)
class EditCounts:
    """Word errors of one hypothesis against its reference."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def edit_counts(reference: list[str], hypothesis: list[str]) -> EditCounts:
    """Levenshtein alignment of two word lists, split into substitutions, deletions and insertions."""
    # Each cell: (total, substitutions, deletions, insertions); ties prefer substitutions, as sclite does.
    previous = [(j, 0, 0, j) for j in range(len(hypothesis) + 1)]
    for i, ref_word in enumerate(reference, 1):
        current = [(i, 0, i, 0)]
        for j, hyp_word in enumerate(hypothesis, 1):
            diagonal = previous[j - 1]
            same = ref_word == hyp_word
            options = [
                (diagonal[0] + (not same), diagonal[1] + (not same), diagonal[2], diagonal[3]),
                (previous[j][0] + 1, previous[j][1], previous[j][2] + 1, previous[j][3]),
                (current[j - 1][0] + 1, current[j - 1][1], current[j - 1][2], current[j - 1][3] + 1),
            ]
            current.append(min(options, key=lambda cell: cell[0]))
        previous = current
    _, s, d, n = previous[-1]
    return EditCounts(s, d, n, len(reference))


def wer(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Corpus WER of (reference, hypothesis) texts: all word errors over all reference words."""
    counts = [edit_counts(normalise_words(ref), normalise_words(hyp)) for ref, hyp in pairs]
    words = sum(c.reference_words for c in counts)
    return {
        "wer": round(sum(c.errors for c in counts) / words, 4) if words else None,
        "utterances": len(counts),
        "reference_words": words,
        "substitutions": sum(c.substitutions for c in counts),
        "deletions": sum(c.deletions for c in counts),
        "insertions": sum(c.insertions for c in counts),
        "exact": sum(c.errors == 0 for c in counts),
    }


def digit_correct(hypothesis: str, digit: str) -> bool:
    """The reply names exactly this digit ("3", "it's 3"); "33" or "3 4" is wrong."""
    return re.sub(r"\D", "", hypothesis) == digit


# --- the test material ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """One recording to recognize: where it is, what was said, who said it and (if any) its label."""

    path: str
    reference: str
    group: str  # speaker or TTS voice
    label: str = ""  # intent (synthetic questions) or digit (FSDD)
    audio_s: float = 0.0


def mini_clips(data_dir: Path) -> list[Clip]:
    folder = data_dir / "asr_sentences_mini"
    with (folder / "manifest.csv").open(encoding="utf-8") as handle:
        return [
            Clip(str(folder / r["path"]), r["transcript"], "cmusphinx", audio_s=float(r["duration_s"]))
            for r in csv.DictReader(handle)
        ]


def digit_clips(data_dir: Path, limit: int | None = None) -> list[Clip]:
    """FSDD dev recordings; with ``limit`` an even spread over the manifest (every speaker and digit)."""
    folder = data_dir / "fsdd"
    with (folder / "dev_manifest.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if limit is not None and limit < len(rows):
        rows = rows[:: max(1, len(rows) // limit)][:limit]
    return [
        Clip(
            str(folder / r["path"]), r["transcript_digit"], r["speaker"], r["transcript_digit"], float(r["duration_s"])
        )
        for r in rows
    ]


def in_pack_questions(data_dir: Path, limit: int) -> list[tuple[str, str]]:
    """(text, intent) BANKING77 dev rows whose intent is one of the bank pack's (the ids are BANKING77's own, as
    in ``bench_intent``), taken a row per intent in turn so that ``limit`` covers as many intents as it can."""
    from firmware_app.config import load_settings
    from firmware_app.packs import load_pack

    pack_intents = {intent.id for intent in load_pack(load_settings().pack_dir).intents}
    by_intent: dict[str, list[str]] = defaultdict(list)
    with (data_dir / "banking77" / "dev.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["category"] in pack_intents:
                by_intent[row["category"]].append(row["text"].strip())
    chosen: list[tuple[str, str]] = []
    for depth in range(max(map(len, by_intent.values()), default=0)):
        for intent, texts in by_intent.items():
            if depth < len(texts) and len(chosen) < limit:
                chosen.append((texts[depth], intent))
    return chosen


def tts_path(voice: str, text: str) -> Path:
    """Where the cached synthesis of ``text`` by ``voice`` ("engine:name") lives."""
    key = hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()[:20]
    return CACHE / "tts" / voice.replace(":", "-") / f"{key}.wav"


def synthesize(voice: str, text: str) -> Path | None:
    """``text`` said by ``voice``, through the kiosk's own ``SpeechSynthesizer`` (16 kHz mono WAV), cached."""
    import soundfile as sf

    from firmware_app.audio.tts import SpeechSynthesizer

    path = tts_path(voice, text)
    if not path.exists():
        engine, name = voice.split(":", 1)
        samples = SpeechSynthesizer(cast("TtsEngine", engine), voice_en=name).synthesize(text, "en")
        if not len(samples):
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path.with_suffix(".tmp.wav"), samples, 16_000, subtype="PCM_16")
        path.with_suffix(".tmp.wav").rename(path)
    return path


def synthetic_clips(data_dir: Path, sentences: int, voices: Iterable[str]) -> list[Clip]:
    import soundfile as sf

    clips = []
    for text, intent in in_pack_questions(data_dir, sentences):
        for voice in voices:
            path = synthesize(voice, text)
            if path is not None:
                clips.append(Clip(str(path), text, voice, intent, round(sf.info(str(path)).duration, 3)))
    return clips


def make_plan(data_dir: Path, quick: bool, sentences: int, voices: Iterable[str]) -> dict[str, Any]:
    """Every clip the workers will hear (synthesized here, outside any timing), as plain JSON."""
    return {
        "data_dir": str(data_dir),
        "quick": quick,
        "mini": [asdict(c) for c in mini_clips(data_dir)],
        "digits": [asdict(c) for c in digit_clips(data_dir, QUICK["digits"] if quick else None)],
        "synthetic": [asdict(c) for c in synthetic_clips(data_dir, sentences, voices)],
        "voice_questions": QUICK["voice_questions"] if quick else VOICE_PATH_QUESTIONS,
    }


def load_clips(plan: dict[str, Any], part: str) -> list[Clip]:
    return [Clip(**c) for c in plan[part]]


# --- one engine, in a pinned worker -----------------------------------------------------------------------


def pin_to_one_core() -> int:
    core = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {core})
    return core


def ms_stats(seconds: list[float]) -> dict[str, Any]:
    """p50 / p95 / max in milliseconds (None for no values)."""
    if not seconds:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    ms = np.asarray(seconds) * 1000
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


@dataclass(frozen=True)
class Heard:
    """One clip through one engine: the text, how long the engine worked, and what the kiosk waited for."""

    text: str
    processing_s: float  # every call of the engine for this clip (streaming included)
    after_speech_s: float  # from the last frame to the transcript: what the kiosk waits at the end of speech
    audio_s: float
    escalated: str | None = None
    error: str | None = None


class EngineUnderTest:
    """The engine ``name`` as the kiosk runs it: ``fast`` streams frames then finishes, ``accurate`` transcribes
    the whole utterance, ``auto`` streams to the fast engine and lets the policy decide (NLU, Whisper)."""

    def __init__(self, name: Mode, data_dir: Path) -> None:
        from firmware_app.app import build_nlu
        from firmware_app.asr.engines import build_policy, in_scope_of
        from firmware_app.config import load_settings
        from firmware_app.packs import load_pack

        self.name = name
        self.settings = load_settings(data_dir=data_dir)
        pack = load_pack(self.settings.pack_dir)
        self.nlu = build_nlu(self.settings, pack)
        classifier = self.nlu.classifiers["en"]
        self.policy = build_policy(self.settings, pack, in_scope=in_scope_of(classifier), mode=name)
        started = time.perf_counter()
        if name != "accurate":
            self.policy.fast.get()
        if name != "fast":
            self.policy.accurate.get()
        self.load_s = time.perf_counter() - started

    def hear(self, samples: np.ndarray, grammar: Grammar | None = None) -> Heard:
        audio_s = len(samples) / 16_000
        try:
            if self.name == "accurate":
                started = time.perf_counter()
                text = self.policy.accurate.get().transcribe(samples, grammar).text
                elapsed = time.perf_counter() - started
                return Heard(text, elapsed, elapsed, audio_s)
            return self._streamed(samples, grammar, audio_s)
        except Exception as error:  # a crash is a result too: counted, shown, and the run goes on
            return Heard("", 0.0, 0.0, audio_s, error=f"{type(error).__name__}: {error}")

    def _streamed(self, samples: np.ndarray, grammar: Grammar | None, audio_s: float) -> Heard:
        fast = cast("StreamingRecognizer", self.policy.fast.get())
        started = time.perf_counter()
        fast.start(grammar)
        for i in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
            fast.feed(samples[i : i + FRAME_SAMPLES])
        speech_ended = time.perf_counter()
        transcript = fast.finish()
        escalated = None
        if self.name == "auto":
            decision = self.policy.transcribe(samples, grammar, fast=transcript)
            transcript, escalated = decision.transcript, decision.escalated
        done = time.perf_counter()
        return Heard(transcript.text, done - started, done - speech_ended, audio_s, escalated)


def read_samples(clip: Clip) -> np.ndarray:
    from firmware_app.asr.types import read_audio

    return read_audio(clip.path)


def hear_all(engine: EngineUnderTest, clips: list[Clip], grammar: Grammar | None = None) -> list[Heard]:
    samples = [read_samples(c) for c in clips]  # decoded before timing starts
    return [engine.hear(s, grammar) for s in samples]


def sentence_results(clips: list[Clip], heard: list[Heard]) -> dict[str, Any]:
    return {
        **wer((c.reference, h.text) for c, h in zip(clips, heard, strict=True)),
        "errors": sum(h.error is not None for h in heard),
        "transcripts": [{"reference": c.reference, "heard": h.text} for c, h in zip(clips, heard, strict=True)],
    }


def digit_results(clips: list[Clip], heard: list[Heard]) -> dict[str, Any]:
    right = [digit_correct(h.text, c.label) for c, h in zip(clips, heard, strict=True)]
    per_speaker: dict[str, list[bool]] = defaultdict(list)
    for clip, ok in zip(clips, right, strict=True):
        per_speaker[clip.group].append(ok)
    wrong = [(c, h) for c, h, ok in zip(clips, heard, right, strict=True) if not ok]
    return {
        "n": len(clips),
        "accuracy": round(sum(right) / len(clips), 4) if clips else None,
        "per_speaker": {
            s: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)} for s, v in sorted(per_speaker.items())
        },
        "errors": sum(h.error is not None for h in heard),
        "error_messages": sorted({h.error for h in heard if h.error})[:5],
        "heard_when_wrong": dict(Counter(h.text for _, h in wrong).most_common(10)),
        "escalated": sum(h.escalated is not None for h in heard),
    }


def synthetic_results(engine: EngineUnderTest, clips: list[Clip], heard: list[Heard]) -> dict[str, Any]:
    """WER per voice, and NLU intent accuracy on what was heard against the same NLU on the original text."""
    on_text = {c.reference: engine.nlu.understand(c.reference).result.intent == c.label for c in clips}
    on_asr = [engine.nlu.understand(h.text).result.intent == c.label for c, h in zip(clips, heard, strict=True)]
    by_voice: dict[str, list[int]] = defaultdict(list)
    for i, clip in enumerate(clips):
        by_voice[clip.group].append(i)
    per_voice = {
        voice: {
            **wer((clips[i].reference, heard[i].text) for i in idx),
            "intent_accuracy_asr": round(sum(on_asr[i] for i in idx) / len(idx), 4),
        }
        for voice, idx in by_voice.items()
    }
    text_accuracy = sum(on_text[c.reference] for c in clips) / len(clips)
    asr_accuracy = sum(on_asr) / len(clips)
    return {
        **wer((c.reference, h.text) for c, h in zip(clips, heard, strict=True)),
        "sentences": len(on_text),
        "voices": list(by_voice),
        "per_voice": per_voice,
        "intent_accuracy_text": round(text_accuracy, 4),
        "intent_accuracy_asr": round(asr_accuracy, 4),
        "intent_points_lost": round(100 * (text_accuracy - asr_accuracy), 2),
        "errors": sum(h.error is not None for h in heard),
        "escalations": dict(Counter(h.escalated for h in heard if h.escalated)),
        "misheard_examples": [
            {"voice": c.group, "reference": c.reference, "heard": h.text}
            for c, h in zip(clips, heard, strict=True)
            if normalise_words(c.reference) != normalise_words(h.text)
        ][:12],
    }


def latency_results(heard: list[Heard], auto: bool) -> dict[str, Any]:
    """Real-time factor and end-of-speech latency over the synthetic questions; about 5 s questions apart."""
    ok = [h for h in heard if h.error is None]
    low, high = FIVE_S_QUESTIONS
    five = [h for h in ok if low <= h.audio_s <= high]
    result: dict[str, Any] = {
        "clips": len(ok),
        "audio_s_total": round(sum(h.audio_s for h in ok), 1),
        "rtf": round(sum(h.processing_s for h in ok) / sum(h.audio_s for h in ok), 4) if ok else None,
        "rtf_p95": round(float(np.percentile([h.processing_s / h.audio_s for h in ok], 95)), 4) if ok else None,
        "end_of_speech": ms_stats([h.after_speech_s for h in ok]),
        "questions_5s": {
            **ms_stats([h.after_speech_s for h in five]),
            "audio_s_mean": round(statistics.mean(h.audio_s for h in five), 2) if five else None,
        },
    }
    if auto:
        result["kept_fast"] = ms_stats([h.after_speech_s for h in ok if h.escalated is None])
        result["escalated"] = ms_stats([h.after_speech_s for h in ok if h.escalated is not None])
    return result


def engine_worker(name: Mode, plan: dict[str, Any], kiosk_data: Path = CACHE / "kiosk-data") -> dict[str, Any]:
    """All measurements of one engine (in a process pinned to one core). ``kiosk_data`` is the kiosk's data
    folder, where the fast engine's language model is built once and cached."""
    started = time.perf_counter()
    engine = EngineUnderTest(name, kiosk_data)
    mini, digits, synthetic = (load_clips(plan, part) for part in ("mini", "digits", "synthetic"))
    hear_all(engine, (synthetic or mini)[:1])  # warm-up: first-call costs are start-up, not recognition
    heard_synthetic = hear_all(engine, synthetic)
    result = {
        "engine": name,
        "load_s": round(engine.load_s, 2),
        "sentences_mini": sentence_results(mini, hear_all(engine, mini)),
        "digits": digit_results(digits, hear_all(engine, digits, "digits")),
        "synthetic": synthetic_results(engine, synthetic, heard_synthetic) if synthetic else None,
        "latency": latency_results(heard_synthetic, auto=name == "auto"),
    }
    return {**result, "worker_s": round(time.perf_counter() - started, 1)}


# --- the whole voice path ----------------------------------------------------------------------------------


@dataclass
class Turn:
    """What one question through the voice path produced, with the clock times of its events."""

    intent: str
    captured_at: float = 0.0
    reply_at: float = 0.0
    screen_at: float = 0.0
    reply_intent: str | None = None
    escalated: str | None = None
    engine: str = ""
    heard: str = ""
    nothing_heard: bool = False


class VoicePathProbe:
    """Times each utterance from ``UtteranceCaptured`` (stamped as the listening loop publishes it, before the
    kiosk reacts, because the bus is synchronous) to the ``Reply`` and to the screen showing it."""

    def __init__(self, publish: Callable[[Any], None]) -> None:
        self._publish = publish
        self.turn: Turn | None = None

    def publish(self, event: Any) -> None:
        from firmware_app.events import NothingHeard, UtteranceCaptured

        if self.turn is not None and isinstance(event, UtteranceCaptured):
            self.turn.captured_at = time.perf_counter()
        elif self.turn is not None and isinstance(event, NothingHeard):
            self.turn.nothing_heard = True
        self._publish(event)

    def on_event(self, event: Any) -> None:
        from firmware_app.events import Reply, Transcribed

        if self.turn is None or not self.turn.captured_at:
            return
        if isinstance(event, Transcribed):
            self.turn.escalated, self.turn.engine, self.turn.heard = event.escalated, event.engine, event.text
        elif isinstance(event, Reply) and not self.turn.reply_at:
            self.turn.reply_at = time.perf_counter()
            self.turn.reply_intent = event.intent


def voice_path_worker(plan: dict[str, Any]) -> dict[str, Any]:
    """Synthetic questions through listener -> capture -> ASR (auto) -> NLU -> dialogue -> reply -> screen."""
    started = time.perf_counter()
    questions = _voice_questions(load_clips(plan, "synthetic"), plan["voice_questions"])
    with tempfile.TemporaryDirectory(prefix="bench-asr-") as folder:
        turns, settings_used = _run_voice_path(questions, Path(folder))
    return {
        **voice_path_summary(turns),
        "voices": sorted({c.group for c in questions}),
        "settings": settings_used,
        "worker_s": round(time.perf_counter() - started, 1),
    }


def voice_path_summary(turns: list[Turn]) -> dict[str, Any]:
    """Latency from the end of each utterance to its reply and its screen, fast path and escalated apart."""
    answered = [t for t in turns if t.reply_at]

    def to(attribute: str, keep: Callable[[Turn], bool]) -> dict[str, Any]:
        return ms_stats([getattr(t, attribute) - t.captured_at for t in answered if keep(t)])

    def escalated(turn: Turn) -> bool:
        return turn.escalated is not None

    def every(_turn: Turn) -> bool:
        return True

    return {
        "questions": len(turns),
        "answered": len(answered),
        "nothing_heard": sum(t.nothing_heard for t in turns),
        "not_understood": sum(bool(t.captured_at) and not t.reply_at for t in turns),
        "to_reply_fast_path": to("reply_at", _fast_path),
        "to_reply_escalated": to("reply_at", escalated),
        "to_reply_all": to("reply_at", every),
        "to_screen_fast_path": to("screen_at", _fast_path),
        "to_screen_escalated": to("screen_at", escalated),
        "to_screen_all": to("screen_at", every),
        "escalations": dict(Counter(t.escalated for t in answered if t.escalated)),
        "reply_intent_accuracy": round(sum(t.reply_intent == t.intent for t in turns) / len(turns), 4)
        if turns
        else None,
    }


def _fast_path(turn: Turn) -> bool:
    return turn.engine == "fast" and turn.escalated is None


def _voice_questions(clips: list[Clip], count: int) -> list[Clip]:
    """``count`` different questions, the voices taking turns."""
    by_text: dict[str, list[Clip]] = defaultdict(list)
    for clip in clips:
        by_text[clip.reference].append(clip)
    chosen = []
    for i, versions in enumerate(list(by_text.values())[:count]):
        chosen.append(versions[i % len(versions)])
    return chosen


def _run_voice_path(questions: list[Clip], folder: Path) -> tuple[list[Turn], dict[str, Any]]:
    from firmware_app.app import Kiosk
    from firmware_app.audio.sources import FileSequence
    from firmware_app.config import load_settings
    from firmware_app.screen.controller import KioskController
    from firmware_app.voice import attach_voice

    settings = load_settings(
        data_dir=folder,
        speech={"asr_engine": "auto", "tts_engine": "none"},
        listening={"wake_words": []},
    )
    controller = KioskController(lambda: Kiosk(settings))
    source = FileSequence([c.path for c in questions], gap_s=1.5)
    voice = attach_voice(controller, source, None, wait_for_engines=True)
    _warm_up(voice.turns.policy, controller, questions[0])
    probe = VoicePathProbe(voice.listener.publish)
    voice.listener.publish = probe.publish
    controller.kiosk.bus.subscribe(probe.on_event)
    turns: list[Turn] = []
    try:
        for frame in _frames_with_turns(source, questions, turns, controller, probe):
            voice.listener.step(frame)
            turn = probe.turn
            if turn is not None and turn.reply_at and not turn.screen_at:
                turn.screen_at = time.perf_counter()  # the controller updated the screen state before step returned
        voice.listener.finish()
    finally:
        voice.close()
        controller.close()
    used = {"asr_engine": "auto", "silence_ms": settings.listening.silence_ms, "trigger": "push-to-talk"}
    return turns, used


def _warm_up(policy: Any, controller: Any, clip: Clip) -> None:
    """One question through both engines and the dialogue first: first-call costs are start-up, not replies."""
    samples = read_samples(clip)
    policy.fast.get().transcribe(samples)
    policy.accurate.get().transcribe(samples)
    controller.ask(clip.reference, "voice")
    controller.finish()


def _frames_with_turns(
    source: Any, questions: list[Clip], turns: list[Turn], controller: Any, probe: VoicePathProbe
) -> Iterator[np.ndarray]:
    """The stream's frames; at the start of each file a new visit and a tap on the microphone button."""
    index = 0
    for frame in source.frames():
        if source.file_started:
            if index:
                controller.finish()  # each question in a new visit: no flow or numpad left from the last one
            turns.append(Turn(questions[index].label))
            probe.turn = turns[-1]
            controller.push_to_talk()
            index += 1
        yield frame


# --- the harness side --------------------------------------------------------------------------------------


def run(
    data_dir: Path = DEFAULT_DATA,
    quick: bool = False,
    sentences: int | None = None,
    voices: tuple[str, ...] = VOICES,
    engines: tuple[Mode, ...] = ENGINES,
) -> dict[str, Any]:
    started = time.perf_counter()
    sentences = sentences if sentences is not None else QUICK["sentences"] if quick else MAX_SENTENCES
    plan = make_plan(data_dir, quick, sentences, voices)
    plan_path = CACHE / ("plan-quick.json" if quick else "plan.json")
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    synthesis_s = time.perf_counter() - started
    results = {e: run_worker("bench_asr", ["--engine", e, "--plan", str(plan_path)]) for e in engines}
    voice_path = run_worker("bench_asr", ["--voice-path", "--plan", str(plan_path)])
    return {
        "command": harness_command(),
        "runtime_s": round(time.perf_counter() - started, 1),
        "synthesis_s": round(synthesis_s, 1),
        "quick": quick,
        "data_dir": str(data_dir),
        "pinned_to_one_core": True,
        "clips": {part: len(plan[part]) for part in ("mini", "digits", "synthetic")},
        "voices": list(voices),
        "engines": results,
        "voice_path": voice_path,
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _ms(s: dict[str, Any]) -> str:
    return "n/a" if not s["n"] else f"{s['p50_ms']:.0f} / {s['p95_ms']:.0f} ms (n={s['n']})"


def _targets(r: dict[str, Any]) -> list[str]:
    engines, vp = r["engines"], r["voice_path"]
    lines = ["| target | measured |", "|---|---|"]
    if "fast" in engines:
        lines.append(f"| fast engine, FSDD digits >= 97% | **{_pct(engines['fast']['digits']['accuracy'])}** |")
    for name, e in engines.items():
        syn = e["synthetic"]
        if syn:
            lines.append(
                f"| {name}: NLU on recognized text within 5 points of typed text |"
                f" **{-syn['intent_points_lost']:+.1f} points** ({_pct(syn['intent_accuracy_asr'])} against"
                f" {_pct(syn['intent_accuracy_text'])}) |"
            )
    if "accurate" in engines:
        five = engines["accurate"]["latency"]["questions_5s"]
        lines.append(f"| Whisper on ~5 s questions <= 1.5 s (p50 / p95) | **{_ms(five)}** |")
    lines.append(f"| voice path, fast path p50 <= 300 ms (p50 / p95) | **{_ms(vp['to_reply_fast_path'])}** |")
    return [*lines, ""]


def _wer_table(r: dict[str, Any]) -> list[str]:
    voices = r["voices"]
    lines = [
        "Word error rate (case, punctuation, numbers and British/American spelling normalised). Real read speech:"
        f" `asr_sentences_mini`, only {r['clips']['mini']} clips (a smoke test, not a benchmark). Synthetic:"
        f" {r['clips']['synthetic']} clips, BANKING77 dev questions whose intent is in the pack, each said by every"
        " voice (TTS: clean and regular, so optimistic for customers).",
        "",
        "| engine | real, 6 clips | synthetic, all voices | " + " | ".join(voices) + " |",
        "|---|---|---|" + "---|" * len(voices),
    ]
    for name, e in r["engines"].items():
        syn = e["synthetic"] or {"wer": None, "per_voice": {}}
        cells = [_pct(syn["per_voice"].get(v, {}).get("wer")) for v in voices]
        lines.append(f"| {name} | {_pct(e['sentences_mini']['wer'])} | {_pct(syn['wer'])} | {' | '.join(cells)} |")
    return [*lines, ""]


def _digits_table(r: dict[str, Any]) -> list[str]:
    speakers = sorted({s for e in r["engines"].values() for s in e["digits"]["per_speaker"]})
    lines = [
        f'Digits (`grammar="digits"`) on {r["clips"]["digits"]} FSDD dev recordings (real, 8 kHz), per speaker:',
        "",
        "| engine | accuracy | " + " | ".join(speakers) + " | recognizer crashed |",
        "|---|---|" + "---|" * len(speakers) + "---|",
    ]
    for name, e in r["engines"].items():
        d = e["digits"]
        cells = [_pct(d["per_speaker"].get(s, {}).get("accuracy")) for s in speakers]
        lines.append(f"| {name} | **{_pct(d['accuracy'])}** | {' | '.join(cells)} | {d['errors']} |")
    return [*lines, ""]


def _speed_table(r: dict[str, Any]) -> list[str]:
    lines = [
        "Kiosk NLU intent accuracy on the synthetic questions (typed text against recognized text), and time on one"
        " core from the end of speech to the transcript (fast: `finish()` after streaming the frames; accurate: the"
        " whole `transcribe()`; auto: `finish()` + the policy, Whisper included when it escalates):",
        "",
        "| engine | NLU typed | NLU recognized | RTF | end of speech p50 / p95 | ~5 s questions | escalated |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in r["engines"].items():
        syn, lat = e["synthetic"] or {}, e["latency"]
        escalated = sum((syn.get("escalations") or {}).values()) if name == "auto" else "-"
        lines.append(
            f"| {name} | {_pct(syn.get('intent_accuracy_text'))} | {_pct(syn.get('intent_accuracy_asr'))} |"
            f" {lat['rtf']} | {_ms(lat['end_of_speech'])} | {_ms(lat['questions_5s'])} | {escalated} |"
        )
    auto = r["engines"].get("auto", {}).get("latency", {})
    if "escalated" in auto:
        lines += ["", f"auto, end of speech: kept fast {_ms(auto['kept_fast'])}; escalated {_ms(auto['escalated'])}."]
    return [*lines, ""]


def _voice_path_table(vp: dict[str, Any]) -> list[str]:
    return [
        f"Whole voice path on one core: {vp['questions']} synthetic questions ({', '.join(vp['voices'])}) as one"
        " stream, push-to-talk and a new visit per question, asr_engine auto, TTS off. From `UtteranceCaptured`"
        f" (the end-pointer has already waited {vp['settings']['silence_ms']} ms of silence) to the `Reply` event,"
        " and to the screen state showing it:",
        "",
        "| utterances | to reply p50 / p95 | to screen p50 / p95 |",
        "|---|---|---|",
        f"| fast path | **{_ms(vp['to_reply_fast_path'])}** | {_ms(vp['to_screen_fast_path'])} |",
        f"| escalated to Whisper | {_ms(vp['to_reply_escalated'])} | {_ms(vp['to_screen_escalated'])} |",
        f"| all | {_ms(vp['to_reply_all'])} | {_ms(vp['to_screen_all'])} |",
        "",
        f"Escalations {vp['escalations'] or 'none'}; replies with the question's intent"
        f" {_pct(vp['reply_intent_accuracy'])}; nothing heard {vp['nothing_heard']}; not understood"
        f" {vp['not_understood']}.",
        "",
    ]


def report_section(r: dict[str, Any]) -> list[str]:
    quick = " **Quick run on subsets: not the benchmark's numbers.**" if r.get("quick") else ""
    return [
        "## Speech recognition and the voice path",
        "",
        f"`{r.get('command', 'python -m bench.bench_asr')}` ({r.get('runtime_s', '?')} s); each engine in its own"
        f" process pinned to one core.{quick} fast = PocketSphinx on the pack's language model, accurate = Whisper"
        " tiny.en int8, auto = fast, escalating to Whisper when unsure or out of scope.",
        "",
        *_targets(r),
        *_wer_table(r),
        *_digits_table(r),
        *_speed_table(r),
        *_voice_path_table(r["voice_path"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true", help="small subsets, to check the benchmark works")
    parser.add_argument("--sentences", type=int, default=None, help="synthetic questions (default 120, quick 10)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated: " + ", ".join(ENGINES))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--voice-path", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        pin_to_one_core()
        plan = json.loads(args.plan.read_text(encoding="utf-8"))
        result = voice_path_worker(plan) if args.voice_path else engine_worker(args.engine, plan)
        print(json.dumps(result))
    else:
        engines = tuple(cast("Mode", e) for e in args.engines.split(","))
        if not set(engines) <= set(ENGINES):
            parser.error(f"--engines: choose from {', '.join(ENGINES)}")
        print(json.dumps(run(args.data_dir, args.quick, args.sentences, engines=engines), indent=1))


if __name__ == "__main__":
    main()
