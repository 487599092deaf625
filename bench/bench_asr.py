"""Speech recognition benchmark: the fast (PocketSphinx), accurate (Whisper) and auto engines, and the whole voice
path from the end of an utterance to the reply.

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
- The voice path (``bench.bench_voice_path``): the kiosk's voice pipeline with no screen (asr_engine "auto", tts
  "none", push-to-talk per question, a new visit for each) hears the synthetic questions as one stream; the time
  runs from the moment the end-pointer publishes ``UtteranceCaptured`` to the ``Reply`` event and to the end of
  the turn (``ReplyEnded``), split into fast-path and escalated utterances (target: fast path p50 <= 300 ms). The
  end-pointer itself waits ``listening.silence_ms`` of silence before that moment; the customer waits that too.

Synthesized audio is cached under ``build/bench_asr/tts/`` keyed by voice and text, so reruns skip the TTS.

    python -m bench.bench_asr [--data-dir ../shared/data] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from bench.asr_scoring import digit_correct, normalise_words, wer
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
    voice_path = run_worker("bench_voice_path", ["--plan", str(plan_path)])
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
        " and to the end of the turn (`ReplyEnded`, the reply handed to the voice):",
        "",
        "| utterances | to reply p50 / p95 | to end of turn p50 / p95 |",
        "|---|---|---|",
        f"| fast path | **{_ms(vp['to_reply_fast_path'])}** | {_ms(vp['to_turn_end_fast_path'])} |",
        f"| escalated to Whisper | {_ms(vp['to_reply_escalated'])} | {_ms(vp['to_turn_end_escalated'])} |",
        f"| all | {_ms(vp['to_reply_all'])} | {_ms(vp['to_turn_end_all'])} |",
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
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        pin_to_one_core()
        plan = json.loads(args.plan.read_text(encoding="utf-8"))
        print(json.dumps(engine_worker(args.engine, plan)))
    else:
        engines = tuple(cast("Mode", e) for e in args.engines.split(","))
        if not set(engines) <= set(ENGINES):
            parser.error(f"--engines: choose from {', '.join(ENGINES)}")
        print(json.dumps(run(args.data_dir, args.quick, args.sentences, engines=engines), indent=1))


if __name__ == "__main__":
    main()
